"""The default reporting threshold: chosen on real films for a false-mark target, recorded and used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zoo_copies import copy_zoo

from mommi.cli.main import main
from mommi.data.manifest import Finding, Manifest, Record
from mommi.eval.operating_point import OperatingPointError, choose_operating_point
from mommi.runtime.pipeline import DEFAULT_MIN_SCORE, reporting_threshold
from mommi.runtime.zoo import read_manifest

MASS = [100, 100, 139, 139]


def two_women() -> tuple[Manifest, dict]:
    """Woman A: a mass found at 0.9, false marks at 0.8 and 0.3; woman B (normal): false marks at 0.5 and 0.2."""
    records = [
        Record("A", "A", "a", "MLO", "L", "a.png", "test", findings=[Finding("mass", MASS)], split="test"),
        Record("B", "B", "b", "MLO", "L", "b.png", "test", split="test"),
        Record("C", "C", "c", "MLO", "L", "c.png", "test", split="train"),  # not in the chosen splits
    ]
    predictions = {
        "schema": "mommi-predictions",
        "version": 1,
        "model": "hand-made",
        "images": {
            "a": {"boxes": [[101, 99, 140, 138, 0.9], [400, 400, 440, 440, 0.8], [600, 600, 640, 640, 0.3]]},
            "b": {"boxes": [[10, 10, 50, 50, 0.5], [70, 70, 90, 90, 0.2]]},
            "c": {"boxes": [[10, 10, 50, 50, 0.99]]},
        },
    }
    return Manifest("test", "/nowhere", records), predictions


def test_lowest_score_meeting_the_false_mark_target() -> None:
    manifest, predictions = two_women()
    # 0.8: one false mark on two images = 0.5; every lower score has more
    point = choose_operating_point(manifest, predictions, ["test"], max_fppi=0.5, bootstrap=200)
    assert point["min_score"] == 0.8 and point["false_marks_per_image"] == 0.5 and point["sensitivity"] == 1.0
    assert (point["images"], point["patients"], point["masses"]) == (2, 2, 1)
    lo, hi = point["false_marks_per_image_ci95"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    # a looser target lowers the threshold: 1.0 false mark per image from 0.5 on
    assert choose_operating_point(manifest, predictions, ["test"], max_fppi=1.0, bootstrap=0)["min_score"] == 0.5
    # zero false marks: from 0.9, where only the mass is marked
    assert choose_operating_point(manifest, predictions, ["test"], max_fppi=0.0, bootstrap=0)["sensitivity"] == 1.0
    # a false mark above every true one: only a threshold above every score has none, and finds nothing
    predictions["images"]["b"]["boxes"].append([200, 200, 230, 230, 0.95])
    strict = choose_operating_point(manifest, predictions, ["test"], max_fppi=0.0, bootstrap=0)
    assert strict["min_score"] > 0.95 and strict["sensitivity"] == 0.0


def test_a_cap_on_marks_per_view_is_measured_as_the_pipeline_applies_it() -> None:
    manifest, predictions = two_women()
    # one mark per view: a keeps its 0.9 mass, b its 0.5 false mark; 1.0 false mark per image allows 0.5 ...
    capped = choose_operating_point(manifest, predictions, ["test"], max_fppi=1.0, bootstrap=0, max_marks_per_view=1)
    assert capped["max_marks_per_view"] == 1 and capped["sensitivity"] == 1.0
    assert capped["false_marks_per_image"] == 0.5  # ... and with the cap only b's mark is false there
    uncapped = choose_operating_point(manifest, predictions, ["test"], max_fppi=1.0, bootstrap=0)
    assert uncapped["max_marks_per_view"] is None and uncapped["false_marks_per_image"] == 1.0
    with pytest.raises(OperatingPointError, match="at least 1"):
        choose_operating_point(manifest, predictions, ["test"], max_marks_per_view=0)


def test_operating_point_needs_images_with_masses() -> None:
    manifest, predictions = two_women()
    with pytest.raises(OperatingPointError, match="no image in split"):
        choose_operating_point(manifest, predictions, ["val"])
    manifest.records = [r for r in manifest.records if not r.findings]
    with pytest.raises(OperatingPointError, match="no mass"):
        choose_operating_point(manifest, predictions, ["test", "train"])


def zoo_copy(tmp_path: Path, point: dict | None) -> Path:
    """A copy of the shipped zoo with or without an operating point."""

    def set_point(data: dict) -> None:
        data.pop("operating_point", None)
        if point is not None:
            data["operating_point"] = point

    return copy_zoo(tmp_path, set_point)


def test_the_zoo_records_where_its_threshold_comes_from(tmp_path: Path) -> None:
    assert reporting_threshold(zoo_copy(tmp_path, None)) == (DEFAULT_MIN_SCORE, None)
    threshold, point = reporting_threshold(zoo_copy(tmp_path, {"min_score": 0.42, "set_on": "somewhere"}))
    assert threshold == 0.42 and point["set_on"] == "somewhere"
    # the shipped zoo carries one, set on real films
    threshold, point = reporting_threshold(None)
    assert point is not None and threshold == point["min_score"] and "MIAS" in point["set_on"]
    assert point["false_marks_per_image"] <= point["target_false_marks_per_image"]


def test_zoo_operating_point_command_writes_the_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, predictions = two_women()
    manifest_path = manifest.write(tmp_path / "truth.json")
    (tmp_path / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    zoo = zoo_copy(tmp_path, None)
    assert (
        main(
            [
                "zoo",
                "operating-point",
                "--manifest",
                str(manifest_path),
                "--predictions",
                str(tmp_path / "predictions.json"),
                "--splits",
                "test",
                "--zoo",
                str(zoo),
                "--set-on",
                "two hand-made women",
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    recorded = read_manifest(zoo)["operating_point"]
    assert recorded["min_score"] == 0.8 and recorded["set_on"] == "two hand-made women"
    assert (
        main(
            [
                "zoo",
                "operating-point",
                "--manifest",
                str(manifest_path),
                "--predictions",
                str(tmp_path / "predictions.json"),
                "--splits",
                "val",
                "--zoo",
                str(zoo),
                "--set-on",
                "x",
            ]
        )
        == 1
    )
    assert "no image in split" in capsys.readouterr().err


def test_result_json_says_which_threshold_was_used(tmp_path: Path) -> None:
    from mommi.data.synth import synthesize
    from mommi.runtime.pipeline import Pipeline

    synthesize(tmp_path / "study", 1, seed=3, normal_fraction=0.0)
    threshold, point = reporting_threshold(None)
    _, result = Pipeline(device="cpu").analyze_path(tmp_path / "study")
    recorded = result.to_dict()["operating_point"]
    assert result.min_score == threshold and recorded["source"] == "model zoo operating point"
    assert recorded["set_on"] == point["set_on"] and all(f.score >= threshold for f in result.findings)
    _, result = Pipeline(device="cpu", min_score=0.1).analyze_path(tmp_path / "study")
    recorded = result.to_dict()["operating_point"]
    assert recorded["source"] == "set by the caller (--min-score)" and recorded["min_score"] == 0.1
    assert recorded["zoo_operating_point"]["min_score"] == threshold


def test_the_zoo_cap_limits_marks_per_view_and_a_callers_threshold_lifts_it(tmp_path: Path) -> None:
    from collections import Counter

    from mommi.data.synth import synthesize
    from mommi.runtime.pipeline import Pipeline

    synthesize(tmp_path / "study", 1, seed=5, normal_fraction=0.0)
    zoo = zoo_copy(tmp_path, {"min_score": 0.05, "max_marks_per_view": 1, "set_on": "a test"})
    _, capped = Pipeline(zoo, device="cpu").analyze_path(tmp_path / "study")
    _, everything = Pipeline(zoo, device="cpu", min_score=0.05).analyze_path(tmp_path / "study")
    per_view = Counter(f.view for f in everything.findings)
    assert max(per_view.values()) > 1  # the test needs a view with several candidates
    assert Counter(f.view for f in capped.findings) == {view: 1 for view in per_view}
    for finding in capped.findings:  # the cap keeps each view's best mark
        assert finding.score == max(f.score for f in everything.findings if f.view == finding.view)
    assert capped.to_dict()["operating_point"]["max_marks_per_view"] == 1
