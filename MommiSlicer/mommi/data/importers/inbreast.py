"""INbreast -> training manifest.

Layout::

    <source>/AllDICOMs/<FileID>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm
    <source>/AllXML/<FileID>.xml        OsiriX ROIs as an Apple plist (annotated images only)
    <source>/INbreast.csv               ';'-separated: Patient ID;Patient age;Laterality;View;
                                        Acquisition date;File Name;ACR;Bi-Rads

Choices:

- one record per DICOM file; "ML" in the file name is INbreast's name for the MLO
  view and becomes "MLO". An image without an XML file has no annotation and is
  kept with empty findings (a normal or an unannotated image, as INbreast has it).
- masses: ROIs named "Mass" (any case). "Spiculated Region" ROIs are NOT counted as
  masses: INbreast annotates them as their own lesion type (spicules, which may
  surround a mass that has its own "Mass" contour, or stand alone as a distortion),
  so counting them would double or mislabel boxes. They, calcifications, clusters,
  distortions, asymmetries and points go to ``extra["other_findings"]`` with their
  box, so nothing is lost and the image is never taken as normal.
- box = bounding box of the contour ``Point_px`` (original pixels); the contour is
  kept in ``finding.extra["polygon"]``; no mask files are written (mask_path None).
- patient_id: the DICOM PatientID, else the CSV "Patient ID", else the hash in the
  file name (shared by the views of one patient); "removed" and empty values are
  ignored, since INbreast blanks some identifiers with that word. study_id: the
  hash in the file name (one exam per woman; the anonymised Study UIDs do not
  group the views), as the INbreast dataset profile of study loading groups them.
- image_birads from the CSV "Bi-Rads" (1, 2, 3, 4a, 4b, 4c, 5, 6). INbreast has no
  per-lesion pathology; BI-RADS 6 means a biopsy-proven malignancy, so the mass of
  a BI-RADS 6 image is marked "malignant" when the image holds exactly ONE mass
  (with several, the proven one cannot be told apart, and pathology stays None).
  Every other mass has pathology None and finding birads None (the BI-RADS is per
  image, not per lesion).
- an unreadable DICOM header or XML file skips that image with a logged warning.
"""

from __future__ import annotations

import logging
import plistlib
import re
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

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
from mommi.study.profiles.inbreast import ANONYMISED, FILE_NAME, PIXEL_SPACING_MM, VIEWS

log = logging.getLogger(__name__)

SOURCE = "inbreast"
DICOM_DIR = "AllDICOMs"
XML_DIR = "AllXML"
CSV_NAME = "INbreast.csv"
CSV_COLUMNS = ("File Name", "Bi-Rads")
MASS_NAMES = {"mass"}
_POINT = re.compile(r"^\(?\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)")


class SkipImage(Exception):
    """One image cannot be imported; the message says why (a warning, not an error)."""


def import_inbreast(source: Path) -> Manifest:
    """One record per DICOM of AllDICOMs, with masses from AllXML (see the module docstring)."""
    root = require_dir(Path(source), "INbreast")
    dicom_dir = require_dir(root / DICOM_DIR, "INbreast AllDICOMs")
    csv_path = root / CSV_NAME
    rows = {row["File Name"]: row for row in read_table(csv_path, CSV_COLUMNS, delimiter=_delimiter(csv_path))}
    records = []
    for path in sorted(dicom_dir.glob("*.dcm")):
        try:
            record = _record(root, path, rows)
        except SkipImage as exc:
            log.warning("%s: skipped: %s", path, exc)
            continue
        if record is not None:
            records.append(record)
    if not records:
        raise DatasetImportError(dicom_dir, "no readable <FileID>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm file")
    missing = set(rows) - {r.image_id for r in records}
    if missing:
        log.warning(
            "%s: %d image(s) listed in %s were not imported: %s",
            root,
            len(missing),
            CSV_NAME,
            ", ".join(sorted(missing)[:10]),
        )
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records))


def _delimiter(path: Path) -> str:
    """';' as INbreast ships the CSV; ',' when a spreadsheet re-saved it that way."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline()
    except OSError:
        return ";"  # read_table reports the missing file
    return ";" if first.count(";") >= first.count(",") else ","


def _record(root: Path, path: Path, rows: dict[str, dict[str, str]]) -> Record | None:
    match = FILE_NAME.match(path.stem)
    if match is None:
        log.warning("%s: name is not <FileID>_<hash>_MG_<L|R>_<view>_ANON.dcm; skipped", path)
        return None
    file_id = match["file_id"]
    try:
        header = read_header(path)
    except DatasetImportError as exc:
        raise SkipImage(exc.reason) from exc
    row = rows.get(file_id)
    if row is None:
        log.warning("%s: FileID %s is not in %s; BI-RADS unknown", path, file_id, CSV_NAME)
        row = {}
    laterality, view = match["side"].upper(), VIEWS.get(match["view"].upper(), match["view"].upper())
    _check_against_csv(path, row, laterality, view)
    image_birads = normalise_birads(row.get("Bi-Rads"))
    patient = _patient(header, row, match["hash"])
    findings, others = _annotations(root / XML_DIR / f"{file_id}.xml", image_birads)
    width, height = header_size(header)
    extra: dict[str, Any] = {"file_name": path.name}
    for column, key in (("ACR", "density"), ("Acquisition date", "acquisition_date")):
        if row.get(column):
            extra[key] = row[column]
    if others:
        extra["other_findings"] = others
    return Record(
        patient_id=patient,
        study_id=match["hash"],
        image_id=file_id,
        view=view,
        laterality=laterality,
        image_path=path.relative_to(root).as_posix(),
        source=SOURCE,
        spacing_mm=header_spacing(header) or [PIXEL_SPACING_MM] * 2,
        width=width,
        height=height,
        findings=findings,
        image_birads=image_birads,
        extra=extra,
    )


def _check_against_csv(path: Path, row: dict[str, str], laterality: str, view: str) -> None:
    """The file name is trusted; a disagreeing CSV row is worth a warning, not a failure."""
    csv_side = row.get("Laterality", "").upper()
    csv_view = VIEWS.get(row.get("View", "").upper(), row.get("View", "").upper())
    if (csv_side and csv_side != laterality) or (csv_view and csv_view != view):
        log.warning(
            "%s: CSV says %s %s, the file name %s %s; the file name is used", path, csv_side, csv_view, laterality, view
        )


def _patient(header: Any, row: dict[str, str], name_hash: str) -> str:
    for value in (str(header.get("PatientID", "") or ""), row.get("Patient ID", ""), name_hash):
        if value.strip().lower() not in ANONYMISED:
            return value.strip()
    return name_hash


def _annotations(xml_path: Path, image_birads: str | None) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Mass findings and other findings of one image's XML (none when there is no XML)."""
    if not xml_path.is_file():
        return [], []
    findings: list[Finding] = []
    others: list[dict[str, Any]] = []
    for roi in read_rois(xml_path):
        name = str(roi.get("Name", "")).strip()
        points = _points(roi.get("Point_px", []))
        if not points:
            log.warning("%s: ROI %r has no Point_px; ignored", xml_path, name)
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        box = [min(xs), min(ys), max(xs), max(ys)]
        if name.lower() in MASS_NAMES and len(points) >= 3:
            findings.append(
                Finding(
                    kind="mass",
                    box=box,
                    center=box_centre(box),
                    extra={"roi_name": name, "polygon": [list(p) for p in points]},
                )
            )
        else:
            others.append({"name": name, "box": box, "points": len(points)})
    if image_birads == "6" and len(findings) == 1:
        findings[0].pathology = "malignant"
    return findings, others


def read_rois(xml_path: Path) -> list[dict[str, Any]]:
    """All ROI dicts of an INbreast plist: top dict -> "Images" -> each -> "ROIs"."""
    try:
        with xml_path.open("rb") as handle:
            top = plistlib.load(handle)
    except (OSError, plistlib.InvalidFileException, ExpatError, ValueError) as exc:
        raise SkipImage(f"cannot read the ROI file {xml_path} ({exc})") from exc
    if not isinstance(top, dict) or not isinstance(top.get("Images", []), list):
        raise SkipImage(f"{xml_path} is not an INbreast ROI plist (no 'Images' list)")
    rois: list[Any] = []
    for image in top.get("Images", []):
        if isinstance(image, dict):
            rois.extend(r for r in image.get("ROIs", []) if isinstance(r, dict))
    return rois


def _points(raw: Any) -> list[tuple[float, float]]:
    """['(1234.5, 678.9)', ...] -> [(1234.5, 678.9), ...]; unparsable entries are dropped."""
    points = []
    for item in raw if isinstance(raw, list) else []:
        match = _POINT.match(str(item).strip())
        if match:
            try:
                points.append((float(match.group(1)), float(match.group(2))))
            except ValueError:
                continue
    return points
