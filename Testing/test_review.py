"""Review and feedback end to end: a scripted review survives a killed process, undo/redo, validation,
export batches (folder and zip, reproducible, filtered, de-identified, verified by their manifest),
and the training code reading them back."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.feedback.export import ExportError, ExportFilters, export_batch, verify_batch
from mommi.review.session import ReviewError, ReviewSession
from mommi.feedback.store import open_store, ReviewStore

ZOO = json.loads((Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json").read_text())
pytestmark = pytest.mark.skipif(
    not {"nipple-lite", "single-lite"} <= {m["name"] for m in ZOO["models"]},
    reason="the shipped zoo lacks the models the analysis needs",
)

SCRIPTED_REVIEW = textwrap.dedent("""
    import os, signal, sys
    from mommi.review.session import ReviewSession
    from mommi.feedback.store import open_store, ReviewStore
    session = ReviewSession(open_store(sys.argv[1]), sys.argv[2], reader="dr-a")
    first, second = [f.id for f in session.findings[:2]]
    session.accept(first)
    session.set_birads("4B", first)
    session.reject(second)
    session.edit_geometry([10, 12, 60, 70], finding_id=first)
    added = session.add_mass("R-CC", [100, 100, 140, 150])
    session.set_biopsy("malignant", added.id)
    session.comment("spiculated margin", first)
    session.set_birads("5", added.id)
    session.undo()  # takes back BI-RADS 5 of the added mass
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("review")
    assert main(["demo", "--out", str(out), "--device", "cpu", "--no-dicom"]) == exit_codes.OK
    return out / "result"


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    with open_store(tmp_path / "review.sqlite") as opened:
        yield opened


def test_scripted_review_survives_a_killed_process(analysed: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite"
    run = subprocess.run(
        [sys.executable, "-c", SCRIPTED_REVIEW, str(db), str(analysed)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == -signal.SIGKILL and "written" in run.stdout, run.stderr
    with open_store(db) as reopened:
        assert reopened.integrity_ok()
        session = ReviewSession(reopened, analysed, reader="dr-b")
        first, second = session.findings[0], session.findings[1]
        assert first.decision == "accepted" and first.birads == "4B" and first.edited
        assert first.box_px == [10.0, 12.0, 60.0, 70.0] and first.comments == ["spiculated margin"]
        assert second.decision == "rejected"
        added = session.state.findings["R-CC-R1"]
        assert added.origin == "reader" and added.biopsy == "malignant" and added.birads is None  # undone
        assert session.status == "in progress" and session.can_redo
        events = reopened.events(session.study_uid)
        assert [e.action for e in events][-2:] == ["set_birads", "undo"] and {e.reader for e in events} == {"dr-a"}
        edit = next(e for e in events if e.action == "edit_geometry")
        assert edit.before["box_px"] == first.original["box_px"] and edit.after["box_px"] == first.box_px
        assert all(e.model_version for e in events)


def test_navigation_undo_redo_and_validation(analysed: Path, store: ReviewStore) -> None:
    session = ReviewSession(store, analysed, reader="dr-a")
    ids = [f.id for f in session.findings]
    assert session.selected.id == ids[0]
    assert session.next().id == ids[1 % len(ids)] and session.previous().id == ids[0]
    assert session.previous().id == ids[-1]  # wraps around
    session.select(ids[0])
    session.accept()
    session.set_birads("4a")
    assert session.selected.birads == "4A"
    assert session.undo() and session.selected.birads is None
    assert session.undo() and session.selected.decision == "pending"
    assert not session.undo() and not session.can_undo
    assert session.redo() and session.selected.decision == "accepted"
    session.reject()  # a new action clears what could be redone
    assert not session.redo() and session.selected.decision == "rejected"
    count = len(store.events(session.study_uid))
    with pytest.raises(ReviewError, match="BI-RADS '7'"):
        session.set_birads("7")
    with pytest.raises(ReviewError, match="leaves the"):
        session.edit_geometry([0, 0, 10_000, 20])
    with pytest.raises(ReviewError, match="no finding"):
        session.accept("L-CC-99")
    with pytest.raises(ReviewError, match="biopsy"):
        session.set_biopsy("maybe")
    assert len(store.events(session.study_uid)) == count  # nothing invalid was stored
    session.set_status("done")
    assert session.status == "done"


def test_two_sessions_see_each_others_decisions(analysed: Path, store: ReviewStore) -> None:
    a = ReviewSession(store, analysed, reader="dr-a")
    b = ReviewSession(store, analysed, reader="dr-b", role="annotator")
    a.accept(a.findings[0].id)
    assert b.refresh().findings[a.findings[0].id].decision == "accepted"
    assert store.events(a.study_uid)[-1].role == "radiologist"


def _reviewed(store: ReviewStore, analysed: Path) -> ReviewSession:
    session = ReviewSession(store, analysed, reader="dr-a")
    first, second = [f.id for f in session.findings[:2]]
    session.accept(first)
    session.edit_geometry([20, 20, 70, 80], finding_id=first)
    session.set_biopsy("malignant", first)
    session.reject(second)
    session.add_mass("L-MLO", [200, 200, 240, 250])
    session.set_status("done")
    return session


def test_export_batch_is_verified_reproducible_filtered_and_deidentified(
    analysed: Path, store: ReviewStore, tmp_path: Path
) -> None:
    session = _reviewed(store, analysed)
    salt = b"test-salt"
    one = export_batch(store, tmp_path / "one", salt=salt)
    two = export_batch(store, tmp_path / "two", salt=salt)
    zipped = export_batch(store, tmp_path / "three", as_zip=True, salt=salt)
    manifest = verify_batch(one.path)
    assert verify_batch(zipped.path)["batch_id"] == manifest["batch_id"] == two.batch_id == one.batch_id
    assert {p.name: p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()} == {
        p.name: p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()
    }
    assert manifest["counts"]["studies"] == 1 and manifest["counts"]["images"] == 4
    assert manifest["counts"]["findings"]["edited"] == 1 and manifest["counts"]["findings"]["rejected"] == 1
    assert manifest["counts"]["findings"]["added"] == 1
    coco = json.loads((one.path / "annotations.json").read_text())
    edited = next(a for a in coco["annotations"] if a["edited"])
    assert edited["bbox"] == [20.0, 20.0, 50.0, 60.0] and edited["model"]["bbox"] != edited["bbox"]
    assert edited["reader"]["biopsy"] == "malignant" and edited["model"]["score"] is not None
    added = next(a for a in coco["annotations"] if a["origin"] == "reader")
    assert added["model"] is None and added["decision"] == "accepted"
    original = {pydicom.dcmread(v.path).PatientID for v in session.views.values()}
    for image in coco["images"]:
        ds = pydicom.dcmread(one.path / image["file_name"])
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientID not in original
        assert ds.SOPInstanceUID == image["sop_instance_uid"] != ""
        assert ds.StudyInstanceUID == image["study"] != session.study_uid
    (one.path / "findings.csv").write_text("tampered")
    with pytest.raises(ExportError, match="findings.csv does not match"):
        verify_batch(one.path)
    with pytest.raises(ExportError, match="already exists"):
        export_batch(store, tmp_path / "two", salt=salt)
    assert (
        export_batch(store, tmp_path / "other-reader", ExportFilters(reader="dr-z"), salt=salt).counts["studies"] == 0
    )
    assert (
        export_batch(store, tmp_path / "unread", ExportFilters(status="in progress"), salt=salt).counts["studies"] == 0
    )
    late = store.events(session.study_uid)[-1].created
    assert export_batch(store, tmp_path / "later", ExportFilters(since=late + "1"), salt=salt).counts["studies"] == 0
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind


def test_feedback_cli_export_and_stats(analysed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "review.sqlite"
    with open_store(db) as store:
        _reviewed(store, analysed)
    env = {"MOMMI_REVIEW_DB": str(db)}
    os.environ.update(env)
    try:
        assert main(["feedback", "stats", "--json"]) == exit_codes.OK
        stats = json.loads(capsys.readouterr().out)
        assert stats["studies"] == {"done": 1} and stats["findings"]["rejected"] == 1
        assert (
            main(["feedback", "export", "--out", str(tmp_path / "batch"), "--zip", "--reader", "dr-a"]) == exit_codes.OK
        )
        assert "batch " in capsys.readouterr().out and (tmp_path / "batch.zip").is_file()
    finally:
        del os.environ["MOMMI_REVIEW_DB"]


def test_training_reads_a_batch_back(analysed: Path, store: ReviewStore, tmp_path: Path) -> None:
    from mommi.data.importers.feedback import import_feedback

    _reviewed(store, analysed)
    batch = export_batch(store, tmp_path / "batch", as_zip=True, salt=b"s").path
    manifest = import_feedback(batch)
    assert len(manifest.records) == 4 and {r.split for r in manifest.records} == {"train"}
    kinds = sorted((f.kind, f.extra["origin"]) for r in manifest.records for f in r.findings)
    assert ("rejected", "model") in kinds and ("mass", "reader") in kinds
    edited = next(f for r in manifest.records for f in r.findings if f.kind == "mass" and f.pathology)
    assert edited.box == [20.0, 20.0, 70.0, 80.0] and edited.pathology == "malignant"
    torch = pytest.importorskip("torch", reason="PyTorch is in the train extra; the retraining step needs it")
    from mommi.data.patches import load_samples

    from mommi.data.importers.synthetic import import_synthetic
    from mommi.data.split import assign_splits
    from mommi.data.synth import synthesize

    synthesize(tmp_path / "s", 2, seed=4, normal_fraction=0.0)
    validation = assign_splits(import_synthetic(tmp_path / "s"), seed=0, fractions=(0.0, 1.0, 0.0))
    val = validation.write(tmp_path / "val.json")
    detections = tmp_path / "detections.json"  # validation uses detected patches: masses and a false one
    detections.write_text(
        json.dumps(
            {
                "images": {
                    r.image_id: {
                        "boxes": [[*f.box, 0.9] for f in r.findings if f.kind == "mass"] + [[20, 20, 80, 80, 0.5]]
                    }
                    for r in validation.records
                }
            }
        )
    )
    run = tmp_path / "run"
    shipped = Path(__file__).resolve().parents[1] / "model_zoo" / "checkpoints" / "malignancy-lite.pt"
    init = ["--init-from", str(shipped)] if shipped.is_file() else []  # fine-tune the shipped classifier
    assert (
        main(
            [
                "train",
                "malignancy",
                "--manifest",
                str(val),
                "--feedback",
                str(batch),
                "--detections",
                str(detections),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--cache",
                str(tmp_path / "cache"),
                "--batch-size",
                "2",
                *init,
            ]
        )
        == exit_codes.OK
    )
    (train_file,) = (tmp_path / "cache").glob("patches-train-*.npz")
    samples = load_samples(train_file)
    # the samples it was given: the edited mass (biopsy malignant) as a gold patch, the rejected finding
    # as a hard negative; the added mass carries no label (no biopsy, no BI-RADS), so it cannot train this head
    assert len(samples) == 2
    assert samples.malignant[~samples.detected].tolist() == [1.0]
    assert samples.malignant[samples.detected].tolist() == [0.0] and not samples.matched.any()
    assert any(
        p.endswith(".json") and "feedback-" in p for p in torch.load(run / "best.pt", weights_only=False)["manifests"]
    )


def test_panel_texts_shared_by_both_front_ends(analysed: Path, store: ReviewStore) -> None:
    from mommi.review import panel_text

    session = ReviewSession(store, analysed, reader="dr-a")
    first = session.findings[0]
    session.set_birads("4C", first.id)
    session.edit_geometry([10, 10, 40, 50], finding_id=first.id)
    rows = panel_text.rows(session)
    assert [r[0] for r in rows] == [f.id for f in session.findings] and len(rows[0]) == len(panel_text.COLUMNS)
    assert rows[0][3] == "4C (reader)" and rows[0][4] == "pending, edited" and rows[0][1] == f"{first.score:.2f}"
    text = panel_text.details(session.state.findings[first.id])
    assert f"<b>{first.id}</b>" in text and "box 10, 10 to 40, 50 px (edited)" in text and "branch" in text
    assert panel_text.details(None) == "No finding selected."
    assert panel_text.BIRADS_ITEMS[1:] == ("1", "2", "3", "4A", "4B", "4C", "5", "6")


def _reanalysed(analysed: Path, folder: Path, edit: Callable[[dict], None]) -> Path:
    """A result folder of the same study as another analysis would write it: ``analysed``'s result.json
    changed by ``edit`` (the views are the same images)."""
    data = json.loads((analysed / "result.json").read_text())
    edit(data)
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(data))
    return folder


def test_a_reanalysed_study_shows_the_new_findings_and_carries_decisions_over(
    analysed: Path, store: ReviewStore, tmp_path: Path
) -> None:
    """A new zoo: result version 2 with its own findings (renumbered, one moved, one gone, one new); the
    decisions on the matching finding carry over, the one on the finding that is gone is counted and kept,
    and the export says which model version each decision was made on."""
    from mommi.review import panel_text

    old = ReviewSession(store, analysed, reader="dr-a")
    first, second = old.findings[0], old.findings[1]
    old.accept(first.id)
    old.set_birads("4B", first.id)
    old.reject(second.id)
    old.add_mass("L-MLO", [200, 200, 240, 250])
    old.comment("dense breasts", study_level=True)
    old.set_status("done")
    trail = store.events(old.study_uid)
    assert old.result_version == 1 and {e.result_version for e in trail} == {1}

    def new_zoo(data: dict) -> None:
        data["models"]["single-lite"] = "f" * 64
        findings = {f["id"]: f for f in data["findings"]}
        moved = findings.pop(first.id)
        del findings[second.id]
        x0, y0, x1, y1 = moved["box_px"]
        moved.update(id=f"{moved['view']}-9", box_px=[x0 + 3, y0 + 2, x1 + 3, y1 + 2])  # the same mass, renumbered
        fresh = dict(moved, id="R-CC-7", view="R-CC", box_px=[10.0, 10.0, 40.0, 40.0], score=0.99)
        data["findings"] = [moved, fresh, *findings.values()]

    new = ReviewSession(store, _reanalysed(analysed, tmp_path / "new", new_zoo), reader="dr-b")
    assert store.events(old.study_uid) == trail  # opening wrote nothing: carrying over is a replay
    assert new.result_version == 2 and "single-lite:ffffffffffff" in new.model_version != old.model_version
    assert store.study(old.study_uid).result_version == 2
    carried_id = f"{first.view}-9"
    model_ids = {f.id for f in new.findings if f.origin == "model"}
    assert model_ids == {f["id"] for f in store.model_findings(new.study_uid)} and second.id not in model_ids
    carried = new.state.findings[carried_id]
    assert carried.decision == "accepted" and carried.birads == "4B"
    assert [(a.action, a.result_version, a.model_version, a.carried_from) for a in carried.applied] == [
        ("accept", 1, old.model_version, first.id),
        ("set_birads", 1, old.model_version, first.id),
    ]
    assert 0.5 <= carried.applied[0].iou < 1
    assert new.state.findings["R-CC-7"].decision == "pending"  # the new model's own finding: undecided
    assert new.state.findings["L-MLO-R1"].origin == "reader" and new.state.comments == ["dense breasts"]
    [rejected] = [e for e in trail if e.action == "reject"]
    assert new.state.not_carried_over == [rejected.id] and rejected in store.events(old.study_uid)
    assert new.status == "in progress"  # marked done on other findings: to be confirmed on these
    note = panel_text.continuity(new)
    assert note.startswith("Result version 2: 4 decisions from another analysis carried over; 1 decision not")
    assert panel_text.continuity(old) == ""

    new.accept("R-CC-7")
    stamped = store.events(old.study_uid)[-1]
    assert (stamped.result_version, stamped.model_version) == (2, new.model_version)
    # the old session sees the new decision as made on a finding its result does not have
    assert old.refresh().not_carried_over == [stamped.id] and old.status == "done"

    batch = export_batch(store, tmp_path / "batch", salt=b"s")
    assert verify_batch(batch.path)["version"] == 2
    coco = json.loads((batch.path / "annotations.json").read_text())
    by_id = {a["finding_id"]: a for a in coco["annotations"]}
    assert {a["result_version"] for a in coco["annotations"]} == {2}
    assert {a["model_version"] for a in coco["annotations"]} == {new.model_version}
    assert second.id not in by_id and by_id[carried_id]["decisions"] == [a.to_dict() for a in carried.applied]
    assert by_id["R-CC-7"]["decisions"] == [
        {"action": "accept", "result_version": 2, "model_version": new.model_version, "carried_from": None, "iou": None}
    ]
    assert by_id["L-MLO-R1"]["decisions"][0]["action"] == "add_finding"
    with (batch.path / "findings.csv").open(newline="") as handle:
        rows = {row["finding_id"]: row for row in csv.DictReader(handle)}
    assert rows["R-CC-7"]["result_version"] == "2" and rows["R-CC-7"]["model_version"] == new.model_version
    assert json.loads(rows[carried_id]["decisions"])[0]["model_version"] == old.model_version


def test_a_reanalysis_that_moved_nothing_keeps_the_study_done(
    analysed: Path, store: ReviewStore, tmp_path: Path
) -> None:
    """The same models on another device are the same result version; another MommiSlicer that finds the
    same findings is a new version, and the study stays done (the reader saw every finding)."""
    old = ReviewSession(store, analysed, reader="dr-a")
    old.accept()
    old.set_status("done")

    def on_a_gpu(data: dict) -> None:
        data.update(provider="CUDAExecutionProvider", device_requested="cuda")
        for finding in data["findings"]:
            finding["score"] += 1e-6

    same = ReviewSession(store, _reanalysed(analysed, tmp_path / "gpu", on_a_gpu), reader="dr-b")
    assert same.result_version == 1 and same.status == "done"
    assert [r.version for r in store.results(old.study_uid)] == [1]
    upgraded = ReviewSession(
        store, _reanalysed(analysed, tmp_path / "upgraded", lambda d: d.update(mommi_version="9.9.9")), reader="dr-b"
    )
    assert upgraded.result_version == 2 and upgraded.status == "done"
    assert upgraded.state.not_carried_over == [] and upgraded.state.carried_over == 2
    assert upgraded.findings[0].decision == "accepted"


def test_the_training_code_reads_batches_of_version_1_and_2(analysed: Path, store: ReviewStore, tmp_path: Path) -> None:
    from mommi.data.importers.feedback import import_feedback

    _reviewed(store, analysed)
    batch = export_batch(store, tmp_path / "batch", salt=b"s").path
    new = import_feedback(batch)
    coco = json.loads((batch / "annotations.json").read_text())
    for annotation in coco["annotations"]:  # what a version 1 batch held
        for key in ("result_version", "model_version", "decisions"):
            del annotation[key]
    (batch / "annotations.json").write_text(json.dumps(coco))
    manifest = json.loads((batch / "manifest.json").read_text())
    manifest["version"] = 1
    (batch / "manifest.json").write_text(json.dumps(manifest))
    _rehash(batch)
    old = import_feedback(batch)
    assert [(f.kind, f.box) for r in old.records for f in r.findings] == [
        (f.kind, f.box) for r in new.records for f in r.findings
    ]


def test_export_leaves_out_free_text_and_every_date(analysed: Path, store: ReviewStore, tmp_path: Path) -> None:
    """A comment naming the patient and StudyUpdateDateTime (not in the profile table) do not leave the site."""
    session = ReviewSession(store, analysed, reader="dr-a")
    first = session.findings[0].id
    session.comment("Mrs Anna Test, seen 2026-01-05", first)
    source = pydicom.dcmread(next(iter(session.views.values())).path)
    plain = export_batch(store, tmp_path / "plain", salt=b"s")
    for name in ("annotations.json", "findings.csv"):
        assert "Anna" not in (plain.path / name).read_text()
    assert verify_batch(plain.path)["deidentification"]["free_text_comments"] == "left out"
    with_comments = export_batch(store, tmp_path / "with", salt=b"s", include_comments=True)
    assert "Mrs Anna Test" in (with_comments.path / "findings.csv").read_text()
    # every date and time goes, listed in the profile or not
    from mommi.feedback.deid import Deidentifier

    source.StudyUpdateDateTime = "20260105101500"
    original = {str(e.value) for e in source.iterall() if e.VR in ("DA", "DT", "TM") and not e.is_empty}
    Deidentifier(salt=b"s").deidentify(source)
    assert "StudyUpdateDateTime" not in source
    left = {str(e.value) for e in source.iterall() if e.VR in ("DA", "DT", "TM") and not e.is_empty}
    assert not left & original  # what remains are the profile's dummy values


def _rehash(batch: Path) -> None:
    """Re-sign a folder batch after an attacker's edit (the manifest's hashes match the new files)."""
    import hashlib

    manifest = json.loads((batch / "manifest.json").read_text())
    manifest["files"] = {
        p.relative_to(batch).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(batch.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    (batch / "manifest.json").write_text(json.dumps(manifest))


def test_a_crafted_batch_cannot_reach_outside_itself(analysed: Path, store: ReviewStore, tmp_path: Path) -> None:
    import shutil

    from mommi.data.importers.feedback import import_feedback
    from mommi.errors import DatasetImportError

    _reviewed(store, analysed)
    good = export_batch(store, tmp_path / "batch", salt=b"s").path
    # a batch_id that is a path
    crafted = tmp_path / "crafted-id"
    shutil.copytree(good, crafted)
    manifest = json.loads((crafted / "manifest.json").read_text())
    manifest["batch_id"] = "../../../../tmp/escaped"
    (crafted / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetImportError, match="not a batch id"):
        import_feedback(crafted)
    # an image path outside the batch (absolute), re-signed
    crafted = tmp_path / "crafted-path"
    shutil.copytree(good, crafted)
    coco = json.loads((crafted / "annotations.json").read_text())
    coco["images"][0]["file_name"] = "/etc/passwd"
    (crafted / "annotations.json").write_text(json.dumps(coco))
    _rehash(crafted)
    with pytest.raises(DatasetImportError, match="not a file of the batch"):
        import_feedback(crafted)
    # a symbolic link inside the batch, re-signed with the linked file's hash
    crafted = tmp_path / "crafted-link"
    shutil.copytree(good, crafted)
    image = crafted / "images" / "00001.dcm"
    image.unlink()
    image.symlink_to("/etc/hostname")
    _rehash(crafted)
    with pytest.raises(DatasetImportError, match="symbolic link"):
        import_feedback(crafted)


def test_an_edited_unpacked_cache_is_replaced_from_the_verified_zip(
    analysed: Path, store: ReviewStore, tmp_path: Path
) -> None:
    from mommi.data.importers.feedback import import_feedback

    _reviewed(store, analysed)
    zipped = export_batch(store, tmp_path / "batch", as_zip=True, salt=b"s").path
    first = import_feedback(zipped)
    unpacked = zipped.with_name(zipped.name + ".unpacked")
    coco = json.loads((unpacked / "annotations.json").read_text())
    for annotation in coco["annotations"]:
        annotation["decision"] = "accepted"  # someone "corrects" the cache by hand
    (unpacked / "annotations.json").write_text(json.dumps(coco))
    again = import_feedback(zipped)
    assert [f.kind for r in again.records for f in r.findings] == [f.kind for r in first.records for f in r.findings]
    assert json.loads((unpacked / "annotations.json").read_text()) != coco  # the cache was restored


def test_export_on_a_full_disk_is_a_clean_error(
    analysed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    db = tmp_path / "review.sqlite"
    with open_store(db) as store:
        _reviewed(store, analysed)
    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:  # ENOSPC injected: CI has no small filesystem to fill
        if self.suffix == ".dcm":
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(["feedback", "export", "--db", str(db), "--out", str(tmp_path / "batch")]) == exit_codes.PROBLEMS
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was exported" in err and "Traceback" not in err
    assert not (tmp_path / "batch").exists() and not list(tmp_path.glob(".batch*"))  # no staging left


def test_a_killed_feedback_export_leaves_no_batch_and_the_next_one_cleans_up(analysed: Path, tmp_path: Path) -> None:
    """Kill `mommi feedback export` while it stages the batch: no batch (or a complete one) at the target,
    and the next export of that name removes the dead run's staging folder and writes a verifiable batch."""

    db = tmp_path / "review.sqlite"
    with open_store(db) as reviews:
        _reviewed(reviews, analysed)
    env = {**os.environ, "MOMMI_REVIEW_DB": str(db)}
    target = tmp_path / "batch"
    command = [sys.executable, "-m", "mommi.cli.main", "feedback", "export", "--out", str(target)]
    for _attempt in range(8):
        run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while run.poll() is None and not list(tmp_path.glob(".batch.*")):
            time.sleep(0.001)
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            run.wait()
            break
        assert run.returncode == 0  # too fast to catch: start over
        shutil.rmtree(target)
    else:
        pytest.skip("the export always finished before it could be killed while staging")
    assert not target.exists() or verify_batch(target)
    if target.exists():
        shutil.rmtree(target)
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    assert verify_batch(target)
    assert not list(tmp_path.glob(".batch.*"))  # the killed run's staging folder is gone too
