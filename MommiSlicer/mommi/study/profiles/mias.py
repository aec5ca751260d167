"""mini-MIAS: scanned-film MLO views distributed as ``mdbNNN.pgm`` beside ``Info.txt``.

Markers: a PGM named ``mdbNNN.pgm`` in a folder that holds MIAS's ``Info.txt``.
Rules:
- side from the file number: odd = LEFT, even = RIGHT. The films' lead markers say so (mdb004 and
  mdb020 read "R ML", mdb007 "L ML"); an earlier note of the shared data had it the other way round.
  ``mdbNNN`` with odd NNN and NNN + 1 are one woman;
- every film is an MLO view;
- the digitised films are MIRRORED relative to the standard display: a right breast's chest wall is
  on the image's LEFT, a left breast's on its right (the markers read mirrored). The chest-wall side is
  declared accordingly, and the image itself still checks it;
- pixel spacing: the documented 200 um of the reduced database.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.study.model import Laterality, PixelSpacing
from mommi.study.profiles.base import DatasetProfile, ProfileFacts

FILE_NAME = re.compile(r"^mdb(?P<number>\d{3})$")
INFO_NAME = "Info.txt"
PIXEL_SPACING_MM = 0.2
LATERALITY_RULE = "MIAS file number: odd = left, even = right (the films' lead markers)"


def laterality_of(number: int) -> Laterality:
    """Odd file numbers are left breasts, even ones right (mdb004 "R ML", mdb007 "L ML")."""
    return Laterality.LEFT if number % 2 else Laterality.RIGHT


def chest_wall_of(laterality: Laterality) -> str:
    """The image side of the chest wall on a mirrored MIAS film: left for a right breast."""
    return "left" if laterality is Laterality.RIGHT else "right"


def patient_of(number: int) -> str:
    """mdb001 and mdb002 are one woman: mias-001."""
    return f"mias-{(number + 1) // 2:03d}"


class MiasProfile(DatasetProfile):
    name = "mini-MIAS"
    rules = (
        "side from the file number (odd = left, even = right, as the lead markers say); MLO; films "
        "mirrored (a right breast's chest wall on the image's left); one exam per woman (mdbNNN with odd "
        "NNN and NNN + 1); documented 200 um pixels"
    )

    def matches_raster(self, path: Path) -> bool:
        return (
            path.suffix.lower() == ".pgm"
            and FILE_NAME.match(path.stem) is not None
            and (path.parent / INFO_NAME).is_file()
        )

    def facts(self, path: Path, ds: Dataset | None) -> ProfileFacts:
        match = FILE_NAME.match(path.stem)
        assert match is not None, "facts() is called only for files that matched"
        number = int(match["number"])
        side = laterality_of(number)
        return ProfileFacts(
            profile=self.name,
            laterality=side,
            view_position="MLO",
            view_source=LATERALITY_RULE,
            patient=patient_of(number),
            exam_key=f"mini-MIAS {patient_of(number)}",
            spacing=PixelSpacing(PIXEL_SPACING_MM, PIXEL_SPACING_MM, "mini-MIAS documented pixel size (200 um)"),
            chest_wall=chest_wall_of(side),
        )
