"""Writing a rendered view as a real DICOM mammogram (MG, FOR PRESENTATION).

Header variants exist so that tests and users can exercise what real files do:

- ``standard``: MONOCHROME2, 12 bits, a LINEAR window, PixelSpacing and ImagerPixelSpacing;
- ``monochrome1``: stored values inverted, as GE writes them;
- ``voi-lut``: a VOI LUT Sequence (gamma curve) instead of a window;
- ``imager-spacing``: only ImagerPixelSpacing, slightly larger than the pixel pitch
  at the breast (a detector-plane value, magnification 1.08);
- ``16-bit``: 16 bits stored.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, UID, generate_uid

MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
VARIANTS = ("standard", "monochrome1", "voi-lut", "imager-spacing", "16-bit")
VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
ORIENTATION = {("L", "CC"): ["A", "R"], ("R", "CC"): ["P", "L"], ("L", "MLO"): ["A", "FR"], ("R", "MLO"): ["P", "FL"]}
MAGNIFICATION = 1.08


def deterministic_uid(*parts: object) -> UID:
    """UIDs derived from the seed and position, so the same seed writes the same files."""
    return generate_uid(entropy_srcs=["mommi-synth", *map(str, parts)])


def view_dataset(
    image: np.ndarray,
    laterality: str,
    projection: str,
    pixel_mm: float,
    patient_id: str,
    study_uid: UID,
    study_date: str,
    instance: int,
    variant: str = "standard",
) -> Dataset:
    """A complete MG dataset for one view; ``image`` holds display values in [0, 1]."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown header variant {variant!r}; choose from {', '.join(VARIANTS)}")
    bits = 16 if variant == "16-bit" else 12
    top = 2**bits - 1
    stored = np.round(np.clip(image, 0.0, 1.0) * top).astype(np.uint16)

    ds = Dataset()
    ds.SOPClassUID = UID(MG_PRESENTATION)
    ds.SOPInstanceUID = deterministic_uid(study_uid, laterality, projection)
    ds.Modality = "MG"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "MommiSlicer synthetic phantom"
    ds.ManufacturerModelName = "mommi synth"
    ds.PatientID = patient_id
    ds.PatientName = f"Synthetic^{patient_id}"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = deterministic_uid(study_uid, "series")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.StudyTime = "090000"
    ds.AcquisitionTime = ds.ContentTime = f"0900{instance:02d}"
    ds.StudyID = patient_id[-8:]
    ds.AccessionNumber = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance
    ds.StudyDescription = "Synthetic screening mammogram (research phantom)"
    ds.SeriesDescription = f"{laterality} {projection}"
    ds.BodyPartExamined = "BREAST"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"
    ds.ImageLaterality = laterality
    ds.ViewPosition = projection
    code = Dataset()
    code.CodeValue, code.CodeMeaning = VIEW_CODES[projection]
    code.CodingSchemeDesignator = "SCT"
    code.ViewModifierCodeSequence = Sequence([])
    ds.ViewCodeSequence = Sequence([code])
    ds.PatientOrientation = ORIENTATION[(laterality, projection)]
    if variant == "imager-spacing":
        ds.ImagerPixelSpacing = [round(pixel_mm * MAGNIFICATION, 6)] * 2
        ds.EstimatedRadiographicMagnificationFactor = MAGNIFICATION
    else:
        ds.PixelSpacing = [pixel_mm, pixel_mm]
        ds.ImagerPixelSpacing = [round(pixel_mm * MAGNIFICATION, 6)] * 2
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.PhotometricInterpretation = "MONOCHROME2"
    if variant == "monochrome1":
        ds.PhotometricInterpretation = "MONOCHROME1"
        stored = (top - stored).astype(np.uint16)
    if variant == "voi-lut":
        lut = Dataset()
        lut.LUTDescriptor = [top + 1, 0, 16]
        lut.LUTExplanation = "GAMMA 0.8"
        lut.LUTData = (np.power(np.arange(top + 1) / top, 0.8) * 65535).astype(np.uint16).tobytes()
        ds.VOILUTSequence = Sequence([lut])
    else:
        ds.WindowCenter = (top + 1) / 2  # the full range: the phantom is already "processed"
        ds.WindowWidth = top + 1
        ds.VOILUTFunction = "LINEAR"
    ds.PixelData = stored.tobytes()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds
