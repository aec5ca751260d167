"""One DICOM file -> one MammoImage, or a typed error that names the file."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from mommi.errors import InvalidHeaderError, StudyInputError
from mommi.study.dicom_header import (
    acquisition_datetime,
    check_is_mammogram,
    pixel_spacing,
    presentation_intent,
    read_dataset,
    sop_class_name,
)
from mommi.study.dicom_pixels import decode_display_pixels
from mommi.study.dicom_view import identify_view
from mommi.study.model import MammoImage
from mommi.study.orientation import orientation_transform


def _str(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def read_dicom(path: Path, keep_pixels: bool = True) -> MammoImage:
    """Read, check and decode one DICOM mammogram.

    The pixels are always decoded, so that a file that would fail during analysis
    fails here, at load time, with its name; ``keep_pixels=False`` only drops them
    afterwards (used by ``mommi study inspect`` on large folders).
    """
    ds = read_dataset(path)
    try:
        return _read_checked(ds, path, keep_pixels)
    except StudyInputError as exc:
        exc.study_uid = _str(ds, "StudyInstanceUID") or None
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # pydicom converts values lazily: a malformed one surfaces only when read
        error = InvalidHeaderError(path, f"a DICOM header value is malformed and cannot be read ({exc})")
        error.study_uid = _str(ds, "StudyInstanceUID") or None
        raise error from exc


def _read_checked(ds: Dataset, path: Path, keep_pixels: bool) -> MammoImage:
    warnings = check_is_mammogram(ds, path)
    identity = identify_view(ds, path)
    warnings += identity.warnings
    spacing, spacing_warnings = pixel_spacing(ds)
    warnings += spacing_warnings
    pixels, intensity_source, pixel_warnings = decode_display_pixels(ds, path)
    warnings += pixel_warnings
    rows, cols = pixels.shape
    transform, chest_source, orient_warnings = orientation_transform(
        pixels, (rows, cols), identity.laterality, identity.view_position, ds=ds
    )
    warnings += orient_warnings
    intent = presentation_intent(ds)
    if intent == "FOR PROCESSING":
        warnings.append("FOR PROCESSING image (raw detector data): not used for reading by default")
    if "BurnedInAnnotation" in ds and _str(ds, "BurnedInAnnotation").upper() == "YES":
        warnings.append("burned-in annotation present in the pixels")
    meta = getattr(ds, "file_meta", None)
    transfer_syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    instance_number = ds.get("InstanceNumber")
    return MammoImage(
        path=path,
        rows=rows,
        cols=cols,
        laterality=identity.laterality,
        view_position=identity.view_position,
        view_source=identity.source,
        view_modifiers=identity.modifiers,
        pixels=pixels if keep_pixels else None,
        spacing=spacing,
        photometric=_str(ds, "PhotometricInterpretation").upper(),
        presentation_intent=intent,
        intensity_source=intensity_source,
        to_model=transform,
        chest_wall_source=chest_source,
        patient_id=_str(ds, "PatientID"),
        patient_name=_str(ds, "PatientName"),
        study_uid=_str(ds, "StudyInstanceUID"),
        study_date=_str(ds, "StudyDate"),
        series_uid=_str(ds, "SeriesInstanceUID"),
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        sop_class=sop_class_name(ds),
        transfer_syntax=transfer_syntax.name if transfer_syntax is not None else "",
        manufacturer=_str(ds, "Manufacturer"),
        model_name=_str(ds, "ManufacturerModelName"),
        acquisition_datetime=acquisition_datetime(ds),
        instance_number=int(instance_number) if instance_number not in (None, "") else None,
        bits_stored=int(ds.get("BitsStored", 0)) or None,
        file_format="DICOM",
        warnings=warnings,
    )
