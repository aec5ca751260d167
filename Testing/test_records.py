"""Pairing of views within a study and targets on the model grid (no torch)."""

from __future__ import annotations

import numpy as np

from mommi.data.manifest import Finding, Record
from mommi.data.records import contralateral_index, ipsilateral_index, mass_boxes_on_grid
from mommi.study.geometry import GridTransform


def _record(study: str, view: str, side: str, findings: list[Finding] | None = None) -> Record:
    return Record(
        patient_id=study,
        study_id=study,
        image_id=f"{study}/{side}-{view}",
        view=view,
        laterality=side,
        image_path="x.png",
        source="test",
        findings=findings or [],
    )


def test_pairs_within_a_study_only() -> None:
    records = [
        _record("s1", "CC", "L"),
        _record("s1", "MLO", "L"),
        _record("s1", "CC", "R"),
        _record("s2", "MLO", "R"),
        _record("s2", "ML", "L"),
        _record("s2", "CC", "R"),
    ]
    assert ipsilateral_index(records) == {0: 1, 1: 0, 3: 5, 5: 3}  # ML work-up view never pairs
    assert contralateral_index(records) == {0: 2, 2: 0}


def test_mass_boxes_follow_flips_and_scale() -> None:
    record = _record(
        "s1",
        "CC",
        "R",
        [Finding(kind="mass", box=[10.0, 20.0, 29.0, 39.0]), Finding(kind="calcification", box=[0.0, 0.0, 3.0, 3.0])],
    )
    transform = GridTransform((100, 200), flip_horizontal=True).with_output_size(100, 50)  # half size
    boxes = mass_boxes_on_grid(record, transform)
    assert boxes.shape == (1, 4)
    assert np.allclose(boxes[0], [84.75, 9.75, 94.25, 19.25])
    assert mass_boxes_on_grid(_record("s1", "CC", "L"), transform).shape == (0, 4)
