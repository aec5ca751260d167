"""Dataset profiles: public datasets opened by the product's own loading, as they are distributed.

The trees are written by the tests in each dataset's real layout (folder names, tags
present and absent, file names; see importer_fixtures.py for the header copies), and
read by the same ``load_studies`` / ``mommi study inspect`` / ``mommi analyze`` /
``mommi analyze-batch`` that read a hospital's DICOM.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

import dicom_factory as f
import importer_fixtures as fx
from mommi.cli.main import main
from mommi.runtime.dicom_outputs import read_back
from mommi.study import View, load_studies, load_study
from mommi.study.profiles import PROFILES

CBIS_SIZE = (320, 240)  # rows, columns: small, but a breast the pipeline can read
VIEWS = (("LEFT", "CC"), ("LEFT", "MLO"), ("RIGHT", "CC"), ("RIGHT", "MLO"))


def cbis_exam(
    tree: Path,
    collection: str = "Mass-Test",
    patient: str = "P_00173",
    views: tuple[tuple[str, str], ...] = VIEWS,
    abnormal: tuple[str, ...] = ("LEFT",),
) -> list[Path]:
    """One woman's CBIS-DDSM exam: a subject per view, and a mask + crop subject per abnormal view."""
    rows, cols = CBIS_SIZE
    files = []
    for seed, (side, view) in enumerate(views):
        subject = f"{collection}_{patient}_{side}_{view}"
        files.append(fx.cbis_full_image(tree, subject, rows=rows, cols=cols, seed=seed))
        if side in abnormal:
            fx.cbis_roi(tree, f"{subject}_1", fx.rect_mask(60, 100, 99, 139, rows=rows, cols=cols))
    return files


@pytest.fixture(scope="module")
def cbis_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CBIS-DDSM download: CSVs beside CBIS-DDSM/, two exams of masses and one of calcifications."""
    root = tmp_path_factory.mktemp("cbis-download")
    tree = root / "CBIS-DDSM"
    cbis_exam(tree)
    cbis_exam(tree, "Calc-Test", views=(("LEFT", "CC"),), abnormal=())
    cbis_exam(tree, "Mass-Training", "P_00005", views=(("RIGHT", "CC"), ("RIGHT", "MLO")), abnormal=("RIGHT",))
    fx.write_csv(root / "mass_case_description_test_set.csv", fx.CBIS_MASS_COLUMNS, [])
    return root


def test_every_profile_states_its_rules() -> None:
    assert {p.name for p in PROFILES} == {"CBIS-DDSM", "INbreast", "VinDr-Mammo", "CMMD", "CDD-CESM", "mini-MIAS"}
    assert all(p.rules for p in PROFILES)


# ------------------------------------------------------------------------ CBIS-DDSM


def test_cbis_four_view_exam_is_one_study(tmp_path: Path) -> None:
    files = cbis_exam(tmp_path / "CBIS-DDSM")
    study = load_study(tmp_path)
    assert set(study.images) == set(View)
    assert study.profile == "CBIS-DDSM" and study.study_uid == "CBIS-DDSM Mass-Test P_00173"
    assert sorted(str(i.path) for i in study.images.values()) == sorted(map(str, files))
    for view, image in study.images.items():
        subject = pydicom.dcmread(image.path, stop_before_pixels=True).PatientID
        assert (
            subject
            == f"Mass-Test_P_00173_{'LEFT' if view.laterality.value == 'L' else 'RIGHT'}_{view.projection.value}"
        )
        assert image.view_source == "PatientID (CBIS-DDSM)" and image.spacing is None
        assert any("digitiser" in w for w in image.warnings)
        assert not any(w.startswith("no credible pixel spacing") for w in image.warnings)
    # both left views have a mask and a crop: set aside, named as such, never decoded
    reasons = sorted(s.reason for s in study.set_aside)
    assert len(reasons) == 4 and all(s.image.pixels is None for s in study.set_aside)
    assert sum("ROI mask" in r for r in reasons) == 2 and sum("cropped image" in r for r in reasons) == 2
    assert any("gathered from" in w for w in study.warnings)


def test_cbis_download_groups_by_woman_and_abnormality_type(cbis_tree: Path) -> None:
    collection = load_studies([cbis_tree], keep_pixels=False)
    studies = {s.study_uid: s for s in collection.studies}
    assert set(studies) == {
        "CBIS-DDSM Mass-Test P_00173",
        "CBIS-DDSM Calc-Test P_00173",
        "CBIS-DDSM Mass-Training P_00005",
    }
    assert [v.value for v in studies["CBIS-DDSM Mass-Training P_00005"].images] == ["R-CC", "R-MLO"]
    # masses and calcifications of one woman: two exams of the same patient
    assert studies["CBIS-DDSM Mass-Test P_00173"].patient_key == studies["CBIS-DDSM Calc-Test P_00173"].patient_key
    assert studies["CBIS-DDSM Mass-Test P_00173"].patient_key != studies["CBIS-DDSM Mass-Training P_00005"].patient_key
    assert not collection.errors


def test_cbis_side_disagreeing_with_series_laterality_is_reported(tmp_path: Path) -> None:
    (path, *_) = cbis_exam(tmp_path / "CBIS-DDSM", views=(("LEFT", "CC"),))
    ds = pydicom.dcmread(path)
    ds.Laterality = "R"
    ds.save_as(path)
    (image,) = load_study(tmp_path).images.values()
    assert image.view is View.L_CC
    assert any("Laterality says right but the PatientID says left" in w for w in image.warnings)


def test_cbis_broken_view_is_an_error_of_its_exam(tmp_path: Path) -> None:
    files = cbis_exam(tmp_path / "CBIS-DDSM", abnormal=())
    files[0].write_bytes(files[0].read_bytes()[:600])  # cut off inside the header
    study = load_study(tmp_path)
    assert len(study.images) == 3
    (error,) = study.errors
    assert error.path == files[0] and "incomplete" in error.reason


def test_cbis_inspect_names_the_profile(cbis_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "inspect", str(cbis_tree)]) == 0
    text = capsys.readouterr().out
    assert "Study 1: CBIS-DDSM Calc-Test P_00173" in text
    assert text.count("read with the CBIS-DDSM dataset profile: side and view from PatientID") == 3
    assert "ROI mask of abnormality 1" in text and text.count("side and view from: PatientID (CBIS-DDSM)") == 3
    assert main(["study", "inspect", "--json", str(cbis_tree)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {s["profile"] for s in report["studies"]} == {"CBIS-DDSM"}
    assert all(v["profile"] == "CBIS-DDSM" for s in report["studies"] for v in s["views"].values())


def test_cbis_exam_analysed_with_dicom_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cbis_exam(tmp_path / "download" / "CBIS-DDSM")
    out = tmp_path / "result"
    assert main(["analyze", str(tmp_path / "download"), "--out", str(out), "--device", "cpu"]) == 0
    assert "set aside" in capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert result["study_uid"] == "CBIS-DDSM Mass-Test P_00173"
    assert sorted(result["views"]) == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert all(v["branch"] == "tri-view" and v["spacing_mm"] is None for v in result["views"].values())
    assert all(f["box_mm"] is None for f in result["findings"])
    # the set-aside warning names the abnormality's folder, not only "1-2.dcm"
    assert any(w.startswith("Mass-Test_P_00173_LEFT_CC_1/") for w in result["warnings"])
    sr = read_back(out / "findings-sr.dcm")
    assert len(sr.content.get_planar_roi_measurement_groups()) == len(result["findings"])
    for view in result["views"]:
        read_back(out / f"seg-{view}.dcm")


def test_cbis_download_analysed_by_analyze_batch(cbis_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "batch"
    assert main(["analyze-batch", str(cbis_tree), "--out", str(out), "--device", "cpu", "--no-dicom"]) == 0
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["study_uid"] for r in rows) == [
        "CBIS-DDSM Calc-Test P_00173",
        "CBIS-DDSM Mass-Test P_00173",
        "CBIS-DDSM Mass-Training P_00005",
    ]
    assert {r["status"] for r in rows} == {"done"}
    four = json.loads(next(out.glob("*Mass-Test_P_00173*/result.json")).read_text())
    assert len(four["views"]) == 4


# ------------------------------------------------------------------------- INbreast


def test_inbreast_views_from_the_file_name(tmp_path: Path) -> None:
    fx.build_inbreast(tmp_path)
    collection = load_studies([tmp_path / "AllDICOMs"], keep_pixels=False)
    studies = {s.study_uid: s for s in collection.studies}
    assert set(studies) == {"INbreast 61b13c59bcba149e", "INbreast 6c613a14b80a8591"}
    first = studies["INbreast 61b13c59bcba149e"]
    assert sorted(v.value for v in first.images) == ["L-CC", "R-CC", "R-MLO"]  # "ML" is INbreast's MLO
    image = first.images[View.R_MLO]
    assert image.view_source == "file name (INbreast)" and image.profile == "INbreast"
    assert (image.spacing.row_mm, image.spacing.source) == (0.07, "INbreast documented pixel size (70 um)")
    # anonymised PatientIDs ("removed") are not taken as one patient for everybody
    assert first.patient_key != studies["INbreast 6c613a14b80a8591"].patient_key


# ---------------------------------------------------------------------- VinDr-Mammo


def test_vindr_side_and_view_from_the_csv_when_the_header_lacks_them(tmp_path: Path) -> None:
    fx.build_vindr(tmp_path)
    path = tmp_path / "images" / "s1" / "i1_lmlo.dicom"
    ds = pydicom.dcmread(path)
    for keyword in ("ImageLaterality", "ViewPosition", "ViewCodeSequence", "PatientOrientation"):
        delattr(ds, keyword)
    ds.save_as(path)
    study = next(s for s in load_studies([tmp_path / "images"]).studies if View.L_MLO in s.images)
    image = study.images[View.L_MLO]
    assert image.view_source == "breast-level_annotations.csv (VinDr-Mammo)"
    assert image.patient_id == "VinDr-Mammo s1"
    # the other views of the study kept their header's answer (standard tags)
    assert study.images[View.L_CC].view_source.startswith("ImageLaterality")


def test_vindr_study_analysed_without_dicom_outputs_for_hashed_uids(tmp_path: Path) -> None:
    """VinDr-Mammo replaced every UID by a hash: no conformant SEG or SR can reference such files,
    so the analysis writes everything else and says why there are none."""
    fx.build_vindr(tmp_path / "vindr")
    out = tmp_path / "result"
    assert main(["analyze", str(tmp_path / "vindr" / "images" / "s1"), "--out", str(out), "--device", "cpu"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert sorted(result["views"]) == ["L-CC", "L-MLO", "R-CC"]
    assert not list(out.glob("*.dcm"))
    assert sum("not a valid DICOM UID" in w for w in result["warnings"]) == 3


# ----------------------------------------------------------------------------- CMMD


def cmmd_file(root: Path, patient: str, number: int, side: str, view: str, study_uid: str) -> Path:
    """A CMMD file: side in ImageLaterality, view only in ViewCodeSequence, no spacing, 8-bit."""
    ds = f.mammogram(f.Patient(patient_id=patient, study_uid=study_uid), side, view, seed=number)
    for keyword in ("ViewPosition", "PatientOrientation", "PixelSpacing", "ImagerPixelSpacing"):
        delattr(ds, keyword)
    ds.ViewCodeSequence[0].CodeValue, ds.ViewCodeSequence[0].CodingSchemeDesignator = (f.VIEW_CODES_SCT[view][0], "SCT")
    ds.ViewCodeSequence[0].CodeMeaning = f.VIEW_CODES_SCT[view][1]
    series = root / "CMMD" / patient / "07-18-2010-NA-NA-79377" / "1.000000-NA-70244"
    return f.write(ds, series / f"1-{number}.dcm")


def test_cmmd_exam_per_woman_and_no_spacing(tmp_path: Path) -> None:
    for number, (side, view) in enumerate((("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")), start=1):
        cmmd_file(tmp_path, "D1-0001", number, side, view, study_uid=f"1.2.3.{number}")  # a UID per file
    study = load_study(tmp_path)
    assert study.profile == "CMMD" and study.study_uid == "CMMD D1-0001" and len(study.images) == 4
    image = study.images[View.R_MLO]
    assert image.view_source.endswith("ViewCodeSequence") and image.spacing is None
    assert any("CMMD files carry no pixel spacing" in w for w in image.warnings)


# ------------------------------------------------------------------------- CDD-CESM


def cesm_jpeg(folder: Path, name: str, side: str, colour: bool = False) -> Path:
    pixels = (f.breast_phantom(200, 150, "left" if side == "L" else "right", bits=8)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if colour else pixels)
    return path


def test_cdd_cesm_low_energy_views_read_subtracted_set_aside(tmp_path: Path) -> None:
    low, sub = tmp_path / "Low energy images of CDD-CESM", tmp_path / "Subtracted images of CDD-CESM"
    for side, view in (("L", "CC"), ("L", "MLO"), ("R", "CC")):
        cesm_jpeg(low, f"P12_{side}_DM_{view}.jpg", side, colour=view == "MLO")
        cesm_jpeg(sub, f"P12_{side}_CM_{view}.jpg", side)
    cesm_jpeg(low, "P12_R_DM_MLO .jpg", "R")  # a distributed name with a stray space
    cesm_jpeg(low, "thumbnail.jpg", "R")  # no profile, no sidecar: ignored, as a PNG would be
    collection = load_studies([tmp_path])
    (study,) = collection.studies
    assert study.study_uid == "CDD-CESM P12" and study.profile == "CDD-CESM"
    assert set(study.images) == set(View)
    assert study.images[View.R_MLO].path.name == "P12_R_DM_MLO .jpg"
    assert len(study.set_aside) == 3 and all("subtracted" in s.reason for s in study.set_aside)
    mlo = study.images[View.L_MLO]
    assert mlo.file_format == "JPG" and "colour image converted to grey" in mlo.warnings
    assert any("CDD-CESM JPEG files carry no pixel spacing" in w for w in mlo.warnings)
    assert [p.name for p in collection.ignored] == ["thumbnail.jpg"]


# ------------------------------------------------------------ standard files unchanged


def test_standard_mammograms_are_read_as_without_profiles(tmp_path: Path) -> None:
    """No profile may change how a standard MG DICOM is read, even with an ID that looks like one."""
    f.four_view_study(tmp_path / "ge", f.Patient(patient_id="D1-0001"), vendor="GE")
    f.four_view_study(tmp_path / "hologic", f.Patient(patient_id="Mass-Test-0001"))
    for folder in ("ge", "hologic"):
        study = load_study(tmp_path / folder)
        assert study.profile == "" and len(study.images) == 4
        for image in study.images.values():
            assert image.profile == "" and image.exam_key == "" and image.view_source.startswith("ImageLaterality")
            assert image.spacing is not None and image.spacing.source.endswith(")")


@pytest.mark.parametrize(
    ("builder", "profile"),
    [
        (fx.build_cbis, "CBIS-DDSM"),
        (fx.build_inbreast, "INbreast"),
        (fx.build_vindr, "VinDr-Mammo"),
        (fx.build_cmmd, "CMMD"),
        (fx.build_cdd_cesm, "CDD-CESM"),
    ],
)
def test_each_download_opens_as_distributed(builder, profile: str, tmp_path: Path) -> None:  # noqa: ANN001
    """The whole download folder, truth files included: every exam read by its profile, no file error."""
    root = builder(tmp_path)
    collection = load_studies([root], keep_pixels=False)
    assert collection.studies and not collection.errors, collection.errors
    assert {s.profile for s in collection.studies} == {profile}
    assert not any(s.errors for s in collection.studies)
    truth = [p for p in collection.ignored if p.suffix in (".csv", ".xlsx", ".xml")]
    assert truth, "the dataset's truth files are listed as ignored, not read as images"


def test_cbis_roles_without_series_description(tmp_path: Path) -> None:
    """Older downloads: a full image without SeriesDescription is still read; an abnormality's file is not."""
    (full,) = cbis_exam(tmp_path / "CBIS-DDSM", views=(("LEFT", "CC"),))
    for path in [full, *tmp_path.glob("CBIS-DDSM/*_1/*/*/*.dcm")]:
        ds = pydicom.dcmread(path)
        del ds.SeriesDescription
        ds.save_as(path)
    study = load_study(tmp_path)
    assert list(study.images) == [View.L_CC]
    assert len(study.set_aside) == 2 and all(
        "abnormality 1 (ROI mask or cropped image)" in s.reason for s in study.set_aside
    )
