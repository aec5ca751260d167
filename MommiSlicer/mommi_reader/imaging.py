"""Turning engine arrays into pictures Qt can draw: quantised grey levels, window/level, heat maps.

The expensive parts (``quantise``, ``heat_rgba``) are plain numpy and run in the
analysis worker thread, so the GUI thread only does a 4096-entry table look-up
when the window or level changes. Colours come from
``mommi.findings.overlay`` so that the reader, the overlay PNGs of
``mommi analyze`` and the Slicer module colour findings the same way.
"""

from __future__ import annotations

import cv2
import numpy as np
from PyQt5.QtGui import QColor, QImage

from mommi.findings.overlay import HEAT_THRESHOLD, malignancy_colour

#: grey levels kept for display: 12 bits, so a narrow window still shows smooth gradations
LEVELS = 4096
DEFAULT_WINDOW, DEFAULT_LEVEL = 1.0, 0.5
MIN_WINDOW = 0.01


def quantise(pixels: np.ndarray) -> np.ndarray:
    """Display intensities in [0, 1] (``MammoImage.pixels``) as uint16 indices into a window LUT."""
    scaled = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0) * (LEVELS - 1) + 0.5
    return scaled.astype(np.uint16)


def window_lut(window: float, level: float) -> np.ndarray:
    """The uint8 grey value of each quantised level for a window (width) and level (centre) in [0, 1] units."""
    window = max(float(window), MIN_WINDOW)
    values = np.linspace(0.0, 1.0, LEVELS, dtype=np.float32)
    grey = (values - (level - window / 2.0)) / window
    return (np.clip(grey, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grey_image(quantised: np.ndarray, lut: np.ndarray) -> QImage:
    """An 8-bit grey QImage that owns its pixels (the numpy buffer may go away)."""
    grey = np.ascontiguousarray(lut[quantised])
    rows, cols = grey.shape
    return QImage(grey.data, cols, rows, cols, QImage.Format_Grayscale8).copy()


def heat_rgba(prob: np.ndarray, mask: np.ndarray | None = None, threshold: float = HEAT_THRESHOLD) -> np.ndarray:
    """(H, W, 4) uint8 RGBA heat map: the JET colour map of ``mommi.findings.overlay``, transparent below
    ``threshold`` and outside the breast (a colour-mapped zero is dark blue and would hide the tissue)."""
    p = np.clip(np.asarray(prob, np.float32), 0.0, 1.0)
    jet = cv2.applyColorMap((p * 255).astype(np.uint8), cv2.COLORMAP_JET)
    rgba = np.empty(p.shape + (4,), np.uint8)
    rgba[..., :3] = jet[..., ::-1]  # BGR -> RGB
    shown = p >= threshold
    if mask is not None and mask.shape == p.shape:
        shown &= mask.astype(bool)
    rgba[..., 3] = np.where(shown, 255, 0).astype(np.uint8)
    return rgba


def rgba_image(rgba: np.ndarray) -> QImage:
    """A QImage (RGBA8888) that owns its pixels."""
    data = np.ascontiguousarray(rgba, np.uint8)
    rows, cols = data.shape[:2]
    return QImage(data.data, cols, rows, cols * 4, QImage.Format_RGBA8888).copy()


def heat_ramp(steps: int = 32) -> list[QColor]:
    """The heat map's colours from probability 0 to 1, for the legend."""
    ramp = cv2.applyColorMap(np.linspace(0, 255, steps).astype(np.uint8)[None, :], cv2.COLORMAP_JET)[0]
    return [QColor(int(r), int(g), int(b)) for b, g, r in ramp]


def colour(rgb: tuple[int, int, int]) -> QColor:
    return QColor(*rgb)


def finding_colour(malignancy: float | None) -> QColor:
    """Band colour of a finding: green < 0.3 <= amber < 0.7 <= red, grey when not estimated (overlay.py)."""
    return colour(malignancy_colour(malignancy))
