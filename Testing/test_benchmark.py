"""`mommi benchmark`: the helpers on hand-made cases, and whole runs on the importer fixture trees."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import importer_fixtures as fx
from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.manifest import Finding, Record
from mommi.eval import lesion_metrics as lm
from mommi.eval.benchmark import safe_id
from mommi.eval.benchmark_datasets import DATASETS, select_records
from mommi.runtime.pipeline import reporting_threshold

BOX = [10.0, 10.0, 29.0, 29.0]


def _record(image_id: str, patient: str, findings: list[Finding] | None = None, **kw: object) -> Record:
    return Record(
        patient_id=patient,
        study_id=patient,
        image_id=image_id,
        view="CC",
        laterality="L",
        image_path=f"{image_id}.dcm",
        source="test",
        findings=findings or [],
        **kw,
    )  # type: ignore[arg-type]


def _predictions(images: dict[str, list[tuple[list[float], float, float | None, str | None]]]) -> dict:
    return {
        "schema": "mommi-predictions",
        "images": {
            k: {
                "boxes": [[*b, s] for b, s, _, _ in v],
                "malignancy": [m for _, _, m, _ in v],
                "birads": [r for _, _, _, r in v],
            }
            for k, v in images.items()
        },
    }


# ------------------------------------------------------------------ helpers, no pipeline


def test_best_match_takes_the_highest_scoring_hit_with_iou_above_0_2() -> None:
    dets = [
        lm.Detection((10, 10, 29, 29), 0.3, 0.9),
        lm.Detection((12, 12, 30, 30), 0.7, 0.2),
        lm.Detection((10, 10, 29, 13), 0.99, 0.5),  # IoU exactly 0.2: not a hit
        lm.Detection((200, 200, 220, 220), 0.95, 0.1),
    ]
    assert lm.best_match(BOX, dets).score == 0.7
    assert lm.best_match([300, 300, 310, 310], dets) is None


def test_lesion_malignancy_scores_matched_masses_and_counts_the_rest() -> None:
    records = [
        _record(
            "a",
            "p1",
            [Finding("mass", BOX, pathology="malignant"), Finding("mass", [100, 100, 119, 119], pathology="benign")],
        ),
        _record("b", "p2", [Finding("mass", BOX, pathology="benign"), Finding("mass", [50, 50, 60, 60])]),
        _record("c", "p3", [Finding("mass", BOX, pathology="malignant")]),
    ]
    preds = _predictions({"a": [(BOX, 0.9, 0.8, "4A")], "b": [(BOX, 0.6, 0.3, "3")], "c": [(BOX, 0.5, 0.6, "5")]})
    section = lm.lesion_malignancy(records, preds, bootstrap=50)
    assert section["masses_with_pathology"] == 4 and section["matched"] == 3 and section["unmatched"] == 1
    assert section["auc"] == 1.0 and section["positives"] == 2 and section["negatives"] == 1
    # one class only: no AUC, a reason instead
    assert lm.lesion_malignancy(records[2:], preds, bootstrap=10)["auc"] is None


def test_breast_level_auc_uses_the_highest_reported_malignancy_or_zero() -> None:
    records = [
        _record("a", "p1", extra={"breast_pathology": "malignant"}),
        _record("b", "p2", extra={"breast_pathology": "benign"}),
        _record("c", "p3", extra={"breast_pathology": "benign"}),
        _record("d", "p4"),
    ]  # no label: not scored
    preds = _predictions(
        {
            "a": [(BOX, 0.9, 0.7, None), (BOX, 0.1, 0.99, None)],  # 0.99 is below the report score
            "b": [(BOX, 0.9, 0.8, None)],
            "d": [(BOX, 0.9, 0.9, None)],
        }
    )
    section = lm.breast_malignancy(records, preds, report_score=0.2, bootstrap=20)
    assert section["breasts"] == 3 and section["breasts_without_findings"] == 1
    assert section["auc"] == pytest.approx(0.5)  # malignant 0.7 beats c (0) but not b (0.8)


def test_birads_agreement_with_plain_4_and_subcategories() -> None:
    assert lm.birads_distance("4", "4B") == 0 and lm.birads_distance("4", "5") == 1
    assert lm.birads_distance("4", "2") == 2
    assert lm.birads_distance("4A", "4C") == 2 and lm.birads_distance("3", "4A") == 1
    agreement = lm.birads_agreement([("4", "4A"), ("4A", "4B"), ("2", "5"), ("1", "1")])
    assert agreement == {"pairs": 4, "exact": 0.5, "within_one": 0.75}
    assert lm.birads_agreement([])["exact"] is None


def test_image_birads_is_the_highest_reported_finding_or_1() -> None:
    records = [_record("a", "p", image_birads="4A"), _record("b", "p", image_birads="2"), _record("c", "p")]
    preds = _predictions({"a": [(BOX, 0.9, None, "3"), (BOX, 0.5, None, "4B"), (BOX, 0.1, None, "6")]})
    assert lm.image_birads_pairs(records, preds, 0.2) == [("4A", "4B"), ("2", "1")]


def test_finding_birads_pairs_and_exam_counts() -> None:
    records = [_record("a", "p", [Finding("mass", BOX, birads="4"), Finding("mass", [100, 100, 119, 119], birads="3")])]
    preds = _predictions(
        {"a": [(BOX, 0.9, 0.4, "4C"), ([300, 300, 310, 310], 0.5, 0.9, "2"), ([100, 100, 119, 119], 0.1, 0.2, "3")]}
    )
    assert lm.finding_birads_pairs(records, preds) == ([("4", "4C"), ("3", "3")], 0)
    counts = lm.exam_counts(records, preds, 0.2)
    assert counts == {"masses": 2, "findings": 2, "true_positives": 1, "false_positives": 1, "max_malignancy": 0.9}


def test_split_selection_and_folder_names() -> None:
    records = [_record("a", "p", extra={"source_split": "training"}), _record("b", "q", extra={"source_split": "test"})]
    assert [r.image_id for r in select_records(DATASETS["vindr-mammo"], records, "test")[0]] == ["b"]
    assert [r.image_id for r in select_records(DATASETS["vindr-mammo"], records, "train")[0]] == ["a"]
    chosen, note = select_records(DATASETS["inbreast"], records, "test")
    assert len(chosen) == 2 and "no official" in note and "cannot be honoured" in note
    assert safe_id("P_00001") == "P_00001"
    assert safe_id("a/b") != safe_id("a:b") and "/" not in safe_id("a/b")


# ------------------------------------------------------------------ whole runs


def _bench(dataset: str, root: Path, out: Path, *extra: str) -> int:
    return main(["benchmark", dataset, str(root), "--out", str(out), "--device", "cpu", "--bootstrap", "50", *extra])


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "exams.csv").open(encoding="utf-8")))


@pytest.fixture(scope="module")
def vindr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    root = fx.build_vindr(tmp_path_factory.mktemp("vindr"))
    out = tmp_path_factory.mktemp("bench") / "vindr"
    return root, out, _bench("vindr-mammo", root, out, "--split", "all")


def test_vindr_benchmark_writes_every_output(vindr_run: tuple[Path, Path, int]) -> None:
    _, out, code = vindr_run
    assert code == exit_codes.OK
    for name in ("manifest.json", "predictions.json", "report.json", "report.md", "froc.png", "exams.csv"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"exams": 2, "exams_failed": 0, "images": 4, "patients": 2, "masses": 3}
    assert report["detection"]["froc"]["images"] == 4 and report["detection"]["images_without_predictions"] == 0
    assert report["malignancy"] is None  # VinDr-Mammo has no biopsy truth
    assert report["birads"]["level"].startswith("finding")
    assert report["birads"]["pairs"] + report["birads"]["unmatched"] == 3
    # the FROC keeps every candidate; counts use the product's reporting score, the zoo's operating point
    assert report["settings"]["min_score"] == 0.05
    assert report["settings"]["report_score"] == reporting_threshold(None)[0]
    text = (out / "report.md").read_text()
    assert "MommiNet-v2 (tri-view)" in text and "0.831" in text and "research models measured on this data" in text
    assert "BiDualNet-v2" in text and "IpsiDualNet-v2" in text and "single-view" in text
    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions["images"]) == {"i1_lcc", "i1_lmlo", "i1_rcc", "i2_lcc"}
    rows = _rows(out)
    assert [(r["exam_id"], r["images"], r["masses"], r["status"]) for r in rows] == [
        ("s1", "3", "2", "done"),
        ("s2", "1", "1", "done"),
    ]
    assert (out / "exams" / "s1" / "result.json").is_file()
    assert not list((out / "exams" / "s1").glob("*.dcm"))  # no DICOM outputs in a benchmark


def test_benchmark_numbers_equal_mommi_eval_on_the_same_files(
    vindr_run: tuple[Path, Path, int], tmp_path: Path
) -> None:
    _, out, _ = vindr_run
    code = main(
        [
            "eval",
            "--manifest",
            str(out / "manifest.json"),
            "--predictions",
            str(out / "predictions.json"),
            "--split",
            "test",
            "--bootstrap",
            "50",
            "--out",
            str(tmp_path / "eval"),
        ]
    )
    assert code == exit_codes.OK
    evaluated = json.loads((tmp_path / "eval" / "report.json").read_text())
    ours = json.loads((out / "report.json").read_text())["detection"]
    assert ours["froc"] == evaluated["froc"]
    assert ours["froc"]["recall_at_fppi"] == evaluated["froc"]["recall_at_fppi"]


def test_a_second_run_skips_every_exam_and_gives_the_same_report(vindr_run: tuple[Path, Path, int]) -> None:
    root, out, _ = vindr_run
    before = (out / "report.json").read_text()
    assert _bench("vindr-mammo", root, out, "--split", "all") == exit_codes.OK
    assert [r["status"] for r in _rows(out)] == ["skipped (already done)"] * 2
    assert (out / "report.json").read_text() == before


def test_the_official_test_split_only(vindr_run: tuple[Path, Path, int], tmp_path: Path) -> None:
    root, _, _ = vindr_run
    out = tmp_path / "test-split"
    _bench("vindr-mammo", root, out)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["images"] == 1 and "official VinDr-Mammo test split" in report["split_note"]
    assert [r["exam_id"] for r in _rows(out)] == ["s2"]


def test_a_failing_exam_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    root = fx.build_vindr(tmp_path / "vindr")
    (root / "images" / "s2" / "i2_lcc.dicom").write_bytes(b"not a dicom file" * 10)
    out = tmp_path / "out"
    code = _bench("vindr-mammo", root, out, "--split", "all")
    assert code == exit_codes.PROBLEMS
    rows = {r["exam_id"]: r for r in _rows(out)}
    assert rows["s2"]["status"] == "failed" and "i2_lcc.dicom" in rows["s2"]["error"]
    assert rows["s1"]["status"] == "done"
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["exams_failed"] == 1 and report["detection"]["images_without_predictions"] == 1
    assert "Traceback" in (out / "exams" / "s2" / "error.txt").read_text()


def test_missing_truth_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = fx.build_vindr(tmp_path / "vindr")
    (root / "finding_annotations.csv").unlink()
    assert _bench("vindr-mammo", root, tmp_path / "out") == exit_codes.PROBLEMS
    err = capsys.readouterr().err
    assert "finding_annotations.csv" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_folder_and_wrong_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench("inbreast", tmp_path / "nowhere", tmp_path / "out") == exit_codes.PROBLEMS
    assert "nowhere" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        _bench("ddsm-typo", tmp_path, tmp_path / "out")
    assert info.value.code == exit_codes.USAGE
    assert "invalid choice" in capsys.readouterr().err
    assert (
        main(["benchmark", "vindr-mammo", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"])
        == exit_codes.USAGE
    )


def test_inbreast_benchmark(tmp_path: Path) -> None:
    root = fx.build_inbreast(tmp_path / "inbreast")
    out = tmp_path / "out"
    code = _bench("inbreast", root, out, "--split", "all")
    assert code == exit_codes.OK, _rows(out)
    report = json.loads((out / "report.json").read_text())
    assert "no official" in report["split_note"]
    assert report["counts"]["images"] == 4 and report["detection"]["froc"]["masses"] == 5
    assert report["birads"]["level"].startswith("image") and report["birads"]["pairs"] == 4
    assert report["malignancy"]["masses_with_pathology"] == 1  # the single mass of a BI-RADS 6 image


def test_cbis_ddsm_benchmark(tmp_path: Path) -> None:
    root = fx.build_cbis(tmp_path / "cbis")
    out = tmp_path / "out"
    code = _bench("cbis-ddsm", root, out, "--split", "all")
    assert code == exit_codes.OK, _rows(out)
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["exams"] == 2 and report["counts"]["images"] == 3
    assert report["birads"]["level"].startswith("finding")
    assert report["malignancy"]["masses_with_pathology"] == 4
    exams = {r["exam_id"]: r for r in _rows(out)}
    assert exams["P_00001"]["images"] == "2"  # both views of the patient analysed as one exam


def test_cmmd_benchmark_is_breast_level_without_froc(tmp_path: Path) -> None:
    root = fx.build_cmmd(tmp_path / "cmmd")
    out = tmp_path / "out"
    code = _bench("cmmd", root, out)
    assert code in (exit_codes.OK, exit_codes.PROBLEMS), _rows(out)
    report = json.loads((out / "report.json").read_text())
    assert report["detection"]["froc"] is None and "no lesion locations" in report["detection"]["reason"]
    assert report["malignancy"]["level"].startswith("breast")
    assert not (out / "froc.png").exists()
    assert "no FROC" in (out / "report.md").read_text()


def test_cdd_cesm_benchmark(tmp_path: Path) -> None:
    root = fx.build_cdd_cesm(tmp_path / "cdd")
    out = tmp_path / "out"
    code = _bench("cdd-cesm", root, out)
    assert code in (exit_codes.OK, exit_codes.PROBLEMS), _rows(out)
    report = json.loads((out / "report.json").read_text())
    assert "no official" in report["split_note"] and (out / "report.md").is_file()
