"""The study data model: views, images, studies.

Pixels stay in the ORIGINAL grid of the file; ``MammoImage.to_model`` is the
reversible transform to the grid the models use (chest wall on the left edge).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from mommi.errors import StudyInputError
from mommi.study.geometry import GridTransform


class Laterality(str, Enum):
    LEFT = "L"
    RIGHT = "R"

    @property
    def other(self) -> Laterality:
        return Laterality.RIGHT if self is Laterality.LEFT else Laterality.LEFT


class Projection(str, Enum):
    CC = "CC"
    MLO = "MLO"


class View(str, Enum):
    """The four screening views MommiNet-v2 reads."""

    L_CC = "L-CC"
    R_CC = "R-CC"
    L_MLO = "L-MLO"
    R_MLO = "R-MLO"

    @classmethod
    def of(cls, laterality: Laterality, projection: Projection) -> View:
        return cls(f"{laterality.value}-{projection.value}")

    @property
    def laterality(self) -> Laterality:
        return Laterality(self.value.split("-")[0])

    @property
    def projection(self) -> Projection:
        return Projection(self.value.split("-")[1])

    @property
    def ipsilateral(self) -> View:
        """The other view of the same breast."""
        other = Projection.MLO if self.projection is Projection.CC else Projection.CC
        return View.of(self.laterality, other)

    @property
    def bilateral(self) -> View:
        """The same view of the other breast."""
        return View.of(self.laterality.other, self.projection)


#: mammography hanging order: CC row above MLO row, right breast on the left
HANGING_ORDER: tuple[View, ...] = (View.R_CC, View.L_CC, View.R_MLO, View.L_MLO)


@dataclass(frozen=True)
class PixelSpacing:
    """Row and column spacing in millimetres, and the tag it was read from."""

    row_mm: float
    col_mm: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MammoImage:
    """One mammogram: pixels (original grid), geometry, identity and provenance.

    ``pixels`` holds display intensities in [0, 1] (bright = dense tissue) after
    the modality LUT, the VOI LUT or window and the MONOCHROME1 inversion; it is
    ``None`` when the caller asked for headers only.
    """

    path: Path
    rows: int
    cols: int
    laterality: Laterality
    view_position: str  # as found: CC, MLO, ML, XCCL, ...
    view_source: str
    pixels: np.ndarray | None = field(default=None, repr=False)
    spacing: PixelSpacing | None = None
    photometric: str = "MONOCHROME2"
    presentation_intent: str = "FOR PRESENTATION"
    intensity_source: str = ""
    view_modifiers: tuple[str, ...] = ()
    to_model: GridTransform | None = None
    chest_wall_source: str = ""
    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""
    study_date: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    sop_class: str = ""
    transfer_syntax: str = ""
    manufacturer: str = ""
    model_name: str = ""
    acquisition_datetime: str = ""
    instance_number: int | None = None
    bits_stored: int | None = None
    file_format: str = "DICOM"
    warnings: list[str] = field(default_factory=list)
    #: the dataset profile that read this file ("" for a standard mammogram), see mommi.study.profiles
    profile: str = ""
    #: groups the files of one exam whose Study Instance UIDs differ (CBIS-DDSM); "" to group by Study UID
    exam_key: str = ""
    #: why this file belongs to the exam but is not one of its views (a CBIS-DDSM ROI mask, ...)
    set_aside_reason: str = ""

    @property
    def view(self) -> View | None:
        """The screening view, or None for ML, XCCL, spot, magnification, ..."""
        if self.view_modifiers or self.set_aside_reason:
            return None
        if self.view_position in (Projection.CC.value, Projection.MLO.value):
            return View.of(self.laterality, Projection(self.view_position))
        return None

    @property
    def label(self) -> str:
        """Human label such as 'L-CC' or 'R-XCCL (spot compression)'."""
        text = f"{self.laterality.value}-{self.view_position}"
        if self.view_modifiers:
            text += f" ({', '.join(self.view_modifiers)})"
        return text

    @property
    def is_for_processing(self) -> bool:
        return self.presentation_intent.upper() == "FOR PROCESSING"

    def loaded_pixels(self) -> np.ndarray:
        """The pixels of an image read with ``keep_pixels`` (a header-only image has none to give)."""
        if self.pixels is None:
            raise ValueError(f"{self.path}: pixels were not loaded")
        return self.pixels

    def model_pixels(self) -> np.ndarray:
        """Pixels on the model grid (chest wall left); needs pixels loaded."""
        if self.to_model is None:
            raise ValueError(f"{self.path}: pixels were not loaded")
        return self.to_model.apply(self.loaded_pixels())

    def summary(self) -> dict[str, Any]:
        """Everything but the pixels, for reports and JSON output."""
        return {
            "path": str(self.path),
            "label": self.label,
            "view": self.view.value if self.view else None,
            "laterality": self.laterality.value,
            "view_position": self.view_position,
            "view_modifiers": list(self.view_modifiers),
            "view_source": self.view_source,
            "rows": self.rows,
            "cols": self.cols,
            "pixel_spacing": self.spacing.to_dict() if self.spacing else None,
            "photometric_interpretation": self.photometric,
            "presentation_intent": self.presentation_intent,
            "intensity_source": self.intensity_source,
            "chest_wall_source": self.chest_wall_source,
            "to_model": self.to_model.to_dict() if self.to_model else None,
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class": self.sop_class,
            "transfer_syntax": self.transfer_syntax,
            "manufacturer": self.manufacturer,
            "model_name": self.model_name,
            "acquisition_datetime": self.acquisition_datetime,
            "bits_stored": self.bits_stored,
            "file_format": self.file_format,
            "profile": self.profile or None,
            "warnings": list(self.warnings),
        }


@dataclass
class SetAside:
    """An image that belongs to the study but is not one of its four views."""

    image: MammoImage
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.image.path), "label": self.image.label, "reason": self.reason}


@dataclass
class Study:
    """Up to four screening views of one patient's exam, plus what was set aside."""

    study_uid: str
    patient_key: str
    study_date: str = ""
    #: the dataset profile(s) that read its files ("" for standard mammograms)
    profile: str = ""
    images: dict[View, MammoImage] = field(default_factory=dict)
    set_aside: list[SetAside] = field(default_factory=list)
    errors: list[StudyInputError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def missing_views(self) -> list[View]:
        return [v for v in HANGING_ORDER if v not in self.images]

    def summary(self) -> dict[str, Any]:
        return {
            "study_uid": self.study_uid,
            "patient_key": self.patient_key,
            "study_date": self.study_date,
            "profile": self.profile or None,
            "views": {v.value: self.images[v].summary() for v in HANGING_ORDER if v in self.images},
            "missing_views": [v.value for v in self.missing_views],
            "set_aside": [s.to_dict() for s in self.set_aside],
            "warnings": list(self.warnings),
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass
class StudyCollection:
    """What a set of paths held: studies, and the errors of files that belong to none."""

    studies: list[Study] = field(default_factory=list)
    errors: list[StudyInputError] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "studies": [s.summary() for s in self.studies],
            "errors": [e.to_dict() for e in self.errors],
            "ignored": [str(p) for p in self.ignored],
        }
