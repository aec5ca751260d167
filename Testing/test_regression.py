"""The outputs of a fixed study stay what they were: the demo study (synthetic, seed 7) analysed
by the shipped zoo is compared with Testing/regression/demo-seed7.json.

A model change must come with a new expected file (python Testing/regression/record_expected.py),
so that a changed finding is always a decision, never an accident."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "regression"))
from record_expected import EXPECTED, analyse_demo_study  # noqa: E402

ZOO = json.loads((Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json").read_text())


@pytest.mark.skipif(not EXPECTED.is_file(), reason="no expected result recorded yet (record_expected.py)")
def test_demo_study_gives_the_recorded_findings() -> None:
    expected = json.loads(EXPECTED.read_text())
    shipped = {m["name"]: m["sha256"] for m in ZOO["models"]}
    changed = [n for n, sha in expected["models"].items() if shipped.get(n) != sha]
    assert not changed, (
        f"models changed since the expected result was recorded: {changed}; "
        "re-record with python Testing/regression/record_expected.py"
    )
    got = analyse_demo_study()
    assert got["models"] == expected["models"]
    assert got["views"].keys() == expected["views"].keys()
    for name, view in expected["views"].items():
        assert got["views"][name]["branch"] == view["branch"]
        assert got["views"][name]["nipple_px"] == pytest.approx(view["nipple_px"], abs=0.5)
    assert [f["id"] for f in got["findings"]] == [f["id"] for f in expected["findings"]]
    for mine, theirs in zip(got["findings"], expected["findings"]):
        assert mine["box_px"] == pytest.approx(theirs["box_px"], abs=1.0), mine["id"]
        assert mine["score"] == pytest.approx(theirs["score"], abs=0.01), mine["id"]
        assert (mine["malignancy"] is None) == (theirs["malignancy"] is None), mine["id"]
        if theirs["malignancy"] is not None:
            assert mine["malignancy"] == pytest.approx(theirs["malignancy"], abs=0.01), mine["id"]
        assert mine["birads"] == theirs["birads"] and mine["branch"] == theirs["branch"], mine["id"]
        assert mine["ipsilateral_partner"] == theirs["ipsilateral_partner"], mine["id"]
    assert got["warnings"] == expected["warnings"]
