"""Helpers shared by the dataset importers: checked folders, CSV and .xlsx tables, DICOM headers.

Every helper turns a missing or malformed file into a ``DatasetImportError`` that
names the file, so an importer never stops with a bare KeyError or a pydicom
traceback that a user cannot act on.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
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


def sniff_delimiter(path: Path, candidates: str = ",;") -> str:
    """The candidate that occurs most often in the first line (the first candidate on a tie or no file).

    For CSV exports of spreadsheets, which use ',' or ';' depending on the locale.
    """
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline()
    except OSError:
        return candidates[0]  # read_table reports the missing file
    return max(candidates, key=lambda c: (first.count(c), -candidates.index(c)))


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold: 44.0 -> '44', None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).strip()


def read_sheet(path: Path, required: Iterable[str], sheet: str | None = None) -> list[dict[str, str]]:
    """Rows of one sheet of an .xlsx workbook as dicts of text, with read_table's contract.

    The first row is the header; keys and values are stripped; numbers are
    rendered without a trailing ".0" (Excel stores every number as a float);
    entirely empty rows are dropped. ``sheet`` None takes the first sheet. A
    missing file, sheet or column raises DatasetImportError naming the file.
    """
    require_file(path, "spreadsheet")
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError as exc:  # the "datasets" extra; the base install (and 3D Slicer) does without
        raise DatasetImportError(
            path,
            "reading .xlsx files needs openpyxl: pip install 'mommislicer[datasets]', "
            "or save the sheet as CSV beside it",
        ) from exc
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetImportError(path, f"cannot read the spreadsheet ({exc})") from exc
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            found = ", ".join(repr(n) for n in workbook.sheetnames)
            raise DatasetImportError(path, f"no sheet {sheet!r} (found {found})")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        rows = worksheet.iter_rows(values_only=True)
        header = [_cell_text(v) for v in next(rows, ())]
        missing = [name for name in required if name not in header]
        if missing:
            found = ", ".join(repr(h) for h in header if h) or "no header row"
            raise DatasetImportError(path, f"missing column(s) {', '.join(map(repr, missing))} (found {found})")
        table = []
        for values in rows:
            row = {name: _cell_text(v) for name, v in zip(header, values, strict=False) if name}
            if any(row.values()):
                table.append({name: row.get(name, "") for name in header if name})
        return table
    finally:
        workbook.close()


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


def box_centre(box: Sequence[float]) -> list[float]:
    """Centre of [x0, y0, x1, y1]; used where the dataset gives no explicit centre."""
    return [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]


def sort_records(records: Iterable[Record]) -> list[Record]:
    """Records in image_id order (findings keep the dataset's own order): reruns are identical."""
    return sorted(records, key=lambda r: r.image_id)


def read_spreadsheet(path: Path, required: Iterable[str], sheet: str | None = None) -> list[dict[str, str]]:
    """An .xlsx sheet (read_sheet) or its CSV export (',' or ';' separated, read_table), by file suffix."""
    if path.suffix.lower() == ".xlsx":
        return read_sheet(path, required, sheet=sheet)
    return read_table(path, required, delimiter=sniff_delimiter(path))


def find_first(candidates: Iterable[Path]) -> Path | None:
    """The first candidate that is a file, or None."""
    return next((path for path in candidates if path.is_file()), None)


def copy_columns(row: dict[str, str], columns: Iterable[tuple[str, str]], extra: dict[str, object]) -> None:
    """Non-empty ``row[column]`` into ``extra[key]`` for each (column, key); an age column as a number."""
    for column, key in columns:
        value = row.get(column, "")
        if value:
            extra[key] = int(value) if key == "age" and value.isdigit() else value
