"""FROC, bootstrap and nipple error on small hand-computed cases; the `mommi eval` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.manifest import Finding, Manifest, Record
from mommi.eval.froc import ImageResult, box_iou, evaluate_froc, froc_curve, match, recall_at
from mommi.eval.nipple import nipple_errors
from mommi.eval.report import PredictionsError, evaluate

G1 = [0, 0, 9, 9]
G2 = [100, 100, 119, 119]
FAR = [300, 300, 309, 309]


def test_iou_of_inclusive_pixel_boxes() -> None:
    assert box_iou(G1, G1) == 1.0
    assert box_iou(G1, [0, 0, 9, 1]) == pytest.approx(0.2)  # 20 of 100 pixels
    assert box_iou(G1, [10, 10, 19, 19]) == 0.0  # touching edges share no pixel
    assert box_iou([0, 0, 1, 1], [1, 1, 2, 2]) == pytest.approx(1 / 7)


def _curve(images: list[ImageResult]) -> tuple[np.ndarray, np.ndarray]:
    return froc_curve(match(images))


def test_recall_rises_at_the_right_operating_points() -> None:
    images = [
        ImageResult("a", "pA", [G1, G2], [(G1, 0.9), (FAR, 0.8), (G2, 0.6)]),
        ImageResult("b", "pB", [], [(G1, 0.5)]),  # a normal image: its detection is a false positive
    ]
    fppi, recall = _curve(images)
    assert fppi.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert recall.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert recall_at(fppi, recall, (0.25, 0.5, 1.0)) == [0.5, 1.0, 1.0]


def test_ties_enter_together_and_are_never_split() -> None:
    images = [
        ImageResult("a", "pA", [G1, G2], [(G1, 0.9), (G2, 0.7), (FAR, 0.7)]),
        ImageResult("b", "pB", [], [(FAR, 0.7)]),
    ]
    fppi, recall = _curve(images)
    assert list(zip(fppi.tolist(), recall.tolist())) == [(0.0, 0.0), (0.0, 0.5), (1.0, 1.0)]
    # splitting the tie would give recall 1.0 at FPPI 0.5; the protocol gives 0.5
    assert recall_at(fppi, recall, (0.5,)) == [0.5]


def test_iou_exactly_0_2_is_not_a_hit_and_duplicates_are_not_false_positives() -> None:
    images = [ImageResult("a", "p", [G1], [([0, 0, 9, 1], 0.9), (G1, 0.8), ([0, 0, 9, 8], 0.7)])]
    fppi, recall = _curve(images)
    # operating points at 0.9 (the IoU = 0.2 box: a false positive) and 0.8 (the mass found);
    # the second hit at 0.7 changes nothing: it is neither a new detection nor a false positive
    assert fppi.tolist() == [0.0, 1.0, 1.0]
    assert recall.tolist() == [0.0, 0.0, 1.0]


def test_images_without_masses_only() -> None:
    report = evaluate_froc([ImageResult("a", "p", [], [(G1, 0.4)])], bootstrap=50)
    assert report.masses == 0 and report.recall[1.0] == 0.0


def test_missed_mass_never_reaches_recall() -> None:
    images = [ImageResult("a", "p", [G1, G2], [(G1, 0.9)])]
    fppi, recall = _curve(images)
    assert recall.max() == 0.5


def test_bootstrap_resamples_patients() -> None:
    # one patient only: every resample is the data itself, the CI collapses on the estimate
    one = [ImageResult(f"i{k}", "p", [G1], [(G1, 0.9), (FAR, 0.3)]) for k in range(4)]
    report = evaluate_froc(one, bootstrap=200, seed=1)
    assert report.ci[0.5] == (1.0, 1.0)
    # two patients, one always found and one never: the CI spans 0..1 and holds the estimate
    two = [ImageResult("a", "pA", [G1], [(G1, 0.9)]), ImageResult("b", "pB", [G1], [])]
    report = evaluate_froc(two, bootstrap=400, seed=1)
    assert report.recall[1.0] == 0.5
    assert report.ci[1.0] == (0.0, 1.0)
    again = evaluate_froc(two, bootstrap=400, seed=1)
    assert again.ci == report.ci  # seeded


def test_nipple_error_uses_each_images_spacing() -> None:
    report = nipple_errors([[3, 4], [0, 0], [100, 0]], [[0, 0], [0, 0], [0, 0]], [[0.1, 0.1], [0.2, 0.2], [0.5, 0.2]])
    assert report.images == 3
    assert report.max_mm == pytest.approx(20.0)  # 100 px * 0.2 mm (column spacing)
    assert report.median_mm == pytest.approx(0.5)  # 5 px * 0.1 mm
    assert report.wrong == 1


def _manifest(tmp_path: Path) -> Path:
    records = []
    for k in range(6):
        findings = [Finding(kind="mass", box=[10.0, 10.0, 29.0, 29.0], pathology="malignant")] if k % 2 == 0 else []
        records.append(
            Record(
                patient_id=f"p{k // 2}",
                study_id=f"s{k // 2}",
                image_id=f"img{k}",
                view="CC",
                laterality="L" if k % 2 else "R",
                image_path=f"img{k}.dcm",
                source="test",
                spacing_mm=[0.5, 0.5],
                findings=findings,
                nipple=[100.0, 50.0],
                split="test",
            )
        )
    path = tmp_path / "m.json"
    Manifest(source="test", root=str(tmp_path), records=records).write(path)
    return path


def test_mommi_eval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    predictions = {
        "schema": "mommi-predictions",
        "version": 1,
        "model": "hand-made",
        "images": {
            "img0": {"boxes": [[10, 10, 29, 29, 0.95]], "nipple": [102, 50]},
            "img1": {"boxes": [[200, 200, 220, 220, 0.6]], "nipple": [100, 50]},
            "img2": {"boxes": [[12, 12, 30, 30, 0.5]], "nipple": [100, 54]},
            "img3": {"boxes": []},
        },
    }
    pred_path = tmp_path / "p.json"
    pred_path.write_text(json.dumps(predictions))
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--manifest",
            str(_manifest(tmp_path)),
            "--predictions",
            str(pred_path),
            "--out",
            str(out),
            "--bootstrap",
            "100",
        ]
    )
    assert code == exit_codes.OK
    text = capsys.readouterr().out
    assert "recall at 0.5 FPPI" in text and "nipple error" in text
    report = json.loads((out / "report.json").read_text())
    assert report["images_without_predictions"] == 2
    assert report["froc"]["masses"] == 3
    # img0 found at 0.95, img2 at 0.5 after one FP (0.6) over 6 images: recall 2/3 at FPPI 1/6
    assert report["froc"]["recall_at_fppi"]["0.5"]["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["nipple"]["images"] == 3 and report["nipple"]["max_mm"] == pytest.approx(2.0)
    assert (out / "froc.png").stat().st_size > 1000


def test_mommi_eval_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"schema": "other"}')
    code = main(["eval", "--manifest", str(_manifest(tmp_path)), "--predictions", str(bad), "--out", str(tmp_path)])
    assert code == exit_codes.PROBLEMS
    assert "not a mommi-predictions file" in capsys.readouterr().err


def test_zoo_record_metrics_writes_cards_with_comparison_and_notes(tmp_path: Path) -> None:
    """Evaluation reports -> manifest metrics -> cards, with the single vs bilateral verdict
    and the hand-written development notes."""
    manifest = _manifest(tmp_path)
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    shipped = json.loads((Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json").read_text())
    (zoo / "manifest.json").write_text(json.dumps(shipped))
    (zoo / "notes").mkdir()
    (zoo / "notes" / "bidual.md").write_text("Tried a residual fusion; it helped.\n")
    found = {"img0": {"boxes": [[10, 10, 29, 29, 0.9]]}, "img2": {"boxes": [[10, 10, 29, 29, 0.8]]}}
    missed = {"img0": {"boxes": [[200, 200, 220, 220, 0.9]]}}
    for task, images in (("bidual", found), ("single", missed)):
        predictions = tmp_path / f"{task}.json"
        predictions.write_text(
            json.dumps({"schema": "mommi-predictions", "version": 1, "model": task, "images": images})
        )
        assert (
            main(
                [
                    "eval",
                    "--manifest",
                    str(manifest),
                    "--predictions",
                    str(predictions),
                    "--out",
                    str(tmp_path / "eval" / f"{task}-synth-test"),
                    "--bootstrap",
                    "50",
                ]
            )
            == exit_codes.OK
        )
    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(tmp_path / "eval")]) == exit_codes.OK
    card = (zoo / "cards" / "bidual-lite.md").read_text()
    assert "Tried a residual fusion; it helped." in card
    assert "recall at 1 FPPI 0.667, above single-lite (0.000)" in card
    recorded = {m["name"]: m for m in json.loads((zoo / "manifest.json").read_text())["models"]}
    assert recorded["bidual-lite"]["metrics"]["synth-test"]["masses"] == 3
    ablation = (zoo / "ablation.md").read_text()
    assert (
        "| bilateral: BiDualNet | 6 | 3 | 0.667" in ablation and "| single view (baseline) | 6 | 3 | 0.000" in ablation
    )


def _evaluated(tmp_path: Path, task: str, images: dict[str, Any]) -> Path:
    """EVAL/<task>-synth-test/report.json from `mommi eval` on the small manifest; returns EVAL."""
    predictions = tmp_path / f"{task}.json"
    predictions.write_text(json.dumps({"schema": "mommi-predictions", "version": 1, "model": task, "images": images}))
    out = tmp_path / "eval" / f"{task}-synth-test"
    args = ["eval", "--manifest", str(_manifest(tmp_path)), "--predictions", str(predictions), "--out", str(out)]
    assert main([*args, "--bootstrap", "20"]) == exit_codes.OK
    return tmp_path / "eval"


def test_record_metrics_touches_only_the_model_evaluated_and_invents_no_provenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#23: a fine-tuned single-lite, exported again (its entry records its data and starting weights, not the
    commands), then recorded: the other five entries and cards stay byte for byte, the card does not claim the
    build script's recipe or only public data, and `mommi info` finds the new card consistent."""
    from zoo_copies import copy_zoo

    from mommi.runtime.zoo import default_manifest_path, zoo_status

    def fine_tuned(data: dict[str, Any]) -> None:
        entry = next(m for m in data["models"] if m["name"] == "single-lite")
        del entry["made_by"]  # `mommi export` writes a new entry: nobody recorded the commands
        entry["training_data"] = ["/site/feedback-2027-01/manifest.json"]
        entry["config"]["initialised_from"] = "checkpoints/single-lite.pt"
        entry["metrics"] = {}

    manifest = copy_zoo(tmp_path / "zoo", fine_tuned, cards=True)
    zoo = manifest.parent
    shipped_ablation = (default_manifest_path().parent / "ablation.md").read_text()
    (zoo / "ablation.md").write_text(shipped_ablation)
    bidual_rows = [line for line in shipped_ablation.splitlines() if line.startswith("| bilateral: BiDualNet |")]
    before = {m["name"]: m for m in json.loads(manifest.read_text())["models"]}
    cards = {path.name: path.read_bytes() for path in (zoo / "cards").iterdir()}
    evals = _evaluated(tmp_path, "single", {"img0": {"boxes": [[10, 10, 29, 29, 0.9]]}})

    # a model asked about without a report: refused, nothing written
    assert (
        main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals), "--tasks", "bidual"])
        == exit_codes.PROBLEMS
    )
    assert "no bidual-<dataset>/report.json" in capsys.readouterr().err
    assert {m["name"]: m for m in json.loads(manifest.read_text())["models"]} == before

    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals)]) == exit_codes.OK
    after = {m["name"]: m for m in json.loads(manifest.read_text())["models"]}
    assert {n: m for n, m in after.items() if n != "single-lite"} == {
        n: m for n, m in before.items() if n != "single-lite"
    }
    changed = {name for name, content in cards.items() if (zoo / "cards" / name).read_bytes() != content}
    assert changed == {"single-lite.md"}
    single = after["single-lite"]
    assert set(single["metrics"]) == {"synth-test"} and single["metrics"]["synth-test"]["masses"] == 3
    assert single["made_by"] == "unknown"
    card = (zoo / "cards" / "single-lite.md").read_text()
    assert "build_lite_zoo.sh" not in card and "mini-MIAS database only" not in card
    assert "## How it was made (exact commands)\nUnknown: the zoo manifest does not record" in card
    assert "`manifest.json`" in card and "Initialised from `checkpoints/single-lite.pt`" in card
    assert zoo_status(manifest).problems == []  # the card states the manifest's metrics
    ablation = (zoo / "ablation.md").read_text()  # the other networks' rows, in every dataset's table, stay
    assert bidual_rows and all(row in ablation for row in bidual_rows)  # every dataset's row carried

    # the commands, when known, are recorded and kept by a later recording that does not give them
    made = "mommi train single --manifest fb.json --init-from model_zoo/checkpoints/single-lite.pt; mommi export"
    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals), "--made-by", made]) == exit_codes.OK
    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals)]) == exit_codes.OK
    single = next(m for m in json.loads(manifest.read_text())["models"] if m["name"] == "single-lite")
    assert single["made_by"] == made and f"`{made}`" in (zoo / "cards" / "single-lite.md").read_text()


def test_evaluate_joins_splits_given_with_commas(tmp_path: Path) -> None:
    """--split val,test: the women a model was not trained on, evaluated together."""
    manifest = Manifest.read(_manifest(tmp_path))
    for record, split in zip(manifest.records, ("val", "val", "test", "test", "train", "train")):
        record.split = split
    predictions = {
        "schema": "mommi-predictions",
        "version": 1,
        "images": {
            "img0": {"boxes": [[10, 10, 29, 29, 0.9]]},
            "img2": {"boxes": []},
            "img4": {"boxes": [[10, 10, 29, 29, 0.9]]},
        },
    }
    joined = evaluate(manifest, predictions, "val,test", bootstrap=0)["froc"]
    assert (joined["images"], joined["masses"]) == (4, 2)
    assert joined["recall_at_fppi"]["1"]["recall"] == 0.5  # img0's mass found, img2's missed; img4 is train
    assert evaluate(manifest, predictions, "train", bootstrap=0)["froc"]["recall_at_fppi"]["1"]["recall"] == 1.0
    with pytest.raises(PredictionsError, match="no images in split"):
        evaluate(manifest, predictions, "holdout", bootstrap=0)


def test_cards_lead_with_real_films_and_the_operating_point() -> None:
    from mommi.runtime.zoo import default_manifest_path, read_manifest
    from mommi.train.cards import render_card

    manifest = read_manifest(default_manifest_path())
    entry = next(m for m in manifest["models"] if m["task"] == "bidual")
    text = render_card(entry, None, operating_point=manifest["operating_point"])
    real, synthetic = text.index("## Real films first"), text.index("200 synthetic studies")
    assert real < text.index("## What it is") < synthetic
    section = text[real : text.index("## What it is")]
    cv = entry["metrics"]["mias-cv"]  # the real-film cross-validation leads
    assert "5-fold cross-validation by woman" in section and f"{cv['masses']} masses" in section
    assert f"{cv['recall_at_fppi']['1']['recall']:.2f}" in section and "best-case recall" in section
    assert f"detection score {manifest['operating_point']['min_score']:.3f}" in section
    assert "false marks per image" in section and "at most 2 marks per view" in section
    # a model without a cross-validation shows the films it was not trained on, and says so
    heldout = dict(entry, metrics={"mias-heldout": dict(cv, images=44, masses=6)})
    section = render_card(heldout, None)
    assert "No cross-validation by woman" in section and "22 held-out women" in section and "6 masses" in section
    nipple = next(m for m in manifest["models"] if m["task"] == "nipple")
    assert "no nipple annotations" in render_card(nipple, None)
