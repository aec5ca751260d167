"""Mass size and contrast: are the phantom's masses as big and as faint as real ones?

Why: a detector trained on large, bright masses misses the small subtle ones that
make real screening hard. Sizes and contrasts come from the truth each side has:
the phantom's mask per view (truth.json / masks/*.png written by ``mommi synth``),
and MIAS's circle per mass (Info.txt: centre and radius in 0.2 mm pixels).

Definitions (the same for both sides, on the 0.2 mm grid):
- diameter: MIAS gives the radius of a circle enclosing the mass, so a synthetic
  mass's diameter is the diameter of the circle enclosing its mask in that view
  (``cv2.minEnclosingCircle``), not its 3-D size;
- contrast: (mean inside - mean of the surrounding ring) / mean of the ring, the
  ring reaching from the mass edge out to 1.5 x its equivalent radius, inside the
  breast only.
"""

from __future__ import annotations

import cv2
import numpy as np

from mommi.data.realism.resample import TARGET_MM

RING_FACTOR = 1.5


def enclosing_diameter_mm(region: np.ndarray, pixel_mm: float = TARGET_MM) -> float:
    """Diameter (mm) of the smallest circle enclosing a mask's pixel centres (plus one pixel)."""
    ys, xs = np.nonzero(region)
    if xs.size == 0:
        return float("nan")
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    _, radius = cv2.minEnclosingCircle(points)
    return float((2.0 * radius + 1.0) * pixel_mm)


def mass_contrast(pixels: np.ndarray, region: np.ndarray, breast: np.ndarray | None = None) -> float:
    """Relative contrast of a mass region against the ring around it; nan if either is empty."""
    region = region.astype(bool)
    area = int(region.sum())
    if area == 0:
        return float("nan")
    radius = np.sqrt(area / np.pi)
    grow = max(1, int(round((RING_FACTOR - 1.0) * radius)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
    if breast is not None:
        ring &= breast.astype(bool)
    if not ring.any():
        return float("nan")
    inside, around = float(pixels[region].mean()), float(pixels[ring].mean())
    if around <= 0:
        return float("nan")
    return (inside - around) / around


def circle_region(shape: tuple[int, int], center_xy: tuple[float, float], radius_px: float) -> np.ndarray:
    """A filled circle (MIAS's mass outline) as a mask of ``shape``."""
    region = np.zeros(shape, np.uint8)
    cv2.circle(region, (int(round(center_xy[0])), int(round(center_xy[1]))), max(1, int(round(radius_px))), 1, -1)
    return region.astype(bool)
