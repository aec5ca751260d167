"""DICOM outputs of `mommi analyze`: one Segmentation per view and one Structured Report per study.

Both are written with highdicom, so they carry the patient, study and source-image
references that PACS viewers and 3D Slicer need to place them over the mammograms:

* ``seg-<VIEW>.dcm``: the view's mass probability map as a FRACTIONAL Segmentation
  of type PROBABILITY. Fractional, not binary, because the map is what the model
  really produced; a reader can threshold it at any operating point, a binary
  mask would bake ours in. 8 bits (max fractional value 255) is finer than the
  map's meaningful precision and keeps the objects small.
* ``sr.dcm`` (any name the caller gives): a Comprehensive 3D SR holding a TID 1500
  Measurement Report, one planar ROI group per finding: its contour, detection
  score, probability of malignancy and estimated BI-RADS category.

Raster research images (PNG/PGM) have no DICOM identity, so no DICOM object can
reference them: their views are skipped and the caller reports a warning.

Coordinates: the result holds (x, y) with pixel centres on integers (the
project's convention); DICOM SCOORD puts the top-left corner of the top-left
pixel at (0, 0), so the centre of pixel (0, 0) is (0.5, 0.5). Contours are
shifted by +0.5 on the way out (``PIXEL_CENTRE_OFFSET``) so they overlay exactly.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.uid import UID, RLELossless, generate_uid

from mommi.errors import MommiError
from mommi.runtime.result import FindingResult, StudyResult
from mommi.study.model import MammoImage

MANUFACTURER = "MommiSlicer"
MODEL_NAME = "MommiNet-v2"
ALGORITHM_NAME = "MommiSlicer MommiNet-v2"
SEG_SERIES_NUMBER = 9001
SR_SERIES_NUMBER = 9002
PIXEL_CENTRE_OFFSET = 0.5

#: private coding scheme for concepts no standard code expresses honestly (see below)
PRIVATE_SCHEME = "99MOMMI"

#: The detection score is a ranking score of the detector, not a calibrated
#: probability of anything, so no standard concept ("probability of cancer",
#: "confidence") describes it truthfully: it gets a private code.
DETECTION_SCORE = hd.sr.CodedConcept("MSDETSCORE", PRIVATE_SCHEME, "Mass detection score")
#: DCM 111047 "Probability of cancer": what the malignancy head's calibrated output is.
MALIGNANCY = codes.DCM.ProbabilityOfCancer
#: The BI-RADS category is the nearest category to a regressed value, a model
#: estimate. The standard codes (DCM 111005 "Assessment Category" with the SCT
#: mammography assessment categories) state a radiologist's assessment, and SCT
#: has no 4A/4B/4C; using them would make a machine guess read as a clinical
#: assessment. A private scheme keeps the value machine-readable and honest.
BIRADS_ESTIMATE = hd.sr.CodedConcept("MSBIRADS", PRIVATE_SCHEME, "Estimated BI-RADS category (model output)")
#: Study-level counts of the analysis (their own group; see ``_study_group``).
FINDING_COUNT = hd.sr.CodedConcept("MSNFIND", PRIVATE_SCHEME, "Number of mass findings")
SCORE_THRESHOLD = hd.sr.CodedConcept("MSMINSCORE", PRIVATE_SCHEME, "Mass detection score threshold")


class DicomOutputError(MommiError, ValueError):
    """A DICOM output that cannot be written or read back; the message names the file and the cause."""


def _view_name(view: Any) -> str:
    return str(getattr(view, "value", view))  # View enums and plain "L-CC" strings alike


#: type 2 patient/study attributes highdicom copies from the source into every derived object
_PATIENT_STUDY_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def _read_source(path: Path, image: MammoImage) -> pydicom.Dataset:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as exc:
        raise DicomOutputError(f"{path}: cannot read the source DICOM file ({exc})") from exc
    for tag in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "Rows", "Columns"):
        if tag not in ds:
            raise DicomOutputError(f"{path}: the source DICOM file has no {tag}")
    if image.sop_instance_uid and ds.SOPInstanceUID != image.sop_instance_uid:
        raise DicomOutputError(
            f"{path}: the file no longer holds the analysed image "
            f"(SOP Instance UID {ds.SOPInstanceUID}, expected {image.sop_instance_uid})"
        )
    for keyword in _PATIENT_STUDY_TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")  # type 2 "empty if unknown": many files omit them, highdicom needs them
    return ds


def unreferable_reason(image: MammoImage) -> str | None:
    """Why no DICOM object can reference this view (None: it can).

    A reference is the source's Study, Series and SOP Instance UIDs; a raster image has
    none, and some public datasets replaced them by hashes that are not UIDs
    (VinDr-Mammo's de-identification), which a conformant SEG or SR cannot carry.
    """
    if image.file_format.upper() != "DICOM":
        return "not a DICOM file"
    bad = [
        name
        for name, uid in (("Study", image.study_uid), ("Series", image.series_uid), ("SOP", image.sop_instance_uid))
        if uid and not UID(uid).is_valid
    ]
    if bad:
        return f"its {'/'.join(bad)} Instance UID is not a valid DICOM UID (a de-identification hash?)"
    return None


def dicom_sources(images: Mapping[Any, MammoImage]) -> dict[str, pydicom.Dataset]:
    """Header of each view's source DICOM file, by view name; views no DICOM object can reference are
    left out (see ``unreferable_reason``).

    Pixel data are not read: the outputs need only the identity and geometry.
    """
    return {
        _view_name(view): _read_source(Path(image.path), image)
        for view, image in images.items()
        if unreferable_reason(image) is None
    }


def _library_images(sources: Mapping[str, pydicom.Dataset]) -> list[pydicom.Dataset]:
    """Source images highdicom can describe in the SR's image library (TID 1601).

    Its projection-radiography descriptors need ImagerPixelSpacing; scanned films
    re-issued as MG Secondary Captures (CBIS-DDSM) have none. Those images are still
    referenced as evidence and by their findings' regions, only not in the library.
    """
    return [ds for ds in sources.values() if ds.get("Modality") != "MG" or "ImagerPixelSpacing" in ds]


@contextmanager
def _names_as_given() -> Iterator[None]:
    """highdicom warns about one-component person names copied from the source images (a research
    dataset's PatientName is often an identifier such as 'Mass-Test_P_00173_LEFT_CC'); they are not ours
    to change, and the warning would reach the user's terminal on every analysis."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        yield


def result_uid(result: StudyResult, role: str) -> hd.UID:
    """The same UID for the same result and role: a result written or sent twice (``mommi analyze --send`` run
    again) replaces its own SEG and SR in a PACS instead of adding copies. "The same result" is the study, the
    models that ran (their SHA-256), the threshold and every finding; the time of the analysis is not part of it."""
    key = json.dumps(
        {
            "study": result.study_uid,
            "models": result.models,
            "min_score": result.min_score,
            "views": {name: view.sop_instance_uid for name, view in result.views.items()},
            "findings": [[f.id, f.view, f.box_px, f.score] for f in result.findings],
        },
        sort_keys=True,
        default=str,
    )
    return hd.UID(generate_uid(entropy_srcs=[hashlib.sha256(key.encode()).hexdigest(), role]))


@_names_as_given()
def write_segmentations(
    result: StudyResult,
    images: Mapping[Any, MammoImage],
    out_dir: Path,
    series_uid: str | None = None,
    first_number: int = 1,
) -> list[Path]:
    """Write ``seg-<VIEW>.dcm`` for every DICOM view; returns the files written (raster views skipped).

    One SEG series per analysis, one instance per view: a caller writing the views one at a time
    passes the series UID and the instance number to continue from."""
    sources = dicom_sources(images)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or result_uid(result, "seg-series")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME, family=codes.DCM.ArtificialIntelligence, version=result.mommi_version
    )
    written = []
    for number, (view, source) in enumerate(sources.items(), start=first_number):
        path = out_dir / f"seg-{view}.dcm"
        prob = _checked_map(result, view, source, path)
        segment = hd.seg.SegmentDescription(
            segment_number=1,
            segment_label="Mass probability",
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Mass,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        try:
            seg = hd.seg.Segmentation(
                source_images=[_seg_source(source)],
                pixel_array=prob,
                segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL,
                fractional_type=hd.seg.SegmentationFractionalTypeValues.PROBABILITY,
                max_fractional_value=255,
                segment_descriptions=[segment],
                series_instance_uid=series_uid,
                series_number=SEG_SERIES_NUMBER,
                sop_instance_uid=result_uid(result, f"seg-{view}"),
                instance_number=number,
                manufacturer=MANUFACTURER,
                manufacturer_model_name=MODEL_NAME,
                software_versions=result.mommi_version,
                device_serial_number="none (software)",
                series_description="MommiSlicer mass probability",
                content_label="MASS_PROBABILITY",
                content_description=f"MommiNet-v2 mass probability map of {view}",
                omit_empty_frames=False,  # an all-zero map is a result too
                transfer_syntax_uid=RLELossless,  # lossless, and maps are mostly zero
            )
            seg.save_as(path, enforce_file_format=True)
        except (OSError, ValueError, TypeError) as exc:
            raise DicomOutputError(f"{path}: cannot write the segmentation ({exc})") from exc
        written.append(path)
    return written


def _seg_source(source: pydicom.Dataset) -> pydicom.Dataset:
    """The source header as the SEG constructor should see it.

    A mammogram has no Frame of Reference, so the SEG is tied to it pixel for pixel
    by the Derivation Image functional group and needs no Pixel Measures (DICOM
    PS3.3 C.7.6.16.2.1; highdicom PR #183). highdicom 0.28 nevertheless copies a
    bare Pixel Spacing into a Pixel Measures Sequence without Slice Thickness,
    which its own ``segread`` then rejects: without Pixel Spacing it writes none.
    """
    if "FrameOfReferenceUID" in source or "PixelSpacing" not in source:
        return source
    stripped = copy.deepcopy(source)  # a header without pixel data: cheap
    del stripped.PixelSpacing
    return stripped


def _checked_map(result: StudyResult, view: str, source: pydicom.Dataset, path: Path) -> np.ndarray:
    if view not in result.maps:
        raise DicomOutputError(f"{path}: the result holds no probability map for {view}")
    prob = np.asarray(result.maps[view], dtype=np.float32)
    expected = (int(source.Rows), int(source.Columns))
    if prob.shape != expected:
        raise DicomOutputError(
            f"{path}: the {view} probability map is {prob.shape[::-1]} (cols, rows) but the "
            f"source image is {expected[::-1]}"
        )
    if not np.isfinite(prob).all():
        raise DicomOutputError(f"{path}: the {view} probability map holds NaN or infinite values")
    return np.clip(prob, 0.0, 1.0)


def _region(finding: FindingResult, source: pydicom.Dataset) -> hd.sr.ImageRegion:
    points = np.asarray(finding.contour_px, dtype=np.float64).reshape(-1, 2)
    if len(points) < 3:  # a degenerate contour: the box still locates the finding
        x0, y0, x1, y1 = finding.box_px
        points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    if not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])  # a closed POLYLINE repeats its first point
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=points + PIXEL_CENTRE_OFFSET,
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )


def _group(
    finding: FindingResult,
    source: pydicom.Dataset,
    algorithm: hd.sr.AlgorithmIdentification,
    uid_of: Callable[[str], hd.UID],
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    no_units = codes.UCUM.NoUnits
    measurements = [
        hd.sr.Measurement(name=DETECTION_SCORE, value=float(finding.score), unit=no_units, algorithm_id=algorithm)
    ]
    if finding.malignancy is not None:
        measurements.append(
            hd.sr.Measurement(name=MALIGNANCY, value=float(finding.malignancy), unit=no_units, algorithm_id=algorithm)
        )
    evaluations = []
    if finding.birads:
        value = hd.sr.CodedConcept(
            f"BIRADS-{finding.birads}", PRIVATE_SCHEME, f"BI-RADS {finding.birads} (model estimate)"
        )
        evaluations.append(hd.sr.QualitativeEvaluation(name=BIRADS_ESTIMATE, value=value))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=uid_of(f"tracking-{finding.id}"), identifier=finding.id),
        referenced_region=_region(finding, source),
        finding_type=codes.SCT.Mass,
        finding_category=codes.SCT.MorphologicallyAbnormalStructure,
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
    )


def _study_group(
    result: StudyResult, findings: int, sources: Mapping[str, pydicom.Dataset], algorithm: hd.sr.AlgorithmIdentification
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """How many findings the analysis reported on these images, and at which score threshold.

    Always present, so that "no mass found above the threshold" is stated rather
    than implied by silence, and because highdicom's TID 1500 builder needs at
    least one measurement group (a study without findings has no ROI groups).
    """
    no_units = codes.UCUM.NoUnits
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=result_uid(result, "tracking-study"), identifier="study"),
        algorithm_id=algorithm,
        measurements=[
            hd.sr.Measurement(name=FINDING_COUNT, value=findings, unit=no_units, algorithm_id=algorithm),
            hd.sr.Measurement(
                name=SCORE_THRESHOLD, value=float(result.min_score), unit=no_units, algorithm_id=algorithm
            ),
        ],
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ds) for ds in sources.values()],
    )


@_names_as_given()
def write_structured_report(result: StudyResult, images: Mapping[Any, MammoImage], out_path: Path) -> Path | None:
    """Write the study's findings as a Comprehensive 3D SR; None when no view is DICOM (nothing to reference).

    Findings of raster views are left out. Every DICOM source image is referenced
    (evidence and image library), even views without findings, so the report says
    what was read, not only where something was found.
    """
    sources = dicom_sources(images)
    out_path = Path(out_path)
    if not sources:
        return None
    algorithm = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=result.mommi_version)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=result_uid(result, "device"), name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=MODEL_NAME
        ),
    )
    try:
        rois = [
            _group(f, sources[f.view], algorithm, lambda role: result_uid(result, role))
            for f in result.findings
            if f.view in sources
        ]
        groups = [_study_group(result, len(rois), sources, algorithm), *rois]
        report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_device_context=observer),
            procedure_reported=codes.SCT.Mammography,
            imaging_measurements=groups,  # type: ignore[arg-type]  # highdicom's stub omits the base class
            referenced_images=_library_images(sources) or None,
        )
        sr = hd.sr.Comprehensive3DSR(
            evidence=list(sources.values()),
            content=report,
            series_instance_uid=result_uid(result, "sr-series"),
            series_number=SR_SERIES_NUMBER,
            sop_instance_uid=result_uid(result, "sr"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            series_description="MommiSlicer findings",
            is_complete=True,  # every finding of the analysis is in it; nobody has verified it
        )
        out_path.parent.mkdir(parents=True, exist_ok=True)
        sr.save_as(out_path, enforce_file_format=True)
    except (OSError, ValueError, TypeError) as exc:
        raise DicomOutputError(f"{out_path}: cannot write the structured report ({exc})") from exc
    return out_path


def read_back(path: Path) -> hd.seg.Segmentation | hd.sr.Comprehensive3DSR | hd.sr.ComprehensiveSR | hd.sr.EnhancedSR:
    """Read a written SEG or SR with highdicom's own reader, which validates what it parses."""
    path = Path(path)
    try:
        modality = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality")
        if modality == "SEG":
            return hd.seg.segread(path)
        if modality == "SR":
            return hd.sr.srread(path)
    except (OSError, InvalidDicomError, ValueError, AttributeError, KeyError) as exc:
        raise DicomOutputError(f"{path}: not a valid DICOM output ({type(exc).__name__}: {exc})") from exc
    raise DicomOutputError(f"{path}: not a Segmentation or Structured Report (modality {modality!r})")
