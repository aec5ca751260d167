"""Four-view mammography studies: reading DICOM and research images, grouping, checks."""

from mommi.study.geometry import GridTransform
from mommi.study.loader import load_studies, load_study, read_image
from mommi.study.model import (
    HANGING_ORDER,
    Laterality,
    MammoImage,
    PixelSpacing,
    Projection,
    SetAside,
    Study,
    StudyCollection,
    View,
)

__all__ = [
    "GridTransform",
    "HANGING_ORDER",
    "Laterality",
    "MammoImage",
    "PixelSpacing",
    "Projection",
    "SetAside",
    "Study",
    "StudyCollection",
    "View",
    "load_studies",
    "load_study",
    "read_image",
]
