"""Writes realistic mammography DICOM files for the tests, with pydicom.

The headers follow what GE (Senographe), Hologic (Selenia Dimensions) and film
digitisers really write: GE stores FOR PRESENTATION images as MONOCHROME1 with a
SIGMOID VOI function and only ImagerPixelSpacing; Hologic writes MONOCHROME2,
several windows, PixelSpacing next to ImagerPixelSpacing and SNOMED CT view codes;
digitised film arrives as Secondary Capture without ViewPosition. The pixels are
a simple breast shape (wide at the chest wall, tapering toward the nipple) so
that orientation detection has something real to look at.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    ExplicitVRLittleEndian,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    generate_uid,
)

MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
MG_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
BREAST_TOMO = "1.2.840.10008.5.1.4.1.1.13.1.3"

VIEW_CODES_SCT = {
    "CC": ("399162004", "cranio-caudal"),
    "MLO": ("399368009", "medio-lateral oblique"),
    "ML": ("399260004", "medio-lateral"),
}
VIEW_CODES_SRT = {
    "CC": ("R-10242", "cranio-caudal"),
    "MLO": ("R-10226", "medio-lateral oblique"),
    "XCCL": ("R-1024A", "cranio-caudal exaggerated laterally"),
}
STANDARD_ORIENTATION = {
    ("L", "CC"): ["A", "R"],
    ("R", "CC"): ["P", "L"],
    ("L", "MLO"): ["A", "FR"],
    ("R", "MLO"): ["P", "FL"],
}


def breast_phantom(rows: int, cols: int, chest_wall: str, bits: int = 12, seed: int = 0) -> np.ndarray:
    """Stored values (MONOCHROME2 sense) of a half-ellipse breast against the chest wall."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    depth = xx if chest_wall == "left" else (cols - 1 - xx)
    # wide at the chest wall (depth 0), tapering to the nipple at 75% of the width
    half_height = (rows * 0.45) * np.sqrt(np.clip(1 - (depth / (cols * 0.75)) ** 2, 0, 1))
    inside = np.abs(yy - rows / 2) < half_height
    top = 2**bits - 1
    image = np.full((rows, cols), 0.05 * top)
    image[inside] = 0.55 * top + 0.1 * top * np.sin(xx[inside] / 7.0) * np.cos(yy[inside] / 5.0)
    image += rng.normal(0, 0.01 * top, size=image.shape)
    return np.clip(image, 0, top).astype(np.uint16)


@dataclass
class Patient:
    patient_id: str = "PAT-0001"
    name: str = "Test^Anna"
    birth_date: str = "19650312"
    study_uid: str = ""
    study_date: str = "20260105"

    def __post_init__(self) -> None:
        self.study_uid = self.study_uid or generate_uid()


def mammogram(
    patient: Patient,
    laterality: str = "L",
    view: str = "CC",
    vendor: str = "HOLOGIC",
    intent: str = "FOR PRESENTATION",
    rows: int = 160,
    cols: int = 128,
    seed: int = 0,
    acquisition_time: str = "101500",
) -> Dataset:
    """A full-field digital mammogram as the named vendor writes it."""
    ds = Dataset()
    processing = intent == "FOR PROCESSING"
    ds.SOPClassUID = UID(MG_PROCESSING if processing else MG_PRESENTATION)
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MG"
    ds.PresentationIntentType = intent
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.name
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = "F"
    ds.StudyInstanceUID = patient.study_uid
    ds.StudyDate = patient.study_date
    ds.StudyTime = "101000"
    ds.AccessionNumber = "ACC" + patient.patient_id[-4:]
    ds.StudyDescription = "MAMMO SCREENING BILATERAL"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.AcquisitionDate = patient.study_date
    ds.AcquisitionTime = acquisition_time
    ds.ContentDate = patient.study_date
    ds.ContentTime = acquisition_time
    ds.BodyPartExamined = "BREAST"
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PatientOrientation = STANDARD_ORIENTATION.get((laterality, view), ["A", "R"])
    ds.BurnedInAnnotation = "NO"
    chest_wall = "left" if laterality == "L" else "right"
    bits = 14 if processing else 12
    stored = breast_phantom(rows, cols, chest_wall, bits=bits, seed=seed)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"

    item = Dataset()
    if vendor == "GE":
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.ManufacturerModelName = "Senographe Pristina"
        ds.ImagerPixelSpacing = [0.1, 0.1]
        ds.EstimatedRadiographicMagnificationFactor = 1.0
        code, meaning = VIEW_CODES_SRT.get(view, VIEW_CODES_SCT.get(view, ("", "")))
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "SRT", meaning
        private = ds.private_block(0x0045, "GEMS_SENO_02", create=True)
        private.add_new(0x06, "DS", "14.5")
        if processing:
            ds.PhotometricInterpretation = "MONOCHROME1"
            stored = (2**bits - 1) - stored
        else:
            ds.PhotometricInterpretation = "MONOCHROME1"
            stored = (2**bits - 1) - stored
            ds.WindowCenter = 2047
            ds.WindowWidth = 3500
            ds.VOILUTFunction = "SIGMOID"
    elif vendor == "HOLOGIC":
        ds.Manufacturer = "HOLOGIC, Inc."
        ds.ManufacturerModelName = "Selenia Dimensions"
        ds.PixelSpacing = [0.065, 0.065]
        ds.ImagerPixelSpacing = [0.07, 0.07]
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        code, meaning = VIEW_CODES_SCT.get(view, VIEW_CODES_SRT.get(view, ("", "")))
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "SCT", meaning
        ds.PhotometricInterpretation = "MONOCHROME2"
        if not processing:
            ds.WindowCenter = [2047, 1900]
            ds.WindowWidth = [4095, 3000]
            ds.WindowCenterWidthExplanation = ["NORMAL", "HARDER"]
            ds.VOILUTFunction = "LINEAR"
    else:
        raise ValueError(vendor)
    item.ViewModifierCodeSequence = Sequence([])
    ds.ViewCodeSequence = Sequence([item])
    ds.PixelData = stored.astype(np.uint16).tobytes()
    return ds


def scanned_film(patient: Patient, description: str = "", seed: int = 0, chest_wall: str = "left") -> Dataset:
    """Digitised screen-film mammogram: Secondary Capture, no ViewPosition, 8-bit."""
    ds = Dataset()
    ds.SOPClassUID = UID(SECONDARY_CAPTURE)
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MG"
    ds.ConversionType = "DF"
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.name
    ds.StudyInstanceUID = patient.study_uid
    ds.StudyDate = patient.study_date
    ds.SeriesInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    if description:
        ds.SeriesDescription = description
    ds.NominalScannedPixelSpacing = [0.05, 0.05]
    ds.Manufacturer = "Lumisys"
    stored = (breast_phantom(150, 120, chest_wall, bits=8, seed=seed)).astype(np.uint8)
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = stored.tobytes()
    return ds


def ct_slice(patient: Patient) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = UID(CT_IMAGE)
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.BodyPartExamined = "CHEST"
    ds.PatientID = patient.patient_id
    ds.StudyInstanceUID = patient.study_uid
    ds.Rows = ds.Columns = 32
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = np.zeros((32, 32), dtype=np.int16).tobytes()
    return ds


def write(ds: Dataset, path: Path, transfer_syntax: str | None = None, preamble: bool = True) -> Path:
    """Write ``ds`` as a DICOM Part 10 file (compressed if asked), or as a bare
    implicit-VR dataset with no preamble and no file meta (``preamble=False``),
    as old archives and some converters do."""
    ds = copy.deepcopy(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not preamble:
        with path.open("wb") as handle:
            fp = DicomFileLike(handle)
            fp.is_implicit_VR, fp.is_little_endian = True, True
            write_dataset(fp, ds)
        return path
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    if transfer_syntax is not None and UID(transfer_syntax).is_compressed:
        ds.compress(transfer_syntax)
    elif transfer_syntax is not None:  # an uncompressed encoding such as Implicit VR Little Endian
        meta.TransferSyntaxUID = transfer_syntax
        ds.save_as(
            path,
            enforce_file_format=True,
            implicit_vr=UID(transfer_syntax).is_implicit_VR,
            little_endian=UID(transfer_syntax).is_little_endian,
        )
        return path
    ds.save_as(path, enforce_file_format=True)
    return path


def four_view_study(
    folder: Path, patient: Patient | None = None, vendor: str = "HOLOGIC", seed: int = 0
) -> dict[str, Path]:
    """Write the four screening views of one patient into ``folder``."""
    patient = patient or Patient()
    paths = {}
    for index, (lat, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))):
        ds = mammogram(patient, lat, view, vendor=vendor, seed=seed + index)
        ds.InstanceNumber = index + 1
        paths[f"{lat}-{view}"] = write(ds, folder / f"{lat}{view}.dcm")
    return paths
