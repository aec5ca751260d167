"""VinDr-Mammo (PhysioNet): FFDM whose de-identified headers kept a fixed list of tags, not PatientID.

Markers: ``<root>/images/<study_id>/<image_id>.dicom`` with ``<root>/breast-level_annotations.csv``.
Rules:
- side and view from the header (ImageLaterality, ViewPosition are among the kept tags), else from
  the image's row of breast-level_annotations.csv;
- the study folder is the exam and the woman (VinDr-Mammo has one study per woman, no PatientID, and
  hashed UIDs: the folder name is the dataset's own key, used by its CSV files);
- pixel spacing from the header, as for any mammogram.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.profiles.base import DatasetProfile, ProfileFacts, side_of

BREAST_CSV = "breast-level_annotations.csv"


@functools.lru_cache(maxsize=8)
def _breast_rows(csv_path: Path, mtime: float) -> dict[str, tuple[str, str]]:  # noqa: ARG001 - mtime keys the cache
    """image_id -> (laterality, view_position), read once per file version."""
    try:
        with csv_path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            return {
                (row.get("image_id") or "").strip(): (
                    (row.get("laterality") or "").strip(),
                    (row.get("view_position") or "").strip().upper(),
                )
                for row in csv.DictReader(handle)
            }
    except (OSError, csv.Error):
        return {}


def _csv_of(path: Path) -> Path:
    return path.parent.parent.parent / BREAST_CSV


class VindrProfile(DatasetProfile):
    name = "VinDr-Mammo"
    rules = (
        "side and view from the header, else breast-level_annotations.csv; the study folder is the "
        "exam and the woman (no PatientID in the data)"
    )

    def matches_dicom(self, path: Path, ds: Dataset) -> bool:
        return path.suffix.lower() == ".dicom" and path.parent.parent.name == "images" and _csv_of(path).is_file()

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        study_id = path.parent.name
        csv_path = _csv_of(path)
        try:
            side, view = _breast_rows(csv_path, csv_path.stat().st_mtime).get(path.stem, ("", ""))
        except OSError:
            side, view = "", ""
        return ProfileFacts(
            profile=self.name,
            laterality=side_of(side),
            view_position=view or None,
            view_source=f"{BREAST_CSV} (VinDr-Mammo)",
            patient=f"VinDr-Mammo {study_id}",
            exam_key=f"VinDr-Mammo {study_id}",
        )
