"""Detections rendered into a probability map ("Ipsi-prob map" of METHOD.md).

The fusion network reads the detector's output as an image beside the bilateral
probability map, so boxes and scores become a map on the model grid: each box
paints its score into the ellipse inscribed in it (masses are roundish, and a
filled rectangle would claim its corners), overlapping boxes keep the maximum.
The same function serves training (maps for the fusion network's training set)
and inference, so the fusion network sees maps made the same way.
"""

from __future__ import annotations

import cv2
import numpy as np


def render_detections(boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 map in [0, 1] from (K, 4) boxes (x0, y0, x1, y1) on the grid and (K,) scores."""
    prob = np.zeros(shape, np.float32)
    layer = np.zeros(shape, np.float32)
    for (x0, y0, x1, y1), score in zip(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores).ravel()):
        if not (x1 > x0 and y1 > y0) or score <= 0:
            continue
        layer[:] = 0
        centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
        axes = (max(int(round((x1 - x0) / 2)), 1), max(int(round((y1 - y0) / 2)), 1))
        cv2.ellipse(layer, centre, axes, 0, 0, 360, float(min(score, 1.0)), -1)
        np.maximum(prob, layer, out=prob)
    return prob
