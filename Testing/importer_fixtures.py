"""Small copies of public mammography datasets, in each dataset's documented layout.

The builders write tiny images (64 x 48 DICOM, headers-only PGM content) but keep
the real file names, folder structure, CSV column names and annotation formats, so
the importers meet what a downloaded dataset really looks like, including its
known quirks (CBIS-DDSM CSV paths that do not match the downloaded folders, a ROI
series holding both the mask and the cropped image, INbreast's "removed" ids).
Each builder returns what the tests need to know about what it wrote.
"""

from __future__ import annotations

import csv
import json
import plistlib
import re
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ImplicitVRLittleEndian, generate_uid

import dicom_factory as f

ROWS, COLS = 64, 48  # every full image: 64 rows x 48 columns (width 48, height 64)

# ----------------------------------------------------------------------------- MIAS

MIAS_HEADER = """\
              MAMMOGRAPHIC IMAGE ANALYSIS SOCIETY
                  MiniMammographic Database

1st column: MIAS database reference number.
3rd column: Class of abnormality present:
                CALC - Calcification
5th,6th columns: x,y image-coordinates of centre of abnormality.
   Coordinate system origin is the bottom-left corner.

=================================================================

"""

#: Info.txt lines, every shape the real file has (trailing spaces included)
MIAS_LINES = [
    "mdb001 G CIRC B 535 425 197",
    "mdb002 G CIRC B 522 280 69",
    "mdb003 D NORM ",
    "mdb004 D NORM",
    "mdb005 F CIRC B 477 133 30",
    "mdb005 F CIRC B 500 168 26",
    "mdb006 F SPIC M 10 1020 40",  # near the top-left corner: box clipped at 0
    "mdb006 F MISC M 1000 10 40",  # near the bottom-right corner: box clipped at 1023
    "mdb007 F CIRC B",  # a mass without a location
    "mdb008 D CALC M *NOTE 3* ",  # widely distributed calcifications
    "mdb009 G ARCH M 100 200 30",
    "mdb010 F MISC M 300 300 20",  # listed, but its PGM is not in the folder
]
MIAS_PRESENT = ["mdb001", "mdb002", "mdb003", "mdb004", "mdb005", "mdb006", "mdb007", "mdb008", "mdb009", "mdb011"]


def pgm(path: Path, width: int = 1024, height: int = 1024) -> Path:
    """An 8-bit binary PGM like the MIAS ones (the importers only read its header)."""
    path.write_bytes(b"P5\n%d %d\n255\n" % (width, height) + bytes(width * height))
    return path


def build_mias(root: Path) -> Path:
    """Info.txt + PGMs; mdb011 exists but is not in Info.txt, mdb010 is listed but absent."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Info.txt").write_text(MIAS_HEADER + "\n".join(MIAS_LINES) + "\n\n====\n", encoding="latin-1")
    for ref in MIAS_PRESENT:
        pgm(root / f"{ref}.pgm")
    return root


# ------------------------------------------------------------------------ CBIS-DDSM

CBIS_MASS_COLUMNS = [
    "patient_id",
    "breast_density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "mass shape",
    "mass margins",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
CBIS_CALC_COLUMNS = [
    "patient_id",
    "breast density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "calc type",
    "calc distribution",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]
UID_A = "1.3.6.1.4.1.9590.100.1.2.422112722213189649807611434612228974994"
UID_B = "1.3.6.1.4.1.9590.100.1.2.342386194811267636608694132590482924515"


def cbis_dataset(subject: str, description: str, pixels: np.ndarray) -> Dataset:
    """A DICOM object as CBIS-DDSM distributes it, copied from a real file's header.

    Secondary Capture written by MATLAB, modality MG, PatientID = PatientName = the
    subject folder name (``Mass-Training_P_00001_LEFT_CC``, ``..._CC_1`` for an
    abnormality's mask and crop), a Study Instance UID of its own per subject, the
    view only in PatientOrientation ('CC' / 'MLO', one value, not the standard's two)
    and the side in the series-level Laterality; no ImageLaterality, no ViewPosition,
    no pixel spacing of any kind; a private block (0013,1010) 'CBIS-DDSM'.
    """
    match = re.match(r"^(?:Mass|Calc)-(?:Training|Test)_P_\d+_(LEFT|RIGHT)_(CC|MLO)", subject)
    side, view = (match.group(1)[0], match.group(2)) if match else ("", "")
    ds = Dataset()
    ds.SOPClassUID = UID(f.SECONDARY_CAPTURE)
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20160720"
    ds.ContentDate = "20160426"
    ds.StudyTime = "084501.123"
    ds.AccessionNumber = ""
    ds.Modality = "MG"
    ds.ConversionType = "WSD"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = description
    ds.PatientName = subject
    ds.PatientID = subject
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.BodyPartExamined = "BREAST"
    ds.SecondaryCaptureDeviceManufacturer = "MathWorks"
    ds.SecondaryCaptureDeviceManufacturerModelName = "MATLAB"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = "DDSM"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = view
    ds.Laterality = side
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    bits = 8 if pixels.dtype == np.uint8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = pixels.tobytes()
    ds.private_block(0x0013, "CTP", create=True).add_new(0x10, "LO", "CBIS-DDSM")
    return ds


def write_cbis(ds: Dataset, path: Path) -> Path:
    """CBIS-DDSM files are Implicit VR Little Endian."""
    return f.write(ds, path, transfer_syntax=ImplicitVRLittleEndian)


def eight_bit(pixels: np.ndarray, description: str, subject: str) -> Dataset:
    """An 8-bit mask or crop of an abnormality subject (``..._LEFT_CC_1``), as CBIS-DDSM stores them."""
    return cbis_dataset(subject, description, pixels.astype(np.uint8))


def rect_mask(x0: int, y0: int, x1: int, y1: int, rows: int = ROWS, cols: int = COLS) -> np.ndarray:
    """A full-size 0/255 mask whose nonzero pixels fill [x0..x1] x [y0..y1] (inclusive)."""
    mask = np.zeros((rows, cols), np.uint8)
    mask[y0 : y1 + 1, x0 : x1 + 1] = 255
    return mask


def cbis_full_pixels(subject: str, rows: int = ROWS, cols: int = COLS, seed: int = 0) -> np.ndarray:
    """16-bit film densities of a breast whose chest wall is on the side a DDSM film has it."""
    chest_wall = "left" if "_LEFT_" in subject else "right"
    return f.breast_phantom(rows, cols, chest_wall, bits=16, seed=seed)


def cbis_full_image(
    tree: Path,
    subject: str,
    rows: int = ROWS,
    cols: int = COLS,
    seed: int = 0,
    study_folder: str = "07-20-2016-DDSM-NA-74994",
) -> Path:
    """The full mammogram, in folders named as the NBIA Data Retriever names them."""
    ds = cbis_dataset(subject, "full mammogram images", cbis_full_pixels(subject, rows, cols, seed))
    return write_cbis(ds, tree / subject / study_folder / "1.000000-full mammogram images-24515" / "1-1.dcm")


def cbis_roi(tree: Path, subject: str, mask: np.ndarray, one_series: bool = False) -> Path:
    """The ROI subject: a mask and a cropped image, in two series (or one, a known quirk)."""
    study = tree / subject / "07-21-2016-DDSM-NA-09887"
    crop_series = "1.000000-ROI mask images-92468" if one_series else "1.000000-cropped images-21987"
    mask_series = "1.000000-ROI mask images-92468"
    crop = eight_bit(np.full((12, 10), 120, np.uint8), "ROI mask images" if one_series else "cropped images", subject)
    write_cbis(crop, study / crop_series / "1-1.dcm")
    return write_cbis(eight_bit(mask, "ROI mask images", subject), study / mask_series / "1-2.dcm")


def cbis_row(patient: str, side: str, view: str, abn: int, subject: str, roi_subject: str, **values: str) -> dict:
    """One CSV row with the CSV's own (non-matching) UID paths, as TCIA publishes them."""
    row = {
        "patient_id": patient,
        "breast_density": "3",
        "left or right breast": side,
        "image view": view,
        "abnormality id": str(abn),
        "abnormality type": "mass",
        "mass shape": "OVAL",
        "mass margins": "CIRCUMSCRIBED",
        "assessment": "4",
        "pathology": "MALIGNANT",
        "subtlety": "4",
        "image file path": f"{subject}/{UID_A}/{UID_B}/000000.dcm",
        "cropped image file path": f"{roi_subject}/{UID_A}/{UID_B}/000000.dcm",
        "ROI mask file path": f"{roi_subject}/{UID_A}/{UID_B}/000001.dcm\n",  # real CSVs end it with \n
    }
    row.update(values)
    return row


def write_csv(path: Path, columns: list[str], rows: list[dict], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def build_cbis(root: Path) -> Path:
    """Five images of four patients; see the expectations in test_importers.py.

    - P_00001 LEFT CC (train): two masses merged into one record, a third whose ROI
      folder is missing (listed in extra['skipped']), and a calcification (calc CSV).
    - P_00001 LEFT MLO (train): mask and crop in ONE series, both described as masks.
    - P_00002 RIGHT MLO (test): files at exactly the CSV paths; spacing in the header.
    - P_00003 RIGHT CC (test): full image missing -> skipped, no record.
    - P_00004 LEFT CC (train): ROI folder missing -> its only mass skipped, no record.
    """
    tree = root / "CBIS-DDSM"
    s1 = "Mass-Training_P_00001_LEFT_CC"
    cbis_full_image(tree, s1)
    cbis_roi(tree, f"{s1}_1", rect_mask(5, 10, 14, 19))
    cbis_roi(tree, f"{s1}_2", rect_mask(30, 40, 39, 49))
    s2 = "Mass-Training_P_00001_LEFT_MLO"
    cbis_full_image(tree, s2)
    cbis_roi(tree, f"{s2}_1", rect_mask(0, 0, 47, 63), one_series=True)
    # P_00002: the tree matches the CSV paths exactly (an older download layout)
    s3 = "Mass-Test_P_00002_RIGHT_MLO"
    exact = f"{UID_A}/{UID_B}"
    write_cbis(cbis_dataset(s3, "full mammogram images", cbis_full_pixels(s3)), tree / s3 / exact / "000000.dcm")
    write_cbis(
        eight_bit(rect_mask(20, 30, 20, 30), "ROI mask images", f"{s3}_1"), tree / f"{s3}_1" / exact / "000001.dcm"
    )
    write_cbis(
        eight_bit(np.ones((4, 4), np.uint8), "cropped images", f"{s3}_1"), tree / f"{s3}_1" / exact / "000000.dcm"
    )
    s5 = "Mass-Training_P_00004_LEFT_CC"
    cbis_full_image(tree, s5)

    train = [
        cbis_row("P_00001", "LEFT", "CC", 1, s1, f"{s1}_1", pathology="MALIGNANT", assessment="4"),
        cbis_row("P_00001", "LEFT", "CC", 2, s1, f"{s1}_2", pathology="BENIGN_WITHOUT_CALLBACK", assessment="0"),
        cbis_row("P_00001", "LEFT", "CC", 3, s1, f"{s1}_3", pathology="BENIGN", assessment="3"),
        cbis_row("P_00001", "LEFT", "MLO", 1, s2, f"{s2}_1", pathology="BENIGN", assessment="3"),
        cbis_row("P_00004", "LEFT", "CC", 1, s5, f"{s5}_1"),
    ]
    test = [
        cbis_row("P_00002", "RIGHT", "MLO", 1, s3, f"{s3}_1", pathology="MALIGNANT", assessment="5"),
        cbis_row("P_00003", "RIGHT", "CC", 1, "Mass-Test_P_00003_RIGHT_CC", "Mass-Test_P_00003_RIGHT_CC_1"),
    ]
    write_csv(root / "mass_case_description_train_set.csv", CBIS_MASS_COLUMNS, train)
    write_csv(root / "mass_case_description_test_set.csv", CBIS_MASS_COLUMNS, test)
    calc = {
        **cbis_row(
            "P_00001",
            "LEFT",
            "CC",
            1,
            "Calc-Training_P_00001_LEFT_CC",
            "Calc-Training_P_00001_LEFT_CC_1",
            pathology="BENIGN",
            assessment="2",
        ),
        "breast density": "3",
        "abnormality type": "calcification",
        "calc type": "PUNCTATE",
        "calc distribution": "CLUSTERED",
    }
    write_csv(root / "calc_case_description_train_set.csv", CBIS_CALC_COLUMNS, [calc])
    return root


# ---------------------------------------------------------------------- VinDr-Mammo

VINDR_BREAST_COLUMNS = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
]
VINDR_FINDING_COLUMNS = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "finding_categories",
    "finding_birads",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "split",
]

#: (study, image, laterality, view, breast BI-RADS, density, split, on disk)
VINDR_IMAGES = [
    ("s1", "i1_lcc", "L", "CC", "BI-RADS 4", "DENSITY C", "training", True),
    ("s1", "i1_lmlo", "L", "MLO", "BI-RADS 4", "DENSITY C", "training", True),
    ("s1", "i1_rcc", "R", "CC", "BI-RADS 1", "DENSITY C", "training", True),
    ("s1", "i1_rmlo", "R", "MLO", "BI-RADS 1", "DENSITY C", "training", False),
    ("s2", "i2_lcc", "L", "CC", "BI-RADS 3", "DENSITY B", "test", True),
]

#: (image, categories, finding BI-RADS, box or None)
VINDR_FINDINGS = [
    ("i1_lcc", "['Mass']", "BI-RADS 4", (10.5, 20.25, 30.0, 40.75)),
    ("i1_lcc", "['Mass', 'Suspicious Calcification']", "BI-RADS 5", (1.0, 2.0, 5.0, 6.0)),
    ("i1_lmlo", "['Suspicious Calcification']", "BI-RADS 4", (3.0, 3.0, 9.0, 9.0)),
    ("i1_rcc", "['No Finding']", "BI-RADS 1", None),
    ("i1_rmlo", "['Mass']", "BI-RADS 4", (1.0, 1.0, 2.0, 2.0)),
    ("i2_lcc", "['Mass']", "BI-RADS 3", (0.0, 0.0, 47.0, 63.0)),
]


def vindr_dataset(
    study: str, series: str, image: str, side: str, view: str, rows: int = ROWS, cols: int = COLS, seed: int = 0
) -> Dataset:
    """A VinDr-Mammo file: de-identified by keeping a fixed list of tags (side, view, spacing, display
    tags kept; PatientID, names and dates removed) and replacing the UIDs by the hashes that name the
    study folder and the files (the CSVs' study_id, series_id, image_id)."""
    ds = f.mammogram(f.Patient(patient_id=study), side, view, rows=rows, cols=cols, seed=seed)
    for keyword in (
        "PatientID",
        "PatientName",
        "PatientBirthDate",
        "AccessionNumber",
        "StudyDate",
        "StudyTime",
        "AcquisitionDate",
        "AcquisitionTime",
        "ContentDate",
        "ContentTime",
        "StudyDescription",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, image
    return ds


def build_vindr(root: Path) -> Path:
    """Two studies, five images (one not downloaded), six finding rows."""
    breast_rows, finding_rows = [], []
    info = {}
    for study, image, side, view, birads, density, split, on_disk in VINDR_IMAGES:
        row = {
            "study_id": study,
            "series_id": f"ser_{study}",
            "image_id": image,
            "laterality": side,
            "view_position": view,
            "height": str(ROWS),
            "width": str(COLS),
            "breast_birads": birads,
            "breast_density": density,
            "split": split,
        }
        breast_rows.append(row)
        info[image] = row
        if on_disk:
            f.write(vindr_dataset(study, f"ser_{study}", image, side, view), root / "images" / study / f"{image}.dicom")
    for image, categories, birads, box in VINDR_FINDINGS:
        values = ("", "", "", "") if box is None else tuple(str(v) for v in box)
        coords = dict(zip(("xmin", "ymin", "xmax", "ymax"), values, strict=True))
        finding_rows.append({**info[image], "finding_categories": categories, "finding_birads": birads, **coords})
    write_csv(root / "breast-level_annotations.csv", VINDR_BREAST_COLUMNS, breast_rows)
    write_csv(root / "finding_annotations.csv", VINDR_FINDING_COLUMNS, finding_rows)
    return root


# ------------------------------------------------------------------------- INbreast

INBREAST_COLUMNS = [
    "Patient ID",
    "Patient age",
    "Laterality",
    "View",
    "Acquisition date",
    "File Name",
    "ACR",
    "Bi-Rads",
]

#: (FileID, hash, side, view in the file name, Bi-Rads, PatientID in the DICOM header)
INBREAST_IMAGES = [
    ("22678622", "61b13c59bcba149e", "R", "CC", "6", "removed"),
    ("22678646", "61b13c59bcba149e", "R", "ML", "4a", "removed"),
    ("22678694", "61b13c59bcba149e", "L", "CC", "1", "removed"),
    ("20586908", "6c613a14b80a8591", "L", "ML", "6", "PAT-0042"),
]


def roi(name: str, points: list[tuple[float, float]]) -> dict:
    """An OsiriX ROI dict as INbreast's XML files hold them."""
    return {
        "Area": 0.0,
        "Center": "(0, 0, 0)",
        "Dev": 0.0,
        "IndexInImage": 0,
        "Max": 0.0,
        "Mean": 0.0,
        "Min": 0.0,
        "Name": name,
        "NumberOfPoints": len(points),
        "Point_mm": [f"({x * 0.07:.3f}, {y * 0.07:.3f}, 0)" for x, y in points],
        "Point_px": [f"({x:.6g}, {y:.6g})" for x, y in points],
        "Total": 0.0,
        "Type": 15 if len(points) > 1 else 19,
    }


MASS_POLYGON = [(10.5, 12.0), (20.0, 8.25), (25.5, 30.0), (12.0, 28.5)]  # box [10.5, 8.25, 25.5, 30.0]

INBREAST_ROIS = {
    "22678622": [
        roi("Mass", MASS_POLYGON),
        roi("Calcification", [(3.0, 4.0)]),
        roi("Spiculated Region", [(5.0, 5.0), (9.0, 5.0), (9.0, 9.0)]),
    ],
    "22678646": [
        roi("mass", [(1.0, 2.0), (3.0, 2.0), (3.0, 7.0)]),
        roi("Mass", [(30.0, 40.0), (40.0, 40.0), (40.0, 50.0)]),
    ],
    # 22678694: no XML file (a normal image)
    "20586908": [
        roi("Mass", [(0.0, 0.0), (47.0, 0.0), (47.0, 63.0)]),
        roi("Mass", [(5.0, 5.0), (6.0, 5.0), (6.0, 6.0)]),
    ],
}


def plist_bytes(rois: list[dict]) -> bytes:
    return plistlib.dumps({"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]})


def inbreast_dataset(
    patient_id: str, side: str, view: str, rows: int = ROWS, cols: int = COLS, seed: int = 0
) -> Dataset:
    """An INbreast DICOM: a Siemens MammoNovation FFDM whose anonymised header kept no view,
    no laterality and no study date; only the file name says which view it is."""
    ds = f.mammogram(
        f.Patient(patient_id=patient_id), side, "MLO" if view == "ML" else view, rows=rows, cols=cols, seed=seed
    )
    for keyword in (
        "ViewPosition",
        "ImageLaterality",
        "ViewCodeSequence",
        "PatientOrientation",
        "StudyDate",
        "AcquisitionDate",
        "ContentDate",
        "PixelSpacing",
        "ImagerPixelSpacing",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    ds.Manufacturer, ds.ManufacturerModelName = "SIEMENS", "Mammomat Novation DR"
    return ds


def build_inbreast(root: Path) -> Path:
    """Four images of two patients: AllDICOMs, AllXML (three files) and the ';' CSV."""
    rows = []
    for file_id, name_hash, side, view, birads, patient_id in INBREAST_IMAGES:
        ds = inbreast_dataset(patient_id, side, view, seed=len(rows))
        f.write(ds, root / "AllDICOMs" / f"{file_id}_{name_hash}_MG_{side}_{view}_ANON.dcm")
        rows.append(
            {
                "Patient ID": "removed",
                "Patient age": "removed",
                "Laterality": side,
                "View": view,
                "Acquisition date": "201001",
                "File Name": file_id,
                "ACR": "2",
                "Bi-Rads": birads,
            }
        )
        if file_id in INBREAST_ROIS:
            xml = root / "AllXML" / f"{file_id}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_bytes(plist_bytes(INBREAST_ROIS[file_id]))
    write_csv(root / "INbreast.csv", INBREAST_COLUMNS, rows, delimiter=";")
    return root


# ----------------------------------------------------------------------------- CMMD

CMMD_MANIFEST = "manifest-1616439774456"  # the NBIA Data Retriever's download folder
CMMD_CLINICAL_STEM = "CMMD_clinicaldata_revision"
CMMD_CLINICAL_COLUMNS = ["ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype"]
CMMD_ROWS, CMMD_COLS = 160, 128  # 160 rows x 128 columns (width 128, height 160)

#: clinical rows as the .xlsx holds them (numbers as numbers, an empty subtype as an empty cell)
CMMD_CLINICAL = [
    ("D1-0001", "L", 44, 2, "mass", "Benign", None),  # the right breast has no row
    ("D1-0002", "L", 51, 2, "calcification", "Malignant", None),
    ("D1-0002", "R", 51, 2, "mass", "Benign", None),
    ("D2-0001", "R", 60, 2, "both", "Malignant", "Luminal B"),
    ("D2-0099", "L", 38, 2, "mass", "Malignant", "triple negative"),  # no images downloaded
]

#: (ID1, study folder, series folder, file, side, view) of every DICOM file written
CMMD_IMAGES = [
    ("D1-0001", "07-18-2010-NA-NA-79377", "1.000000-NA-70244", "1-1.dcm", "L", "CC"),
    ("D1-0001", "07-18-2010-NA-NA-79377", "1.000000-NA-70244", "1-2.dcm", "L", "MLO"),
    ("D1-0001", "07-18-2010-NA-NA-79377", "1.000000-NA-70244", "1-3.dcm", "R", "CC"),
    ("D1-0001", "07-18-2010-NA-NA-79377", "1.000000-NA-70244", "1-4.dcm", "R", "MLO"),
    ("D1-0002", "07-20-2011-NA-NA-17735", "1.000000-NA-10325", "1-1.dcm", "L", "CC"),
    ("D1-0002", "07-20-2011-NA-NA-17735", "1.000000-NA-10325", "1-2.dcm", "R", "MLO"),
    ("D2-0001", "07-18-2012-NA-NA-51473", "1.000000-NA-40963", "1-1.dcm", "R", "CC"),
    ("D2-0001", "07-18-2012-NA-NA-51473", "1.000000-NA-40963", "1-2.dcm", "R", "MLO"),
]

#: image_id -> expected record.extra of the importer
CMMD_EXPECTED_EXTRA = {
    "D1-0001_1-1": {"lesion_location_known": False, "breast_pathology": "benign", "abnormality": "mass", "age": 44},
    "D1-0001_1-3": {"lesion_location_known": False},
    "D1-0002_1-1": {
        "lesion_location_known": False,
        "breast_pathology": "malignant",
        "abnormality": "calcification",
        "age": 51,
    },
    "D1-0002_1-2": {"lesion_location_known": False, "breast_pathology": "benign", "abnormality": "mass", "age": 51},
    "D2-0001_1-2": {
        "lesion_location_known": False,
        "breast_pathology": "malignant",
        "abnormality": "both",
        "subtype": "Luminal B",
        "age": 60,
    },
}


def cmmd_dataset(patient_id: str, study_uid: str, side: str, view: str, number: int, seed: int = 0) -> Dataset:
    """A CMMD DICOM as TCIA distributes it: Digital Mammography X-Ray For Presentation,
    MG, 8-bit MONOCHROME2, PatientID = ID1, the side in ImageLaterality and the view
    ONLY in ViewCodeSequence (SNOMED CT, scheme "SCT"); no ViewPosition, no
    PatientOrientation and no pixel spacing of any kind."""
    ds = Dataset()
    ds.SOPClassUID = UID(f.MG_PRESENTATION)
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "MG"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.BodyPartExamined = "BREAST"
    ds.Manufacturer = "SIEMENS"
    ds.ImageLaterality = side
    code, meaning = f.VIEW_CODES_SCT[view]
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "SCT", meaning
    ds.ViewCodeSequence = Sequence([item])
    pixels = f.breast_phantom(CMMD_ROWS, CMMD_COLS, "left" if side == "L" else "right", bits=8, seed=seed).astype(
        np.uint8
    )
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    return ds


def write_xlsx(path: Path, sheet: str, columns: list[str], rows: list[tuple]) -> Path:
    """A one-sheet workbook as openpyxl writes it (None -> an empty cell)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    worksheet.append(columns)
    for row in rows:
        worksheet.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_cmmd_clinical_csv(folder: Path, delimiter: str = ",") -> Path:
    """The clinical file as a spreadsheet's CSV export (numbers without '.0', empty cells empty)."""
    rows = [
        dict(zip(CMMD_CLINICAL_COLUMNS, ["" if v is None else str(v) for v in row], strict=True))
        for row in CMMD_CLINICAL
    ]
    return write_csv(folder / f"{CMMD_CLINICAL_STEM}.csv", CMMD_CLINICAL_COLUMNS, rows, delimiter=delimiter)


def build_cmmd(root: Path) -> Path:
    """CMMD as downloaded: <root>/manifest-.../CMMD/<ID1>/<study>/<series>/1-<k>.dcm, clinical .xlsx at <root>.

    Writes the eight DICOM files of CMMD_IMAGES (D1-0001 with all four views, whose
    right breast has no clinical row; D1-0002 with one view per breast, each with its
    own row; D2-0001 with a subtype) and CMMD_clinicaldata_revision.xlsx (sheet
    "Sheet1") holding CMMD_CLINICAL, including D2-0099 whose images are absent. The
    tests expect eight records, no findings, and CMMD_EXPECTED_EXTRA.
    """
    tree = root / CMMD_MANIFEST / "CMMD"
    studies: dict[str, str] = {}
    for seed, (patient, study, series, name, side, view) in enumerate(CMMD_IMAGES):
        study_uid = studies.setdefault(patient, generate_uid())
        ds = cmmd_dataset(patient, study_uid, side, view, int(name[2]), seed=seed)
        f.write(ds, tree / patient / study / series / name)
    write_xlsx(root / f"{CMMD_CLINICAL_STEM}.xlsx", "Sheet1", CMMD_CLINICAL_COLUMNS, CMMD_CLINICAL)
    return root


# ------------------------------------------------------------------------- CDD-CESM

CDD_LOW_ENERGY = "Low energy images of CDD-CESM"
CDD_SUBTRACTED = "Subtracted images of CDD-CESM"
CDD_SEGMENTATIONS = "Radiology_hand_drawn_segmentations_v2.csv"
CDD_ANNOTATION_STEM = "Radiology manual annotations"
CDD_VIA_HEADER = "#filename,file_size,file_attributes,region_count,region_id,region_shape_attributes,region_attributes"
CDD_COLUMNS = [
    "Image_name",
    "Patient_ID",
    "Side",
    "Type",
    "Age",
    "Breast density (ACR)",
    "BIRADS",
    "Findings",
    "View",
    "Tags",
    "Machine",
    "Pathology Classification/ Follow up",
]
CDD_ROWS, CDD_COLS = 160, 128  # every JPEG: 160 rows x 128 columns (width 128, height 160)

#: low-energy (DM) JPEGs written; P2_R_DM_CC is a 3-channel colour JPEG
CDD_DM_IMAGES = ["P1_L_DM_CC", "P1_L_DM_MLO", "P1_R_DM_CC", "P1_R_DM_MLO", "P2_R_DM_CC", "P2_R_DM_MLO", "P5_L_DM_CC"]
CDD_COLOUR = "P2_R_DM_CC"
#: subtracted (CM) JPEGs written: never recorded
CDD_CM_IMAGES = ["P1_L_CM_CC", "P1_L_CM_MLO", "P2_R_CM_CC"]

#: rows of the annotation sheet "all" (numbers as numbers); "P1_R_DM_MLO " keeps a stray
#: space, P2_R_DM_MLO's Side disagrees with its file name, P7 has no image
CDD_SHEET = [
    ("P1_L_DM_CC", "1", "L", "DM", 45, "C", 4, "irregular Mass", "CC", "", "GE", "Malignant"),
    ("P1_L_DM_MLO", "1", "L", "DM", 45, "C", 4, "mass", "MLO", "", "GE", "Malignant"),
    ("P1_R_DM_CC", "1", "R", "DM", 45, "C", 1, None, "CC", None, "GE", "Normal"),
    ("P1_R_DM_MLO ", "1", "R", "DM", 45, "C", 1, None, "MLO", None, "GE", "Normal"),
    ("P1_L_CM_CC", "1", "L", "CESM", 45, "C", 4, "mass", "CC", "", "GE", "Malignant"),
    ("P2_R_DM_CC", "2", "R", "DM", 61, "B", "3$5", "Mass and calcifications", "CC", "", "Hologic", "Benign$Malignant"),
    ("P2_R_DM_MLO", "2", "L", "DM", 61, "B", 2, "architectural distortion", "MLO", "", "Hologic", "Benign"),
    ("P5_L_DM_CC", "5", "L", "DM", 52, "D", 3, "oval circumscribed mass", "CC", "", "GE", "Benign"),
    ("P7_L_DM_CC", "7", "L", "DM", 39, "A", 2, "mass", "CC", "", "GE", "Benign"),
]

THETA_90 = 1.5707963267948966  # VIA's ellipse angle is in radians

#: VIA rows: (#filename as written, region shape or {} for an image without a region)
CDD_REGIONS = [
    ("P1_L_DM_CC.jpg", {"name": "polygon", "all_points_x": [30, 50, 45, 28], "all_points_y": [40, 42, 70, 60]}),
    ("P1_L_CM_CC.jpg", {"name": "polygon", "all_points_x": [1, 2, 3], "all_points_y": [1, 2, 3]}),
    ("P1_L_DM_MLO.jpg", {"name": "ellipse", "cx": 60, "cy": 80, "rx": 10.5, "ry": 6}),
    ("P1_L_DM_MLO.jpg", {"name": "ellipse", "cx": 90, "cy": 50, "rx": 20, "ry": 10, "theta": THETA_90}),
    ("P1_R_DM_CC.jpg", {}),
    ("P2_R_DM_CC.jpg", {"name": "circle", "cx": 100, "cy": 120, "r": 40}),
    ("P2_R_DM_CC.jpg", {"name": "point", "cx": 20, "cy": 30}),
    ("P2_R_CM_CC.jpg", {"name": "circle", "cx": 10, "cy": 10, "r": 5}),
    ("P2_R_DM_MLO.jpg", {"name": "polyline", "all_points_x": [10, 20, 30], "all_points_y": [10, 15, 12]}),
    ("P5_L_DM_CC .jpg", {"name": "polygon", "all_points_x": [10.4, 20.6, 15.2], "all_points_y": [5.5, 6.1, 25.9]}),
]

#: image_id -> expected mass boxes (inclusive pixel indices)
CDD_EXPECTED_MASSES = {
    "P1_L_DM_CC": [[28, 40, 50, 70]],
    "P1_L_DM_MLO": [[49, 74, 71, 86], [80, 30, 100, 70]],  # ellipse; ellipse turned by 90 degrees
    "P2_R_DM_CC": [[60, 80, 127, 159]],  # circle clipped to the image
    "P5_L_DM_CC": [[10, 5, 21, 26]],  # "P5_L_DM_CC .jpg" in the VIA export
}


def via_quote(text: str) -> str:
    """A CSV field quoted as VIA (and the csv module) quotes it: in '"', inner quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def write_via_csv(path: Path, regions: list[tuple[str, dict]], sizes: dict[str, int]) -> Path:
    """The VIA 2 export: JSON columns always quoted, region_count / region_id per file name."""
    counts: dict[str, int] = {}
    for name, shape in regions:
        counts[name] = counts.get(name, 0) + (1 if shape else 0)
    lines, seen = [CDD_VIA_HEADER], {}
    for name, shape in regions:
        region_id = seen.get(name, 0)
        seen[name] = region_id + 1
        shape_text = json.dumps(shape, separators=(",", ":")) if shape else "{}"
        lines.append(
            ",".join(
                [
                    name,
                    str(sizes.get(name.replace(" ", ""), 0)),
                    via_quote("{}"),
                    str(counts[name]),
                    str(region_id if shape else 0),
                    via_quote(shape_text),
                    via_quote("{}"),
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_cdd_annotation_csv(root: Path, delimiter: str = ",") -> Path:
    """The annotation sheet as a spreadsheet's CSV export."""
    rows = [dict(zip(CDD_COLUMNS, ["" if v is None else str(v) for v in row], strict=True)) for row in CDD_SHEET]
    return write_csv(root / f"{CDD_ANNOTATION_STEM}.csv", CDD_COLUMNS, rows, delimiter=delimiter)


def cdd_jpeg(path: Path, side: str, seed: int, colour: bool = False) -> int:
    """A breast-shaped 8-bit JPEG (3-channel when ``colour``); returns its file size."""
    pixels = f.breast_phantom(CDD_ROWS, CDD_COLS, "left" if side == "L" else "right", bits=8, seed=seed).astype(
        np.uint8
    )
    if colour:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), pixels):
        raise OSError(f"cannot write {path}")
    return path.stat().st_size


def build_cdd_cesm(root: Path) -> Path:
    """CDD-CESM as downloaded: the two image folders, the VIA export and the annotation .xlsx.

    Writes the low-energy JPEGs CDD_DM_IMAGES (P1 with four views, P2_R_DM_CC in
    colour) and the subtracted JPEGs CDD_CM_IMAGES, the VIA export CDD_REGIONS
    (polygon, ellipses with and without theta, circle, point, polyline, a "{}" row, CM
    rows, a "P5_L_DM_CC .jpg" file name) and "Radiology manual annotations.xlsx"
    (sheet "all") holding CDD_SHEET. The tests expect seven records, the mass boxes
    CDD_EXPECTED_MASSES, and P2_R_DM_MLO's polyline and P2_R_DM_CC's point as other
    findings.
    """
    sizes = {}
    for seed, name in enumerate(CDD_DM_IMAGES + CDD_CM_IMAGES):
        folder = CDD_LOW_ENERGY if "_DM_" in name else CDD_SUBTRACTED
        sizes[f"{name}.jpg"] = cdd_jpeg(
            root / folder / f"{name}.jpg", name.split("_")[1], seed, colour=name == CDD_COLOUR
        )
    write_via_csv(root / CDD_SEGMENTATIONS, CDD_REGIONS, sizes)
    write_xlsx(root / f"{CDD_ANNOTATION_STEM}.xlsx", "all", CDD_COLUMNS, CDD_SHEET)
    return root
