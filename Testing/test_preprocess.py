"""Model input grid, bilateral registration and region extraction (runtime, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mommi.data.synth import synthesize
from mommi.findings.regions import regions_from_probability
from mommi.findings.render import render_detections
from mommi.preprocess.model_input import InputSpec, prepare
from mommi.preprocess.registration import register_bilateral
from mommi.study import load_study
from mommi.study.orientation import breast_mask

SPEC = InputSpec(height=256, width=160)


def _ellipse_mask(shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def test_prepare_keeps_the_breast_whole_and_maps_back(tmp_path: Path) -> None:
    study = load_study(synthesize(tmp_path, 1, seed=4)[0])
    for view, image in study.images.items():
        prepared = prepare(image, SPEC)
        assert prepared.pixels.shape == (256, 160)
        assert prepared.mask[:, 0].sum() > 50  # chest wall on the left edge
        assert not prepared.mask[:, -1].any() and not prepared.mask[0].any() and not prepared.mask[-1].any()
        # uniform scale: the breast keeps its aspect ratio
        sx, sy = prepared.transform.scale
        assert abs(sx - sy) < 0.02 * sx
        corners = np.array([[0.0, 0.0], [159.0, 255.0]])
        assert np.allclose(prepared.transform.to_model(prepared.transform.to_original(corners)), corners)


def test_registration_matches_contours_and_nipples() -> None:
    shape = (256, 160)
    main_mask = _ellipse_mask(shape, 0, 128, 110, 100)
    aux_mask = _ellipse_mask(shape, 0, 118, 90, 80)  # smaller and higher
    main = main_mask * 0.5
    aux = aux_mask * 0.5
    # a landmark at the same relative place in both breasts
    aux_landmark = (45.0, 118 + 40.0)  # x = half of 90, y = half of 80 below the nipple line
    aux[int(aux_landmark[1]) - 2 : int(aux_landmark[1]) + 3, int(aux_landmark[0]) - 2 : int(aux_landmark[0]) + 3] = 1.0
    reg = register_bilateral(main, aux, main_mask, aux_mask, main_nipple=(110, 128), aux_nipple=(90, 118))
    inter = (reg.warped_mask & main_mask).sum()
    union = (reg.warped_mask | main_mask).sum()
    assert inter / union > 0.95
    ys, xs = np.nonzero(reg.warped > 0.9)
    assert abs(xs.mean() - 55.0) < 3 and abs(ys.mean() - (128 + 50.0)) < 3  # lands at the main breast's place


def test_registration_without_nipples_uses_the_contours_only() -> None:
    shape = (128, 80)
    mask = _ellipse_mask(shape, 0, 64, 50, 50)
    reg = register_bilateral(mask * 1.0, mask * 1.0, mask, mask)
    assert np.abs(reg.warped - mask).mean() < 0.01  # identical breasts: identity warp


def test_regions_from_probability() -> None:
    prob = np.zeros((50, 60), np.float32)
    prob[10:20, 5:15] = 0.8
    prob[30:33, 40:44] = 0.3
    prob[0, 0] = 0.9  # a single pixel: below min_area
    regions = regions_from_probability(prob, threshold=0.2)
    assert [r.box for r in regions] == [(5, 10, 14, 19), (40, 30, 43, 32)]
    assert [round(r.score, 2) for r in regions] == [0.8, 0.3]


def test_breast_mask_keeps_the_dark_periphery_of_a_dense_breast() -> None:
    """Otsu alone splits dense tissue from fat and loses the skin line and the nipple;
    the mask must reach the true breast edge (a lite model once never saw the nipple)."""
    rng = np.random.default_rng(0)
    shape = (300, 240)
    breast = _ellipse_mask(shape, 0, 150, 200, 120)
    dense = _ellipse_mask(shape, 0, 150, 130, 100)
    pixels = np.clip(0.01 + 0.005 * rng.standard_normal(shape) + 0.10 * breast + 0.70 * dense, 0, 1)
    mask = breast_mask(pixels.astype(np.float32))
    assert (mask & breast).sum() / (mask | breast).sum() > 0.95
    assert mask[150, 195]  # just inside the nipple end of the skin line


def test_breast_mask_ignores_film_padding_and_thin_edges() -> None:
    """Digitised film (mini-MIAS): zero padding, a brighter film background and a thin
    bright film edge touching the breast; only the breast is kept."""
    rng = np.random.default_rng(1)
    shape = (400, 400)
    pixels = np.zeros(shape)
    pixels[:, 60:340] = 0.08 + 0.01 * rng.standard_normal((400, 280))  # film background
    breast = _ellipse_mask(shape, 340, 200, 180, 170) & (np.arange(400)[None, :] < 340)
    pixels[breast] = 0.55
    pixels[0:2, 60:340] = 0.9  # film edge, two pixels thick, touching the breast
    mask = breast_mask(np.clip(pixels, 0, 1).astype(np.float32))
    assert (mask & breast).sum() / (mask | breast).sum() > 0.95


def test_detections_render_as_ellipses_keeping_the_highest_score() -> None:
    boxes = np.array([[10, 10, 30, 50], [20, 20, 40, 40], [5, 5, 5, 9]], float)  # the last one is empty
    prob = render_detections(boxes, np.array([0.4, 0.9, 0.7]), (64, 48))
    assert prob.dtype == np.float32 and prob.shape == (64, 48)
    assert prob[45, 20] == pytest.approx(0.4) and prob[30, 30] == pytest.approx(0.9)  # overlap keeps the max
    assert prob[10, 10] == 0.0  # a box corner lies outside its ellipse
    assert prob[7, 5] == 0.0 and render_detections(np.zeros((0, 4)), np.zeros(0), (8, 8)).max() == 0.0
