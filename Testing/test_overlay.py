"""Overlay pictures: heat map only where the model sees something, colours, flips, hanging order, PNGs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mommi.findings import overlay
from mommi.findings.overlay import (
    OverlayError,
    four_view_sheet,
    hanging_flips,
    render_view,
    write_png,
)
from mommi.runtime.result import FindingResult

ROWS, COLS = 600, 400
BLOB = (120.0, 200.0)  # (x, y), well off-centre so a mirror image is not the same picture


def _image() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:ROWS, :COLS]
    r2 = (xx - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2
    pixels = 0.2 + 0.2 * xx / COLS + 0.5 * np.exp(-r2 / (2 * 25.0**2))  # gradient + bright blob
    prob = np.exp(-r2 / (2 * 20.0**2)).astype(np.float32)
    return pixels, prob


def _finding(malignancy: float | None, birads: str | None = "4B") -> FindingResult:
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    contour = [[BLOB[0] + 40 * np.cos(a), BLOB[1] + 40 * np.sin(a)] for a in angles]
    return FindingResult(
        id="L-CC-1",
        view="L-CC",
        box_px=[BLOB[0] - 40, BLOB[1] - 40, BLOB[0] + 40, BLOB[1] + 40],
        contour_px=contour,
        score=0.93,
        branch="tri-view",
        malignancy=malignancy,
        birads=birads,
    )


def _bars(title: str = "L-CC  (tri-view)", width: int = COLS) -> tuple[int, int]:
    """Heights of the title bar and the legend strip at this width."""
    return overlay._bar(width, [[(title, None, "")]]).shape[0], overlay._legend(width).shape[0]


def _area(picture: np.ndarray, title: str = "L-CC  (tri-view)") -> np.ndarray:
    top, bottom = _bars(title, picture.shape[1])
    return picture[top : picture.shape[0] - bottom]


def test_shape_dtype_and_downscale() -> None:
    pixels, prob = _image()
    out = render_view(pixels, prob, [_finding(0.5)], (10.0, 300.0), "L-CC  (tri-view)", max_side=300)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    area = _area(out)
    assert max(area.shape[:2]) <= 300
    assert area.shape[:2] == (300, 200)  # aspect kept
    full = render_view(pixels, None, [], None, "x")
    assert _area(full, "x").shape[:2] == (ROWS, COLS)  # never upscaled


def test_heat_map_only_near_blob() -> None:
    pixels, prob = _image()
    grey = _area(render_view(pixels, None, [], None, "L-CC  (tri-view)"))
    heat = _area(render_view(pixels, prob, [], None, "L-CC  (tri-view)"))
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    expected_grey = (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(grey[..., 0], expected_grey)
    yy, xx = np.mgrid[:ROWS, :COLS]
    far = (xx - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2 > 60.0**2  # prob < 0.05 beyond ~49 px
    assert np.array_equal(heat[far], grey[far])
    near = (xx - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2 < 20.0**2
    assert np.abs(heat[near].astype(int) - grey[near].astype(int)).sum(axis=1).min() > 0


@pytest.mark.parametrize("malignancy, channel", [(0.9, 0), (0.1, 1)])
def test_contour_colour_by_malignancy(malignancy: float, channel: int) -> None:
    pixels, prob = _image()
    area = _area(render_view(pixels, prob, [_finding(malignancy)], None, "L-CC  (tri-view)"))
    x, y = int(round(BLOB[0] + 40)), int(round(BLOB[1]))  # the contour's vertex at angle 0
    r, g, b = (int(v) for v in area[y, x])
    colour = (r, g, b)
    assert colour[channel] >= 200, colour
    assert all(colour[c] <= 60 for c in (0, 1, 2) if c != channel), colour


def test_colour_bands() -> None:
    assert overlay.malignancy_colour(0.29) == overlay.GREEN
    assert overlay.malignancy_colour(0.3) == overlay.AMBER
    assert overlay.malignancy_colour(0.7) == overlay.RED
    assert overlay.malignancy_colour(None) == overlay.NEUTRAL
    f = _finding(None, birads=None)
    assert overlay.finding_label(f) == "L-CC-1  det 0.93"
    assert overlay.finding_label(_finding(0.71)) == "L-CC-1  det 0.93  mal 0.71  BI-RADS 4B"


def test_flip_mirrors_content_not_text() -> None:
    pixels, prob = _image()
    title = "R-CC  (tri-view)"
    plain = render_view(pixels, prob, [], (10.0, 300.0), title)
    flipped = render_view(pixels, prob, [], (10.0, 300.0), title, flip_horizontal=True)
    assert plain.shape == flipped.shape
    assert np.array_equal(_area(flipped, title), _area(plain, title)[:, ::-1])
    assert not np.array_equal(_area(flipped, title), _area(plain, title))  # the content is not symmetric
    top, bottom = _bars(title)
    assert np.array_equal(flipped[:top], plain[:top])  # title reads the same
    assert np.array_equal(flipped[-bottom:], plain[-bottom:])  # legend too
    vflip = render_view(pixels, prob, [], (10.0, 300.0), title, flip_vertical=True)
    assert np.array_equal(_area(vflip, title), _area(plain, title)[::-1])
    assert np.array_equal(vflip[:top], plain[:top])


def test_finding_label_is_not_mirrored() -> None:
    pixels = np.zeros((ROWS, COLS))  # black, so the label's box is easy to find
    f = _finding(0.9)

    def label_patch(picture: np.ndarray) -> np.ndarray:
        area = _area(picture)
        ys, xs = np.nonzero(np.all(area == overlay.LABEL_BG, axis=2))
        assert ys.size > 0
        return area[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]

    plain = render_view(pixels, None, [f], None, "L-CC  (tri-view)")
    flipped = render_view(pixels, None, [f], None, "L-CC  (tri-view)", flip_horizontal=True)
    a, b = label_patch(plain), label_patch(flipped)
    assert a.shape == b.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, a[:, ::-1])  # a mirrored label would be told apart
    # the contour itself is mirrored: its red vertex at angle 0 moves to the mirrored column
    x, y = int(round(BLOB[0] + 40)), int(round(BLOB[1]))
    assert tuple(_area(flipped)[y, COLS - 1 - x]) == overlay.RED


def test_label_stays_inside_the_image() -> None:
    pixels = np.zeros((ROWS, COLS))
    f = _finding(0.5)
    f.box_px = [COLS - 30.0, 2.0, COLS - 2.0, 30.0]  # top-right corner: no room above or to the right
    f.contour_px = []
    area = _area(render_view(pixels, None, [f], None, "L-CC  (tri-view)"))
    ys, xs = np.nonzero(np.all(area == overlay.LABEL_BG, axis=2))
    (tw, _), _ = cv2.getTextSize(overlay.finding_label(f), overlay.FONT, overlay.SCALE, overlay.THICK)
    assert ys.size > 0 and xs.max() - xs.min() + 1 == tw + 6  # whole label, not cut at the edge
    assert ys.min() > 30  # placed below the box, as there is no room above it
    assert tuple(area[2, COLS - 2]) == overlay.AMBER  # box drawn when the contour is empty


@pytest.mark.parametrize("fh", [False, True])
@pytest.mark.parametrize("fv", [False, True])
def test_hanging_flips(fh: bool, fv: bool) -> None:
    assert hanging_flips("L-CC", fh, fv) == (fh, fv)
    assert hanging_flips("L-MLO", fh, fv) == (fh, fv)
    assert hanging_flips("R-CC", fh, fv) == (not fh, fv)
    assert hanging_flips("R-MLO", fh, fv) == (not fh, fv)


def test_hanging_flips_unknown_view() -> None:
    with pytest.raises(ValueError):
        hanging_flips("X-CC", False, False)


COLOURS = {"R-CC": (255, 0, 0), "L-CC": (0, 255, 0), "R-MLO": (0, 0, 255), "L-MLO": (255, 255, 0)}


def _solid(colour: tuple[int, int, int], h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def test_four_view_sheet_quadrants() -> None:
    panels = {v: _solid(c, 100, 80) for v, c in COLOURS.items()}
    sheet = four_view_sheet(panels, tile_height=100)
    assert sheet.shape == (200, 160, 3) and sheet.dtype == np.uint8
    assert tuple(sheet[50, 40]) == COLOURS["R-CC"]
    assert tuple(sheet[50, 120]) == COLOURS["L-CC"]
    assert tuple(sheet[150, 40]) == COLOURS["R-MLO"]
    assert tuple(sheet[150, 120]) == COLOURS["L-MLO"]


def test_four_view_sheet_chest_walls_meet_in_the_middle() -> None:
    panels = {
        "R-CC": _solid(COLOURS["R-CC"], 200, 100),  # -> 50 wide at height 100
        "L-CC": _solid(COLOURS["L-CC"], 100, 40),
        "R-MLO": _solid(COLOURS["R-MLO"], 100, 30),
        "L-MLO": _solid(COLOURS["L-MLO"], 100, 70),
    }
    sheet = four_view_sheet(panels, tile_height=100)
    cell = 70
    assert sheet.shape == (200, 2 * cell, 3)
    mid = cell
    for row, (right, left, rw, lw) in enumerate((("R-CC", "L-CC", 50, 40), ("R-MLO", "L-MLO", 30, 70))):
        y = row * 100 + 50
        line = sheet[y]
        # R panel: right-aligned, its last column is just left of the middle line
        assert tuple(line[mid - 1]) == COLOURS[right]
        assert tuple(line[mid - rw]) == COLOURS[right]
        if rw < cell:
            assert tuple(line[mid - rw - 1]) == (0, 0, 0)
        # L panel: left-aligned, its first column is on the middle line
        assert tuple(line[mid]) == COLOURS[left]
        assert tuple(line[mid + lw - 1]) == COLOURS[left]
        if lw < cell:
            assert tuple(line[mid + lw]) == (0, 0, 0)


def test_four_view_sheet_missing_view() -> None:
    panels = {v: _solid(c, 100, 200) for v, c in COLOURS.items() if v != "R-MLO"}
    sheet = four_view_sheet(panels, tile_height=100)
    tile = sheet[100:200, :200]
    assert tuple(tile[2, 2]) == overlay.MISSING  # dark, not black padding, not another view
    assert (tile.astype(int).sum(axis=2) > 3 * 150).any()  # the light text is there
    assert tuple(sheet[150, 300]) == COLOURS["L-MLO"]
    empty = four_view_sheet({}, tile_height=64)
    assert empty.shape[0] == 128 and tuple(empty[1, 1]) == overlay.MISSING


def test_write_png_round_trip(tmp_path: Path) -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 255  # red in RGB
    path = write_png(tmp_path / "a" / "b" / "view.png", rgb)
    assert path.is_file()
    back = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert back is not None and back.shape == (20, 30, 3)
    assert tuple(back[0, 0]) == (0, 0, 255)  # BGR on disk


def test_write_png_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    target = blocker / "sub" / "view.png"
    with pytest.raises(OverlayError, match="file.txt"):
        write_png(target, np.zeros((4, 4, 3), np.uint8))
