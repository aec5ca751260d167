"""VinDr-Mammo (PhysioNet v1.0.0) -> training manifest.

Layout::

    <source>/breast-level_annotations.csv    one row per image (normals included)
    <source>/finding_annotations.csv         one row per finding ("No Finding" rows too)
    <source>/metadata.csv                    optional; not needed here
    <source>/images/<study_id>/<image_id>.dicom

Choices:

- one record per row of breast-level_annotations.csv whose DICOM file exists;
  images not (yet) downloaded are skipped with one logged warning that counts
  them, and ``DatasetImportError`` is raised when none exists at all.
- patient_id = study_id: VinDr-Mammo has one study per patient and no patient id.
- a finding row whose ``finding_categories`` contains 'Mass' becomes a mass finding
  (box = [xmin, ymin, xmax, ymax] as given, in original pixels; all categories in
  ``finding.extra["categories"]``); other findings ('Suspicious Calcification',
  'Architectural Distortion', ...) go to ``record.extra["other_findings"]``.
- pathology None (VinDr-Mammo has no biopsy results); finding birads from
  ``finding_birads``; image_birads from ``breast_birads``.
- width/height come from the CSV; spacing is left None (it would cost a header
  read of every DICOM file).
"""

from __future__ import annotations

import ast
import logging
import math
from pathlib import Path
from typing import Any

from mommi.data.importers._common import box_centre, read_table, require_dir, sort_records
from mommi.data.manifest import Finding, Manifest, Record, normalise_birads
from mommi.errors import DatasetImportError

log = logging.getLogger(__name__)

SOURCE = "vindr-mammo"
BREAST_CSV = "breast-level_annotations.csv"
FINDING_CSV = "finding_annotations.csv"
BREAST_COLUMNS = (
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
)
FINDING_COLUMNS = (
    "study_id",
    "image_id",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
)
NO_FINDING = "no finding"


def import_vindr(source: Path) -> Manifest:
    """Records from the breast-level CSV, mass findings from the finding CSV (see module docstring)."""
    root = require_dir(Path(source), "VinDr-Mammo")
    breast_rows = read_table(root / BREAST_CSV, BREAST_COLUMNS)
    finding_rows = read_table(root / FINDING_CSV, FINDING_COLUMNS)
    records: dict[str, Record] = {}
    missing = 0
    for number, row in enumerate(breast_rows, start=2):
        record = _record(row, root / BREAST_CSV, number)
        if record is None:
            continue
        if not (root / record.image_path).is_file():
            missing += 1
            log.debug("%s: image not found; skipped", root / record.image_path)
            continue
        records[record.image_id] = record
    if missing:
        log.warning(
            "%s: %d of %d images listed in %s are not present; skipped", root, missing, len(breast_rows), BREAST_CSV
        )
    if not records:
        raise DatasetImportError(root / "images", f"none of the {len(breast_rows)} images of {BREAST_CSV} exists")
    for number, row in enumerate(finding_rows, start=2):
        record = records.get(row["image_id"])
        if record is not None:
            _add_finding(record, row, root / FINDING_CSV, number)
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records.values()))


def _record(row: dict[str, str], csv_path: Path, number: int) -> Record | None:
    """The image's record, or None (logged) when its laterality or size is unusable."""
    laterality = row["laterality"].upper()[:1]
    if laterality not in ("L", "R") or not row["image_id"] or not row["study_id"]:
        log.warning("%s line %d: image id / laterality %r unusable; skipped", csv_path, number, row["laterality"])
        return None
    extra: dict[str, Any] = {"density": row["breast_density"], "source_split": row["split"]}
    extra = {k: v for k, v in extra.items() if v}
    return Record(
        patient_id=row["study_id"],
        study_id=row["study_id"],
        image_id=row["image_id"],
        view=row["view_position"].upper(),
        laterality=laterality,
        image_path=f"images/{row['study_id']}/{row['image_id']}.dicom",
        source=SOURCE,
        width=_int(row["width"]),
        height=_int(row["height"]),
        image_birads=normalise_birads(row["breast_birads"]),
        extra=extra,
    )


def _add_finding(record: Record, row: dict[str, str], csv_path: Path, number: int) -> None:
    """A mass box into findings; any other finding into extra['other_findings']."""
    categories = parse_categories(row["finding_categories"])
    named = [c for c in categories if c.lower() != NO_FINDING]
    if not named:
        return
    box = _box(row)
    birads = normalise_birads(row["finding_birads"])
    if any(c.lower() == "mass" for c in named):
        if box is not None:
            record.findings.append(
                Finding(kind="mass", box=box, birads=birads, center=box_centre(box), extra={"categories": named})
            )
            return
        log.warning("%s line %d: a mass without a box; kept as an other finding", csv_path, number)
    entry: dict[str, Any] = {"categories": named, "birads": birads}
    if box is not None:
        entry["box"] = box
    record.extra.setdefault("other_findings", []).append(entry)


def parse_categories(text: str) -> list[str]:
    """ "['Mass', 'Suspicious Calcification']" -> ['Mass', 'Suspicious Calcification'].

    Falls back to a plain comma split when the text is not a Python literal, so an
    edited CSV (for example without the quotes) still imports.
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text.strip("[]").split(",")
    if isinstance(value, str):
        value = [value]
    return [str(v).strip().strip("'\"") for v in value if str(v).strip().strip("'\"")]


def _box(row: dict[str, str]) -> list[float] | None:
    """[xmin, ymin, xmax, ymax] in original pixels; None when any coordinate is empty or NaN."""
    try:
        x0, y0, x1, y1 = (float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError:
        return None
    if any(math.isnan(v) for v in (x0, y0, x1, y1)):
        return None
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
