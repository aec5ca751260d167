"""DICOM SEG and SR outputs of `mommi analyze`, read back with highdicom's own readers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom.sr.codedict import codes

from mommi.data.synth import synthesize
from mommi.runtime.dicom_outputs import (
    DETECTION_SCORE,
    DicomOutputError,
    dicom_sources,
    read_back,
    write_segmentations,
    write_structured_report,
)
from mommi.runtime.result import FindingResult, StudyResult
from mommi.study.loader import load_study
from mommi.study.model import MammoImage

#: a different blob centre (x, y) per view, so a SEG of the wrong view cannot pass
CENTRES = {"L-CC": (150, 250), "R-CC": (330, 200), "L-MLO": (200, 400), "R-MLO": (280, 320)}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MammoImage]:
    root = tmp_path_factory.mktemp("synth")
    synthesize(root / "s", 1, seed=3, normal_fraction=0.0)
    study = load_study(root / "s", keep_pixels=False)
    assert len(study.images) == 4
    return {view.value: image for view, image in study.images.items()}


def _blob(image: MammoImage, centre: tuple[int, int], sigma: float = 25.0) -> np.ndarray:
    yy, xx = np.mgrid[: image.rows, : image.cols]
    return np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def _finding(view: str, centre: tuple[int, int], closed: bool, **kwargs: object) -> FindingResult:
    x, y = centre
    contour = [[x - 20.25, y - 18.0], [x + 21.5, y - 17.75], [x + 19.0, y + 22.0], [x - 18.5, y + 20.5]]
    if closed:
        contour.append(list(contour[0]))
    return FindingResult(
        id=f"{view}-1",
        view=view,
        box_px=[x - 20.25, y - 18.0, x + 21.5, y + 22.0],
        contour_px=contour,
        score=0.83,
        branch="tri-view",
        **kwargs,
    )  # type: ignore[arg-type]


def _result(images: dict[str, MammoImage], findings: list[FindingResult]) -> StudyResult:
    image = next(iter(images.values()))
    return StudyResult(
        study_uid=image.study_uid,
        patient_key=image.patient_id,
        views={},
        findings=findings,
        warnings=[],
        timings_s={},
        models={},
        zoo_version="test",
        provider="CPUExecutionProvider",
        device_requested="cpu",
        min_score=0.1,
        created="2026-01-01T00:00:00Z",
        mommi_version="9.8.7",
        maps={view: _blob(images[view], CENTRES[view]) for view in images},
    )


def _two_findings() -> list[FindingResult]:
    return [
        _finding("L-CC", CENTRES["L-CC"], closed=False, malignancy=0.7, birads="4B"),
        _finding("R-MLO", CENTRES["R-MLO"], closed=True),
    ]


def test_segmentations_read_back_with_the_map(images: dict[str, MammoImage], tmp_path: Path) -> None:
    result = _result(images, [])
    paths = write_segmentations(result, images, tmp_path)
    assert sorted(p.name for p in paths) == sorted(f"seg-{view}.dcm" for view in images)
    for path in paths:
        view = path.stem.removeprefix("seg-")
        image = images[view]
        seg = read_back(path)
        assert isinstance(seg, hd.seg.Segmentation)
        assert seg.number_of_segments == 1
        assert seg.SegmentationType == "FRACTIONAL" and seg.SegmentationFractionalType == "PROBABILITY"
        assert seg.MaximumFractionalValue == 255
        assert seg.StudyInstanceUID == image.study_uid
        segment = seg.get_segment_description(1)
        assert segment.segmented_property_type == codes.SCT.Mass
        assert segment.segmented_property_category == codes.SCT.MorphologicallyAbnormalStructure
        assert segment.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        assert segment.algorithm_identification[0].AlgorithmVersion == "9.8.7"
        assert [uids[2] for uids in seg.get_source_image_uids()] == [image.sop_instance_uid]
        pixels = seg.get_pixels_by_source_instance([image.sop_instance_uid], rescale_fractional=True)
        assert pixels.shape == (1, image.rows, image.cols, 1)
        expected = result.maps[view]
        np.testing.assert_allclose(pixels[0, :, :, 0], expected, rtol=0, atol=0.5 / 255 + 1e-6)
        # the peak is where this view's blob is: (x, y) -> [row, col]
        assert pixels[0, CENTRES[view][1], CENTRES[view][0], 0] == 1.0


def test_structured_report_holds_one_group_per_finding(images: dict[str, MammoImage], tmp_path: Path) -> None:
    findings = _two_findings()
    path = write_structured_report(_result(images, findings), images, tmp_path / "sr.dcm")
    assert path == tmp_path / "sr.dcm"
    sr = read_back(path)
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    assert {uids[2] for uids in sr.get_evidence()} == {im.sop_instance_uid for im in images.values()}
    groups = {g.tracking_identifier: g for g in sr.content.get_planar_roi_measurement_groups()}
    assert sorted(groups) == ["L-CC-1", "R-MLO-1"]
    assert _study_counts(sr)["MSNFIND"] == 2
    for finding in findings:
        group = groups[finding.id]
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        referenced = region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        assert referenced == images[finding.view].sop_instance_uid
        closed = np.array(finding.contour_px[:4] + finding.contour_px[:1])
        # DICOM SCOORD: the centre of pixel (0, 0) is (0.5, 0.5)
        np.testing.assert_allclose(region.value, closed + 0.5, atol=1e-4)
        values = {m.name.value: m.value for m in group.get_measurements()}
        assert values[DETECTION_SCORE.value] == pytest.approx(0.83, abs=1e-6)
        birads = [e.value.value for e in group.get_qualitative_evaluations() if e.name.value == "MSBIRADS"]
        if finding.malignancy is None:
            assert codes.DCM.ProbabilityOfCancer.value not in values
            assert birads == []
        else:
            assert values[codes.DCM.ProbabilityOfCancer.value] == pytest.approx(0.7, abs=1e-6)
            assert birads == ["BIRADS-4B"]


def _study_counts(sr: hd.sr.Comprehensive3DSR) -> dict[str, float]:
    (group,) = sr.content.get_image_measurement_groups()
    return {m.name.value: m.value for m in group.get_measurements()}


def test_structured_report_without_findings(images: dict[str, MammoImage], tmp_path: Path) -> None:
    sr = read_back(write_structured_report(_result(images, []), images, tmp_path / "sr.dcm"))
    assert sr.content.get_planar_roi_measurement_groups() == []
    assert _study_counts(sr) == {"MSNFIND": 0, "MSMINSCORE": pytest.approx(0.1)}
    assert len(sr.get_evidence()) == 4


def test_raster_views_are_skipped(images: dict[str, MammoImage], tmp_path: Path) -> None:
    mixed = dict(images)
    mixed["L-CC"] = dataclasses.replace(images["L-CC"], path=tmp_path / "l_cc.png", file_format="PNG")
    assert sorted(dicom_sources(mixed)) == ["L-MLO", "R-CC", "R-MLO"]
    result = _result(images, _two_findings())
    paths = write_segmentations(result, mixed, tmp_path / "seg")
    assert sorted(p.name for p in paths) == ["seg-L-MLO.dcm", "seg-R-CC.dcm", "seg-R-MLO.dcm"]
    sr = read_back(write_structured_report(result, mixed, tmp_path / "sr.dcm"))
    assert [g.tracking_identifier for g in sr.content.get_planar_roi_measurement_groups()] == ["R-MLO-1"]
    assert images["L-CC"].sop_instance_uid not in {uids[2] for uids in sr.get_evidence()}
    only_raster = {"L-CC": mixed["L-CC"]}
    assert write_segmentations(result, only_raster, tmp_path / "none") == []
    assert write_structured_report(result, only_raster, tmp_path / "none.dcm") is None


def test_unreadable_source_names_the_file(images: dict[str, MammoImage], tmp_path: Path) -> None:
    text = tmp_path / "not-dicom.dcm"
    text.write_text("this is not a DICOM file\n")
    broken = dict(images)
    broken["R-CC"] = dataclasses.replace(images["R-CC"], path=text)
    result = _result(images, _two_findings())
    with pytest.raises(DicomOutputError, match="not-dicom.dcm"):
        write_segmentations(result, broken, tmp_path / "seg")
    with pytest.raises(DicomOutputError, match="not-dicom.dcm"):
        write_structured_report(result, broken, tmp_path / "sr.dcm")
    assert not (tmp_path / "sr.dcm").exists()


def test_map_of_the_wrong_shape_is_refused(images: dict[str, MammoImage], tmp_path: Path) -> None:
    result = _result(images, [])
    result.maps["L-MLO"] = result.maps["L-MLO"][:-1]
    with pytest.raises(DicomOutputError, match=r"seg-L-MLO\.dcm.*probability map"):
        write_segmentations(result, images, tmp_path)


def test_read_back_refuses_a_source_image(images: dict[str, MammoImage]) -> None:
    with pytest.raises(DicomOutputError, match="not a Segmentation or Structured Report"):
        read_back(images["L-CC"].path)
