"""Reading a DICOM header and deciding whether it is a usable mammogram.

Covers what comes before the pixels: is the file DICOM at all, is it complete, is
it a mammogram, which presentation intent it has, and which pixel spacing to trust.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from mommi.errors import (
    InvalidHeaderError,
    MissingPathError,
    NotDicomError,
    NotMammographyError,
    TruncatedFileError,
    UnsupportedImageError,
)
from mommi.study.model import PixelSpacing

MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MG_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BREAST_TOMOSYNTHESIS = "1.2.840.10008.5.1.4.1.1.13.1.3"
BREAST_PROJECTION_PRESENTATION = "1.2.840.10008.5.1.4.1.1.13.1.4"
BREAST_PROJECTION_PROCESSING = "1.2.840.10008.5.1.4.1.1.13.1.5"
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"

#: classes that may hold a 2D mammogram, given the right modality / body part
PROJECTION_CLASSES = {
    MG_PRESENTATION,
    MG_PROCESSING,
    DX_PRESENTATION,
    DX_PROCESSING,
    CR_IMAGE,
    SECONDARY_CAPTURE,
    BREAST_PROJECTION_PRESENTATION,
    BREAST_PROJECTION_PROCESSING,
}
#: plausible detector or scanner pixel sizes for mammography, in mm
SPACING_RANGE_MM = (0.02, 1.0)


#: values larger than this stay on disk until used: a header followed by gigabytes of data must not
#: be read whole just to learn what the file is (the pixel step checks the size against the image's)
DEFER_SIZE = "1 MB"
#: first bytes of a DICOM stream without preamble: an element of group 0002 (file meta) or 0008
#: (identification); anything else (a zero-filled file) is not parsed at all
_PLAUSIBLE_FIRST_GROUPS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def read_dataset(path: Path) -> Dataset:
    """Parse a DICOM file, turning parser failures into typed errors."""
    ds: Dataset
    try:
        _check_file_size(pydicom.dcmread(path, stop_before_pixels=True), path)
        ds = pydicom.dcmread(path, defer_size=DEFER_SIZE)
    except InvalidDicomError:
        ds = _read_without_preamble(path)
    except RecursionError:  # pydicom's parser recurses once per nested sequence
        raise InvalidHeaderError(
            path, "the DICOM header nests sequences too deeply to be read (a damaged or hostile file)"
        ) from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, OverflowError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, EOFError):
            if not path.is_file():
                raise NotDicomError(path, f"the file cannot be opened ({exc.strerror or exc})") from exc
            raise MissingPathError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
        raise TruncatedFileError(
            path, "the DICOM header ends early or is damaged; the file is probably incomplete"
        ) from exc
    if ds.get("SOPClassUID") == MEDIA_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise NotMammographyError(path, "this is a DICOMDIR index file, not an image")
    _check_complete(ds, path)
    return ds


#: a file may hold this many times its uncompressed image, plus the slack, before it is refused unparsed
#: (headers, overlays and private data are small next to the pixels; gigabytes more are not a mammogram,
#: and pydicom would walk every byte of such a tail as empty elements)
FILE_SIZE_FACTOR, FILE_SIZE_SLACK = 4, 64 * 2**20


def _check_file_size(header: Dataset, path: Path) -> None:
    """Refuse a file far larger than the image its header (read up to the pixel data) declares."""
    try:
        rows, cols = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
        samples = max(int(header.get("SamplesPerPixel", 1) or 1), 1)
        depth = max(int(header.get("BitsAllocated", 16) or 16), 8) // 8 * samples
        frames = max(int(header.get("NumberOfFrames", 1) or 1), 1)
        size = path.stat().st_size
    except (TypeError, ValueError, OSError):
        return  # the full read names the problem
    needed = rows * cols * depth * frames
    if rows and cols and size > FILE_SIZE_FACTOR * needed + FILE_SIZE_SLACK:
        raise UnsupportedImageError(
            path,
            f"the file is {size / 2**20:.0f} MB, far more than its {cols} x {rows} image needs "
            f"({needed / 2**20:.1f} MB); it was not read further",
        )


def _check_complete(ds: Dataset, path: Path) -> None:
    """pydicom stops quietly at the end of a cut file; notice what went missing.

    The file meta (written first) says which object the file holds; if that is an
    image class but the dataset has no SOP class or no pixel data, the file ends early.
    """
    meta = getattr(ds, "file_meta", None)
    declared = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if not declared:
        return
    if len(ds) == 0 or "SOPClassUID" not in ds:
        raise TruncatedFileError(path, "the file ends inside its DICOM header; it is probably incomplete")
    if declared in PROJECTION_CLASSES | {BREAST_TOMOSYNTHESIS} and "PixelData" not in ds:
        raise TruncatedFileError(
            path, "the file ends before its image data; it is probably incomplete (cut off during copying)"
        )


def _read_without_preamble(path: Path) -> Dataset:
    """Old files without the 128-byte preamble: accept them only if they parse as images."""
    try:
        with path.open("rb") as handle:
            start = handle.read(2)
    except OSError as exc:
        raise MissingPathError(path, f"the file cannot be read ({exc.strerror or exc})") from exc
    if start not in _PLAUSIBLE_FIRST_GROUPS:
        raise NotDicomError(path, "this is not a DICOM file (no DICOM header found) and not a PNG/PGM image")
    try:
        ds = pydicom.dcmread(path, force=True, defer_size=DEFER_SIZE)
        if "SOPClassUID" not in ds and "Modality" not in ds:
            raise InvalidDicomError("no SOP class and no modality")
        if "TransferSyntaxUID" not in ds.file_meta:
            # no file meta: record the encoding the parser found, pixel decoders need it
            implicit, little = ds.original_encoding
            ds.file_meta.TransferSyntaxUID = (
                ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
            )
        return ds
    except Exception as exc:  # any parser failure here means "not DICOM"
        raise NotDicomError(path, "this is not a DICOM file (no DICOM header found) and not a PNG/PGM image") from exc


def sop_class_name(ds: Dataset) -> str:
    uid = str(ds.get("SOPClassUID", ""))
    return UID(uid).name if uid else "unknown SOP class"


def check_is_mammogram(ds: Dataset, path: Path) -> list[str]:
    """Raise unless the dataset is a 2D mammogram; return warnings for the edge cases."""
    warnings: list[str] = []
    sop_class = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    body_part = str(ds.get("BodyPartExamined", "")).upper()

    if sop_class == BREAST_TOMOSYNTHESIS or int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise UnsupportedImageError(
            path,
            "this is a multi-frame image (such as breast tomosynthesis); only 2D mammograms can be read",
        )
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        what = sop_class_name(ds)
        raise NotMammographyError(path, f"this DICOM object has no image ({what})")
    if sop_class and sop_class not in PROJECTION_CLASSES:
        raise NotMammographyError(
            path, f"this is a {sop_class_name(ds)} (modality {modality or 'unknown'}), not a mammogram"
        )
    if modality == "MG" or sop_class in (MG_PRESENTATION, MG_PROCESSING):
        if sop_class == SECONDARY_CAPTURE:
            warnings.append("secondary capture (scanned film or a screenshot): check orientation")
        return warnings
    if body_part in ("BREAST", "MAMMA", "MAMMO") or "MAMMO" in str(ds.get("StudyDescription", "")).upper():
        warnings.append(
            f"modality {modality or 'unknown'} rather than MG; read as a mammogram because "
            "the body part or study description says breast"
        )
        return warnings
    raise NotMammographyError(
        path,
        f"this is a {sop_class_name(ds)} with modality {modality or 'unknown'} and body part "
        f"{body_part or 'unknown'}; nothing says it is a mammogram",
    )


def presentation_intent(ds: Dataset) -> str:
    """'FOR PRESENTATION' or 'FOR PROCESSING', from the tag or the SOP class."""
    intent = str(ds.get("PresentationIntentType", "")).strip().upper()
    if intent in ("FOR PRESENTATION", "FOR PROCESSING"):
        return intent
    if str(ds.get("SOPClassUID", "")) in (MG_PROCESSING, DX_PROCESSING, BREAST_PROJECTION_PROCESSING):
        return "FOR PROCESSING"
    return "FOR PRESENTATION"


def _pair(ds: Dataset, keyword: str) -> tuple[float, float] | None:
    value = ds.get(keyword)
    if value is None:
        return None
    try:
        values = value if isinstance(value, (MultiValue, list, tuple)) else [value]
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2:
        return None
    return numbers[0], numbers[1]


def _credible(pair: tuple[float, float] | None) -> bool:
    lo, hi = SPACING_RANGE_MM
    return pair is not None and all(lo <= v <= hi for v in pair)


def pixel_spacing(ds: Dataset) -> tuple[PixelSpacing | None, list[str]]:
    """Choose the pixel spacing to trust and say which tag it came from.

    PixelSpacing is preferred (for MG it is calibrated to the breast plane), but
    only when it is credible: inside the range of real detectors and no larger
    than ImagerPixelSpacing (the object plane is magnified, never shrunk).
    Otherwise ImagerPixelSpacing (detector plane), then NominalScannedPixelSpacing
    (digitised film).
    """
    warnings: list[str] = []
    ps = _pair(ds, "PixelSpacing")
    ips = _pair(ds, "ImagerPixelSpacing")
    nsps = _pair(ds, "NominalScannedPixelSpacing")
    if ps is not None:
        if not _credible(ps):
            warnings.append(f"PixelSpacing {ps[0]:g}\\{ps[1]:g} mm is not credible for a mammogram; ignored")
        elif ips is not None and _credible(ips) and (ps[0] > ips[0] * 1.01 or ps[0] < ips[0] / 2.5):
            warnings.append(
                f"PixelSpacing {ps[0]:g} mm disagrees with ImagerPixelSpacing {ips[0]:g} mm; "
                "ImagerPixelSpacing was used"
            )
        else:
            return PixelSpacing(ps[0], ps[1], "PixelSpacing (0028,0030)"), warnings
    if _credible(ips):
        assert ips is not None
        return PixelSpacing(ips[0], ips[1], "ImagerPixelSpacing (0018,1164)"), warnings
    if ips is not None:
        warnings.append(f"ImagerPixelSpacing {ips[0]:g} mm is not credible; ignored")
    if _credible(nsps):
        assert nsps is not None
        return PixelSpacing(nsps[0], nsps[1], "NominalScannedPixelSpacing (0018,2010)"), warnings
    warnings.append("no credible pixel spacing: sizes in mm are unavailable for this image")
    return None, warnings


def acquisition_datetime(ds: Dataset) -> str:
    """Best available 'when was this taken' as YYYYMMDDHHMMSS(.ffffff), for ordering."""
    if ds.get("AcquisitionDateTime"):
        return str(ds.AcquisitionDateTime)
    for date_kw, time_kw in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("ContentDate", "ContentTime"),
        ("SeriesDate", "SeriesTime"),
        ("StudyDate", "StudyTime"),
    ):
        if ds.get(date_kw):
            return f"{ds.get(date_kw)}{ds.get(time_kw, '') or ''}"
    return ""
