"""CDD-CESM (TCIA): contrast-enhanced spectral mammography exams distributed as JPEG files.

Markers: JPEG files named ``P<n>_<L|R>_<DM|CM>_<CC|MLO>.jpg`` (as in the folders "Low energy images
of CDD-CESM" and "Subtracted images of CDD-CESM").
Rules:
- side and view from the file name; DM is the low-energy image (a mammogram) and is read;
- CM is the subtracted (recombined contrast) image: set aside, it is not a mammogram;
- one exam per patient number ``P<n>``;
- pixel spacing: the JPEG files carry none and the collection documents none.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.profiles.base import DatasetProfile, ProfileFacts, side_of

FILE_NAME = re.compile(r"^(?P<patient>P\d+)_(?P<side>[LR])_(?P<kind>DM|CM)_(?P<view>CC|MLO)$", re.I)
JPEG_SUFFIXES = (".jpg", ".jpeg")
NO_SPACING = "CDD-CESM JPEG files carry no pixel spacing and the collection documents none: sizes in mm are unavailable"


def parse_name(path: Path) -> re.Match[str] | None:
    """The name's fields; tolerates the stray space before '.jpg' that some distributed names have."""
    return FILE_NAME.match(path.stem.strip())


def is_low_energy(match: re.Match[str]) -> bool:
    """DM: the low-energy image, a mammogram; CM: the subtracted contrast image."""
    return match["kind"].upper() == "DM"


def patient_of(match: re.Match[str]) -> str:
    """'P05' and 'P5' name one patient: 'P5'."""
    return f"P{int(match['patient'][1:])}"


class CddCesmProfile(DatasetProfile):
    name = "CDD-CESM"
    rules = (
        "side and view from the file name; low-energy (DM) images read, subtracted (CM) images set aside; "
        "one exam per patient number; no pixel spacing (none documented)"
    )

    def matches_raster(self, path: Path) -> bool:
        return path.suffix.lower() in JPEG_SUFFIXES and parse_name(path) is not None

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        match = parse_name(path)
        assert match is not None, "facts() is called only for files that matched"
        patient = patient_of(match)
        subtracted = not is_low_energy(match)
        return ProfileFacts(
            profile=self.name,
            laterality=side_of(match["side"]),
            view_position=match["view"].upper(),
            view_source="file name (CDD-CESM)",
            patient=f"CDD-CESM {patient}",
            exam_key=f"CDD-CESM {patient}",
            spacing_note=NO_SPACING,
            set_aside=(
                "CDD-CESM subtracted (recombined contrast) image: not a mammogram; the low-energy image "
                "of the same view is read"
            )
            if subtracted
            else None,
        )
