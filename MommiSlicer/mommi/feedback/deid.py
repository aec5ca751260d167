"""De-identification of feedback images: DICOM PS3.15 Basic Application Level Confidentiality Profile.

The profile's attribute list (PS3.15 Annex E, Table E.1-1, basic-profile column) is
kept as data in ``basic_profile.csv`` beside this module (its header names the
edition, the source and the source's licence) and loaded at import;
``profile_attributes()`` returns it.

How each action of the table is applied (conservatively, keeping the file valid):

====== ====================================================================
action applied as
====== ====================================================================
X      removed
Z      zero-length value (a sequence: no items)
D      a dummy value valid for the VR (``dummy_value``); a sequence keeps its
       items, but every attribute inside them is processed by the table and
       every attribute the table does not list gets a dummy value too
K      kept
C      like D (clean = replace), recorded in the report's warnings
U      UID replaced through the batch's consistent mapping (``Deidentifier.remap_uid``)
X/Z    Z (the attribute may be type 2)
X/D    D
X/Z/D  D
Z/D    D
X/Z/U* a sequence keeps its items, processed by the same rules (so the instance
       UIDs inside are remapped and references stay consistent); a UID is
       remapped; anything else gets a zero-length value
====== ====================================================================

Beyond the table's named attributes:

* every private attribute (odd group) is removed (the table's "private attributes"
  row; no Retain Safe Private option here);
* repeating groups 50xx (curves) and 60xx (overlays: the table removes Overlay Data
  and Overlay Comments, and the rest of a 60xx group is meaningless without them)
  are removed whole;
* sequences are processed recursively with the same rules;
* a UID attribute the table does not list is kept when it names something
  well known (a SOP class, transfer syntax, coding scheme, ...: its keyword ends in
  ``ClassUID`` or the value is in pydicom's UID registry), otherwise it is remapped
  through the same mapping as the listed ones, so that it can neither identify nor
  break a reference;
* the File Meta Information gets the new Media Storage SOP Instance UID and loses
  the optional application entity titles and addresses and private information;
* pixel data are never altered. Burned-in annotation is not removed but flagged:
  ``DeidReport.burned_in`` is True unless Burned In Annotation (0028,0301) is "NO"
  (for mammograms the attribute is optional, and absent means unknown), so the
  exporter can list those images for a person to review. Burned In Annotation
  itself is kept.

Attributes that training needs and that the table does not list (Image Laterality,
View Position, View Code Sequence, Pixel Spacing, Imager Pixel Spacing, Rows,
Columns, Photometric Interpretation, Bits Stored, window / VOI attributes,
Presentation Intent Type, Manufacturer, ...) are kept as they are.

UIDs: a new UID is ``uid_root`` followed by the integer of the first 128 bits of
SHA-256(salt + original UID), cut to 64 characters, so that with the default root
"2.25." it has the form of a UUID-derived UID, the same original gives the same new
UID within (and, given the same salt, across) runs, and a batch is reproducible
from its salt. Patient ID (Z/D, so D) becomes "ANON-" followed by a salted hash as
well, so that images of one patient stay grouped (needed for patient-level data
splits). The salt is a secret of the exporting site: anyone holding it could test
guessed Patient IDs against the pseudonyms.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID

__all__ = [
    "DEIDENTIFICATION_METHOD",
    "DEID_CODE",
    "DeidReport",
    "Deidentifier",
    "ProfileEntry",
    "dummy_value",
    "profile_attributes",
    "profile_entry_for",
    "resolve_action",
]

PROFILE_CSV = Path(__file__).with_name("basic_profile.csv")

#: value of De-identification Method (0012,0063) written into every de-identified dataset
#: (LO: at most 64 characters)
DEIDENTIFICATION_METHOD = "PS3.15 Basic Application Confidentiality Profile (MommiSlicer)"
#: (code value, coding scheme designator, code meaning) of PS3.16 CID 7050 for the basic profile
DEID_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")

#: the actions Table E.1-1 uses (basic-profile column and options)
ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z/D"})

# File Meta Information attributes that name the sending / receiving systems, or carry
# private information: all optional (type 3), removed.
_FILE_META_REMOVE = (
    0x00020016,  # Source Application Entity Title
    0x00020017,  # Sending Application Entity Title
    0x00020018,  # Receiving Application Entity Title
    0x00020026,  # Source Presentation Address
    0x00020027,  # Sending Presentation Address
    0x00020028,  # Receiving Presentation Address
    0x00020100,  # Private Information Creator UID
    0x00020102,  # Private Information
)

# UID attributes that name well-known things rather than instances: never remapped
_KEEP_UID_KEYWORDS = frozenset(
    {
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextUID",
        "MappingResourceUID",
        "ContextGroupExtensionCreatorUID",
        "PrivateInformationCreatorUID",
    }
)

# dummy values by VR (PS3.15 E.3 asks for a value "consistent with the VR")
_DUMMY_TEXT = "ANONYMOUS"
_DUMMY: dict[str, object] = {
    "AE": _DUMMY_TEXT,
    "CS": _DUMMY_TEXT,
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "UC": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "UR": "http://anonymized.invalid",
    "AS": "000Y",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "DS": "0",
    "IS": "0",
    "FL": 0.0,
    "FD": 0.0,
    "SS": 0,
    "US": 0,
    "SL": 0,
    "UL": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
    "OB": b"\x00" * 8,
    "OW": b"\x00" * 8,
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 8,
    "OL": b"\x00" * 8,
    "OV": b"\x00" * 8,
    "UN": b"\x00" * 8,
}


@dataclass(frozen=True)
class ProfileEntry:
    """One row of Table E.1-1: the attribute and its basic-profile action."""

    tag: str  #: as the standard writes it: "(0010,0010)", "(60xx,3000)", "(gggg,eeee)"
    keyword: str
    name: str
    action: str
    keyword_source: str = "pydicom"

    @property
    def tag_value(self) -> int | None:
        """The tag as an int, None for a repeating group or the private-attributes row."""
        text = self.tag.strip("()").replace(",", "")
        try:
            return int(text, 16)
        except ValueError:
            return None

    def matches(self, tag: int) -> bool:
        """True when the data element tag falls under this row."""
        tag = int(tag)
        value = self.tag_value
        if value is not None:
            return tag == value
        group, element = tag >> 16, tag & 0xFFFF
        if self.tag == "(gggg,eeee)":
            return bool(group & 1)
        pattern_group, pattern_element = self.tag.strip("()").split(",")
        if (group >> 8) != int(pattern_group[:2], 16) or group & 1:
            return False
        return pattern_element == "xxxx" or element == int(pattern_element, 16)


def _load_profile(path: Path) -> tuple[ProfileEntry, ...]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        entries = tuple(ProfileEntry(r["tag"], r["keyword"], r["name"], r["action"], r["keyword_source"]) for r in rows)
    unknown = {e.action for e in entries} - ACTIONS
    if unknown or not entries:  # pragma: no cover - guards an edit of the data file
        raise ImportError(f"{path.name}: unknown actions {sorted(unknown)} or no rows")
    return entries


_PROFILE = _load_profile(PROFILE_CSV)
_BY_TAG: dict[int, ProfileEntry] = {e.tag_value: e for e in _PROFILE if e.tag_value is not None}
_PATTERNS = tuple(e for e in _PROFILE if e.tag_value is None)


def profile_attributes() -> list[ProfileEntry]:
    """Every row of the basic profile's attribute list (Table E.1-1), in tag order."""
    return list(_PROFILE)


def profile_entry_for(tag: int) -> ProfileEntry | None:
    """The table row a data element tag falls under, or None when the table does not list it."""
    entry = _BY_TAG.get(int(tag))
    if entry is not None:
        return entry
    return next((e for e in _PATTERNS if e.matches(tag)), None)


def resolve_action(action: str, vr: str) -> str:
    """What this module does for a table action on an element of this VR.

    Returns one of "remove", "empty", "dummy", "keep", "remap", "recurse" (see the
    module docstring for the reasons).
    """
    if action == "X":
        return "remove"
    if action in ("Z", "X/Z"):
        return "empty"
    if action in ("D", "X/D", "X/Z/D", "Z/D", "C"):
        return "dummy"
    if action == "K":
        return "recurse" if vr == "SQ" else "keep"
    if action == "U":
        return "remap"
    if action == "X/Z/U*":
        if vr == "SQ":
            return "recurse"
        return "remap" if vr == "UI" else "empty"
    raise ValueError(f"unknown Table E.1-1 action {action!r}")


def dummy_value(vr: str) -> object:
    """A non-empty value valid for the VR (for UI use ``Deidentifier.remap_uid``)."""
    vr = vr.split(" or ")[0]
    try:
        return _DUMMY[vr]
    except KeyError:
        raise ValueError(f"no dummy value for VR {vr}") from None


@dataclass
class DeidReport:
    """What ``Deidentifier.deidentify`` did to one dataset."""

    uid_map: dict[str, str] = field(default_factory=dict)  #: original UID -> new UID, this dataset
    removed: list[str] = field(default_factory=list)  #: attributes removed (keyword or tag; nested as A[0].B)
    emptied: list[str] = field(default_factory=list)  #: attributes given a zero-length value
    replaced: list[str] = field(default_factory=list)  #: attributes given a dummy value or a new UID
    burned_in: bool = False  #: pixels may carry burned-in text: list the image for review
    warnings: list[str] = field(default_factory=list)


def _is_registry_uid(value: str) -> bool:
    uid = UID(value)
    return uid.name != str(uid)


def _label(elem: DataElement, path: str) -> str:
    tag = elem.tag
    name = keyword_for_tag(tag) if not tag.is_private else ""
    if not name:
        entry = profile_entry_for(tag)
        name = (
            entry.keyword
            if entry is not None and entry.tag_value is not None
            else f"({tag.group:04X},{tag.element:04X})"
        )
    return f"{path}.{name}" if path else name


class Deidentifier:
    """Applies the basic profile to datasets of one batch, with one consistent UID mapping."""

    def __init__(self, uid_root: str = "2.25.", salt: bytes | None = None) -> None:
        root = uid_root if uid_root.endswith(".") else uid_root + "."
        if len(root) > 40 or not all(part.isdigit() for part in root[:-1].split(".")):
            raise ValueError(f"uid_root {uid_root!r} is not a UID prefix of at most 40 characters")
        self.uid_root = root
        #: None draws a random salt: consistent within this instance, not reproducible
        self._salt = bytes(salt) if salt is not None else os.urandom(32)
        self._uid_map: dict[str, str] = {}

    # ------------------------------------------------------------------ UIDs
    @property
    def uid_map(self) -> dict[str, str]:
        """Original UID -> new UID for everything this instance has remapped (the whole batch)."""
        return dict(self._uid_map)

    def remap_uid(self, uid: str) -> str:
        """The batch's new UID for an original one (the same original always gives the same new UID)."""
        uid = str(uid).strip().rstrip("\x00")
        new = self._uid_map.get(uid)
        if new is None:
            new = self._uid_map[uid] = self._derive_uid(uid)
        return new

    def _derive_uid(self, text: str) -> str:
        digest = hashlib.sha256(self._salt + text.encode("utf-8", "replace")).digest()
        return (self.uid_root + str(int.from_bytes(digest[:16], "big")))[:64]

    def pseudonym(self, value: str, kind: str = "PatientID") -> str:
        """A salted, non-reversible dummy for an identifier that must stay consistent in the batch."""
        mac = hmac.new(self._salt, f"{kind}\x00{value}".encode("utf-8"), hashlib.sha256).hexdigest()
        return "ANON-" + mac[:16].upper()

    # ------------------------------------------------------------------ main entry
    def deidentify(self, ds: Dataset) -> DeidReport:
        """De-identify ``ds`` in place (deep-copy it first to keep the original); returns what was done."""
        report = DeidReport()
        self._process(ds, "", report, dummy_unlisted=False)

        meta = getattr(ds, "file_meta", None)
        if meta is not None and len(meta):
            for tag in _FILE_META_REMOVE:
                if tag in meta:
                    report.removed.append("file_meta." + (keyword_for_tag(tag) or f"{tag:08X}"))
                    del meta[tag]
            if "MediaStorageSOPInstanceUID" in meta:
                meta.MediaStorageSOPInstanceUID = (
                    ds.SOPInstanceUID
                    if "SOPInstanceUID" in ds
                    else self._remap_into(str(meta.MediaStorageSOPInstanceUID), report)
                )
                report.replaced.append("file_meta.MediaStorageSOPInstanceUID")

        self._mark(ds)

        burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        if burned != "NO":
            report.burned_in = True
            report.warnings.append(
                "Burned In Annotation is YES: the pixels carry identifying text; review before export"
                if burned == "YES"
                else "Burned In Annotation is absent or unknown: the pixels may carry identifying text; "
                "review before export"
            )
        for name in ("removed", "emptied", "replaced", "warnings"):
            setattr(report, name, list(dict.fromkeys(getattr(report, name))))
        return report

    # ------------------------------------------------------------------ internals
    def _remap_into(self, uid: str, report: DeidReport) -> str:
        new = self.remap_uid(uid)
        report.uid_map[str(uid).strip().rstrip("\x00")] = new
        return new

    def _remap_element(self, elem: DataElement, report: DeidReport) -> None:
        if elem.is_empty:
            return
        if elem.VM > 1:
            elem.value = [self._remap_into(v, report) for v in elem.value]
        else:
            elem.value = self._remap_into(elem.value, report)

    def _unlisted_uid(self, elem: DataElement, label: str, report: DeidReport) -> None:
        if elem.is_empty:
            return
        keyword = elem.keyword or ""
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        if (
            keyword.endswith("ClassUID")
            or keyword in _KEEP_UID_KEYWORDS
            or all(_is_registry_uid(str(v)) for v in values)
        ):
            return
        self._remap_element(elem, report)
        report.replaced.append(label)

    def _dummy(self, elem: DataElement, label: str, report: DeidReport, action: str) -> None:
        vr = elem.VR
        if vr == "SQ":
            for i, item in enumerate(elem.value):
                self._process(item, f"{label}[{i}]", report, dummy_unlisted=True)
            report.replaced.append(label)
        elif vr == "UI":
            if elem.is_empty:  # D asks for a non-empty value: one derived from the attribute's place
                elem.value = self._derive_uid("dummy\x00" + label)
            else:
                self._remap_element(elem, report)
            report.replaced.append(label)
        else:
            if elem.keyword == "PatientID" and not elem.is_empty:
                elem.value = self.pseudonym(str(elem.value))
            else:
                elem.value = dummy_value(vr)
            report.replaced.append(label)
        if action == "C":
            report.warnings.append(f"{label}: action C (clean) applied as D (dummy value)")

    def _process(self, ds: Dataset, path: str, report: DeidReport, dummy_unlisted: bool) -> None:
        for elem in list(ds):
            tag: BaseTag = elem.tag
            label = _label(elem, path)
            group = tag.group
            if tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
                del ds[tag]
                report.removed.append(label)
                continue
            entry = _BY_TAG.get(int(tag))
            if entry is None:
                if elem.VR == "SQ":
                    for i, item in enumerate(elem.value):
                        self._process(item, f"{label}[{i}]", report, dummy_unlisted)
                elif elem.VR == "UI":
                    self._unlisted_uid(elem, label, report)
                elif elem.VR in ("DA", "DT", "TM"):
                    # dates and times the profile table does not list (e.g. StudyUpdateDateTime, added to
                    # the standard after the table was made) identify a visit as well as the listed ones
                    del ds[tag]
                    report.removed.append(label)
                elif dummy_unlisted and not elem.is_empty:
                    elem.value = dummy_value(elem.VR)
                    report.replaced.append(label)
                continue
            op = resolve_action(entry.action, elem.VR)
            if op == "remove":
                del ds[tag]
                report.removed.append(label)
            elif op == "empty":
                elem.value = Sequence() if elem.VR == "SQ" else None
                report.emptied.append(label)
            elif op == "dummy":
                self._dummy(elem, label, report, entry.action)
            elif op == "remap":
                if elem.VR == "UI":
                    self._remap_element(elem, report)
                    report.replaced.append(label)
                else:  # a U row on a non-UID element (not in the table today): nothing safe to keep
                    elem.value = None
                    report.emptied.append(label)
                    report.warnings.append(f"{label}: U action on VR {elem.VR}, emptied")
            elif op == "recurse":
                for i, item in enumerate(elem.value):
                    self._process(item, f"{label}[{i}]", report, dummy_unlisted)
            # "keep": nothing to do

    @staticmethod
    def _mark(ds: Dataset) -> None:
        ds.PatientIdentityRemoved = "YES"
        methods = ds.get("DeidentificationMethod")
        if methods is None or ds["DeidentificationMethod"].is_empty:
            ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
        else:
            values = list(methods) if ds["DeidentificationMethod"].VM > 1 else [str(methods)]
            if DEIDENTIFICATION_METHOD not in values:
                ds.DeidentificationMethod = values + [DEIDENTIFICATION_METHOD]
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = DEID_CODE
        items = list(ds.get("DeidentificationMethodCodeSequence") or [])
        if not any(
            getattr(i, "CodeValue", None) == DEID_CODE[0] and getattr(i, "CodingSchemeDesignator", None) == DEID_CODE[1]
            for i in items
        ):
            items.append(code)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
