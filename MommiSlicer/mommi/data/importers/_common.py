"""Helpers shared by the dataset importers: checked folders, CSV tables, DICOM headers.

Every helper turns a missing or malformed file into a ``DatasetImportError`` that
names the file, so an importer never stops with a bare KeyError or a pydicom
traceback that a user cannot act on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from mommi.data.manifest import Record
from mommi.errors import DatasetImportError
from mommi.study.dicom_header import pixel_spacing


def require_dir(path: Path, what: str) -> Path:
    """The folder itself, resolved; raises when it is missing (a typo in the CLI argument)."""
    if not path.is_dir():
        raise DatasetImportError(path, f"{what} folder not found")
    return path.resolve()


def require_file(path: Path, what: str) -> Path:
    """``path`` when it is a file; otherwise an error that says which documented file is missing."""
    if not path.is_file():
        raise DatasetImportError(path, f"{what} not found")
    return path


def read_table(path: Path, required: Iterable[str], delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV file as dicts with stripped keys and values.

    Column names are stripped because the published CSVs differ in stray spaces
    around names; values are stripped because CBIS-DDSM paths end with newlines.
    Rows that are entirely empty (trailing separators) are dropped.
    """
    require_file(path, "CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            header = [name.strip() for name in (reader.fieldnames or []) if name is not None]
            missing = [name for name in required if name not in header]
            if missing:
                found = ", ".join(repr(h) for h in header) or "no header line"
                raise DatasetImportError(path, f"missing column(s) {', '.join(map(repr, missing))} (found {found})")
            rows = []
            for raw in reader:
                row = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
                if any(row.values()):
                    rows.append(row)
            return rows
    except (OSError, csv.Error) as exc:
        raise DatasetImportError(path, f"cannot read the CSV file ({exc})") from exc


def read_header(path: Path) -> Dataset:
    """The DICOM header without the pixel data: cheap even for 40 MB mammograms."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError, KeyError) as exc:
        raise DatasetImportError(path, f"cannot read the DICOM header ({exc})") from exc


def header_size(ds: Dataset) -> tuple[int | None, int | None]:
    """(width, height) = (Columns, Rows) of the header, None when absent."""
    cols, rows = ds.get("Columns"), ds.get("Rows")
    return (int(cols) if cols else None, int(rows) if rows else None)


def header_spacing(ds: Dataset) -> list[float] | None:
    """[row_mm, col_mm] chosen exactly as the study loader does (PixelSpacing, then Imager...)."""
    spacing, _warnings = pixel_spacing(ds)
    return [spacing.row_mm, spacing.col_mm] if spacing is not None else None


def box_centre(box: list[float]) -> list[float]:
    """Centre of [x0, y0, x1, y1]; used where the dataset gives no explicit centre."""
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def sort_records(records: Iterable[Record]) -> list[Record]:
    """Records in image_id order (findings keep the dataset's own order): reruns are identical."""
    return sorted(records, key=lambda r: r.image_id)
