"""CBIS-DDSM (TCIA): scanned DDSM films re-issued as Secondary Capture DICOM.

Markers: PatientID (= PatientName = the subject folder) ``<Mass|Calc>-<Training|Test>_P_<n>_<LEFT|RIGHT>_<CC|MLO>``,
with ``_<k>`` appended for abnormality k's ROI mask and cropped image.
Rules:
- side and view from the PatientID (the header has no ImageLaterality and no ViewPosition; its
  PatientOrientation holds the bare view name and its series Laterality the side, which must agree);
- one exam per woman and abnormality type: every subject of ``Mass-Test_P_00173`` (both breasts,
  both views, each with its own Study Instance UID) is one study; masses and calcifications of
  one woman are distributed as two separate collections and stay two exams;
- "ROI mask images" and "cropped images" (SeriesDescription; any ``_<k>`` subject) are set aside
  with that reason, and their pixels are not decoded;
- pixel spacing: none. CBIS-DDSM does not record which DDSM digitiser scanned a film (DBA 42 um,
  Howtek 43.5 um, Lumisys 50 um), so sizes in mm are not given rather than guessed.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.profiles.base import DatasetProfile, ProfileFacts, header_text, side_of

SUBJECT = re.compile(
    r"^(?P<type>Mass|Calc)-(?P<split>Training|Test)_(?P<patient>P_\d+)_(?P<side>LEFT|RIGHT)_(?P<view>CC|MLO)"
    r"(?:_(?P<abnormality>\d+))?$"
)
NO_SPACING = (
    "CBIS-DDSM does not record which digitiser scanned this film (DBA 42 um, Howtek 43.5 um or "
    "Lumisys 50 um): sizes in mm are unavailable"
)


class CbisDdsmProfile(DatasetProfile):
    name = "CBIS-DDSM"
    rules = (
        "side and view from PatientID; one exam per woman and abnormality type across per-view "
        "Study UIDs; ROI masks and crops set aside; no pixel spacing (digitiser not recorded)"
    )

    def matches_dicom(self, path: Path, ds: Dataset) -> bool:
        return SUBJECT.match(header_text(ds, "PatientID")) is not None

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        subject = header_text(ds, "PatientID")
        match = SUBJECT.match(subject)
        assert match is not None, "facts() is called only for files that matched"
        side = side_of(match["side"])
        warnings: list[str] = []
        series_side = side_of(header_text(ds, "Laterality"))
        if series_side is not None and series_side is not side:
            warnings.append(
                f"the series Laterality says {series_side.name.lower()} but the PatientID says "
                f"{match['side'].lower()}; the PatientID (CBIS-DDSM's documented source) was used"
            )
        exam = f"{match['type']}-{match['split']} {match['patient']}"
        return ProfileFacts(
            profile=self.name,
            laterality=side,
            view_position=match["view"],
            view_source="PatientID (CBIS-DDSM)",
            patient=f"CBIS-DDSM {match['patient']}",
            exam_key=f"CBIS-DDSM {exam}",
            spacing_note=NO_SPACING,
            set_aside=_set_aside(match["abnormality"], header_text(ds, "SeriesDescription")),
            warnings=tuple(warnings),
        )


def _set_aside(abnormality: str | None, description: str) -> str | None:
    """Why a file is part of the exam but no view: an abnormality's mask or crop (by SeriesDescription,
    or by the ``_<k>`` subject when the description is missing); None for a full mammogram."""
    text = description.lower()
    of = f" of abnormality {abnormality}" if abnormality else ""
    if "mask" in text:
        return f"CBIS-DDSM ROI mask{of}: the ground-truth outline, not a view to read"
    if "crop" in text:
        return f"CBIS-DDSM cropped image{of}: a cut-out of the full mammogram, not a view to read"
    if abnormality is not None:
        return f"CBIS-DDSM file of abnormality {abnormality} (ROI mask or cropped image): not a view to read"
    return None
