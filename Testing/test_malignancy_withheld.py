"""A malignancy probability is shown only when the classifier separates real benign and malignant masses:
the zoo's real_masses record, `mommi zoo real-masses`, and what the result and every front end show."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from zoo_copies import copy_zoo

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.importers.synthetic import import_synthetic
from mommi.data.split import assign_splits
from mommi.data.synth import synthesize
from mommi.findings.overlay import finding_label
from mommi.review import panel_text
from mommi.runtime.malignancy import withheld_reason
from mommi.runtime.pipeline import Pipeline
from mommi.runtime.result import FindingResult

ZOO = Path(__file__).resolve().parents[1] / "model_zoo"
ZOO_MODELS = {m["name"] for m in json.loads((ZOO / "manifest.json").read_text())["models"]}
pytestmark = pytest.mark.skipif(
    not {"nipple-lite", "single-lite", "malignancy-lite"} <= ZOO_MODELS,
    reason="the shipped zoo lacks a model the pipeline or the classifier needs",
)
SEPARATES = {"auc": 0.82, "ci95": [0.66, 0.95], "masses": 40, "manifest_source": "mias", "separates": True}
DOES_NOT = {"auc": 0.61, "ci95": [0.31, 0.88], "masses": 6, "manifest_source": "mias", "separates": False}


def test_the_reason_names_the_measurement() -> None:
    assert withheld_reason(SEPARATES) is None
    assert withheld_reason(None) == "not measured on real masses"
    reason = withheld_reason(DOES_NOT)
    assert reason is not None and "AUC 0.61" in reason and "0.31-0.88" in reason and "6 mias masses" in reason
    assert "not measurable" in str(withheld_reason({"auc": None, "separates": False, "reason": "one class"}))


def _zoo_with(tmp_path: Path, record: dict | None) -> Path:
    def set_record(manifest: dict) -> None:
        for model in manifest["models"]:
            if model["task"] == "malignancy":
                model.pop("real_masses", None)
                if record is not None:
                    model["real_masses"] = record

    return copy_zoo(tmp_path / "zoo", set_record, cards=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == exit_codes.OK
    return out / "study"


def test_findings_show_malignancy_only_when_real_masses_are_separated(tmp_path: Path, demo: Path) -> None:
    _, shown = Pipeline(_zoo_with(tmp_path / "a", SEPARATES), "cpu", min_score=0.05).analyze_path(demo)
    _, withheld = Pipeline(_zoo_with(tmp_path / "b", DOES_NOT), "cpu", min_score=0.05).analyze_path(demo)
    assert shown.findings and len(shown.findings) == len(withheld.findings)
    assert all(f.malignancy is not None and f.birads and f.malignancy_withheld is None for f in shown.findings)
    for f, g in zip(shown.findings, withheld.findings):
        assert g.malignancy is None and g.birads is None and g.malignancy_withheld == withheld_reason(DOES_NOT)
        assert g.malignancy_logit == f.malignancy_logit and g.birads_value == f.birads_value  # kept for research
        assert "mal withheld" in finding_label(g)
    assert any("malignancy and BI-RADS not shown" in w for w in withheld.warnings)
    assert not any("malignancy and BI-RADS not shown" in w for w in shown.warnings)
    again = FindingResult.from_dict(json.loads(json.dumps(withheld.findings[0].to_dict())))
    assert again.malignancy_withheld == withheld.findings[0].malignancy_withheld


def test_front_end_texts_say_withheld() -> None:
    finding = SimpleNamespace(
        id="L-CC-1",
        view="L-CC",
        box_px=[1.0, 2.0, 30.0, 40.0],
        score=0.7,
        malignancy=None,
        model_birads=None,
        birads=None,
        decision="pending",
        edited=False,
        origin="model",
        original={},
        malignancy_withheld=withheld_reason(DOES_NOT),
    )
    assert panel_text.row(finding)[2] == panel_text.WITHHELD
    assert "withheld: the classifier does not separate" in panel_text.details(finding)
    shown = SimpleNamespace(**{**vars(finding), "malignancy": 0.42, "malignancy_withheld": None})
    assert panel_text.row(shown)[2] == "0.42"


def test_real_masses_command_records_the_check(tmp_path: Path) -> None:
    synthesize(tmp_path / "s", 6, seed=21, normal_fraction=0.0)
    manifest = assign_splits(import_synthetic(tmp_path / "s"), seed=0, fractions=(0.0, 0.5, 0.5))
    path = manifest.write(tmp_path / "m.json")
    zoo = _zoo_with(tmp_path, None)
    assert (
        main(["zoo", "real-masses", "--manifest", str(path), "--zoo", str(zoo.parent), "--bootstrap", "50"])
        == exit_codes.OK
    )
    entry = next(m for m in json.loads(zoo.read_text())["models"] if m["task"] == "malignancy")
    record = entry["real_masses"]
    masses = [f for r in manifest.records for f in r.findings if f.kind == "mass" and f.pathology]
    assert record["masses"] == len(masses) and record["splits"] == ["val", "test"]
    assert record["separates"] == (record["auc"] is not None and record["ci95"][0] > 0.5)
    card = (zoo.parent / entry["card"]).read_text()  # the card leads with the check, once
    assert card.count("## Real masses first") == 1 and f"{record['masses']} biopsy-labelled real masses" in card
    assert (
        main(["zoo", "real-masses", "--manifest", str(path), "--zoo", str(zoo.parent), "--bootstrap", "50"])
        == exit_codes.OK
    )
    assert (zoo.parent / entry["card"]).read_text().count("## Real masses first") == 1
    assert (
        main(["zoo", "real-masses", "--manifest", str(tmp_path / "none.json"), "--zoo", str(zoo.parent)])
        == exit_codes.PROBLEMS
    )


def test_slicer_roi_names_say_withheld() -> None:
    import sys

    module_dir = Path(__file__).resolve().parents[1] / "MommiSlicer"
    if str(module_dir) not in sys.path:  # MommiSlicerLib is Slicer-side code, not part of the pip package
        sys.path.insert(0, str(module_dir))
    from MommiSlicerLib.scene_builder import FindingDisplay

    finding = FindingResult(
        "R-MLO-1",
        "R-MLO",
        [1.0, 2.0, 30.0, 40.0],
        [],
        0.7,
        "bilateral",
        malignancy_logit=-2.0,
        malignancy_withheld=withheld_reason(DOES_NOT),
    )
    display = FindingDisplay.of(finding)
    assert "malignancy withheld" in display.label
    assert "withheld (the classifier does not separate" in display.description
    assert display.row()[3] == "withheld"
