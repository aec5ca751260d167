"""Whatever DICOM comes in, the loader answers with an image or a typed error.

Two sources of variety: every real DICOM file shipped inside pydicom's wheel (CT,
MR, RT, ultrasound, odd encodings, compressed, deliberately broken files from many
vendors), and hypothesis-driven damage to a realistic mammogram header.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dicom_factory as f
from mommi.errors import StudyInputError
from mommi.study import MammoImage, load_studies, read_image

PYDICOM_FILES = sorted((Path(pydicom.__file__).parent / "data" / "test_files").rglob("*.dcm"))


def _read_or_typed_error(path: Path) -> MammoImage | StudyInputError:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the odd files; that is their point
        try:
            return read_image(path, keep_pixels=False)
        except StudyInputError as exc:
            assert exc.path == path and exc.reason
            assert type(exc) is not StudyInputError, f"untyped error: {exc.reason}"
            return exc


def test_there_are_real_files_to_try() -> None:
    assert len(PYDICOM_FILES) > 50


@pytest.mark.parametrize("path", PYDICOM_FILES, ids=lambda p: p.name)
def test_real_dicom_files_of_all_kinds(path: Path) -> None:
    outcome = _read_or_typed_error(path)
    if isinstance(outcome, MammoImage):  # nothing non-mammographic may slip through as a view
        assert outcome.laterality is not None and outcome.view_position


def test_a_folder_of_all_of_them_loads_without_raising() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collection = load_studies([PYDICOM_FILES[0].parent], keep_pixels=False)
    assert not any(s.images for s in collection.studies)  # none of them is a mammogram
    assert len(collection.errors) + sum(len(s.errors) for s in collection.studies) > 50


DAMAGE = st.sampled_from(
    [
        ("delete", "ViewPosition"),
        ("delete", "ImageLaterality"),
        ("delete", "PixelSpacing"),
        ("delete", "ImagerPixelSpacing"),
        ("delete", "PhotometricInterpretation"),
        ("delete", "BitsStored"),
        ("delete", "Rows"),
        ("delete", "SOPClassUID"),
        ("delete", "StudyInstanceUID"),
        ("delete", "WindowWidth"),
        ("set", "ViewPosition", "??"),
        ("set", "ImageLaterality", "B"),
        ("set", "PixelSpacing", [0, 0]),
        ("set", "PixelSpacing", [-1, 3]),
        ("set", "BitsStored", 17),
        ("set", "BitsStored", 1),
        ("set", "Rows", 7),
        ("set", "Columns", 100000),
        ("set", "WindowWidth", 0),
        ("set", "WindowCenter", "x"),
        ("set", "VOILUTFunction", "CUBIC"),
        ("set", "PhotometricInterpretation", "PALETTE COLOR"),
        ("set", "PhotometricInterpretation", "YBR_FULL"),
        ("set", "PixelRepresentation", 1),
        ("set", "SamplesPerPixel", 3),
        ("set", "PatientOrientation", ["Q", "Z"]),
        ("set", "Modality", "CT"),
        ("set", "NumberOfFrames", 0),
        ("set", "RescaleSlope", 0),
        ("truncate", 0.5),
        ("truncate", 0.99),
    ]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damages=st.lists(DAMAGE, min_size=1, max_size=4), vendor=st.sampled_from(["GE", "HOLOGIC"]))
def test_damaged_headers_give_an_image_or_a_typed_error(tmp_path: Path, damages: list, vendor: str) -> None:
    ds = f.mammogram(f.Patient(), "L", "MLO", vendor=vendor, rows=64, cols=48)
    cut = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values set on purpose
        for damage in damages:
            if damage[0] == "delete" and damage[1] in ds:
                delattr(ds, damage[1])
            elif damage[0] == "set":
                try:
                    setattr(ds, damage[1], damage[2])
                except (ValueError, TypeError):
                    continue
            elif damage[0] == "truncate":
                cut = damage[1]
    path = tmp_path / "damaged.dcm"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f.write(ds, path)
    except Exception:  # pydicom refused to write this combination: nothing to read
        return
    if cut is not None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)])
    _read_or_typed_error(path)
