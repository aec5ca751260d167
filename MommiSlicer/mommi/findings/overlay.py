"""Pictures written next to ``result.json``: one overlay PNG per view and a four-view sheet.

Drawing is done with OpenCV and numpy only (no torch, Qt or matplotlib) so that
``mommi analyze`` can write its pictures on a headless machine with the engine's
own dependencies. Inputs are in ORIGINAL pixel coordinates (see
``mommi.runtime.result``); the display orientation is decided only at the end,
so geometry and orientation never get mixed up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mommi.errors import MommiError
from mommi.runtime.result import FindingResult

VIEWS = ("L-CC", "R-CC", "L-MLO", "R-MLO")
#: the heat map is painted from this probability: the lite networks' background sits near 0.07
#: everywhere in the breast, and painting it would tint all normal tissue
HEAT_THRESHOLD = 0.1
# RGB colours; contours use them exactly (no anti-aliasing) so a reader can tell the bands apart.
GREEN, AMBER, RED, NEUTRAL = (40, 220, 40), (255, 176, 0), (255, 40, 40), (210, 210, 210)
CYAN = (0, 255, 255)
BAR = (32, 32, 32)  # title bar and legend strip
LABEL_BG = (16, 16, 48)  # opaque box behind finding labels
MISSING = (48, 48, 48)
FONT = cv2.FONT_HERSHEY_SIMPLEX
SCALE, THICK = 0.5, 1


class OverlayError(MommiError, ValueError):
    """A picture could not be written (the message names the path)."""


def malignancy_colour(malignancy: float | None) -> tuple[int, int, int]:
    """Band colour: green < 0.3 <= amber < 0.7 <= red; neutral grey when not estimated."""
    if malignancy is None:
        return NEUTRAL
    return GREEN if malignancy < 0.3 else AMBER if malignancy < 0.7 else RED


def finding_label(f: FindingResult) -> str:
    parts = [f.id, f"det {f.score:.2f}"]
    if f.malignancy_withheld:
        parts.append("mal withheld")
    elif f.malignancy is not None:
        parts.append(f"mal {f.malignancy:.2f}")
    if f.birads is not None:
        parts.append(f"BI-RADS {f.birads}")
    return "  ".join(parts)


def _text_size(text: str) -> tuple[int, int, int]:
    (tw, th), base = cv2.getTextSize(text, FONT, SCALE, THICK)
    return tw, th, base


def _bar(width: int, lines: Sequence[Sequence[tuple[str, tuple[int, int, int] | None, str]]]) -> np.ndarray:
    """A dark strip with rows of (text, swatch colour, swatch kind) items; kind: line|cross|heat|''."""
    _, th, base = _text_size("Ag")
    row_h = th + base + 10
    bar = np.full((row_h * max(len(lines), 1), width, 3), BAR, np.uint8)
    for r, items in enumerate(lines):
        x, cy = 6, r * row_h + row_h // 2
        for text, colour, kind in items:
            if kind == "heat":
                ramp = cv2.applyColorMap(np.linspace(0, 255, 24).astype(np.uint8)[None, :], cv2.COLORMAP_JET)
                patch = cv2.cvtColor(ramp, cv2.COLOR_BGR2RGB)[0]
                n = max(0, min(24, width - x))
                bar[cy - 4 : cy + 4, x : x + n] = patch[:n]
                x += 28
            elif kind == "line" and colour is not None:
                cv2.line(bar, (x, cy), (x + 18, cy), colour, 3)
                x += 22
            elif kind == "cross" and colour is not None:
                cv2.drawMarker(bar, (x + 6, cy), colour, cv2.MARKER_CROSS, 10, 2)
                x += 16
            cv2.putText(bar, text, (x, cy + th // 2), FONT, SCALE, (235, 235, 235), THICK, cv2.LINE_AA)
            x += _text_size(text)[0] + 14
    return bar


def _legend(width: int) -> np.ndarray:
    """The colour key, wrapped onto as many rows as the picture's width needs."""
    items = [
        ("mass probability", None, "heat"),
        ("mal <0.3", GREEN, "line"),
        ("mal 0.3-0.7", AMBER, "line"),
        ("mal >=0.7", RED, "line"),
        ("mal n/a, withheld", NEUTRAL, "line"),
        ("nipple", CYAN, "cross"),
    ]
    lines: list[list] = [[]]
    x = 6
    for item in items:
        w = _text_size(item[0])[0] + 14 + {"heat": 28, "line": 22, "cross": 16}[item[2]]
        if lines[-1] and x + w > width:
            lines.append([])
            x = 6
        lines[-1].append(item)
        x += w
    return _bar(width, lines)


def render_view(
    pixels: np.ndarray,
    prob_map: np.ndarray | None,
    findings: Sequence[FindingResult],
    nipple: Sequence[float] | None,
    title: str,
    flip_horizontal: bool = False,
    flip_vertical: bool = False,
    opacity: float = 0.4,
    max_side: int = 1024,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB overlay of one view: title bar, image with heat map and findings, legend.

    Geometry (heat map, contours, nipple) is drawn in the original orientation and
    the picture is flipped afterwards, so no coordinate is ever flipped by hand;
    labels and bars are drawn after the flip because text must never be mirrored.
    """
    grey = np.asarray(pixels, np.float64)
    if grey.ndim != 2:
        raise ValueError(f"pixels must be a 2-D grey image, got shape {grey.shape}")
    rows, cols = grey.shape
    s = min(1.0, max_side / max(rows, cols))
    w, h = max(1, round(cols * s)), max(1, round(rows * s))
    sx, sy = w / cols, h / rows
    grey8 = (np.clip(grey, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    img = cv2.cvtColor(cv2.resize(grey8, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2RGB)

    if prob_map is not None:
        prob = np.asarray(prob_map, np.float32)
        if prob.shape != grey.shape:
            raise ValueError(f"probability map of shape {prob.shape} does not match the image {grey.shape}")
        prob = np.clip(cv2.resize(prob, (w, h), interpolation=cv2.INTER_AREA), 0.0, 1.0)
        heat = cv2.cvtColor(cv2.applyColorMap((prob * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
        # Only where the model sees something: a colour-mapped zero is dark blue and would hide the tissue.
        mask = prob >= HEAT_THRESHOLD
        img[mask] = ((1 - opacity) * img[mask] + opacity * heat[mask] + 0.5).astype(np.uint8)

    def scaled(points: Any) -> np.ndarray:  # pixel centres on integers, as cv2.resize maps them
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return np.rint((pts + 0.5) * (sx, sy) - 0.5).astype(np.int32)

    for f in findings:
        colour = malignancy_colour(f.malignancy)
        if len(f.contour_px) >= 2:
            cv2.polylines(img, [scaled(f.contour_px)], True, colour, 2, cv2.LINE_8)
        else:
            (x0, y0), (x1, y1) = scaled(np.reshape(f.box_px, (2, 2)))
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), colour, 2, cv2.LINE_8)
    if nipple is not None:
        ((nx, ny),) = scaled(nipple)
        cv2.drawMarker(img, (int(nx), int(ny)), CYAN, cv2.MARKER_CROSS, 14, 2, cv2.LINE_8)

    if flip_horizontal:
        img = img[:, ::-1]
    if flip_vertical:
        img = img[::-1]
    img = np.ascontiguousarray(img)

    for f in findings:
        box = scaled(np.reshape(f.box_px, (2, 2))).astype(np.float64)
        if flip_horizontal:
            box[:, 0] = w - 1 - box[:, 0]
        if flip_vertical:
            box[:, 1] = h - 1 - box[:, 1]
        bx0, by0 = box.min(axis=0)
        by1 = box[:, 1].max()
        text = finding_label(f)
        tw, th, base = _text_size(text)
        lw, lh = tw + 6, th + base + 6
        top = by0 - 4 - lh if by0 - 4 - lh >= 0 else by1 + 4  # above the box, else below it
        x = int(max(0, min(bx0, w - lw)))
        y = int(max(0, min(top, h - lh)))
        cv2.rectangle(img, (x, y), (x + lw - 1, y + lh - 1), LABEL_BG, -1)
        cv2.putText(img, text, (x + 3, y + 3 + th), FONT, SCALE, malignancy_colour(f.malignancy), THICK, cv2.LINE_AA)
    return np.vstack([_bar(w, [[(title, None, "")]]), img, _legend(w)])


def hanging_flips(view: str, flip_horizontal: bool, flip_vertical: bool) -> tuple[bool, bool]:
    """Display flips for the hanging protocol, from the flips that make a view canonical.

    Canonical is chest wall on the left, which is how a LEFT breast hangs; a RIGHT
    breast hangs mirrored (chest wall on the right) so both chest walls meet in the
    middle of the sheet. The vertical flip (images stored upside down) applies to both.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    return (flip_horizontal if view.startswith("L") else not flip_horizontal), flip_vertical


def four_view_sheet(panels: dict[str, np.ndarray], tile_height: int = 512) -> np.ndarray:
    """2x2 sheet in hanging order: R-CC | L-CC over R-MLO | L-MLO, chest walls on the middle line.

    Panels are scaled to one height and padded to one width; R panels are pushed
    right and L panels left in their cells so the breasts touch in the middle as on a
    reading station. A view the study lacks becomes a dark tile saying so.
    """
    unknown = set(panels) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown views {sorted(unknown)}; expected {', '.join(VIEWS)}")
    scaled: dict[str, np.ndarray] = {}
    for view, panel in panels.items():
        ph, pw = panel.shape[:2]
        new_w = max(1, round(pw * tile_height / ph))
        interp = cv2.INTER_AREA if tile_height < ph else cv2.INTER_LINEAR
        scaled[view] = cv2.resize(np.ascontiguousarray(panel, np.uint8), (new_w, tile_height), interpolation=interp)
    cell_w = max([p.shape[1] for p in scaled.values()], default=round(tile_height * 0.75))
    sheet = np.zeros((2 * tile_height, 2 * cell_w, 3), np.uint8)
    for row, (right, left) in enumerate((("R-CC", "L-CC"), ("R-MLO", "L-MLO"))):
        y = row * tile_height
        for view, x0 in ((right, 0), (left, cell_w)):
            if view not in scaled:
                sheet[y : y + tile_height, x0 : x0 + cell_w] = MISSING
                text = f"{view}: not in study"
                tw, th, _ = _text_size(text)
                org = (x0 + max(4, (cell_w - tw) // 2), y + (tile_height + th) // 2)
                cv2.putText(sheet, text, org, FONT, SCALE, (220, 220, 220), THICK, cv2.LINE_AA)
                continue
            p = scaled[view]
            px = cell_w - p.shape[1] if view.startswith("R") else cell_w
            sheet[y : y + tile_height, px : px + p.shape[1]] = p
    return sheet


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB picture as PNG (compression 6), creating parent folders. Encoded in memory and written
    by Python: cv2.imwrite reports a full disk only as False (and libpng prints to the terminal), while a
    Python write raises the OSError that names the cause."""
    path = Path(path)
    try:
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    except cv2.error as exc:
        raise OverlayError(f"could not encode {path}: {exc}") from exc
    if not ok:
        raise OverlayError(f"could not encode {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded.tobytes())
    except OSError as exc:
        raise OverlayError(f"could not write {path}: {exc.strerror or exc}") from exc
    return path
