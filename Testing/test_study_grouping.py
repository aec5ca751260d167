"""Files into studies: folders, mixes, patients never mixed, duplicates, repeated views."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicom_factory as f
from mommi.errors import (
    MissingPathError,
    MixedPatientsError,
    MultipleStudiesError,
    NoStudyFoundError,
)
from mommi.study import HANGING_ORDER, View, load_studies, load_study


def test_four_view_study_from_a_folder(tmp_path: Path, patient: f.Patient) -> None:
    f.four_view_study(tmp_path, patient)
    study = load_study(tmp_path)
    assert set(study.images) == set(HANGING_ORDER)
    assert study.missing_views == []
    assert study.patient_key.startswith("P-") and patient.patient_id not in study.patient_key
    assert study.study_uid == patient.study_uid


def test_files_and_folders_mixed_and_repeated_count_once(tmp_path: Path, patient: f.Patient) -> None:
    paths = f.four_view_study(tmp_path / "exam", patient)
    study = load_study([paths["R-CC"], tmp_path / "exam", paths["R-CC"]])
    assert len(study.images) == 4 and not study.set_aside


def test_missing_views_are_reported_not_refused(tmp_path: Path, patient: f.Patient) -> None:
    paths = f.four_view_study(tmp_path, patient)
    paths["L-MLO"].unlink()
    study = load_study(tmp_path)
    assert study.missing_views == [View.L_MLO]
    assert "L-MLO is missing" in study.warnings


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    collection = load_studies([tmp_path / "empty"])
    assert collection.studies == []
    assert [type(e) for e in collection.errors] == [NoStudyFoundError]
    with pytest.raises(NoStudyFoundError):
        load_study(tmp_path / "empty")


def test_missing_path(tmp_path: Path) -> None:
    collection = load_studies([tmp_path / "nope"])
    assert [type(e) for e in collection.errors] == [MissingPathError]


def test_folder_of_two_patients_gives_two_studies(tmp_path: Path) -> None:
    f.four_view_study(tmp_path / "a", f.Patient("PAT-A"))
    f.four_view_study(tmp_path / "b", f.Patient("PAT-B"), vendor="GE")
    collection = load_studies([tmp_path])
    assert len(collection.studies) == 2
    assert all(len(s.images) == 4 for s in collection.studies)
    with pytest.raises(MixedPatientsError):
        load_study(tmp_path)


def test_same_study_uid_but_another_patient_is_refused(tmp_path: Path, patient: f.Patient) -> None:
    f.four_view_study(tmp_path, patient)
    intruder = f.Patient("PAT-OTHER", study_uid=patient.study_uid)
    f.write(f.mammogram(intruder, "L", "CC"), tmp_path / "intruder.dcm")
    study = load_study(tmp_path)
    assert len(study.images) == 4
    assert [e.path.name for e in study.errors if isinstance(e, MixedPatientsError)] == ["intruder.dcm"]
    assert study.images[View.L_CC].patient_id == patient.patient_id


def test_prior_and_current_exam_of_one_patient(tmp_path: Path) -> None:
    f.four_view_study(tmp_path / "2025", f.Patient("PAT-A", study_date="20250110"))
    f.four_view_study(tmp_path / "2026", f.Patient("PAT-A", study_date="20260110"))
    assert len(load_studies([tmp_path]).studies) == 2
    with pytest.raises(MultipleStudiesError) as info:
        load_study(tmp_path)
    assert "20250110" in info.value.reason and "20260110" in info.value.reason


def test_duplicate_sop_instance_is_detected(tmp_path: Path, patient: f.Patient) -> None:
    paths = f.four_view_study(tmp_path, patient)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "again.dcm").write_bytes(paths["R-CC"].read_bytes())
    study = load_study(tmp_path)
    assert len(study.images) == 4
    assert [s.image.path.name for s in study.set_aside] == ["again.dcm"]
    assert "duplicate" in study.set_aside[0].reason


def test_same_view_twice_takes_the_most_recent_acquisition(tmp_path: Path, patient: f.Patient) -> None:
    f.four_view_study(tmp_path, patient)
    retake = f.mammogram(patient, "R", "CC", acquisition_time="113000", seed=9)
    f.write(retake, tmp_path / "retake.dcm")
    study = load_study(tmp_path)
    assert study.images[View.R_CC].path.name == "retake.dcm"
    assert [s.image.path.name for s in study.set_aside] == ["RCC.dcm"]
    assert any("most recent acquisition" in w and "retake.dcm" in w for w in study.warnings)


def test_dicomdir_and_text_files_are_ignored(tmp_path: Path, patient: f.Patient) -> None:
    f.four_view_study(tmp_path, patient)
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 200)
    (tmp_path / "README.txt").write_text("export from PACS")
    collection = load_studies([tmp_path])
    assert sorted(p.name for p in collection.ignored) == ["DICOMDIR", "README.txt"]
    assert collection.errors == []
