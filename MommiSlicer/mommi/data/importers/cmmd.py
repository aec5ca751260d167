"""CMMD, the Chinese Mammography Database (TCIA) -> training manifest.

Layout::

    <source>/[manifest-<digits>/]CMMD/<ID1>/<MM-DD-YYYY>-NA-NA-<n>/1.000000-NA-<n>/1-<k>.dcm
        as TCIA's NBIA Data Retriever writes it: one folder per patient (ID1 such as
        D1-0001 or D2-0001), one study and one series per patient holding 1-1.dcm ..
        1-4.dcm (two views of one or both breasts)
    <source>/CMMD_clinicaldata_revision.xlsx     sheet "Sheet1" (or <source>/manifest-*/...);
        or its CSV export CMMD_clinicaldata_revision.csv (',' or ';' separated)
        columns: ID1, LeftRight (L/R), Age, number, abnormality (mass / calcification /
        both), classification (Benign / Malignant), subtype (Luminal A, Luminal B,
        HER2-enriched, triple negative; empty for the D1 patients)
        one row per breast with a lesion

The DICOM headers give the side in ImageLaterality and the view only in
ViewCodeSequence (SNOMED CT 399162004 = CC, 399368009 = MLO); they have no
ViewPosition and no pixel spacing; PatientID is ID1. The pixels are 8-bit MONOCHROME2.

Choices:

- one record per DICOM file; image_id = "<ID1>_<file stem>" ("D1-0001_1-1"; the
  study and series folder names are added when a patient has several series);
  patient_id = study_id = ID1 (the patient folder, which the NBIA retriever names
  after PatientID; a header PatientID that disagrees is logged). Laterality and view
  come from the header (``mommi.study.dicom_view.identify_view``); an image whose
  header, side or view cannot be read is skipped with a logged warning.
- a missing clinical file, sheet, column or CMMD folder raises ``DatasetImportError``
  naming it.
- findings = [] always: CMMD gives a biopsy result per BREAST, but no lesion
  location, outline or box. ``extra["lesion_location_known"]`` = False says so, so
  that no training or evaluation code takes an image without boxes as normal.
- ``extra["breast_pathology"]`` = "benign" / "malignant" from the clinical row of
  (ID1, LeftRight). A breast without a row has no documented lesion: the key is
  ABSENT (CMMD does not state that the breast is normal). ``extra["abnormality"]``
  (mass / calcification / both), ``extra["subtype"]`` and ``extra["age"]`` (an int)
  are added where the row gives them.
- spacing_mm None: the headers hold no spacing and CMMD does not document one.
  image_birads None (CMMD gives none).
- the .xlsx is read when both it and a CSV export exist. A clinical row without
  images, or a second row for the same breast (the first is used), is logged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mommi.data.importers._common import (
    copy_columns,
    find_first,
    header_size,
    header_spacing,
    read_header,
    read_spreadsheet,
    require_dir,
    sort_records,
)
from mommi.data.manifest import Manifest, Record
from mommi.errors import ConflictingLateralityError, DatasetImportError, UnknownViewError
from mommi.study.dicom_view import identify_view

log = logging.getLogger(__name__)

SOURCE = "cmmd"
TREE_NAME = "CMMD"
CLINICAL_STEM = "CMMD_clinicaldata_revision"
CLINICAL_SHEET = "Sheet1"
CLINICAL_COLUMNS = ("ID1", "LeftRight", "classification")
PATHOLOGY = {"benign": "benign", "malignant": "malignant"}
_ID1 = re.compile(r"^D\d-\d{4}$", re.I)


def import_cmmd(source: Path) -> Manifest:
    """One record per DICOM file of the CMMD tree, labelled per breast (see the module docstring)."""
    root = require_dir(Path(source), "CMMD")
    clinical_path = find_clinical_file(root)
    clinical = _clinical_rows(clinical_path)
    tree = _find_tree(root)
    paths = sorted(tree.rglob("*.dcm"))
    if not paths:
        raise DatasetImportError(tree, "no DICOM file (expected CMMD/<ID1>/<study>/<series>/1-<k>.dcm)")
    images = []
    for path in paths:
        image = _image(tree, path)
        if image is not None:
            images.append(image)
    if not images:
        raise DatasetImportError(tree, f"none of the {len(paths)} DICOM files could be imported")
    records = _records(root, images, clinical)
    unused = sorted({key for key in clinical} - {(r.patient_id, r.laterality) for r in records})
    if unused:
        log.warning(
            "%s: %d breast(s) of the clinical file have no image: %s",
            clinical_path,
            len(unused),
            ", ".join(f"{pid} {side}" for pid, side in unused[:10]),
        )
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records))


def find_clinical_file(root: Path) -> Path:
    """CMMD_clinicaldata_revision.xlsx (or .csv) in <root> or <root>/manifest-*/; the .xlsx first."""
    folders = [root, *sorted(p for p in root.glob("manifest-*") if p.is_dir())]
    found = find_first(folder / f"{CLINICAL_STEM}{suffix}" for suffix in (".xlsx", ".csv") for folder in folders)
    if found is None:
        raise DatasetImportError(
            root / f"{CLINICAL_STEM}.xlsx", f"not found (nor {CLINICAL_STEM}.csv, here or in a manifest-* folder)"
        )
    return found


def _find_tree(root: Path) -> Path:
    """<root>/CMMD, <root>/manifest-*/CMMD, or root itself when it holds the patient folders."""
    for candidate in [root / TREE_NAME, *sorted(root.glob(f"*/{TREE_NAME}"))]:
        if candidate.is_dir():
            return candidate
    if any(_ID1.match(p.name) for p in root.iterdir() if p.is_dir()):
        return root
    raise DatasetImportError(root / TREE_NAME, "CMMD image folder not found (also looked in manifest-*/)")


def _clinical_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(ID1, L/R) -> clinical row; a repeated breast keeps its first row (logged)."""
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for number, row in enumerate(read_spreadsheet(path, CLINICAL_COLUMNS, sheet=CLINICAL_SHEET), start=2):
        patient, side = row["ID1"], row["LeftRight"].upper()[:1]
        if not patient or side not in ("L", "R"):
            log.warning("%s row %d: ID1 %r / LeftRight %r unusable; ignored", path, number, patient, row["LeftRight"])
            continue
        if (patient, side) in rows:
            log.warning("%s row %d: a second row for %s %s; the first is used", path, number, patient, side)
            continue
        rows[(patient, side)] = row
    return rows


class _Image:
    """One usable DICOM file: its patient, side, view, header and folders below the patient."""

    def __init__(
        self, path: Path, patient: str, laterality: str, view: str, header: Any, folders: tuple[str, ...]
    ) -> None:
        self.path, self.patient, self.laterality, self.view = path, patient, laterality, view
        self.header, self.folders = header, folders


def _image(tree: Path, path: Path) -> _Image | None:
    """Header facts of one DICOM file, or None (logged) when it cannot be used."""
    parts = path.relative_to(tree).parts
    try:
        header = read_header(path)
    except DatasetImportError as exc:
        log.warning("%s: skipped: %s", path, exc.reason)
        return None
    header_id = str(header.get("PatientID", "") or "").strip()
    folder_id = parts[0] if len(parts) > 1 else ""
    patient = folder_id or header_id
    if not patient:
        log.warning("%s: no patient folder and no PatientID; skipped", path)
        return None
    if folder_id and header_id and header_id != folder_id:
        log.warning("%s: PatientID %r differs from its folder %r; the folder name is used", path, header_id, folder_id)
    try:
        identity = identify_view(header, path)
    except (UnknownViewError, ConflictingLateralityError) as exc:
        log.warning("%s: skipped: %s", path, exc)
        return None
    for warning in identity.warnings:
        log.warning("%s: %s", path, warning)
    return _Image(path, patient, identity.laterality.value, identity.view_position, header, parts[1:-1])


def _records(root: Path, images: list[_Image], clinical: dict[tuple[str, str], dict[str, str]]) -> list[Record]:
    short_ids = Counter(f"{i.patient}_{i.path.stem}" for i in images)
    records = []
    for image in images:
        image_id = f"{image.patient}_{image.path.stem}"
        if short_ids[image_id] > 1:  # several series of one patient: name them apart
            image_id = "_".join((image.patient, *image.folders, image.path.stem))
        width, height = header_size(image.header)
        extra: dict[str, Any] = {"lesion_location_known": False}
        extra.update(clinical_extra(clinical.get((image.patient, image.laterality)), image.path))
        records.append(
            Record(
                patient_id=image.patient,
                study_id=image.patient,
                image_id=image_id,
                view=image.view,
                laterality=image.laterality,
                image_path=image.path.relative_to(root).as_posix(),
                source=SOURCE,
                spacing_mm=header_spacing(image.header),
                width=width,
                height=height,
                findings=[],
                extra=extra,
            )
        )
    return records


def clinical_extra(row: dict[str, str] | None, path: Path) -> dict[str, Any]:
    """record.extra entries from the breast's clinical row (none when the breast has no row)."""
    if row is None:
        return {}
    extra: dict[str, Any] = {}
    pathology = PATHOLOGY.get(row.get("classification", "").strip().lower())
    if pathology is not None:
        extra["breast_pathology"] = pathology
    elif row.get("classification"):
        log.warning(
            "%s: classification %r is not Benign/Malignant; breast pathology unknown", path, row["classification"]
        )
    copy_columns(row, (("abnormality", "abnormality"), ("subtype", "subtype"), ("Age", "age")), extra)
    return extra
