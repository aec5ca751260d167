"""Edge cases and bad inputs of DICOM study loading, each with its expected outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import dicom_factory as f
from mommi.errors import (
    ConflictingLateralityError,
    NotDicomError,
    NotMammographyError,
    StudyInputError,
    TruncatedFileError,
    UnknownViewError,
    UnreadablePixelDataError,
    UnsupportedImageError,
)
from mommi.study import Laterality, View, load_studies, load_study, read_image


def _read(ds: Dataset, tmp_path: Path, name: str = "img.dcm", **kwargs: object):
    return read_image(f.write(ds, tmp_path / name, **kwargs))  # type: ignore[arg-type]


def _expect_error(tmp_path: Path, ds_or_bytes: Dataset | bytes, error: type[StudyInputError]) -> StudyInputError:
    path = tmp_path / "bad.dcm"
    if isinstance(ds_or_bytes, bytes):
        path.write_bytes(ds_or_bytes)
    else:
        f.write(ds_or_bytes, path)
    with pytest.raises(error) as info:
        read_image(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert len(info.value.reason) > 20  # a sentence, not a code
    return info.value


# ------------------------------------------------------------------ vendors
def test_ge_for_presentation_monochrome1_sigmoid(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.mammogram(patient, "R", "CC", vendor="GE"), tmp_path)
    assert image.view is View.R_CC
    assert image.spacing is not None and image.spacing.row_mm == pytest.approx(0.1)
    assert image.spacing.source.startswith("ImagerPixelSpacing")
    assert "SIGMOID" in image.intensity_source and "MONOCHROME1 inverted" in image.intensity_source
    assert image.pixels is not None
    # after inversion the breast (chest wall on the right for R) is bright, background dark
    assert image.pixels[80, 120] > 0.5 > 0.1 > image.pixels[80, 3]
    assert image.to_model is not None and image.to_model.flip_horizontal


def test_ge_for_processing_is_flagged_and_set_aside(tmp_path: Path, patient: f.Patient) -> None:
    f.write(f.mammogram(patient, "L", "MLO", vendor="GE", intent="FOR PROCESSING"), tmp_path / "raw.dcm")
    f.write(f.mammogram(patient, "L", "CC", vendor="GE"), tmp_path / "lcc.dcm")
    study = load_study(tmp_path)
    assert View.L_MLO not in study.images
    assert any("FOR PROCESSING" in s.reason for s in study.set_aside)
    study = load_study(tmp_path, allow_for_processing=True)
    assert study.images[View.L_MLO].is_for_processing
    assert "automatic window" in study.images[View.L_MLO].intensity_source


def test_hologic_pixel_spacing_and_first_window(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.mammogram(patient, "L", "MLO", vendor="HOLOGIC"), tmp_path)
    assert image.view is View.L_MLO
    assert image.spacing is not None and image.spacing.row_mm == pytest.approx(0.065)
    assert image.spacing.source.startswith("PixelSpacing")
    assert image.intensity_source == "window LINEAR C=2047 W=4095"
    assert image.manufacturer == "HOLOGIC, Inc."


def test_hologic_for_processing_is_flagged(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.mammogram(patient, "R", "MLO", vendor="HOLOGIC", intent="FOR PROCESSING"), tmp_path)
    assert image.is_for_processing
    assert any("FOR PROCESSING" in w for w in image.warnings)


def test_scanned_film_secondary_capture_with_description(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.scanned_film(patient, description="R MLO", chest_wall="right"), tmp_path)
    assert image.view is View.R_MLO
    assert image.view_source == "SeriesDescription"
    assert image.spacing is not None and image.spacing.source.startswith("NominalScannedPixelSpacing")
    assert any("secondary capture" in w for w in image.warnings)


def test_scanned_film_without_any_view_information_is_rejected(tmp_path: Path, patient: f.Patient) -> None:
    error = _expect_error(tmp_path, f.scanned_film(patient), UnknownViewError)
    assert "which breast" in error.reason and "which view" in error.reason


def test_description_tokens_like_left_cc(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.scanned_film(patient, description="Mass-Training LEFT_CC"), tmp_path)
    assert image.view is View.L_CC


# ------------------------------------------------------------ view sources
def test_view_code_sequence_snomed_ct_without_view_position(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC", vendor="HOLOGIC")
    del ds.ViewPosition
    image = _read(ds, tmp_path)
    assert image.view is View.L_CC and "ViewCodeSequence" in image.view_source


def test_view_code_sequence_snomed_rt_mlo(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "R", "MLO", vendor="GE")
    del ds.ViewPosition
    assert _read(ds, tmp_path).view is View.R_MLO


def test_series_laterality_when_image_laterality_is_absent(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "R", "CC")
    del ds.ImageLaterality
    ds.Laterality = "R"
    image = _read(ds, tmp_path)
    assert image.laterality is Laterality.RIGHT and "Laterality (series)" in image.view_source


def test_patient_orientation_as_last_tag_fallback(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "R", "MLO")
    del ds.ImageLaterality, ds.ViewPosition, ds.ViewCodeSequence
    image = _read(ds, tmp_path)
    assert image.view is View.R_MLO
    assert any("PatientOrientation" in w for w in image.warnings)


def test_conflicting_laterality_is_an_error(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.Laterality = "R"
    error = _expect_error(tmp_path, ds, ConflictingLateralityError)
    assert "left" in error.reason and "right" in error.reason


def test_description_disagreeing_with_tags_is_a_warning(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.SeriesDescription = "R CC"
    image = _read(ds, tmp_path)
    assert image.laterality is Laterality.LEFT
    assert any("tags were used" in w for w in image.warnings)


@pytest.mark.parametrize("view_position", ["XCCL", "ML", "LM", "FB"])
def test_other_views_are_kept_but_never_taken_for_cc_or_mlo(
    tmp_path: Path, patient: f.Patient, view_position: str
) -> None:
    ds = f.mammogram(patient, "L", view_position)
    image = _read(ds, tmp_path)
    assert image.view is None and image.view_position == view_position
    f.write(f.mammogram(patient, "L", "CC"), tmp_path / "cc.dcm")
    study = load_study(tmp_path)
    assert set(study.images) == {View.L_CC}
    assert any(view_position in s.reason for s in study.set_aside)


@pytest.mark.parametrize("modifier", ["spot compression", "Magnification"])
def test_workup_modifiers_make_a_cc_a_workup_view(tmp_path: Path, patient: f.Patient, modifier: str) -> None:
    ds = f.mammogram(patient, "R", "CC")
    mod = Dataset()
    mod.CodeValue, mod.CodingSchemeDesignator, mod.CodeMeaning = "X", "SCT", modifier
    ds.ViewCodeSequence[0].ViewModifierCodeSequence = Sequence([mod])
    image = _read(ds, tmp_path)
    assert image.view is None
    assert modifier.lower() in image.label


# -------------------------------------------------------------- intensities
def test_linear_window_matches_the_standard_formula(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.WindowCenter, ds.WindowWidth = 2000, 1001
    del ds.WindowCenterWidthExplanation
    stored = np.frombuffer(ds.PixelData, dtype=np.uint16).reshape(ds.Rows, ds.Columns)
    image = _read(ds, tmp_path)
    # PS3.3 C.11.2.1.2.1 with c=2000, w=1001: y = ((x - 1999.5) / 1000 + 0.5)
    expected = np.clip((stored - 1999.5) / 1000.0 + 0.5, 0, 1)
    assert np.allclose(image.pixels, expected, atol=1e-4)


def test_voi_lut_sequence_is_applied(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTExplanation = "GAMMA 0.5"
    table = (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16)
    lut.LUTData = table.tobytes()  # OW
    ds.VOILUTSequence = Sequence([lut])
    stored = np.frombuffer(ds.PixelData, dtype=np.uint16).reshape(ds.Rows, ds.Columns)
    image = _read(ds, tmp_path)
    assert "VOI LUT Sequence (GAMMA 0.5)" == image.intensity_source
    assert np.allclose(image.pixels, table[stored] / 65535.0, atol=1e-4)


def test_monochrome1_is_inverted(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    mono2 = _read(ds, tmp_path, "a.dcm").pixels
    stored = np.frombuffer(ds.PixelData, dtype=np.uint16)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.PixelData = (4095 - stored).astype(np.uint16).tobytes()
    ds.WindowCenter, ds.WindowWidth = [4095 - 2047 + 1, 4095]
    mono1 = _read(ds, tmp_path, "b.dcm").pixels
    assert np.allclose(mono1, mono2, atol=2e-3)


# ----------------------------------------------------------------- spacing
def test_incredible_pixel_spacing_falls_back_to_imager_spacing(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC", vendor="HOLOGIC")
    ds.PixelSpacing = [5.0, 5.0]
    image = _read(ds, tmp_path)
    assert image.spacing is not None and image.spacing.source.startswith("ImagerPixelSpacing")
    assert any("not credible" in w for w in image.warnings)


def test_pixel_spacing_larger_than_detector_pixel_is_not_trusted(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC", vendor="HOLOGIC")
    ds.PixelSpacing = [0.2, 0.2]
    image = _read(ds, tmp_path)
    assert image.spacing is not None and image.spacing.row_mm == pytest.approx(0.07)


def test_no_spacing_at_all_is_a_warning(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC", vendor="GE")
    del ds.ImagerPixelSpacing
    image = _read(ds, tmp_path)
    assert image.spacing is None
    assert any("no credible pixel spacing" in w for w in image.warnings)


# --------------------------------------------------------------- orientation
def test_chest_wall_side_from_the_image_when_no_tag(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "R", "MLO")
    del ds.PatientOrientation
    image = _read(ds, tmp_path)
    assert image.to_model is not None and image.to_model.flip_horizontal
    assert image.chest_wall_source == "image content"
    model = image.model_pixels()
    assert model[:, :10].mean() > model[:, -10:].mean()  # chest wall now on the left


def test_wrong_patient_orientation_is_overruled_by_the_image(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "R", "CC")
    ds.PatientOrientation = ["A", "L"]  # claims chest wall left; pixels have it right
    image = _read(ds, tmp_path)
    assert image.to_model is not None and image.to_model.flip_horizontal
    assert any("image was trusted" in w for w in image.warnings)


def test_upside_down_cc_is_flipped_vertically(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.PatientOrientation = ["A", "L"]  # rows run toward the lateral side: lateral at the bottom
    image = _read(ds, tmp_path)
    assert image.to_model is not None and image.to_model.flip_vertical
    assert not image.to_model.flip_horizontal


# ------------------------------------------------------------- bad files
def test_ct_file_is_not_a_mammogram(tmp_path: Path, patient: f.Patient) -> None:
    error = _expect_error(tmp_path, f.ct_slice(patient), NotMammographyError)
    assert "CT" in error.reason


def test_structured_report_without_pixels_is_not_a_mammogram(tmp_path: Path, patient: f.Patient) -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Modality = "SR"
    ds.StudyInstanceUID = patient.study_uid
    error = _expect_error(tmp_path, ds, NotMammographyError)
    assert "no image" in error.reason


def test_dx_with_breast_body_part_is_accepted(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.SOPClassUID = f.DX_PRESENTATION
    ds.Modality = "DX"
    image = _read(ds, tmp_path)
    assert image.view is View.L_CC
    assert any("rather than MG" in w for w in image.warnings)


def test_tomosynthesis_is_unsupported(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.mammogram(patient, "L", "CC")
    ds.SOPClassUID = f.BREAST_TOMO
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    error = _expect_error(tmp_path, ds, UnsupportedImageError)
    assert "tomosynthesis" in error.reason


def test_random_bytes_are_not_dicom(tmp_path: Path) -> None:
    _expect_error(tmp_path, b"this is a radiology report, not an image\n" * 10, NotDicomError)


def test_empty_file_is_not_dicom(tmp_path: Path) -> None:
    _expect_error(tmp_path, b"", NotDicomError)


def test_file_cut_in_the_header_is_truncated(tmp_path: Path, patient: f.Patient) -> None:
    full = f.write(f.mammogram(patient, "L", "CC"), tmp_path / "full.dcm").read_bytes()
    _expect_error(tmp_path, full[:300], TruncatedFileError)


def test_file_cut_in_the_pixel_data_is_truncated(tmp_path: Path, patient: f.Patient) -> None:
    full = f.write(f.mammogram(patient, "L", "CC"), tmp_path / "full.dcm").read_bytes()
    error = _expect_error(tmp_path, full[: len(full) - 5000], TruncatedFileError)
    assert error.study_uid == patient.study_uid  # header was readable: the error finds its study


def test_damaged_jpeg2000_stream_is_unreadable(tmp_path: Path, patient: f.Patient) -> None:
    good = f.write(f.mammogram(patient, "L", "CC"), tmp_path / "good.dcm", transfer_syntax="1.2.840.10008.1.2.4.90")
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(good)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 400])
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad)
    with pytest.raises(UnreadablePixelDataError) as info:
        read_image(bad)
    assert "JPEG 2000" in info.value.reason


def test_file_without_preamble_still_loads(tmp_path: Path, patient: f.Patient) -> None:
    image = _read(f.mammogram(patient, "L", "MLO"), tmp_path, preamble=False)
    assert image.view is View.L_MLO
    assert image.transfer_syntax == "Implicit VR Little Endian"


def test_colour_secondary_capture_is_converted_to_grey(tmp_path: Path, patient: f.Patient) -> None:
    ds = f.scanned_film(patient, description="L CC")
    grey = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(ds.Rows, ds.Columns)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.PixelData = np.repeat(grey[..., None], 3, axis=2).tobytes()
    image = _read(ds, tmp_path)
    assert image.pixels is not None and image.pixels.shape == grey.shape
    assert any("converted to grey" in w for w in image.warnings)


def test_one_bad_file_never_stops_the_rest_of_the_study(tmp_path: Path, patient: f.Patient) -> None:
    paths = f.four_view_study(tmp_path, patient)
    data = paths["L-MLO"].read_bytes()
    paths["L-MLO"].write_bytes(data[: len(data) - 3000])
    (tmp_path / "notes.dcm").write_bytes(b"not dicom at all")
    collection = load_studies([tmp_path])
    assert len(collection.studies) == 1
    study = collection.studies[0]
    assert set(study.images) == {View.R_CC, View.L_CC, View.R_MLO}
    assert [type(e) for e in study.errors] == [TruncatedFileError]
    assert [type(e) for e in collection.errors] == [NotDicomError]
