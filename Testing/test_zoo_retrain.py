"""`mommi zoo retrain` (#23 items 1 and 2): feedback batches -> a NEW zoo of fine-tuned models that passed a gate.

End to end on a copy of the shipped zoo: three synthetic studies analysed, a scripted review of each, `mommi
feedback export`; a round the gate refuses (exit 1 with the reason, the base model kept); the same data with
--force (every default model promoted, with its provenance, checkpoint, calibration and card); then `mommi info`
and `mommi analyze` on the new zoo. The base zoo stays byte-identical throughout. The gate's rule and the version
rule are tested alone, and so are the refusals that cost no training.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is in the train extra; retraining needs it")

from mommi.cli import exit_codes  # noqa: E402
from mommi.cli.main import main  # noqa: E402
from mommi.eval.gate import SetResult, decide  # noqa: E402
from mommi.feedback.store import open_store  # noqa: E402
from mommi.review.session import ReviewSession  # noqa: E402
from mommi.train.retrain import next_zoo_version  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "model_zoo"
#: the version of the shipped zoo the tests retrain (a new zoo is "<it>+r<N>")
ZOO_VERSION = json.loads((SHIPPED / "manifest.json").read_text())["zoo_version"]
DEFAULT_MODELS = ("bidual-lite", "fusion-lite", "malignancy-lite", "single-lite")
pytestmark = pytest.mark.skipif(
    not all((SHIPPED / "checkpoints" / f"{name}.pt").is_file() for name in DEFAULT_MODELS),
    reason="the shipped zoo lacks the checkpoints retraining starts from",
)


def _set(name: str, base: float | None, candidate: float | None) -> SetResult:
    return SetResult(name, "", "", base, candidate, why_not=None if base is not None else "no masses")


def test_the_gate_refuses_a_worse_or_unmeasured_candidate_unless_forced() -> None:
    within = decide("recall", [_set("a", 0.50, 0.49), _set("b", 0.40, 0.60)], 0.02)
    assert within.promoted and not within.forced
    worse = decide("recall", [_set("a", 0.50, 0.49), _set("b", 0.40, 0.30)], 0.02)
    assert not worse.promoted and "b: 0.300 vs base 0.400" in worse.reason and "a:" not in worse.reason
    unmeasured = decide("recall", [_set("heldout", None, None)], 0.02)
    assert not unmeasured.promoted and "nothing to measure it on (heldout: no masses)" in unmeasured.reason
    assert not decide("recall", [], 0.02).promoted
    demanding = decide("recall", [_set("a", 0.50, 0.55)], -0.1)  # a negative tolerance demands improvement
    assert not demanding.promoted
    forced = decide("recall", [_set("a", 0.50, 0.30)], 0.02, force=True)
    assert forced.promoted and forced.forced and forced.reason.startswith("promoted by --force although refused")


def test_the_gate_refuses_a_detector_that_shows_readers_fewer_masses_at_the_operating_point() -> None:
    """Level at 1 FPPI but every score lower: at the zoo's unchanged threshold readers would see fewer masses."""
    level = SetResult("films", "", "", 0.75, 0.75, at_operating_point=(0.75, 0.58))
    refused = decide("recall at 1 FPPI", [level], 0.02)
    assert not refused.promoted and "recall at the zoo's operating point" in refused.reason
    assert "films: 0.580 vs base 0.750" in refused.reason
    kept = SetResult("films", "", "", 0.75, 0.75, at_operating_point=(0.75, 0.74))
    assert decide("recall at 1 FPPI", [kept], 0.02).promoted
    assert kept.summary()["recall_at_operating_point"] == {"base": 0.75, "candidate": 0.74}


def test_each_round_raises_the_zoo_version() -> None:
    assert next_zoo_version("0.2.0") == ("0.2.0+r1", 1)
    assert next_zoo_version("0.2.0+r1") == ("0.2.0+r2", 2)
    assert next_zoo_version("0.2.0+r12") == ("0.2.0+r13", 13)


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of the shipped zoo, a feedback batch of three reviewed studies, replay and validation manifests."""
    root = tmp_path_factory.mktemp("retrain")
    zoo = root / "zoo"
    shutil.copytree(SHIPPED, zoo)
    for name, seed, studies, fractions in (("fb", 400, 3, None), ("rp", 401, 2, "1,0,0"), ("va", 402, 3, "0,0,1")):
        synth = ["synth", "--studies", str(studies), "--out", str(root / name), "--seed", str(seed), "--phantom", "v1"]
        assert main([*synth, "--normal-fraction", "0"]) == 0
        if fractions:
            out = root / f"{name}.json"
            assert (
                main(["data", "import", "synthetic", str(root / name), "--out", str(out), "--fractions", fractions])
                == 0
            )
    db = root / "review.sqlite"
    studies = sorted(p for p in (root / "fb").iterdir() if p.is_dir())
    with open_store(db) as store:
        for study in studies:
            result = root / "analysed" / study.name
            code, _, _ = _run(
                ["analyze", str(study), "--out", str(result), "--zoo", str(zoo), "--device", "cpu", "--no-dicom"]
            )
            assert code == exit_codes.OK
            session = ReviewSession(store, result, reader="dr-a")
            first, second = [f.id for f in session.findings[:2]]
            session.accept(first)
            session.edit_geometry([f + 2 for f in session.findings[0].box_px], finding_id=first)
            session.set_biopsy(
                "malignant", first
            )  # whichever study is held out, the classifier's gate has both classes
            session.reject(second)
            session.add_mass("L-MLO", [200, 200, 240, 250])
            session.set_status("done")
    # the site's de-identification salt, fixed: the batch, and so the patients the hold-out draws, are the same
    # on every run
    salt = root / "config" / "mommislicer" / "deid-salt"
    salt.parent.mkdir(parents=True)
    salt.write_bytes(b"test-site-salt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(root / "config"))
        assert main(["feedback", "export", "--db", str(db), "--out", str(root / "batch"), "--zip"]) == exit_codes.OK
    return {
        "root": root,
        "zoo": zoo,
        "batch": root / "batch.zip",
        "replay": root / "rp.json",
        "validation": root / "va.json",
        "study": studies[0],
    }


def _bare(inputs: dict[str, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    """`mommi zoo retrain` with the batch and the base zoo only."""
    return _run(
        ["zoo", "retrain", "--feedback", str(inputs["batch"]), "--zoo", str(inputs["zoo"]), "--out", str(out), *extra]
    )


def _retrain(inputs: dict[str, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    """A small round: the validation and replay manifests, one epoch, few bootstrap resamples."""
    data = ["--validation", str(inputs["validation"]), "--replay", str(inputs["replay"])]
    return _bare(inputs, out, *data, "--epochs", "1", "--bootstrap", "20", "--device", "cpu", *extra)


@pytest.fixture(scope="module")
def base_tree(inputs: dict[str, Path]) -> dict[str, str]:
    return _tree(inputs["zoo"])


@pytest.fixture(scope="module")
def refused(inputs: dict[str, Path], base_tree: dict[str, str]) -> tuple[int, str, str, Path]:
    """A gate no candidate can pass: a tolerance of -1 demands an improvement of 1.0 in recall."""
    out = inputs["root"] / "refused-zoo"
    return (*_retrain(inputs, out, "--models", "single-lite", "--tolerance", "-1"), out)


@pytest.fixture(scope="module")
def forced(inputs: dict[str, Path], refused: tuple, base_tree: dict[str, str]) -> tuple[int, str, str, Path]:
    out = inputs["root"] / "new-zoo"
    return (*_retrain(inputs, out, "--tolerance", "-1", "--force"), out)


def _entries(zoo: Path) -> dict[str, dict]:
    return {m["name"]: m for m in json.loads((zoo / "manifest.json").read_text())["models"]}


def _no_problems(zoo: Path) -> None:
    code, out, _ = _run(["info", "--zoo", str(zoo)])
    assert code == exit_codes.OK and "No problems found" in out, out[-800:]


def test_refusals_that_cost_no_training(inputs: dict[str, Path], base_tree: dict[str, str]) -> None:
    existing = inputs["root"] / "existing"
    existing.mkdir()
    code, _, err = _retrain(inputs, existing)
    assert code == exit_codes.PROBLEMS and "already exists" in err
    code, _, err = _retrain(inputs, inputs["zoo"] / "inside")
    assert code == exit_codes.PROBLEMS and "inside the base zoo" in err
    code, _, err = _retrain(inputs, inputs["root"] / "n1", "--models", "nipple-lite")
    assert code == exit_codes.PROBLEMS and "nipple-lite cannot be fine-tuned on feedback" in err
    code, _, err = _bare(inputs, inputs["root"] / "n2", "--models", "single-lite")
    # the shipped single-lite was trained on mias-all.json, which is not beside the zoo
    assert code == exit_codes.PROBLEMS and "no replay data" in err and "--no-replay" in err
    code, _, err = _bare(inputs, inputs["root"] / "n4", "--no-replay", "--holdout", "0")
    assert code == exit_codes.PROBLEMS and "nothing to gate the candidates on" in err  # refused before training
    code, _, err = _retrain(inputs, inputs["root"] / "n3", "--validation", str(inputs["replay"]))
    assert code == exit_codes.PROBLEMS and "no images in the validation split(s) val,test" in err
    assert not any((inputs["root"] / n).exists() for n in ("n1", "n2", "n3", "n4"))
    assert not list(inputs["root"].glob(".*retrain-*"))  # no work folder left behind
    assert _tree(inputs["zoo"]) == base_tree


def test_a_candidate_worse_than_its_base_is_not_promoted(
    inputs: dict[str, Path], refused: tuple[int, str, str, Path]
) -> None:
    code, out, err, zoo = refused
    assert code == exit_codes.PROBLEMS, err[-2000:]
    assert "single-lite: NOT promoted: recall at 1 FPPI below its base by more than the tolerance -1" in out
    assert "not promoted: single-lite" in err and "--force promotes them" in err
    base, new = _entries(inputs["zoo"]), _entries(zoo)
    assert new["single-lite"] == base["single-lite"]  # the base model, entry and all, is what the new zoo holds
    manifest = json.loads((zoo / "manifest.json").read_text())
    assert manifest["zoo_version"] == f"{ZOO_VERSION}+r1"
    verdict = manifest["retrain_rounds"][-1]["models"]["single-lite"]
    assert verdict["promoted"] is False and "tolerance -1" in verdict["reason"]
    card = (zoo / "cards" / "single-lite.md").read_text()
    assert f"## Retraining round 1 (zoo {ZOO_VERSION}+r1): candidate not promoted" in card and "gate-va" in card
    _no_problems(zoo)


def test_retrain_writes_a_complete_new_zoo(
    inputs: dict[str, Path], forced: tuple[int, str, str, Path], base_tree: dict[str, str]
) -> None:
    code, out, err, zoo = forced
    assert code == exit_codes.OK, err[-2000:]
    assert _tree(inputs["zoo"]) == base_tree  # the base zoo was only read
    base, new = _entries(inputs["zoo"]), _entries(zoo)
    manifest = json.loads((zoo / "manifest.json").read_text())
    assert (
        manifest["zoo_version"] == f"{ZOO_VERSION}+r1"
        and manifest["retrain_rounds"][-1]["base_zoo_version"] == ZOO_VERSION
    )
    import zipfile

    with zipfile.ZipFile(inputs["batch"]) as archive:
        batch_manifest = archive.read("manifest.json")
    described = json.loads(batch_manifest)
    for name in DEFAULT_MODELS:
        entry, record = new[name], new[name]["retrain"]
        assert entry["sha256"] != base[name]["sha256"]
        assert record["base"] == {
            "name": name,
            "zoo_version": ZOO_VERSION,
            "sha256": base[name]["sha256"],
            "checkpoint_sha256": base[name]["checkpoint_sha256"],
        }
        (batch,) = record["batches"]
        assert batch["id"] == described["batch_id"]
        assert batch["manifest_sha256"] == hashlib.sha256(batch_manifest).hexdigest()
        assert batch["decisions"]["rejected"] == described["counts"]["findings"]["rejected"] == 3
        assert batch["decisions"]["edited"] == 3 and batch["decisions"]["added"] == 3 and batch["readers"] == ["dr-a"]
        assert record["feedback"]["studies_held_out"] == 1 and record["feedback"]["studies_trained"] == 2
        assert "zoo retrain" in record["command"] and record["command"] == entry["made_by"]
        gate = record["gate"]
        assert gate["promoted"] and gate["forced"] and gate["tolerance"] == -1
        assert [s["name"] for s in gate["sets"]] == ["feedback-heldout", "gate-va"]
        measured = next(s for s in gate["sets"] if s["base"] is not None and s["candidate"] is not None)
        # the next round fine-tunes this model: its checkpoint is in the zoo, the very file it was exported from
        checkpoint = zoo / entry["checkpoint"]
        assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == entry["checkpoint_sha256"]
        assert entry["checkpoint_sha256"] != base[name]["checkpoint_sha256"]
        card = (zoo / entry["card"]).read_text()
        assert entry["sha256"] in card and f"## Retraining (round 1: zoo {ZOO_VERSION} -> {ZOO_VERSION}+r1)" in card
        assert f"{measured['candidate']:.3f}" in card and "Promoted by `--force`" in card
        assert set(entry["metrics"]) == {"feedback-heldout", "gate-va"}
        assert entry["reference"]["outputs"] and entry["parity_max_abs_diff"] < 1e-3
    for name in set(base) - set(DEFAULT_MODELS):  # not retrained: as they were
        assert new[name] == base[name]
    # the held-out studies were never trained on
    kept = zoo / "retrain" / "r1"
    trained = {r["patient_id"] for r in json.loads((kept / "feedback-train.json").read_text())["records"]}
    held = {r["patient_id"] for r in json.loads((kept / "feedback-heldout.json").read_text())["records"]}
    assert held and trained and not held & trained
    assert set(json.loads((kept / "gate.json").read_text())["models"]) == set(DEFAULT_MODELS)
    # branches were promoted, so the whole chain was gated too; --force let it through, and the record says so
    chain = manifest["retrain_rounds"][-1]["chain"]
    assert chain["forced"] and chain["metric"] == "recall at 1 FPPI" and "the whole chain" in out
    for name in ("bidual-lite", "single-lite"):
        assert new[name]["retrain"]["gate"]["chain"] == chain
        assert "#### The whole chain with this round's promoted detectors" in (zoo / new[name]["card"]).read_text()
    assert "chain" not in new["fusion-lite"]["retrain"]["gate"]
    chain_record = json.loads((kept / "gate.json").read_text())["chain"]
    assert chain_record["reports"]["gate-va"]["candidate"]["froc"]["masses"] > 0


def test_the_new_classifier_is_recalibrated(forced: tuple[int, str, str, Path], inputs: dict[str, Path]) -> None:
    from mommi.runtime.malignancy import MalignancyClassifier

    _, _, err, zoo = forced
    entry = _entries(zoo)["malignancy-lite"]
    calibration = entry["calibration"]
    assert calibration["temperature"] > 0 and calibration["ece_after"] <= calibration["ece_before"] + 1e-9
    assert calibration["fitted_on"]["manifests"] == ["feedback-heldout", "gate-va"]
    assert (zoo / calibration["plot"]).is_file()
    assert "real_masses" not in entry  # measured on the base model: the new one is withheld until measured
    classifier = MalignancyClassifier(zoo / "manifest.json", device="cpu")
    assert classifier.calibrated and classifier.temperature == pytest.approx(calibration["temperature"])
    assert "## Calibration" in (zoo / entry["card"]).read_text()


def test_the_new_zoo_passes_its_checks_and_analyses_a_study(
    forced: tuple[int, str, str, Path], inputs: dict[str, Path], tmp_path: Path
) -> None:
    from mommi.runtime.sessions import load_model
    from mommi.train.export import reference_inputs

    _, _, _, zoo = forced
    _no_problems(zoo)
    for name in DEFAULT_MODELS:  # the recorded reference outputs are what the new file computes
        entry = _entries(zoo)[name]
        image = next(i["shape"] for i in entry["inputs"] if len(i["shape"]) == 4)
        outputs = load_model(name, zoo / "manifest.json", "cpu").run_all(
            **reference_inputs(entry["task"], (image[2], image[3]))
        )
        for output, reference in zip(outputs, entry["reference"]["outputs"].values()):
            assert float(np.mean(output)) == pytest.approx(reference["mean"], abs=1e-4)
    out = tmp_path / "analysed"
    code, _, err = _run(
        ["analyze", str(inputs["study"]), "--out", str(out), "--zoo", str(zoo), "--device", "cpu", "--no-dicom"]
    )
    assert code == exit_codes.OK, err
    result = json.loads((out / "result.json").read_text())
    assert result["zoo_version"] == f"{ZOO_VERSION}+r1"
    assert result["models"]["single-lite"] == _entries(zoo)["single-lite"]["sha256"]


def test_a_branch_that_passes_alone_is_refused_when_the_whole_chain_reads_worse(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """The chain stage on real networks and a real set: the "candidates" are the base networks themselves, so the
    new zoo's chain reads exactly as the base chain, and a tolerance of -0.5 (a gain of 0.5 demanded) refuses it.
    The bilateral network, promoted by its own gate, is then refused with the chain's reason; the fusion network,
    whose own gate already ran the chain on the base branches, stays promoted."""
    from mommi.eval.gate import GateSet
    from mommi.runtime.zoo import read_manifest
    from mommi.train.retrain import STAGES, ModelRound, RetrainOptions, Round

    chain_stage = next(stage for stage in STAGES if stage.name == "chain")
    assert [stage.name for stage in STAGES][-3:] == ["gate", "chain", "write"]
    options = RetrainOptions((), inputs["zoo"], tmp_path / "new", tolerance=-0.5, bootstrap=20, device="cpu")
    log: list[str] = []
    run = Round(options, tmp_path / "work", log.append, base_path=inputs["zoo"] / "manifest.json")
    run.base = read_manifest(run.base_path)
    shutil.copytree(inputs["zoo"], run.candidates)
    passed_alone = decide("recall at 1 FPPI", [_set("gate-va", 0.50, 0.60)], 0.02)  # its own gate, as it ran
    assert passed_alone.promoted
    entries = {e["name"]: e for e in run.base["models"]}
    run.models = [
        ModelRound(entries[name], Path(), tmp_path, candidate=dict(entries[name]), gate=passed_alone)
        for name in ("bidual-lite", "fusion-lite")
    ]
    run.gate_sets = [GateSet("gate-va", inputs["validation"], "3 synthetic studies")]
    chain_stage.run(run)
    assert run.chain_gate is not None and not run.chain_gate.promoted
    (measured,) = run.chain_gate.sets
    assert measured.base == measured.candidate is not None  # the same networks: the same marks
    bidual, fusion = run.models
    assert bidual.gate is not None and not bidual.gate.promoted
    assert bidual.gate.reason.startswith("passed alone, but the whole chain with bidual-lite, fusion-lite is worse")
    assert fusion.gate is not None and fusion.gate.promoted
    assert any("the chain with bidual-lite, fusion-lite: NOT promoted" in line for line in log)


def test_a_round_that_promotes_no_branch_runs_no_chain_gate(tmp_path: Path) -> None:
    from mommi.train.retrain import STAGES, ModelRound, RetrainOptions, Round

    chain_stage = next(stage for stage in STAGES if stage.name == "chain")
    run = Round(RetrainOptions((), tmp_path, tmp_path / "new"), tmp_path, print)
    refused = decide("recall at 1 FPPI", [_set("a", 0.50, 0.30)], 0.02)
    promoted = decide("recall at 1 FPPI", [_set("a", 0.50, 0.50)], 0.02)
    run.models = [
        ModelRound({"name": "bidual-lite", "task": "bidual"}, Path(), tmp_path, gate=refused),
        ModelRound({"name": "fusion-lite", "task": "fusion"}, Path(), tmp_path, gate=promoted),
    ]
    chain_stage.run(run)  # reads no zoo and no set: nothing is measured
    assert run.chain_gate is None and run.models[1].gate is promoted
