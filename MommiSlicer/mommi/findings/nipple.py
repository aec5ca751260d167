"""Decoding the nipple detector's heatmap into a point on the input grid."""

from __future__ import annotations

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
