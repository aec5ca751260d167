"""What a dataset profile is: how one public dataset's files say what a DICOM header would.

A standard mammogram says in its header which breast and view it shows, to which
patient and exam it belongs and how large its pixels are. Public research datasets
are distributed otherwise: CBIS-DDSM puts the view in the PatientID and gives every
view its own Study Instance UID, INbreast puts it in the file name, CDD-CESM ships
JPEG files. A profile recognises its dataset from the dataset's own markers and
supplies those facts from the places the dataset documents. It fills only what the
header lacks: a file whose header names its view and side is read exactly as any
other mammogram, profile or not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.model import Laterality, PixelSpacing


@dataclass(frozen=True)
class ProfileFacts:
    """What a profile knows about one file, each fact None where the dataset does not say."""

    profile: str  # the profile's name, e.g. "CBIS-DDSM"
    laterality: Laterality | None = None
    view_position: str | None = None
    view_source: str = ""  # where the profile read side and view, e.g. "PatientID (CBIS-DDSM)"
    patient: str | None = None  # the woman, when the header's PatientID is per view or absent
    exam_key: str | None = None  # one key for all files of one exam, when their Study UIDs differ
    spacing: PixelSpacing | None = None  # the dataset's documented pixel size, for headers without one
    spacing_note: str | None = None  # why there is no spacing, replacing the generic warning
    set_aside: str | None = None  # the reason this file is part of the exam but not one of its views
    chest_wall: str | None = None  # "left" / "right": the image side of the chest wall, for non-standard films
    warnings: tuple[str, ...] = field(default_factory=tuple)


class DatasetProfile(ABC):
    """One public dataset's rules for reading its files."""

    #: the name reported by `mommi study inspect` and in result warnings
    name: str = ""
    #: one line for the README and the inspection report: where each fact comes from
    rules: str = ""

    def matches_dicom(self, path: Path, ds: Dataset) -> bool:  # noqa: ARG002 - not every profile reads DICOM
        """True when this DICOM file carries the dataset's own markers (must be cheap: runs on every file)."""
        return False

    def matches_raster(self, path: Path) -> bool:  # noqa: ARG002 - not every profile ships raster images
        """True when this PNG/JPEG/PGM file is one of the dataset's images (file name and folder only)."""
        return False

    @abstractmethod
    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        """The facts of a file that matched (``ds`` is None for raster images)."""


def side_of(letter: str) -> Laterality | None:
    """'L' / 'LEFT' -> LEFT, 'R' / 'RIGHT' -> RIGHT, anything else None."""
    return {"L": Laterality.LEFT, "R": Laterality.RIGHT}.get(letter.strip().upper()[:1])


def header_text(ds: Dataset | None, keyword: str) -> str:
    """A header value as stripped text ('' when absent), for marker checks that must never raise."""
    if ds is None:
        return ""
    try:
        value = ds.get(keyword, "")
    except (ValueError, TypeError, KeyError):  # a malformed value is the reader's to report, not a profile's
        return ""
    return "" if value is None else str(value).strip()
