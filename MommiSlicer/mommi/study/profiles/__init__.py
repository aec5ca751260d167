"""Dataset profiles: public mammography datasets opened as they are distributed.

Each profile recognises its dataset from the dataset's own markers and supplies what
the files' headers lack (see ``base``). The rules of every profile are listed in the
README ("Research datasets as distributed") and by ``mommi study inspect``.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.profiles.base import DatasetProfile, ProfileFacts
from mommi.study.profiles.cbis_ddsm import CbisDdsmProfile
from mommi.study.profiles.cdd_cesm import CddCesmProfile
from mommi.study.profiles.cmmd import CmmdProfile
from mommi.study.profiles.inbreast import InbreastProfile
from mommi.study.profiles.mias import MiasProfile
from mommi.study.profiles.vindr import VindrProfile

#: every profile, asked in this order; a file matches at most one (their markers exclude each other)
PROFILES: tuple[DatasetProfile, ...] = (
    CbisDdsmProfile(),
    InbreastProfile(),
    VindrProfile(),
    CmmdProfile(),
    CddCesmProfile(),
    MiasProfile(),
)


def dicom_profile(path: Path, ds: Dataset) -> DatasetProfile | None:
    """The profile whose markers this DICOM file carries, or None for any other mammogram."""
    return next((p for p in PROFILES if p.matches_dicom(path, ds)), None)


def raster_profile(path: Path) -> DatasetProfile | None:
    """The profile that knows this PNG/JPEG/PGM file by its name, or None (it then needs a sidecar)."""
    return next((p for p in PROFILES if p.matches_raster(path)), None)


__all__ = ["PROFILES", "DatasetProfile", "ProfileFacts", "dicom_profile", "raster_profile"]
