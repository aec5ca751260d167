"""CBIS-DDSM (TCIA download) -> training manifest.

Layout::

    <source>/mass_case_description_train_set.csv, mass_case_description_test_set.csv
    <source>/calc_case_description_*.csv                        (optional)
    <source>/CBIS-DDSM/<Subject>/<study folder>/<series folder>/<n-n>.dcm
        (or <source>/<manifest-...>/CBIS-DDSM/..., as the NBIA downloader writes it)

Full images live under subjects such as ``Mass-Training_P_00001_LEFT_CC``, the ROI
mask and the cropped lesion under ``Mass-Training_P_00001_LEFT_CC_1`` (one per
abnormality). The CSV file paths name the subject folder correctly, but the folders
below it differ from what the downloader writes, so a path is resolved exactly when
it exists and otherwise by searching the DICOMs under its subject folder.

Choices:

- one record per full image (abnormalities of one image are merged); only images
  of the mass CSVs are recorded: calcification-only images are not (CBIS-DDSM has
  no normal images, and their folders are often not downloaded). Calcifications of
  a recorded image (same patient, side and view) go to ``extra["other_findings"]``.
- box = bounding box of the nonzero pixels of the ROI mask (inclusive pixel
  indices); ``center`` = the box centre; ``mask_path`` = the mask DICOM.
- pathology MALIGNANT -> malignant, BENIGN and BENIGN_WITHOUT_CALLBACK -> benign;
  ``assessment`` (BI-RADS 0-5) -> finding birads (0 -> None). ``image_birads`` stays
  None: CBIS-DDSM assesses each abnormality, not the image.
- study_id = patient_id: a DDSM case is one screening exam.
- an abnormality whose full image or mask cannot be found (or whose mask does not
  match the image size) is skipped with a logged warning and listed in the
  record's ``extra["skipped"]``; an image whose masses were ALL skipped is left out
  rather than recorded without findings (it would look like a normal image).
  ``DatasetImportError`` is raised only when nothing at all could be imported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pydicom

from mommi.data.importers._common import (
    box_centre,
    header_size,
    header_spacing,
    read_header,
    read_table,
    require_dir,
    sort_records,
)
from mommi.data.manifest import Finding, Manifest, Record, normalise_birads
from mommi.errors import DatasetImportError

log = logging.getLogger(__name__)

SOURCE = "cbis-ddsm"
TREE_NAME = "CBIS-DDSM"
MASS_CSV_GLOB = "mass_case_description_*.csv"
CALC_CSV_GLOB = "calc_case_description_*.csv"
MASS_COLUMNS = (
    "patient_id",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "assessment",
    "pathology",
    "image file path",
    "ROI mask file path",
)
CALC_COLUMNS = ("patient_id", "left or right breast", "image view", "abnormality id", "pathology")
PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}
SIDES = {"LEFT": "L", "RIGHT": "R"}


class SkipAbnormality(Exception):
    """One abnormality cannot be imported; the message says why (a warning, not an error)."""


@dataclass
class _Image:
    """A full image and what has been gathered for it so far."""

    record: Record
    skipped: list[dict[str, Any]] = field(default_factory=list)


def import_cbis_ddsm(source: Path) -> Manifest:
    """Build one record per full mammogram of the mass CSVs (see the module docstring)."""
    root = require_dir(Path(source), "CBIS-DDSM")
    mass_csvs = sorted(root.glob(MASS_CSV_GLOB))
    if not mass_csvs:
        raise DatasetImportError(
            root / "mass_case_description_train_set.csv",
            "not found (expected mass_case_description_train_set.csv and/or mass_case_description_test_set.csv)",
        )
    tree = _Tree(root, _find_tree(root))
    images: dict[str, _Image] = {}
    orphans: list[dict[str, Any]] = []
    total = 0
    for csv_path in mass_csvs:
        for number, row in enumerate(read_table(csv_path, MASS_COLUMNS), start=2):
            total += 1
            where = {"csv": csv_path.name, "line": number, "abnormality_id": row["abnormality id"]}
            try:
                subject, record = _image_for(row, csv_path, tree, images)
            except SkipAbnormality as exc:
                orphans.append({**where, "reason": str(exc)})
                log.warning("%s line %d: abnormality skipped: %s", csv_path, number, exc)
                continue
            try:
                record.findings.append(_finding(row, tree, record))
            except SkipAbnormality as exc:
                images[subject].skipped.append({**where, "reason": str(exc)})
                log.warning("%s line %d: abnormality skipped: %s", csv_path, number, exc)
    records = _finish(images)
    if not records:
        first = (orphans or [s for image in images.values() for s in image.skipped] or [{"reason": "no rows"}])[0]
        raise DatasetImportError(
            tree.base,
            f"none of the {total} mass abnormalities in the CSVs could be imported (first problem: {first['reason']})",
        )
    _attach_calcifications(root, records)
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records))


def _find_tree(root: Path) -> Path:
    """The CBIS-DDSM DICOM folder: <root>/CBIS-DDSM, <root>/<manifest-...>/CBIS-DDSM, or root itself."""
    for candidate in [root / TREE_NAME, *sorted(root.glob(f"*/{TREE_NAME}"))]:
        if candidate.is_dir():
            return candidate
    return root


class _Tree:
    """Resolves CSV file paths against the downloaded DICOM tree, caching headers per file."""

    def __init__(self, root: Path, base: Path) -> None:
        self.root = root
        self.base = base
        self._headers: dict[Path, pydicom.Dataset] = {}

    def subject_dir(self, csv_path: str) -> tuple[str, Path]:
        parts = PurePosixPath(csv_path.replace("\\", "/")).parts
        if not parts:
            raise SkipAbnormality("the CSV gives no file path")
        folder = self.base / parts[0]
        if not folder.is_dir():
            raise SkipAbnormality(f"subject folder {parts[0]} not found under {self.base}")
        return parts[0], folder

    def exact(self, csv_path: str) -> Path | None:
        path = self.base / csv_path.replace("\\", "/")
        return path if path.is_file() else None

    def dicoms(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*.dcm") if p.is_file())

    def header(self, path: Path) -> pydicom.Dataset:
        if path not in self._headers:
            try:
                self._headers[path] = read_header(path)
            except DatasetImportError as exc:
                raise SkipAbnormality(exc.reason + f" ({path})") from exc
        return self._headers[path]

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def _image_for(row: dict[str, str], csv_path: Path, tree: _Tree, images: dict[str, _Image]) -> tuple[str, Record]:
    """The record of the row's full image, created on first use."""
    subject, folder = tree.subject_dir(row["image file path"])
    if subject in images:
        return subject, images[subject].record
    side = SIDES.get(row["left or right breast"].upper())
    if side is None:
        raise SkipAbnormality(f"'left or right breast' is {row['left or right breast']!r}, not LEFT or RIGHT")
    view = row["image view"].upper()
    if not view:
        raise SkipAbnormality("'image view' is empty")
    path = tree.exact(row["image file path"]) or _single_full_image(tree, folder)
    header = tree.header(path)
    width, height = header_size(header)
    extra: dict[str, Any] = {"source_split": "test" if "test" in csv_path.name.lower() else "training"}
    density = row.get("breast_density") or row.get("breast density")
    if density:
        extra["density"] = density
    patient = row["patient_id"]
    record = Record(
        patient_id=patient,
        study_id=patient,
        image_id=subject,
        view=view,
        laterality=side,
        image_path=tree.relative(path),
        source=SOURCE,
        spacing_mm=header_spacing(header),
        width=width,
        height=height,
        extra=extra,
    )
    images[subject] = _Image(record)
    return subject, record


def _single_full_image(tree: _Tree, folder: Path) -> Path:
    """The one DICOM under a full-image subject folder (or the one described as a full mammogram)."""
    found = tree.dicoms(folder)
    if len(found) == 1:
        return found[0]
    if not found:
        raise SkipAbnormality(f"no DICOM file under {folder}")
    full = [p for p in found if "full" in str(tree.header(p).get("SeriesDescription", "")).lower()]
    if len(full) == 1:
        return full[0]
    raise SkipAbnormality(f"{len(found)} DICOM files under {folder}; cannot tell which is the full image")


def _finding(row: dict[str, str], tree: _Tree, record: Record) -> Finding:
    """A mass finding whose box is the bounding box of its ROI mask."""
    _, roi_folder = tree.subject_dir(row["ROI mask file path"])
    mask_path = _mask_file(row["ROI mask file path"], roi_folder, tree, record)
    box = mask_box(mask_path)
    extra: dict[str, Any] = {"abnormality_id": row["abnormality id"], "roi_subject": roi_folder.name}
    for column, key in (("mass shape", "shape"), ("mass margins", "margins"), ("subtlety", "subtlety")):
        if row.get(column):
            extra[key] = row[column]
    return Finding(
        kind="mass",
        box=box,
        pathology=PATHOLOGY.get(row["pathology"].upper()),
        birads=normalise_birads(row["assessment"]),
        mask_path=tree.relative(mask_path),
        center=box_centre(box),
        extra=extra,
    )


def _mask_file(csv_path: str, folder: Path, tree: _Tree, record: Record) -> Path:
    """The ROI mask DICOM: the exact CSV path if it is a full-size mask, else found by description/size.

    The size check matters: CBIS-DDSM sometimes swaps the cropped-image and mask
    paths in its CSVs, and a mask of another size would give a box in the wrong
    coordinate system.
    """

    def full_size(path: Path) -> bool:
        return header_size(tree.header(path)) == (record.width, record.height)

    def described_as_mask(path: Path) -> bool:
        return "roi mask" in str(tree.header(path).get("SeriesDescription", "")).lower()

    exact = tree.exact(csv_path)
    if exact is not None and full_size(exact):
        return exact
    candidates = tree.dicoms(folder)
    if not candidates:
        raise SkipAbnormality(f"no DICOM file under {folder}")
    for choose in (lambda p: described_as_mask(p) and full_size(p), full_size):
        chosen = [p for p in candidates if choose(p)]
        if chosen:
            return chosen[0]
    raise SkipAbnormality(f"no ROI mask under {folder} has the size of the full image ({record.width}x{record.height})")


def mask_box(path: Path) -> list[float]:
    """[x0, y0, x1, y1] (inclusive pixel indices) of the nonzero pixels of a mask DICOM."""
    try:
        pixels = pydicom.dcmread(path).pixel_array
    except Exception as exc:  # noqa: BLE001 - any decoder failure means: this mask cannot be used
        raise SkipAbnormality(f"cannot read the mask pixels of {path} ({exc})") from exc
    inside = np.asarray(pixels) > 0
    if inside.ndim != 2:
        raise SkipAbnormality(f"mask {path} is not a single 2-D image")
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        raise SkipAbnormality(f"mask {path} is empty")
    return [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]


def _finish(images: dict[str, _Image]) -> list[Record]:
    """Records with at least one mass; skipped abnormalities listed in their extra."""
    records = []
    for subject, image in images.items():
        if image.skipped:
            image.record.extra["skipped"] = image.skipped
        if image.record.findings:
            records.append(image.record)
        else:
            log.warning("%s: every mass of this image was skipped; image left out", subject)
    return records


def _attach_calcifications(root: Path, records: list[Record]) -> None:
    """Calcifications of the calc CSVs (same patient, side, view) -> extra['other_findings']."""
    by_key = {(r.patient_id, r.laterality, r.view): r for r in records}
    for csv_path in sorted(root.glob(CALC_CSV_GLOB)):
        for row in read_table(csv_path, CALC_COLUMNS):
            key = (row["patient_id"], SIDES.get(row["left or right breast"].upper(), ""), row["image view"].upper())
            record = by_key.get(key)
            if record is None:
                continue
            entry = {
                "kind": "calcification",
                "abnormality_id": row["abnormality id"],
                "pathology": PATHOLOGY.get(row["pathology"].upper()),
                "birads": normalise_birads(row.get("assessment")),
            }
            for column, name in (("calc type", "type"), ("calc distribution", "distribution")):
                if row.get(column):
                    entry[name] = row[column]
            record.extra.setdefault("other_findings", []).append(entry)
