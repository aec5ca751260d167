"""mini-MIAS women as the DICOM studies a site would send: real film pixels, synthetic MG headers.

The product's feedback export de-identifies and copies the reviewed DICOM images, so a loop that reviews real
films needs them as DICOM (the raster ``mdbNNN.pgm`` profile only serves reading and research). The pixels are
the film's own, scaled from 8 to 12 stored bits; laterality and view come from MIAS's documented rules
(``mommi.study.profiles.mias``); no PatientOrientation is written, as for a digitised film whose mirrored
orientation only the image shows. Used by the pipeline tests and by the feedback-rounds benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dicom_factory import Patient, mammogram, write
from mommi.data.manifest import Record
from mommi.study.profiles.mias import laterality_of

#: what the films' 8 bits become in the 12 stored bits of the DICOM files
STORED_SCALE = 16


def mias_study_as_dicom(mias_dir: Path, number: int, out: Path) -> Path:
    """The woman of film ``number`` (odd: her left film) as a two-view MG DICOM study in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    patient = Patient(patient_id=f"MIAS-{(number + 1) // 2:03d}")
    for film in (number, number + 1):
        path = mias_dir / f"mdb{film:03d}.pgm"
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            raise FileNotFoundError(f"{path}: not a readable mini-MIAS film")
        side = laterality_of(film).value
        ds = mammogram(patient, side, "MLO", rows=pixels.shape[0], cols=pixels.shape[1], seed=film)
        del ds.PatientOrientation  # a scanned film: its (mirrored) orientation is for the image to show
        ds.PixelData = (pixels.astype(np.uint16) * STORED_SCALE).tobytes()
        ds.PixelSpacing = ds.ImagerPixelSpacing = [0.2, 0.2]
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        del ds.WindowCenterWidthExplanation
        write(ds, out / f"mdb{film:03d}.dcm")
    return out


def truth_of(records: list[Record]) -> dict[str, Any]:
    """A woman's manifest records as the ``truth.json`` the synthetic studies carry (views named as the
    product names them, each mass with its box in image pixels), so one scripted reader reviews both."""
    views: dict[str, Any] = {}
    for record in records:
        masses = [f for f in record.findings if f.kind == "mass"]
        views[f"{record.laterality}-{record.view}"] = {
            "masses": [{"id": i, "box": [float(v) for v in f.box]} for i, f in enumerate(masses)]
        }
    return {"source": "mini-MIAS Info.txt", "views": views}


def mias_women_as_studies(mias_dir: Path, records: list[Record], out: Path) -> list[Path]:
    """Every woman of ``records`` as a DICOM study folder ``out/<patient_id>`` with its ``truth.json``."""
    by_patient: dict[str, list[Record]] = {}
    for record in records:
        by_patient.setdefault(record.patient_id, []).append(record)
    folders = []
    for patient, films in sorted(by_patient.items()):
        first = min(int(Path(r.image_path).stem[3:]) for r in films)
        folder = mias_study_as_dicom(mias_dir, first if first % 2 else first - 1, out / patient)
        (folder / "truth.json").write_text(json.dumps(truth_of(films), indent=1), encoding="utf-8")
        folders.append(folder)
    return folders
