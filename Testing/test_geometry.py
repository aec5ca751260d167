"""The original-grid <-> model-grid transform is exact and reversible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mommi.study.geometry import GridTransform


@st.composite
def transforms(draw: st.DrawFn) -> GridTransform:
    rows = draw(st.integers(8, 3000))
    cols = draw(st.integers(8, 3000))
    t = GridTransform(
        shape=(rows, cols),
        flip_horizontal=draw(st.booleans()),
        flip_vertical=draw(st.booleans()),
    )
    x0 = draw(st.integers(0, cols - 4))
    y0 = draw(st.integers(0, rows - 4))
    x1 = draw(st.integers(x0 + 2, cols))
    y1 = draw(st.integers(y0 + 2, rows))
    t = t.with_crop(x0, y0, x1, y1)
    return t.with_output_size(draw(st.integers(2, 1500)), draw(st.integers(2, 1500)))


@settings(max_examples=300, deadline=None)
@given(transforms(), st.lists(st.tuples(st.floats(-0.5, 2999.5), st.floats(-0.5, 2999.5)), min_size=1, max_size=20))
def test_points_round_trip_within_half_a_pixel(transform: GridTransform, points: list) -> None:
    pts = np.array(points)
    back = transform.to_original(transform.to_model(pts))
    assert np.max(np.abs(back - pts)) < 0.5
    assert np.max(np.abs(back - pts)) < 1e-6  # in fact exact up to float rounding


def test_flip_maps_first_column_to_last() -> None:
    t = GridTransform((10, 20), flip_horizontal=True)
    assert t.to_model(np.array([[0, 3]])).tolist() == [[19, 3]]
    t = GridTransform((10, 20), flip_vertical=True)
    assert t.to_model(np.array([[4, 0]])).tolist() == [[4, 9]]


def test_pixel_centre_convention_matches_opencv_resize() -> None:
    t = GridTransform.identity((100, 100)).with_output_size(50, 50)
    # pixel edges -0.5 and 99.5 map to model edges -0.5 and 49.5
    assert np.allclose(t.to_model(np.array([[-0.5, 99.5]])), [[-0.5, 49.5]])


@pytest.mark.parametrize("flip_h", [False, True])
@pytest.mark.parametrize("flip_v", [False, True])
@pytest.mark.parametrize("size", [(300, 200), (90, 140)])
def test_a_bright_dot_comes_back_within_half_a_pixel(flip_h: bool, flip_v: bool, size: tuple) -> None:
    """Resample an image with a dot to the model grid, find it there, map it back."""
    rows, cols = 400, 320
    yy, xx = np.mgrid[0:rows, 0:cols]
    dot = np.array([211.3, 137.8])  # (x, y)
    image = np.exp(-((xx - dot[0]) ** 2 + (yy - dot[1]) ** 2) / (2 * 6.0**2)).astype(np.float32)
    t = GridTransform((rows, cols), flip_h, flip_v).with_crop(20, 10, 300, 390).with_output_size(*size)
    model = t.apply(image)
    assert model.shape == (size[1], size[0])
    my, mx = np.mgrid[0 : model.shape[0], 0 : model.shape[1]]
    weights = model**4
    found = np.array([(mx * weights).sum() / weights.sum(), (my * weights).sum() / weights.sum()])
    back = t.to_original(found[None])[0]
    assert np.linalg.norm(back - dot) < 0.5


def test_invert_restores_the_original_grid() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((64, 48)).astype(np.float32)
    t = GridTransform((64, 48), flip_horizontal=True).with_crop(4, 8, 40, 60)
    back = t.invert(t.apply(image))
    assert back.shape == image.shape
    assert np.array_equal(back[8:60, 8:44], image[8:60, 8:44])  # flipped crop lands where it came from
    assert back[:8].sum() == 0


def test_serialises_to_json_and_back() -> None:
    t = GridTransform((50, 40), True, False).with_crop(1, 2, 30, 40).with_output_size(20, 25)
    assert GridTransform.from_dict(t.to_dict()) == t


def test_crop_outside_the_image_is_refused() -> None:
    with pytest.raises(ValueError):
        GridTransform((10, 10)).with_crop(0, 0, 11, 5)


def test_crop_with_padding_round_trips() -> None:
    rng = np.random.default_rng(1)
    image = rng.random((40, 30)).astype(np.float32)
    t = GridTransform((40, 30), flip_horizontal=True).with_crop(-5, -10, 35, 50, allow_padding=True)
    model = t.apply(image)
    assert model.shape == (60, 40)
    assert model[:10].sum() == 0 and model[:, 35:].sum() == 0  # padding
    assert np.array_equal(t.invert(model), image)
    pts = np.array([[0.0, 0.0], [29.0, 39.0]])
    assert np.allclose(t.to_original(t.to_model(pts)), pts)
    with pytest.raises(ValueError):
        GridTransform((40, 30)).with_crop(-5, 0, 10, 10)  # padding must be asked for


@settings(max_examples=200, deadline=None)
@given(transforms(), st.floats(0, 2000), st.floats(0, 2000), st.floats(1, 900), st.floats(1, 900))
def test_boxes_round_trip_and_stay_ordered(transform: GridTransform, x: float, y: float, w: float, h: float) -> None:
    box = (x, y, x + w, y + h)
    on_grid = transform.box_to_model(box)
    assert on_grid[0] <= on_grid[2] and on_grid[1] <= on_grid[3]  # flips never invert a box
    assert np.allclose(transform.box_to_original(on_grid), box, atol=1e-6)
