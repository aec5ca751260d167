"""`mommi analyze` end to end with the shipped zoo: the demo writes every output, missing views fall
back with warnings, progress and cancellation, tampered models, the batch, and real MIAS images."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.runtime.outputs import read_maps
from mommi.runtime.pipeline import STAGES, AnalysisCancelled, Pipeline
from mommi.runtime.result import StudyResult
from mommi.runtime.zoo import ZooError
from mommi.study.loader import load_study

ZOO = Path(__file__).resolve().parents[1] / "model_zoo"
ZOO_MODELS = {m["name"] for m in json.loads((ZOO / "manifest.json").read_text())["models"]}
pytestmark = pytest.mark.skipif(
    not {"nipple-lite", "single-lite"} <= ZOO_MODELS,
    reason="the shipped zoo lacks the nipple or single-view model the pipeline needs",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--device", "cpu"]) == exit_codes.OK
    return out


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(device="cpu")


def test_demo_writes_every_output(demo: Path) -> None:
    folder = demo / "result"
    document = json.loads((folder / "result.json").read_text())
    result = StudyResult.from_dict(document)  # the documented schema reads back
    assert document["schema"] == "mommi-study-result" and document["version"] == 1
    assert sorted(result.views) == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    if "fusion-lite" in ZOO_MODELS:
        assert {v.branch for v in result.views.values()} == {"tri-view"}
    assert result.provider == "CPUExecutionProvider" and set(result.models) <= ZOO_MODELS
    assert result.providers == {name: "CPUExecutionProvider" for name in result.models}
    assert set(result.timings_s) >= {"load", "nipple", "findings", "malignancy", "total"}
    probs, masks = read_maps(folder / "maps.npz")
    study = load_study(demo / "study")
    for name, view in result.views.items():
        assert probs[name].shape == masks[name].shape == (view.rows, view.cols)
        assert 0.0 <= probs[name].min() and probs[name].max() <= 1.0
        assert (folder / f"overlay-{name}.png").is_file() and (folder / f"seg-{name}.dcm").is_file()
    assert (folder / "four-view.png").is_file() and (folder / "findings-sr.dcm").is_file()
    for finding in result.findings:
        view = result.views[finding.view]
        x0, y0, x1, y1 = finding.box_px
        assert 0 <= x0 < x1 <= view.cols and 0 <= y0 < y1 <= view.rows
        assert finding.score >= result.min_score and len(finding.contour_px) >= 3
        assert finding.box_mm == pytest.approx(
            [x0 * view.spacing_mm[1], y0 * view.spacing_mm[0], x1 * view.spacing_mm[1], y1 * view.spacing_mm[0]],
            abs=1e-2,
        )
        if finding.ipsilateral_partner:
            partner = next(f for f in result.findings if f.id == finding.ipsilateral_partner)
            assert partner.ipsilateral_partner == finding.id and partner.view[0] == finding.view[0]
    # DICOM outputs reference the analysed source images and are readable by highdicom
    import highdicom as hd

    sr = hd.sr.srread(folder / "findings-sr.dcm")
    sources = {img.sop_instance_uid for img in study.images.values()}
    referenced = {
        item.ReferencedSOPInstanceUID
        for seq in sr.CurrentRequestedProcedureEvidenceSequence
        for series in seq.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }
    assert referenced == sources
    seg = hd.seg.segread(folder / "seg-L-CC.dcm")
    assert (
        seg.SourceImageSequence[0].ReferencedSOPInstanceUID
        == study.images[next(v for v in study.images if v.value == "L-CC")].sop_instance_uid
    )


def test_analyze_cli_summary_and_json(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["analyze", str(demo / "study"), "--out", str(tmp_path / "a"), "--device", "cpu", "--no-dicom"])
        == exit_codes.OK
    )
    text = capsys.readouterr().out
    assert "tri-view" in text or "bilateral" in text
    assert f"outputs in {tmp_path / 'a'}" in text and not list((tmp_path / "a").glob("*.dcm"))
    assert (
        main(["analyze", str(demo / "study"), "--out", str(tmp_path / "b"), "--device", "cpu", "--json", "--no-dicom"])
        == exit_codes.OK
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "b" / "result.json").read_text())


def test_same_study_gives_the_same_findings(demo: Path, pipeline: Pipeline) -> None:
    _, first = pipeline.analyze_path(demo / "study")
    _, second = pipeline.analyze_path(demo / "study")
    assert [f.to_dict() for f in first.findings] == [f.to_dict() for f in second.findings]


def test_missing_views_fall_back_with_warnings(demo: Path, tmp_path: Path, pipeline: Pipeline) -> None:
    study = load_study(demo / "study")
    keep = {
        name: img.path
        for name, img in ((v.value, i) for v, i in study.images.items())
        if name in ("L-CC", "L-MLO", "R-CC")
    }
    for name, path in keep.items():
        shutil.copy(path, tmp_path / f"{name}.dcm")
    _, result = pipeline.analyze_path(tmp_path)
    branches = {name: v.branch for name, v in result.views.items()}
    if "fusion-lite" in ZOO_MODELS:
        assert branches == {"L-CC": "tri-view", "L-MLO": "ipsilateral", "R-CC": "bilateral"}
    assert "R-MLO is missing" in result.warnings
    assert "R-CC: R-MLO not in the study; read by the bilateral branch" in result.warnings
    assert "L-MLO: R-MLO not in the study; read by the ipsilateral branch" in result.warnings


def test_progress_reports_every_stage_and_cancel_stops(demo: Path, pipeline: Pipeline) -> None:
    study = load_study(demo / "study")
    seen: list[tuple[str, float]] = []
    pipeline.analyze(study, progress=lambda stage, fraction: seen.append((stage, fraction)))
    assert [stage for stage, _ in seen] == [s for s in STAGES if s != "load"]
    assert [f for _, f in seen] == sorted(f for _, f in seen) and seen[-1][1] == 1.0
    stages: list[str] = []
    with pytest.raises(AnalysisCancelled, match="after nipple"):
        pipeline.analyze(
            study, cancel=lambda: stages[-1:] == ["nipple"], progress=lambda stage, fraction: stages.append(stage)
        )
    assert stages == ["preprocess", "nipple"]


def test_tampered_model_is_refused_and_an_unshipped_one_falls_back(tmp_path: Path, demo: Path) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO, zoo)
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["models"] = [m for m in manifest["models"] if m["task"] not in ("fusion", "malignancy")]
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    reduced = Pipeline(zoo / "manifest.json", device="cpu")
    _, result = reduced.analyze_path(demo / "study")
    assert {v.branch for v in result.views.values()} <= {"bilateral", "ipsilateral", "single-view"}
    assert any("fusion-lite is not in the model zoo" in w for w in result.warnings)
    assert any("malignancy classifier not in the model zoo" in w for w in result.warnings)
    assert all(f.malignancy is None for f in result.findings)
    single = zoo / "single-lite.onnx"
    single.write_bytes(single.read_bytes()[:-1] + b"\0")
    with pytest.raises(ZooError, match="single-lite.*does not match its SHA-256"):
        Pipeline(zoo / "manifest.json", device="cpu")


def _corrupt_rle_copy(source: Path, target: Path) -> None:
    """The study as another patient's, RLE-compressed with a corrupt stream: its headers read, its
    pixels do not (the RLE decoder panics on it)."""
    target.mkdir(parents=True)
    for path in sorted(source.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.StudyInstanceUID = "BROKEN-1", "1.2.3.4.5.6.7"
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.compress(pydicom.uid.RLELossless)
        data = bytearray(ds.PixelData)
        data[200:-8:7] = b"\x80" * len(data[200:-8:7])  # RLE run headers that overrun the frame
        ds.PixelData = bytes(data)
        ds.save_as(target / path.name)


def test_corrupt_compressed_pixels_are_a_typed_error_naming_the_file(demo: Path, tmp_path: Path) -> None:
    from mommi.errors import UnreadablePixelDataError
    from mommi.study.loader import read_image

    _corrupt_rle_copy(demo / "study", tmp_path / "bad")
    path = sorted((tmp_path / "bad").glob("*.dcm"))[0]
    with pytest.raises(UnreadablePixelDataError, match="could not be decoded.*RLE Lossless") as caught:
        read_image(path)
    assert str(path) in str(caught.value)


def test_batch_is_resumable_and_survives_a_bad_study(demo: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(demo / "study", root / "good")
    _corrupt_rle_copy(root / "good", root / "bad")
    out = tmp_path / "out"
    code = main(["analyze-batch", str(root), "--out", str(out), "--device", "cpu", "--no-dicom", "--workers", "2"])
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert code == exit_codes.PROBLEMS  # the broken files are reported, the good study analysed
    done = [r for r in rows if r["status"] == "done"]
    failed = sorted(Path(r["file"]).name for r in rows if r["status"] == "failed")
    assert len(done) == 1 and (out / done[0]["folder"] / "result.json").is_file()
    assert failed == sorted(p.name for p in (root / "bad").glob("*.dcm"))
    assert all("could not be decoded" in r["error"] for r in rows if r["status"] == "failed")
    assert main(["analyze-batch", str(root), "--out", str(out), "--device", "cpu", "--no-dicom"]) == exit_codes.PROBLEMS
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert sorted(r["status"] for r in rows) == ["failed"] * 4 + ["skipped (already done)"]


@pytest.mark.mias
def test_real_mias_pairs_analyse_with_the_nipple_on_the_breast_boundary(
    mias_dir: Path, tmp_path: Path, pipeline: Pipeline
) -> None:
    """40 mini-MIAS patients (80 films) through the whole pipeline as DICOM: the bilateral branch
    runs, the breast mask holds every annotated abnormality, and the nipple lies on the skin line,
    away from the film's edges, at about the same height in both breasts of a woman.

    The skin-line tolerance is statistical because on some films the nipple is cut off at the film's
    edge, where no skin line is visible (measured on all 216 films: median 4.6 mm from the mask's
    boundary, 14 beyond 8 mm, 1 beyond 15 mm; before the search was limited to the breast, the
    detector picked burned-in film labels and 84 were beyond 8 mm). mini-MIAS has no nipple marks, so
    the other two checks are anatomy: a boundary point says nothing when the film's top edge is boundary
    too, and there zoo 0.3.0's detector put the nipple on 38 of these 80 films (within 12 mm of the edge,
    where the MLO film cuts the axilla; 0 since 0.3.1); a woman's two MLO films are taken alike, so her
    nipples sit at about the same height of the breast (within a tenth of it for 35 of these 40 women
    since 0.3.1, 18 of 40 before).
    """
    import cv2

    from mias_dicom import mias_study_as_dicom
    from mommi.data.importers.mias import parse_info
    from test_research_images import _mias_pairs

    annotated: dict[str, list] = {}
    for line in parse_info(mias_dir / "Info.txt"):
        annotated.setdefault(line.ref, []).append(line)
    numbers = _mias_pairs(mias_dir, 40)[::2]
    distances, edge_mm, height_gaps = [], [], []
    for number in numbers:
        study_dir = mias_study_as_dicom(mias_dir, number, tmp_path / f"p{number}")
        _, result = pipeline.analyze_path(study_dir)
        assert set(result.views) == {"L-MLO", "R-MLO"}
        if "bidual-lite" in ZOO_MODELS:
            assert {v.branch for v in result.views.values()} == {"bilateral"}
        for name, view in result.views.items():
            mask = result.masks[name]
            assert 0.1 < mask.mean() < 0.9, view.path  # a breast, not the film or a corner of it
            boundary = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            ys, xs = np.nonzero(boundary)
            nx, ny = view.nipple_px
            distances.append(float(np.min(np.hypot(xs - nx, ys - ny))) * 0.2)  # mm at 200 micrometres
            edge_mm.append(min(ny, mask.shape[0] - 1 - ny) * 0.2)
            assert view.nipple_source in {"detector", "skin apex"}
            for line in annotated.get(Path(view.path).stem, []):
                if line.x is not None and 0 < line.y <= 1024:  # MIAS y runs up from the bottom (Info.txt)
                    assert mask[1024 - line.y, line.x], f"{view.path}: {line.klass} centre outside the mask"
        heights = []
        for name, view in sorted(result.views.items()):
            rows = np.nonzero(result.masks[name].any(axis=1))[0]
            heights.append((view.nipple_px[1] - rows.min()) / (rows.max() - rows.min()))
        height_gaps.append(abs(heights[0] - heights[1]))
    print(f"nipple: film edge distance min {min(edge_mm):.1f} mm; L/R height gaps {np.round(height_gaps, 3)}")
    assert min(edge_mm) > 12.0, "a nipple within 12 mm of the film's top or bottom edge"
    assert np.mean(np.array(height_gaps) <= 0.1) >= 0.8, "left and right nipples at different heights"
    distances_mm = np.array(distances)
    assert len(distances_mm) == 80
    assert np.median(distances_mm) < 6.0 and np.mean(distances_mm <= 8.0) >= 0.9 and distances_mm.max() < 20.0


def _half_breast(height: int = 256, width: int = 160) -> np.ndarray:
    """A breast on the model grid: a half ellipse on the chest wall (left edge), its front at x = 120, y = 128."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx / 120.0) ** 2 + ((yy - 128) / 110.0) ** 2 <= 1.0


def test_a_confident_detector_peak_on_the_front_skin_line_is_the_nipple() -> None:
    from mommi.findings.nipple import NippleSource, locate_nipple

    heatmap = np.zeros((64, 40), np.float32)
    heatmap[36, 29] = 0.9  # on the skin line near the front: (117.5, 145.5)
    heatmap[5, 35] = 0.95  # a burned-in label in a corner, off the breast
    estimate = locate_nipple(heatmap, _half_breast())
    assert estimate.source is NippleSource.DETECTOR and estimate.peak == pytest.approx(0.9)
    assert abs(estimate.x - (29 * 4 + 1.5)) < 1 and abs(estimate.y - (36 * 4 + 1.5)) < 1
    # no breast at all: the heatmap's peak, as it is
    assert locate_nipple(heatmap, np.zeros((256, 160), bool)).peak == pytest.approx(0.95)


def test_a_peak_where_the_film_cuts_the_breast_or_behind_the_front_is_not_the_nipple() -> None:
    """What the phantom-trained detector did on scanned films: its strongest peak where the MLO film cuts the
    breast at the top, or on the skin line near the axilla. Neither is the front of the breast, so the skin
    line's apex is the nipple."""
    from mommi.findings.nipple import NippleSource, locate_nipple

    mask = _half_breast()
    mask[:40, :100] = True  # the film's top edge cuts the breast (pectoral and axilla)
    heatmap = np.zeros((64, 40), np.float32)
    heatmap[0, 20] = 0.95  # at the top edge of the film
    heatmap[12, 20] = 0.9  # on the upper skin line, far behind the front
    heatmap[32, 29] = 0.3  # a weak peak at the front: not trusted
    estimate = locate_nipple(heatmap, mask)
    assert estimate.source is NippleSource.SKIN_APEX
    assert abs(estimate.x - 119) <= 1.5 and abs(estimate.y - 128) <= 3


def test_a_label_touching_the_breast_is_not_its_front() -> None:
    """A film label joined to the breast by a thin strip (seen on mini-MIAS) reaches further from the chest wall
    than the breast: the opening detaches it before the apex is taken."""
    from mommi.findings.nipple import breast_body, locate_nipple

    mask = _half_breast()
    mask[30:34, 60:150] = True  # a strip along the film to the label
    mask[20:50, 140:158] = True  # the label
    assert not breast_body(mask)[35, 150]
    estimate = locate_nipple(np.zeros((64, 40), np.float32), mask)
    assert abs(estimate.x - 119) <= 1.5 and abs(estimate.y - 128) <= 3


def test_a_study_that_fails_during_analysis_is_recorded_not_raised(tmp_path: Path) -> None:
    """Files can vanish or break between discovery and analysis (a network share, a copy in progress)."""
    from mommi.runtime import batch

    batch._initialise({"zoo": None, "device": "cpu", "min_score": None, "dicom": False})
    row = batch._analyse([str(tmp_path / "gone" / "L_CC.dcm")], str(tmp_path / "out" / "study"))
    assert row["status"] == "failed" and "L_CC.dcm" in row["error"]
    assert "Traceback" in (tmp_path / "out" / "study" / "error.txt").read_text()


@pytest.mark.parametrize(
    "vendor,syntax", [("HOLOGIC", None), ("GE", "1.2.840.10008.1.2.5"), ("HOLOGIC", "1.2.840.10008.1.2.4.90")]
)
def test_vendor_dicom_studies_analyse_with_every_output(
    tmp_path: Path, pipeline: Pipeline, vendor: str, syntax: str | None
) -> None:
    """The foundation's vendor fixtures (GE MONOCHROME1 with a sigmoid VOI LUT, Hologic with its
    windows; uncompressed, RLE, JPEG 2000) go through the whole pipeline and every output."""
    from dicom_factory import Patient, mammogram, write

    from mommi.runtime.outputs import write_outputs

    patient = Patient(patient_id=f"VENDOR-{vendor}")
    for index, (side, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))):
        ds = mammogram(patient, side, view, vendor=vendor, rows=320, cols=256, seed=index)
        write(ds, tmp_path / "study" / f"{side}{view}.dcm", transfer_syntax=syntax)
    study, result = pipeline.analyze_path(tmp_path / "study")
    written = write_outputs(result, study, tmp_path / "out")
    assert sorted(result.views) == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert {"result", "maps", "sheet", "sr", "seg_L-CC"} <= set(written.files)
    for name, view in result.views.items():
        assert result.maps[name].shape == (view.rows, view.cols) == (320, 256)


def test_decoding_in_processes_gives_the_same_study_and_the_same_errors(demo: Path, tmp_path: Path) -> None:
    """`load_studies(processes=N)` forks decoders (JPEG 2000 holds the GIL, so threads would not help):
    same pixels, and typed errors survive the trip back from the worker process."""
    from mommi.errors import UnreadablePixelDataError
    from mommi.study.loader import load_studies

    shutil.copytree(demo / "study", tmp_path / "good")
    _corrupt_rle_copy(demo / "study", tmp_path / "bad")
    serial = load_studies([tmp_path])
    forked = load_studies([tmp_path], processes=2)
    assert len(forked.studies) == len(serial.studies) == 1
    for view, image in serial.studies[0].images.items():
        assert np.array_equal(forked.studies[0].images[view].pixels, image.pixels)
    assert sorted(type(e).__name__ for e in forked.errors) == ["UnreadablePixelDataError"] * 4
    assert sorted(str(e.path) for e in forked.errors) == sorted(str(e.path) for e in serial.errors)
    assert all(isinstance(e, UnreadablePixelDataError) and e.reason for e in forked.errors)
