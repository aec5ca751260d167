"""Decoding the nipple detector's heatmap into a point on the input grid."""

from __future__ import annotations

import cv2
import numpy as np

#: the heatmap is at 1/4 of the input resolution (HRNet's finest branch)
HEATMAP_STRIDE = 4


def nipple_from_heatmap(heatmap: np.ndarray) -> tuple[float, float, float]:
    """(x, y, peak) on the input grid: the peak refined by its 3x3 weighted centroid."""
    h, w = heatmap.shape
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    r0, r1, c0, c1 = max(row - 1, 0), min(row + 2, h), max(col - 1, 0), min(col + 2, w)
    patch = heatmap[r0:r1, c0:c1].astype(np.float64)
    patch = patch - patch.min()
    total = patch.sum()
    yy, xx = np.mgrid[r0:r1, c0:c1]
    fy = (yy * patch).sum() / total if total > 0 else float(row)
    fx = (xx * patch).sum() / total if total > 0 else float(col)
    # a heatmap cell i covers input pixels [4i, 4i + 3]: its centre is 4i + 1.5
    return fx * HEATMAP_STRIDE + 1.5, fy * HEATMAP_STRIDE + 1.5, float(heatmap[row, col])


#: cells of slack around the breast mask: the nipple sits on the skin line, which the mask may cut
BREAST_SLACK_CELLS = 2


def nipple_in_breast(heatmap: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """The heatmap's peak on the breast (``mask`` on the input grid, dilated by a little slack).

    Digitised films carry burned-in labels and markers outside the breast that the
    detector, trained on phantom images without them, can mistake for a nipple
    (seen on mini-MIAS); the nipple is on the breast by anatomy, so the search
    is limited to it. An empty mask leaves the heatmap as it is.
    """
    h, w = heatmap.shape
    small = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
    if not small.any():
        return nipple_from_heatmap(heatmap)
    size = 2 * BREAST_SLACK_CELLS + 1
    allowed = cv2.dilate(small.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    return nipple_from_heatmap(np.where(allowed, heatmap, 0.0))
