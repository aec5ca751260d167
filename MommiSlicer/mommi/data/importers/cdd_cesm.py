"""CDD-CESM (Categorized Digital Database for Low energy and Subtracted Contrast
Enhanced Spectral Mammography, TCIA) -> training manifest.

Layout::

    <source>/Low energy images of CDD-CESM/P<n>_<L|R>_DM_<CC|MLO>.jpg
        the low-energy images: equivalent to a full-field digital mammogram
    <source>/Subtracted images of CDD-CESM/P<n>_<L|R>_CM_<CC|MLO>.jpg
        the recombined (subtracted) contrast images
    <source>/Radiology_hand_drawn_segmentations_v2.csv
        a VGG Image Annotator (VIA) export, one row per region:
        #filename,file_size,file_attributes,region_count,region_id,
        region_shape_attributes,region_attributes
        region_shape_attributes is JSON: {"name":"polygon"|"polyline","all_points_x":[..],
        "all_points_y":[..]}, {"name":"ellipse","cx","cy","rx","ry"(,"theta")},
        {"name":"circle","cx","cy","r"}, {"name":"point","cx","cy"}, {"name":"rect",
        "x","y","width","height"}, or {} for an image without a region; #filename may
        hold a stray space before ".jpg" ("P5_L_DM_CC .jpg"); rows exist for DM and CM
    <source>/Radiology manual annotations.xlsx     sheet "all" (or its CSV export
        "Radiology manual annotations.csv", ',' or ';' separated), one row per image:
        Image_name (no ".jpg", stray spaces possible), Patient_ID, Side, Type (DM / CESM),
        Age, Breast density (ACR), BIRADS, Findings, View, Tags, Machine,
        Pathology Classification/ Follow up (Normal / Benign / Malignant)
        BIRADS and pathology may be compound, '$'-separated ("3$2", "Benign$Malignant")

Choices:

- one record per low-energy (DM) image that exists on disk. The subtracted (CM)
  images are NOT recorded: they show contrast uptake, not a mammogram, and a
  detector trained on mammograms must not see them; their segmentation and sheet
  rows are ignored too.
- image_id = the file name without ".jpg" and without spaces ("P5_L_DM_CC");
  patient_id = study_id = "P<n>". Laterality and view come from the file name; a
  sheet row that disagrees (Side, View) is logged and the file name is used.
- spacing_mm None: CDD-CESM publishes JPEGs without a documented pixel spacing.
  width/height are read from the JPEG.
- each region of the image's DM segmentation rows becomes a box [x0, y0, x1, y1]
  of inclusive pixel indices (floor of the minimum, ceiling of the maximum), clipped
  to the image: polygon / polyline = bounding box of the points; ellipse = bounding
  box of the (rotated by theta, radians) ellipse; circle; rect. A "point" region has
  no extent: it never becomes a box, it goes to ``extra["other_findings"]`` with
  its centre. A region outside the image or with malformed JSON is logged and
  dropped.
- a region is a MASS finding when the image's sheet "Findings" text mentions a mass
  ("mass" in any case, not counting "non-mass" / "non mass" enhancement);
  otherwise (calcifications, distortions, asymmetries, or an image without a
  sheet row) its box goes to ``extra["other_findings"]`` (with the Findings text),
  so an abnormal image is never taken as normal. A mass finding keeps
  ``extra["shape"]`` (the VIA shape name) and, for polygons and polylines,
  ``extra["polygon"]`` ([[x, y], ...]).
- pathology: the sheet's "Pathology Classification/ Follow up" of the image. One
  value (or a compound whose parts all agree) -> ``extra["image_pathology"]`` =
  "normal" / "benign" / "malignant", and benign / malignant is set on every mass
  finding of the image. A compound value with different parts (several lesions;
  which box is which is not given) leaves finding pathology None and keeps the
  raw text in ``extra["pathology_text"]``.
- image_birads: the highest category of a compound BIRADS ("3$2" -> "3"),
  normalised (mommi.data.manifest.normalise_birads); the raw text is kept in
  ``extra["birads_text"]`` when it is compound. Finding birads stays None.
- extra also holds file_name (the JPEG's name), density, age (an int), machine,
  tags and findings (the text) where the sheet gives them.
- a missing image folder, VIA export or annotation sheet (or a missing column or
  sheet "all") raises ``DatasetImportError`` naming the file; an unreadable JPEG or a
  file name that is not P<n>_<L|R>_DM_<CC|MLO>.jpg is skipped with a logged
  warning, and so is an image without a sheet row (kept, with no labels).
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import cv2

from mommi.data.importers._common import (
    box_centre,
    copy_columns,
    find_first,
    read_spreadsheet,
    read_table,
    require_dir,
    sort_records,
)
from mommi.data.manifest import Finding, Manifest, Record, normalise_birads
from mommi.errors import DatasetImportError
from mommi.findings.birads import BIRADS_CATEGORIES
from mommi.study.profiles.cdd_cesm import FILE_NAME, is_low_energy, patient_of

log = logging.getLogger(__name__)

SOURCE = "cdd-cesm"
LOW_ENERGY_DIR = "Low energy images of CDD-CESM"
SUBTRACTED_DIR = "Subtracted images of CDD-CESM"
SEGMENTATION_CSV = "Radiology_hand_drawn_segmentations_v2.csv"
ANNOTATION_STEM = "Radiology manual annotations"
ANNOTATION_SHEET = "all"
SEGMENTATION_COLUMNS = ("#filename", "region_shape_attributes")
PATHOLOGY_COLUMN = "Pathology Classification/ Follow up"
ANNOTATION_COLUMNS = ("Image_name", "BIRADS", "Findings", PATHOLOGY_COLUMN)
PATHOLOGY = {"normal": "normal", "benign": "benign", "malignant": "malignant"}
#: BI-RADS categories from lowest to highest ("4" without a sub-category sits below 4A)
BIRADS_ORDER = ("1", "2", "3", "4", *BIRADS_CATEGORIES[3:])
_NON_MASS = re.compile(r"non[\s_-]*mass")


def image_key(name: str) -> str:
    """'P5_L_DM_CC .jpg', ' P5_L_DM_CC' -> 'P5_L_DM_CC': the name without spaces and extension."""
    key = re.sub(r"\s+", "", name)
    if key.lower().endswith((".jpg", ".jpeg")):
        key = key[: key.rfind(".")]
    return key.upper()


def import_cdd_cesm(source: Path) -> Manifest:
    """One record per low-energy image, with boxes from the VIA export (see the module docstring)."""
    root = require_dir(Path(source), "CDD-CESM")
    image_dir = require_dir(root / LOW_ENERGY_DIR, "CDD-CESM low-energy images")
    sheet_path = find_annotation_file(root)
    sheet = _sheet_rows(sheet_path)
    regions = _regions(root / SEGMENTATION_CSV)
    records = []
    for path in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file()):
        record = _record(root, path, sheet, sheet_path.name, regions)
        if record is not None:
            records.append(record)
    if not records:
        raise DatasetImportError(image_dir, "no readable P<n>_<L|R>_DM_<CC|MLO>.jpg image")
    recorded = {r.image_id for r in records}
    missing = sorted(key for key in sheet if _low_energy_name(key) and key not in recorded)
    if missing:
        log.warning(
            "%s: %d low-energy image(s) listed in %s are not present: %s",
            image_dir,
            len(missing),
            sheet_path.name,
            ", ".join(missing[:10]),
        )
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records))


def find_annotation_file(root: Path) -> Path:
    """'Radiology manual annotations.xlsx', else its CSV export; DatasetImportError naming the .xlsx."""
    found = find_first(root / f"{ANNOTATION_STEM}{suffix}" for suffix in (".xlsx", ".csv"))
    if found is None:
        raise DatasetImportError(root / f"{ANNOTATION_STEM}.xlsx", f"not found (nor {ANNOTATION_STEM}.csv)")
    return found


def _sheet_rows(path: Path) -> dict[str, dict[str, str]]:
    """image key -> annotation row; a repeated image keeps its first row (logged)."""
    rows: dict[str, dict[str, str]] = {}
    for number, row in enumerate(read_spreadsheet(path, ANNOTATION_COLUMNS, sheet=ANNOTATION_SHEET), start=2):
        key = image_key(row["Image_name"])
        if not key:
            continue
        if key in rows:
            log.warning("%s row %d: a second row for %s; the first is used", path, number, key)
            continue
        rows[key] = row
    return rows


def _regions(path: Path) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """image key -> [(CSV line, shape attributes), ...] of the VIA export; '{}' rows give none."""
    regions: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for number, row in enumerate(read_table(path, SEGMENTATION_COLUMNS), start=2):
        key = image_key(row["#filename"])
        regions.setdefault(key, [])
        text = row["region_shape_attributes"] or "{}"
        try:
            shape = json.loads(text)
        except json.JSONDecodeError as exc:
            log.warning("%s line %d: region_shape_attributes is not JSON (%s); region ignored", path, number, exc)
            continue
        if not isinstance(shape, dict):
            log.warning("%s line %d: region_shape_attributes %r is not an object; region ignored", path, number, text)
            continue
        if shape:
            regions[key].append((number, shape))
    return regions


def _low_energy_name(key: str) -> re.Match[str] | None:
    """The name's fields when it names a low-energy image (the study loader's CDD-CESM rule)."""
    match = FILE_NAME.match(key)
    return match if match is not None and is_low_energy(match) else None


def _record(
    root: Path,
    path: Path,
    sheet: dict[str, dict[str, str]],
    sheet_name: str,
    regions: dict[str, list[tuple[int, dict[str, Any]]]],
) -> Record | None:
    key = image_key(path.name)
    match = _low_energy_name(key)
    if match is None:
        log.warning("%s: name is not P<n>_<L|R>_DM_<CC|MLO>.jpg; skipped", path)
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        log.warning("%s: cannot read the JPEG; skipped", path)
        return None
    height, width = image.shape[:2]
    laterality, view = match["side"].upper(), match["view"].upper()
    patient = patient_of(match)
    row = sheet.get(key)
    if row is None:
        log.warning("%s: not in %s; labels unknown", path, sheet_name)
        row = {}
    _check_against_sheet(path, row, laterality, view)
    is_mass = mentions_mass(row.get("Findings", ""))
    findings: list[Finding] = []
    others: list[dict[str, Any]] = []
    segmentation = root / SEGMENTATION_CSV
    for number, shape in regions.get(key, []):
        where = f"{segmentation} line {number}"
        name = str(shape.get("name", "")).strip().lower()
        if name == "point":
            centre = _point(shape)
            if centre is not None:
                others.append({"shape": name, "center": centre, **_findings_text(row)})
            else:
                log.warning("%s: point without cx/cy; ignored", where)
            continue
        try:
            box = shape_box(shape, width, height)
        except ValueError as exc:
            log.warning("%s: region of %s ignored: %s", where, path.name, exc)
            continue
        if is_mass:
            extra: dict[str, Any] = {"shape": name}
            if name in ("polygon", "polyline"):
                extra["polygon"] = [[x, y] for x, y in zip(shape["all_points_x"], shape["all_points_y"], strict=False)]
            findings.append(Finding(kind="mass", box=box, center=box_centre(box), extra=extra))
        else:
            others.append({"shape": name, "box": box, **_findings_text(row)})
    record_extra = _labels(row, findings, path)
    if others:
        record_extra["other_findings"] = others
    return Record(
        patient_id=patient,
        study_id=patient,
        image_id=key,
        view=view,
        laterality=laterality,
        image_path=path.relative_to(root).as_posix(),
        source=SOURCE,
        spacing_mm=None,
        width=width,
        height=height,
        findings=findings,
        image_birads=highest_birads(row.get("BIRADS", "")),
        extra={"file_name": path.name, **record_extra},
    )


def mentions_mass(text: str) -> bool:
    """'irregular Mass', 'masses' -> True; 'non-mass enhancement', 'calcifications' -> False."""
    return "mass" in _NON_MASS.sub(" ", text.lower())


def _findings_text(row: dict[str, str]) -> dict[str, str]:
    return {"findings": row["Findings"]} if row.get("Findings") else {}


def _check_against_sheet(path: Path, row: dict[str, str], laterality: str, view: str) -> None:
    """The file name is trusted; a disagreeing sheet row is worth a warning, not a failure."""
    side = row.get("Side", "").upper()[:1]
    sheet_view = row.get("View", "").upper()
    image_type = row.get("Type", "").upper()
    if (side and side != laterality) or (sheet_view and sheet_view != view):
        log.warning(
            "%s: the annotation sheet says %s %s, the file name %s %s; the file name is used",
            path,
            side or "?",
            sheet_view or "?",
            laterality,
            view,
        )
    if image_type and image_type != "DM":
        log.warning("%s: the annotation sheet gives Type %r for a low-energy (DM) image", path, row["Type"])


def _labels(row: dict[str, str], findings: list[Finding], path: Path) -> dict[str, Any]:
    """record.extra from the sheet row; sets the pathology of the mass findings."""
    extra: dict[str, Any] = {}
    text = row.get(PATHOLOGY_COLUMN, "")
    parts = [p.strip() for p in text.split("$") if p.strip()]
    values = {PATHOLOGY.get(p.lower()) for p in parts}
    if None in values:
        log.warning("%s: pathology %r is not Normal/Benign/Malignant", path, text)
    if len(values) == 1 and None not in values:
        (value,) = values
        extra["image_pathology"] = value
        if value in ("benign", "malignant"):
            for finding in findings:
                finding.pathology = value
    elif text:
        extra["pathology_text"] = text
    birads = row.get("BIRADS", "")
    if "$" in birads:
        extra["birads_text"] = birads
    copy_columns(
        row,
        (
            ("Breast density (ACR)", "density"),
            ("Machine", "machine"),
            ("Tags", "tags"),
            ("Findings", "findings"),
            ("Age", "age"),
        ),
        extra,
    )
    return extra


def highest_birads(text: str) -> str | None:
    """'3$2' -> '3', '4$5' -> '5', '4' -> '4', '' -> None: the highest normalised category."""
    values = [normalise_birads(part) for part in str(text).split("$")]
    known = [v for v in values if v is not None]
    return max(known, key=BIRADS_ORDER.index) if known else None


def _number(shape: dict[str, Any], key: str) -> float:
    try:
        value = float(shape[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{shape.get('name')!r} region without a numeric {key!r}") from exc
    if not math.isfinite(value):
        raise ValueError(f"{shape.get('name')!r} region with {key} = {value}")
    return value


def _point(shape: dict[str, Any]) -> list[float] | None:
    try:
        return [_number(shape, "cx"), _number(shape, "cy")]
    except ValueError:
        return None


def shape_box(shape: dict[str, Any], width: int, height: int) -> list[float]:
    """[x0, y0, x1, y1] inclusive pixel indices of a VIA region, clipped to the image.

    Raises ValueError for an unknown shape, missing coordinates, or a region that
    lies entirely outside the image.
    """
    name = str(shape.get("name", "")).strip().lower()
    if name in ("polygon", "polyline"):
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list) or not xs or len(xs) != len(ys):
            raise ValueError(f"{name} without matching all_points_x / all_points_y")
        try:
            xs, ys = [float(v) for v in xs], [float(v) for v in ys]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} with a non-numeric point") from exc
        bounds = (min(xs), min(ys), max(xs), max(ys))
    elif name == "ellipse":
        cx, cy, rx, ry = (_number(shape, k) for k in ("cx", "cy", "rx", "ry"))
        theta = _number(shape, "theta") if "theta" in shape else 0.0
        cos, sin = math.cos(theta), math.sin(theta)
        half_w = math.sqrt((rx * cos) ** 2 + (ry * sin) ** 2)
        half_h = math.sqrt((rx * sin) ** 2 + (ry * cos) ** 2)
        bounds = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    elif name == "circle":
        cx, cy, r = (_number(shape, k) for k in ("cx", "cy", "r"))
        bounds = (cx - r, cy - r, cx + r, cy + r)
    elif name == "rect":
        x, y, w, h = (_number(shape, k) for k in ("x", "y", "width", "height"))
        bounds = (x, y, x + w, y + h)
    else:
        raise ValueError(f"unknown region shape {name!r}")
    # round first so that 49.9999999999 (a cosine of pi/2) does not become 49
    x0, y0 = (math.floor(round(v, 6)) for v in bounds[:2])
    x1, y1 = (math.ceil(round(v, 6)) for v in bounds[2:])
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width - 1), min(y1, height - 1)
    if x0 > x1 or y0 > y1:
        raise ValueError(f"{name} lies outside the {width} x {height} image")
    return [x0, y0, x1, y1]
