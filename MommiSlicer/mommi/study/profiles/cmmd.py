"""CMMD, the Chinese Mammography Database (TCIA): FFDM with side and view in standard tags.

Markers: PatientID ``D1-0001`` / ``D2-0001`` in a tree that has a ``CMMD`` folder (as TCIA's
downloader writes it: ``CMMD/<PatientID>/<date>-NA-NA-<n>/1.000000-NA-<n>/1-<k>.dcm``).
Rules:
- side from ImageLaterality and view from ViewCodeSequence, read as for any mammogram;
- one exam per woman (PatientID): the collection holds one examination per patient;
- pixel spacing: none in the headers and none documented, so sizes in mm are not given.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.profiles.base import DatasetProfile, ProfileFacts, header_text

PATIENT = re.compile(r"^D[12]-\d{4}$")
NO_SPACING = "CMMD files carry no pixel spacing and the collection documents none: sizes in mm are unavailable"


class CmmdProfile(DatasetProfile):
    name = "CMMD"
    rules = "side and view from the standard tags; one exam per PatientID; no pixel spacing (none documented)"

    def matches_dicom(self, path: Path, ds: Dataset) -> bool:
        return PATIENT.match(header_text(ds, "PatientID")) is not None and "CMMD" in path.parts

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        patient = header_text(ds, "PatientID")
        return ProfileFacts(profile=self.name, exam_key=f"CMMD {patient}", spacing_note=NO_SPACING)
