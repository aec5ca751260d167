"""INbreast: FFDM (Siemens MammoNovation) with anonymised headers that kept no view and no side.

Markers: the file name ``<FileID>_<patient hash>_MG_<L|R>_<CC|ML>_ANON.dcm``.
Rules:
- side and view from the file name; "ML" is INbreast's name for the MLO view (Moreira et al. 2012);
- one exam per patient hash (the second field of the name, shared by a woman's views);
- pixel spacing from the header where it has one, else the documented 70 um detector pixel.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.model import PixelSpacing
from mommi.study.profiles.base import DatasetProfile, ProfileFacts, header_text, side_of

FILE_NAME = re.compile(r"^(?P<file_id>\d+)_(?P<hash>[0-9a-z]+)_MG_(?P<side>[LR])_(?P<view>[A-Z]+)_ANON$", re.I)
#: the dataset's names for the screening views
VIEWS = {"CC": "CC", "ML": "MLO", "MLO": "MLO"}
#: INbreast's detector pixel (Moreira et al., Academic Radiology 2012)
PIXEL_SPACING_MM = 0.07
ANONYMISED = {"", "removed"}


class InbreastProfile(DatasetProfile):
    name = "INbreast"
    rules = (
        "side and view from the file name (ML = MLO); one exam per patient hash of the file name; "
        "documented 70 um pixels where the header has no spacing"
    )

    def matches_dicom(self, path: Path, ds: Dataset) -> bool:
        return FILE_NAME.match(path.stem) is not None

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        match = FILE_NAME.match(path.stem)
        assert match is not None, "facts() is called only for files that matched"
        view = match["view"].upper()
        patient_id = header_text(ds, "PatientID")
        return ProfileFacts(
            profile=self.name,
            laterality=side_of(match["side"]),
            view_position=VIEWS.get(view, view),
            view_source="file name (INbreast)",
            patient=None if patient_id.lower() not in ANONYMISED else f"INbreast {match['hash']}",
            exam_key=f"INbreast {match['hash']}",
            spacing=PixelSpacing(PIXEL_SPACING_MM, PIXEL_SPACING_MM, "INbreast documented pixel size (70 um)"),
        )
