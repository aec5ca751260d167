"""Which breast and which view a DICOM mammogram shows.

Sources, strongest first: ViewPosition (0018,5101) + ImageLaterality (0020,0062);
ViewCodeSequence (0054,0220) with its SNOMED codes; series-level Laterality
(0020,0060); PatientOrientation (0020,0020) read with the standard display
convention (IHE Mammography Image profile: lateral side / axilla at the top); and
last the free-text descriptions. Views other than CC and MLO (ML, XCCL, spot
compression, magnification, ...) are kept with their own name so that they are
never mistaken for a screening view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar
from pathlib import Path

from pydicom.dataset import Dataset

from mommi.errors import ConflictingLateralityError, UnknownViewError
from mommi.study.model import Laterality

T = TypeVar("T")

#: CID 4014 "View for Mammography": SNOMED CT and the retired SNOMED RT codes
VIEW_CODES: dict[str, str] = {
    "399162004": "CC",
    "R-10242": "CC",
    "399368009": "MLO",
    "R-10226": "MLO",
    "399260004": "ML",
    "R-10224": "ML",
    "399352003": "LM",
    "R-10228": "LM",
    "399099002": "LMO",
    "R-10230": "LMO",
    "R-1024A": "XCCL",
    "Y-X1770": "XCCL",
    "R-1024B": "XCCM",
    "Y-X1771": "XCCM",
    "R-10244": "FB",
    "R-102D0": "SIO",
    "R-40AAA": "ISO",
}
#: words of code meanings, for codes missing from the table above
VIEW_MEANINGS: tuple[tuple[str, str], ...] = (
    ("cranio-caudal exaggerated laterally", "XCCL"),
    ("cranio-caudal exaggerated medially", "XCCM"),
    ("medio-lateral oblique", "MLO"),
    ("latero-medial oblique", "LMO"),
    ("medio-lateral", "ML"),
    ("latero-medial", "LM"),
    ("caudo-cranial", "FB"),
    ("superolateral to inferomedial", "SIO"),
    ("inferomedial to superolateral", "ISO"),
    ("cranio-caudal", "CC"),
)
#: CID 4015 view modifiers that make an image a work-up view, not a screening view.
#: Implant displaced (ID) views are screening views and are deliberately absent.
WORKUP_MODIFIERS: tuple[str, ...] = (
    "magnification",
    "spot compression",
    "cleavage",
    "axillary tail",
    "rolled",
    "tangential",
    "nipple in profile",
)
WORKUP_MODIFIER_CODES: dict[str, str] = {"399163009": "magnification"}

_VIEW_WORDS = {"CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "ISO", "AT", "CV"}
_LEFT_WORDS = {"L", "LEFT", "LT", "LINKS", "GAUCHE"}
_RIGHT_WORDS = {"R", "RIGHT", "RT", "RECHTS", "DROITE"}
_DESCRIPTION_TAGS = (
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "AcquisitionDeviceProcessingDescription",
    "PerformedProcedureStepDescription",
)


@dataclass
class ViewIdentity:
    laterality: Laterality
    view_position: str
    modifiers: tuple[str, ...]
    source: str
    warnings: list[str] = field(default_factory=list)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    return str(value).strip().upper()


def _code_view(ds: Dataset) -> tuple[str | None, tuple[str, ...]]:
    """View and work-up modifiers from ViewCodeSequence."""
    seq = ds.get("ViewCodeSequence")
    if not seq:
        return None, ()
    item = seq[0]
    code = str(item.get("CodeValue", "")).strip()
    meaning = str(item.get("CodeMeaning", "")).strip().lower()
    view = VIEW_CODES.get(code)
    if view is None:
        view = next((v for words, v in VIEW_MEANINGS if words in meaning), None)
    modifiers: list[str] = []
    for mod in item.get("ViewModifierCodeSequence", []) or []:
        mcode = str(mod.get("CodeValue", "")).strip()
        mmeaning = str(mod.get("CodeMeaning", "")).strip().lower()
        name = WORKUP_MODIFIER_CODES.get(mcode) or next((w for w in WORKUP_MODIFIERS if w in mmeaning), None)
        if name:
            modifiers.append(name)
    return view, tuple(modifiers)


def _laterality(value: str) -> Laterality | None:
    return {"L": Laterality.LEFT, "R": Laterality.RIGHT}.get(value)


def _orientation_guess(ds: Dataset) -> tuple[Laterality | None, str | None]:
    """Laterality and view from PatientOrientation, assuming the standard display.

    In a standard mammogram the lateral side (CC) or the axilla (MLO) is at the
    top, so rows run toward the patient's right for a left breast ("A\\R",
    "A\\FR") and toward the left for a right breast ("P\\L", "P\\FL").
    """
    value = ds.get("PatientOrientation")
    if not value or len(value) != 2:
        return None, None
    column_dir = str(value[1]).upper()
    laterality = None
    if column_dir.endswith("R"):
        laterality = Laterality.LEFT
    elif column_dir.endswith("L"):
        laterality = Laterality.RIGHT
    letters = set(column_dir)
    view: str | None
    if letters & {"F", "H"}:
        view = "MLO" if letters & {"L", "R"} else "ML"
    else:
        view = "CC" if letters & {"L", "R"} else None
    return laterality, view


def _description_guess(ds: Dataset) -> tuple[Laterality | None, str | None, tuple[str, ...], str]:
    """Laterality, view and work-up words from free text such as 'R MLO' or 'LEFT_CC'."""
    for keyword in _DESCRIPTION_TAGS:
        text = _text(ds, keyword)
        if not text:
            continue
        tokens = [t for t in re.split(r"[^A-Z0-9]+", text) if t]
        laterality: Laterality | None = None
        view: str | None = None
        for token in tokens:
            if token in _LEFT_WORDS:
                laterality = laterality or Laterality.LEFT
            elif token in _RIGHT_WORDS:
                laterality = laterality or Laterality.RIGHT
            elif token in _VIEW_WORDS:
                view = view or token
            elif token[0] in "LR" and token[1:] in _VIEW_WORDS:  # LCC, RMLO, ...
                laterality = laterality or _laterality(token[0])
                view = view or token[1:]
        modifiers = tuple(
            name
            for name, pattern in (("spot compression", r"\bSPOT\b"), ("magnification", r"\bMAG"))
            if re.search(pattern, text)
        )
        if laterality or view:
            return laterality, view, modifiers, keyword
    return None, None, (), ""


def _first_found(candidates: list[tuple[T | None, str, str | None]]) -> tuple[T | None, str | None, str | None]:
    """The first (value, source, warning) whose value is known, strongest source first."""
    for value, source, warning in candidates:
        if value:
            return value, source, warning
    return None, None, None


def identify_view(ds: Dataset, path: Path) -> ViewIdentity:
    """Find laterality and view; raise UnknownViewError or ConflictingLateralityError."""
    image_lat = _laterality(_text(ds, "ImageLaterality"))
    series_lat = _laterality(_text(ds, "Laterality"))
    if image_lat and series_lat and image_lat is not series_lat:
        raise ConflictingLateralityError(
            path,
            f"the image says {image_lat.name.lower()} breast (ImageLaterality) but its series "
            f"says {series_lat.name.lower()} (Laterality); the side cannot be trusted",
        )
    code_view, modifiers = _code_view(ds)
    orient_lat, orient_view = _orientation_guess(ds)
    desc_lat, desc_view, desc_modifiers, desc_tag = _description_guess(ds)

    laterality, lat_source, lat_warning = _first_found(
        [
            (image_lat, "ImageLaterality", None),
            (series_lat, "Laterality (series)", None),
            (orient_lat, "PatientOrientation", "side taken from PatientOrientation, assuming standard display"),
            (desc_lat, desc_tag, f"side taken from the free text of {desc_tag}"),
        ]
    )
    view_position, view_source, view_warning = _first_found(
        [
            (_text(ds, "ViewPosition") or None, "ViewPosition", None),
            (code_view, "ViewCodeSequence", None),
            (orient_view, "PatientOrientation", "view taken from PatientOrientation"),
            (desc_view, desc_tag, f"view taken from the free text of {desc_tag}"),
        ]
    )
    warnings = [w for w in (lat_warning, view_warning) if w]
    sources = [s for s in (lat_source, view_source) if s]
    if laterality and desc_lat and desc_lat is not laterality:
        warnings.append(
            f"{desc_tag} suggests the {desc_lat.name.lower()} breast but the tags say "
            f"{laterality.name.lower()}; the tags were used"
        )
    if view_source == "ViewPosition" and code_view and code_view != view_position:
        warnings.append(
            f"ViewPosition says {view_position} but ViewCodeSequence says {code_view}; ViewPosition was used"
        )
    modifiers = modifiers or desc_modifiers

    if laterality is None or view_position is None:
        missing = " and ".join(w for w, v in (("which breast", laterality), ("which view", view_position)) if v is None)
        raise UnknownViewError(
            path,
            f"cannot tell {missing} this image shows: no ImageLaterality/ViewPosition, "
            "no ViewCodeSequence, and nothing usable in PatientOrientation or the descriptions",
        )
    source = " + ".join(dict.fromkeys(sources))
    return ViewIdentity(laterality, view_position, modifiers, source, warnings)
