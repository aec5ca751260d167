"""Outlines of findings on the model grid: from a probability map's region, or from a detector's box.

A reader edits and a DICOM SR references a polygon, not a box: the map-based
findings get the outline of the region around their peak (the same region, at
the same share of the peak, that ``regions_from_probability`` boxed), the detector's findings the ellipse
inscribed in their box (the shape ``render_detections`` paints into the Ipsi-prob
map). OpenCV does the tracing.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mommi.findings.regions import REGION_LEVEL

#: polygon simplification tolerance in grid pixels (sub-pixel: keeps the shape, drops staircase points)
SIMPLIFY_PX = 0.5


def ellipse_contour(box: Sequence[float], points: int = 24) -> np.ndarray:
    """(N, 2) float polygon of the ellipse inscribed in a box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    angles = np.linspace(0.0, 2.0 * np.pi, points, endpoint=False)
    cx, cy, rx, ry = (x0 + x1) / 2.0, (y0 + y1) / 2.0, max((x1 - x0) / 2.0, 0.5), max((y1 - y0) / 2.0, 0.5)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def region_contour(prob: np.ndarray, box: Sequence[float], peak: float) -> np.ndarray:
    """(N, 2) polygon of the region of ``prob`` above REGION_LEVEL of the peak inside ``box`` (inclusive grid box).

    Falls back to the box's ellipse when the region is smaller than a pixel.
    """
    x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, prob.shape[1] - 1), min(y1, prob.shape[0] - 1)
    inside = (prob[y0 : y1 + 1, x0 : x1 + 1] >= REGION_LEVEL * peak).astype(np.uint8)
    contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return ellipse_contour(box)
    largest = max(contours, key=cv2.contourArea)
    polygon = cv2.approxPolyDP(largest, SIMPLIFY_PX, closed=True)[:, 0, :].astype(np.float64)
    if len(polygon) < 3:
        return ellipse_contour(box)
    return polygon + np.array([x0, y0], np.float64)
