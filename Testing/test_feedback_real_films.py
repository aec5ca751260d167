"""A reviewed real film goes back into training (#23: real films in the feedback loop).

A mini-MIAS woman is sent as the DICOM study a site would have (``Testing/mias_dicom.py``: the film's own
pixels), analysed, reviewed by the benchmark's scripted reader from Info.txt's marks, exported as a batch, and
read back by the training importer: the batch holds her two films, pixel for pixel, with the reader's masses
where Info.txt puts them and the rejected marks as hard negatives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.importers.feedback import import_feedback
from mommi.data.importers.mias import import_mias
from mommi.findings.regions import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))


@pytest.mark.mias
def test_a_reviewed_real_film_becomes_training_data(
    mias_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench_feedback_rounds import scripted_review
    from mias_dicom import STORED_SCALE, mias_women_as_studies

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the site's de-identification salt
    films = [r for r in import_mias(mias_dir).records if r.patient_id == "mias-001"]
    (study,) = mias_women_as_studies(mias_dir, films, tmp_path / "studies")
    truth = json.loads((study / "truth.json").read_text())
    # mdb001 (left): CIRC at x 535, y 425 from the bottom, radius 197; mdb002 (right): 522, 280, 69
    assert truth["views"]["L-MLO"]["masses"] == [{"id": 0, "box": [338.0, 402.0, 732.0, 796.0]}]
    assert truth["views"]["R-MLO"]["masses"] == [{"id": 0, "box": [453.0, 675.0, 591.0, 813.0]}]

    analysed = tmp_path / "analysed" / study.name
    assert main(["analyze", str(study), "--out", str(analysed), "--device", "cpu", "--no-dicom"]) == exit_codes.OK
    result = json.loads((analysed / "result.json").read_text())
    assert set(result["views"]) == {"L-MLO", "R-MLO"}
    counts = scripted_review([analysed], study.parent, tmp_path / "review.sqlite")
    # one mass per film; a reader accepts every mark on a mass (two marks may outline the same one)
    assert counts["images"] == 2 and counts["accepted"] >= 1 and counts["accepted"] + counts["added"] >= 2
    assert counts["rejected"] == len(result["findings"]) - counts["accepted"]

    batch = tmp_path / "batch"
    assert main(["feedback", "export", "--db", str(tmp_path / "review.sqlite"), "--out", str(batch)]) == exit_codes.OK
    records = {f"{r.laterality}-{r.view}": r for r in import_feedback(batch).records}
    assert set(records) == {"L-MLO", "R-MLO"}
    for view, record in records.items():
        film = films[0] if films[0].laterality == view[0] else films[1]
        stored = pydicom.dcmread(batch / record.image_path).pixel_array
        original = cv2.imread(str(mias_dir / film.image_path), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(stored, original.astype(np.uint16) * STORED_SCALE), view
        masses = [f.box for f in record.findings if f.kind == "mass"]
        assert masses, view
        expected = truth["views"][view]["masses"][0]["box"]
        # an accepted finding keeps the model's geometry (the reader agreed with it), an added one is the truth's
        for box in masses:
            assert box == pytest.approx(expected, abs=0.51) or box_iou(box, expected) > 0.2
    rejected = sum(1 for r in records.values() for f in r.findings if f.kind == "rejected")
    assert rejected == counts["rejected"]  # every false mark the reader rejected is a hard negative
