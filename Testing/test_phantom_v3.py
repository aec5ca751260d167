"""The structured phantom (v3): fine anatomy projected consistently, styles, truth, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mommi.cli.main import main
from mommi.data.phantom.config import PHANTOMS, SIZES, ImageSize
from mommi.data.phantom.cues import measure_cues
from mommi.data.phantom.fine_render import FineGrid, project_lumps, project_shells
from mommi.data.phantom.lesions import random_rotation
from mommi.data.phantom.render_structured import compressed_thickness, soften
from mommi.data.phantom.structures import Lumps, Shells
from mommi.data.phantom.study import make_study
from mommi.data.phantom.styles import Style, StyleParams, burn_in_markers, display, draw_style
from mommi.data.synth import synthesize
from mommi.study import load_study

V3 = PHANTOMS["v3"]
SMALL = ImageSize("test", 0.5, 300, 240)


def _grid(angle_deg: float) -> FineGrid:
    return FineGrid.over(np.deg2rad(angle_deg), 600, 480, 0.25, 300.0)


def test_a_lump_projects_its_whole_volume_into_every_view() -> None:
    """The line integral of a 3D Gaussian, summed over the image plane, is its volume, whatever the view:
    CC and MLO see the same object."""
    rng = np.random.default_rng(3)
    rotation = random_rotation(rng)
    cov = rotation @ np.diag([4.0, 1.0, 0.5]) @ rotation.T
    lumps = Lumps(np.array([[50.0, 5.0, -3.0]]), cov[None], np.array([1.0]))
    volume = (2 * np.pi) ** 1.5 * np.sqrt(np.linalg.det(cov))
    for angle in (0.0, 45.0, 60.0):
        grid = _grid(angle)
        canvas = np.zeros((grid.rows, grid.cols))
        project_lumps(canvas, grid, lumps)
        assert canvas.sum() * grid.pitch**2 == pytest.approx(volume, rel=0.02)


def test_a_ligament_wall_projects_the_same_volume_into_cc_and_mlo() -> None:
    """A whole spherical wall has the same volume seen from any direction; cut walls are arcs, not rings."""
    center = np.array([[50.0, 0.0, 0.0]])
    whole = Shells(
        center,
        np.eye(3)[None],
        np.array([[8.0, 8.0, 8.0]]),
        np.array([0.5]),
        np.zeros((1, 3)),
        np.zeros((1, 3)),
        np.array([0.0]),
    )
    expected = 4.0 / 3.0 * np.pi * (8.0**3 - 7.5**3)
    for angle in (0.0, 50.0):
        grid = _grid(angle)
        canvas = np.zeros((grid.rows, grid.cols))
        project_shells(canvas, grid, whole)
        assert canvas.sum() * grid.pitch**2 == pytest.approx(0.7 * expected, rel=0.03)  # LIGAMENT_DENSITY
    cut = Shells(
        center,
        np.eye(3)[None],
        np.array([[8.0, 8.0, 8.0]]),
        np.array([0.5]),
        np.array([[0.0, 1.0, 0.0]]),
        np.zeros((1, 3)),
        np.array([0.0]),
    )
    grid = _grid(0.0)
    canvas = np.zeros((grid.rows, grid.cols))
    project_shells(canvas, grid, cut)
    assert canvas.sum() * grid.pitch**2 == pytest.approx(0.7 * expected / 2, rel=0.05)


def test_compressed_thickness_is_flat_inside_and_thins_at_the_edge() -> None:
    outline = np.zeros((200, 200), bool)
    outline[20:180, 20:180] = True
    thickness = compressed_thickness(outline, 50.0, 0.5)
    assert thickness[100, 100] == pytest.approx(50.0)
    assert 0 < thickness[100, 21] < 20.0 and thickness[100, 10] == 0.0
    assert np.all(np.diff(thickness[100, 20:100]) >= -1e-4)


def test_film_is_8_bit_bright_where_dense_and_labels_stay_off_the_breast() -> None:
    rng = np.random.default_rng(0)
    film = StyleParams(Style.FILM, 2.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    attenuation = np.tile(np.linspace(0.0, 4.0, 100, dtype=np.float32), (50, 1))
    shown = display(attenuation, np.full_like(attenuation, 50.0), 50.0, film, 0.1, rng)
    assert np.allclose(shown * 255, np.round(shown * 255), atol=1e-4)
    assert np.all(np.diff(shown[25, 5:-5]) >= 0) and shown[25, 0] < 0.05 and shown[25, -1] > 0.7
    breast = np.zeros((400, 300), bool)
    breast[:, :150] = True
    marked = burn_in_markers(np.zeros((400, 300), np.float32), breast, "L", "MLO", 0.5, rng)
    assert marked[:, 150:].max() > 0.8 and marked[breast].max() == 0.0
    styles = {draw_style(np.random.default_rng(i)).style for i in range(60)}
    assert styles == set(Style)


@pytest.fixture(scope="module")
def v3_studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v3")
    synthesize(out, 3, seed=4, normal_fraction=0.0, phantom="v3")
    return out


def test_v3_is_deterministic_and_loads_as_four_views(v3_studies: Path, tmp_path: Path) -> None:
    again = synthesize(tmp_path / "again", 1, seed=4, normal_fraction=0.0, phantom="v3")
    first = sorted(p for p in v3_studies.iterdir() if p.is_dir())[0]
    for name in ("L_CC.dcm", "R_MLO.dcm"):
        assert (first / name).read_bytes() == (again[0] / name).read_bytes()
    study = load_study(first)
    detector = V3.image_size(SIZES["lite"])  # the anatomy at 0.5 mm, the detector at 0.2 mm
    assert (detector.pixel_mm, detector.rows, detector.cols) == (0.2, 1500, 1200)
    assert len(study.images) == 4 and all(
        image.spacing.row_mm == detector.pixel_mm and image.pixels.shape == (detector.rows, detector.cols)
        for image in study.images.values()
    )


def test_v3_masses_sit_where_the_truth_geometry_projects_them(v3_studies: Path) -> None:
    """truth.json's mapping (col = x / pixel_mm, row = nipple_row - (y cos + z sin) / pixel_mm, mirrored for R)
    holds on the detector's grid although the anatomy was rendered on a coarser one."""
    checked = 0
    for truth_file in sorted(v3_studies.glob("*/truth.json")):
        truth = json.loads(truth_file.read_text())
        pixel = truth["pixel_mm"]
        for mass in truth["masses_3d"]:
            x, y, z = mass["center_mm"]
            for key in (f"{mass['laterality']}-CC", f"{mass['laterality']}-MLO"):
                view = truth["views"][key]
                geometry = view["geometry"]
                angle = np.deg2rad(geometry["angle_deg"])
                col = x / pixel
                col = view["cols"] - 1 - col if geometry["mirrored"] else col
                row = geometry["nipple_row"] - (y * np.cos(angle) + z * np.sin(angle)) / pixel
                found = next(m for m in view["masses"] if m["id"] == mass["id"])
                tolerance = 0.15 * mass["diameter_mm"] / pixel  # an irregular margin moves the centroid a little
                assert np.hypot(found["center"][0] - col, found["center"][1] - row) < tolerance, (key, mass["id"])
                checked += 1
    assert checked >= 4


def test_v3_truth_is_consistent_across_the_four_views(v3_studies: Path) -> None:
    """Each mass is in both views of its breast only, inside the breast, at about the same nipple distance;
    the study records its style and what each look-alike is."""
    for truth_file in sorted(v3_studies.glob("*/truth.json")):
        truth = json.loads(truth_file.read_text())
        assert Style(truth["style"]["style"])
        for mass in truth["masses_3d"]:
            lat = mass["laterality"]
            distances = []
            for key in (f"{lat}-CC", f"{lat}-MLO"):
                view = truth["views"][key]
                found = [m for m in view["masses"] if m["id"] == mass["id"]]
                assert found, f"mass {mass['id']} missing from {key}"
                cx, cy = found[0]["center"]
                distances.append(np.hypot(cx - view["nipple"][0], cy - view["nipple"][1]))
            other = "R" if lat == "L" else "L"
            assert not any(m["id"] == mass["id"] for m in truth["views"][f"{other}-CC"]["masses"])
            assert abs(distances[0] - distances[1]) / np.mean(distances) < 0.25
        for view in truth["views"].values():
            assert len(view["lookalike_kinds"]) == len(view["lookalikes"])
            assert set(view["lookalike_kinds"]) <= {"lookalike", "cyst", "asymmetry"}


def test_v3_cue_measurement_reports_all_three_cues() -> None:
    studies = [make_study(np.random.default_rng([5, i]), V3, SMALL, normal=i % 4 == 0) for i in range(8)]
    report = measure_cues(studies, V3.image_size(SMALL).pixel_mm)
    assert report.masses >= 4 and report.nipple_distance_within_15pct >= 0.75
    for auc in (
        report.single_view_auc,
        report.bilateral_auc,
        report.ipsilateral_auc,
        report.bilateral_learned_auc,
        report.ipsilateral_learned_auc,
    ):
        assert 0.0 <= auc <= 1.0


def test_extended_margins_cover_the_lexicon_and_an_ill_defined_edge_keeps_its_density() -> None:
    studies = [make_study(np.random.default_rng([12, i]), V3, SMALL, normal=False) for i in range(40)]
    kinds = {mass.kind for study in studies for mass in study.masses}
    assert {"lobulated", "microlobulated", "ill-defined", "spiculated"} <= kinds
    assert kinds & {"round", "oval"}
    path = np.zeros((20, 20), np.float32)
    path[5:15, 5:15] = 1.0
    soft, (r0, r1, c0, c1) = soften(path, (40, 60, 40, 60), 3.0, (200, 200))
    assert (r0, r1, c0, c1) == (31, 69, 31, 69) and soft.sum() == pytest.approx(path.sum(), rel=1e-3)
    assert soft.max() < 1.0 and soft[0, 0] >= 0.0


def test_cli_synth_v3_says_which_styles_it_drew(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--studies", "2", "--out", str(tmp_path / "s"), "--phantom", "v3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["phantom"] == "v3" and sum(summary["styles"].values()) == 2
    assert set(summary["styles"]) <= {style.value for style in Style}
    assert json.loads((tmp_path / "s" / "synth.json").read_text())["config"]["anatomy"] == "structured"


def test_tubes_carry_the_same_integral_on_a_coarse_grid_as_on_a_fine_one() -> None:
    """Thin strands drawn on the 0.5 mm lite grid lost a third of their integral (8-connected one-pixel lines,
    whole-pixel widths) before they were drawn at 0.25 mm and averaged down."""
    from mommi.data.phantom.fine_render import draw_tubes
    from mommi.data.phantom.structures import FineAnatomy, Tube

    rng = np.random.default_rng(2)
    tubes = []
    for radius in (0.1, 0.2, 0.3, 0.45, 0.7):
        for _ in range(4):
            start = np.array([rng.uniform(10, 60), rng.uniform(-40, 40), 0.0])
            angle = rng.uniform(0, np.pi)
            step = np.array([np.cos(angle), np.sin(angle), 0.0])
            tubes.append(Tube(start + np.arange(0, 30, 2.0)[:, None] * step, radius, "strand"))
    anatomy = FineAnatomy(None, None, tubes)  # type: ignore[arg-type]  # draw_tubes reads the tubes only
    totals = {}
    for pixel in (0.25, 0.5):
        grid = FineGrid.over(0.0, int(150 / pixel), int(120 / pixel), pixel, 75 / pixel)
        canvas = np.zeros((grid.rows, grid.cols))
        draw_tubes(canvas, grid, anatomy)
        totals[pixel] = canvas.sum() * pixel**2  # mm of gland x mm^2
    assert totals[0.5] == pytest.approx(totals[0.25], rel=0.03)


def test_subgrid_detail_fills_only_what_the_anatomy_grid_cannot_hold() -> None:
    """Its spectrum is the power law's times what linear interpolation from 0.5 mm removes: the same tail
    above 1 cycle/mm, far less at the low frequencies the rendered anatomy already has."""
    from mommi.data.phantom.render_structured import SUBGRID_BETA, subgrid_detail, texture_2d
    from mommi.data.realism.spectrum import radial_power_spectrum

    detector = ImageSize("lite", 0.2, 700, 600)
    detail = subgrid_detail(0.5, detector, np.random.default_rng(0))
    assert detail.shape == (700, 600) and np.array_equal(
        detail, subgrid_detail(0.5, detector, np.random.default_rng(0))
    )
    assert abs(float(detail.std()) - 1.0) < 0.1
    plain = texture_2d((700, 600), SUBGRID_BETA, np.random.default_rng(0))

    def tail_share(field: np.ndarray) -> float:
        freqs, power = radial_power_spectrum(field[:256, :256].astype(np.float64), 0.2)
        return float(power[(freqs > 1.0) & (freqs < 1.4)].mean() / power[(freqs > 0.1) & (freqs < 0.3)].mean())

    assert tail_share(detail) > 30 * tail_share(plain)
