"""One DICOM file -> one MammoImage, or a typed error that names the file."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from mommi.errors import InvalidHeaderError, StudyInputError, UnknownViewError
from mommi.study.dicom_header import (
    acquisition_datetime,
    check_is_mammogram,
    pixel_spacing,
    presentation_intent,
    read_dataset,
    sop_class_name,
)
from mommi.study.dicom_pixels import decode_display_pixels
from mommi.study.dicom_view import ViewIdentity, identify_view
from mommi.study.model import MammoImage, PixelSpacing
from mommi.study.orientation import orientation_transform
from mommi.study.profiles import ProfileFacts, dicom_profile

#: the start of the generic warning that a dataset profile's own explanation replaces
_NO_SPACING = "no credible pixel spacing"


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
    profile = dicom_profile(path, ds)
    facts = profile.facts(path, ds) if profile is not None else None
    study_key = (facts.exam_key if facts is not None else None) or _str(ds, "StudyInstanceUID") or None
    try:
        if facts is not None and facts.set_aside and facts.laterality is not None:
            return _set_aside_image(ds, path, facts)
        return _read_checked(ds, path, keep_pixels, facts)
    except StudyInputError as exc:
        exc.study_uid = study_key
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # pydicom converts values lazily: a malformed one surfaces only when read
        error = InvalidHeaderError(path, f"a DICOM header value is malformed and cannot be read ({exc})")
        error.study_uid = study_key
        raise error from exc


def _identify(ds: Dataset, path: Path, facts: ProfileFacts | None) -> ViewIdentity:
    """The header's view and side; a dataset profile fills them only where the header is silent."""
    try:
        identity = identify_view(ds, path)
    except UnknownViewError as exc:
        if facts is None or facts.laterality is None or facts.view_position is None:
            if facts is not None:
                raise UnknownViewError(
                    path,
                    f"{exc.reason} (read as {facts.profile}, whose files should say it "
                    f"in the {facts.view_source or 'documented place'})",
                ) from exc
            raise
        return ViewIdentity(facts.laterality, facts.view_position, (), facts.view_source)
    if (
        facts is not None
        and facts.laterality is not None
        and facts.view_position is not None
        and ((identity.laterality, identity.view_position) != (facts.laterality, facts.view_position))
    ):
        identity.warnings.append(
            f"the {facts.view_source} says {facts.laterality.value}-{facts.view_position} but the header says "
            f"{identity.laterality.value}-{identity.view_position}; the header was used"
        )
    return identity


def _spacing(ds: Dataset, facts: ProfileFacts | None) -> tuple[PixelSpacing | None, list[str]]:
    """The header's spacing; without one, the dataset's documented pixel size or its own explanation."""
    spacing, warnings = pixel_spacing(ds)
    if spacing is not None or facts is None or not (facts.spacing or facts.spacing_note):
        return spacing, warnings
    warnings = [w for w in warnings if not w.startswith(_NO_SPACING)]
    if facts.spacing is not None:
        return facts.spacing, warnings
    return None, warnings + [str(facts.spacing_note)]


def _set_aside_image(ds: Dataset, path: Path, facts: ProfileFacts) -> MammoImage:
    """A file of the exam that is not a view (a ROI mask, a crop): its header only, pixels never decoded."""
    assert facts.laterality is not None
    return MammoImage(
        path=path,
        rows=int(ds.get("Rows", 0) or 0),
        cols=int(ds.get("Columns", 0) or 0),
        laterality=facts.laterality,
        view_position=facts.view_position or "",
        view_source=facts.view_source,
        patient_id=facts.patient or _str(ds, "PatientID"),
        patient_name=_str(ds, "PatientName"),
        study_uid=_str(ds, "StudyInstanceUID"),
        study_date=_str(ds, "StudyDate"),
        series_uid=_str(ds, "SeriesInstanceUID"),
        sop_instance_uid=_str(ds, "SOPInstanceUID"),
        sop_class=sop_class_name(ds),
        profile=facts.profile,
        exam_key=facts.exam_key or "",
        set_aside_reason=str(facts.set_aside),
        warnings=list(facts.warnings),
    )


def _read_checked(ds: Dataset, path: Path, keep_pixels: bool, facts: ProfileFacts | None) -> MammoImage:
    warnings = check_is_mammogram(ds, path)
    identity = _identify(ds, path, facts)
    warnings += identity.warnings
    if facts is not None:
        warnings += facts.warnings
    spacing, spacing_warnings = _spacing(ds, facts)
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
        patient_id=(facts.patient if facts is not None else None) or _str(ds, "PatientID"),
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
        profile=facts.profile if facts is not None else "",
        exam_key=(facts.exam_key if facts is not None else None) or "",
    )
