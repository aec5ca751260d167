"""Bilateral registration: warp the contralateral (auxiliary) view onto the main view.

Both views are already on the model grid with the chest wall on the left, so the
horizontal flip of the auxiliary image that METHOD.md asks for has been done by
orientation normalisation. What remains is the warp "from the breast contours":

1. vertical: the top and bottom of the breast are matched (for MLO pairs the
   nipples are matched first, as a third anchor), piecewise linearly;
2. horizontal: on every row the distance from the chest wall to the skin line of
   the auxiliary breast is stretched to that of the main breast.

This is a closed-form warp from the two contours, applied with OpenCV's
``remap``; no optimiser is involved, so the result is deterministic and fast
(a few milliseconds), the same in training and at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage


@dataclass
class Registration:
    warped: np.ndarray  # auxiliary pixels on the main grid
    warped_mask: np.ndarray  # auxiliary breast mask on the main grid
    map_x: np.ndarray  # for every main pixel, where it was read in the auxiliary image
    map_y: np.ndarray


def _rows_of(mask: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0, mask.shape[0] - 1
    return int(rows[0]), int(rows[-1])


def _skin_line(mask: np.ndarray) -> np.ndarray:
    """Per row, the breast's extent from the chest wall (last breast column + 1), 0 if none."""
    cols = mask.shape[1]
    reversed_first = np.argmax(mask[:, ::-1], axis=1)
    extent = np.where(mask.any(axis=1), cols - reversed_first, 0).astype(np.float64)
    return extent


def _fill_and_smooth(values: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Extend valid values to all rows (nearest) and smooth them along the rows."""
    if not valid.any():
        return np.ones_like(values)
    idx = np.arange(values.size)
    filled = np.interp(idx, idx[valid], values[valid])
    return ndimage.gaussian_filter1d(filled, sigma, mode="nearest")


def register_bilateral(
    main: np.ndarray,
    aux: np.ndarray,
    main_mask: np.ndarray,
    aux_mask: np.ndarray,
    main_nipple: tuple[float, float] | None = None,
    aux_nipple: tuple[float, float] | None = None,
) -> Registration:
    """Warp ``aux`` (and its mask) onto ``main``'s grid; nipples are (x, y) on each grid."""
    height, width = main.shape
    m_top, m_bottom = _rows_of(main_mask)
    a_top, a_bottom = _rows_of(aux_mask)
    main_anchors: list[float] = [m_top, m_bottom]
    aux_anchors: list[float] = [a_top, a_bottom]
    if (
        main_nipple is not None
        and aux_nipple is not None
        and m_top < main_nipple[1] < m_bottom
        and a_top < aux_nipple[1] < a_bottom
    ):
        main_anchors.insert(1, main_nipple[1])
        aux_anchors.insert(1, aux_nipple[1])
    rows = np.arange(height, dtype=np.float64)
    # piecewise-linear row mapping main -> aux, extrapolated with the outer segments' slope
    aux_row = np.interp(rows, main_anchors, aux_anchors)
    slope_top = (aux_anchors[1] - aux_anchors[0]) / max(main_anchors[1] - main_anchors[0], 1e-6)
    slope_bottom = (aux_anchors[-1] - aux_anchors[-2]) / max(main_anchors[-1] - main_anchors[-2], 1e-6)
    aux_row = np.where(rows < main_anchors[0], aux_anchors[0] + (rows - main_anchors[0]) * slope_top, aux_row)
    aux_row = np.where(rows > main_anchors[-1], aux_anchors[-1] + (rows - main_anchors[-1]) * slope_bottom, aux_row)

    main_extent = _skin_line(main_mask)
    aux_extent_all = _skin_line(aux_mask)
    aux_extent = np.interp(aux_row, np.arange(aux_mask.shape[0]), aux_extent_all)
    valid = (main_extent > 2) & (aux_extent > 2)
    ratio = _fill_and_smooth(aux_extent / np.maximum(main_extent, 1.0), valid, sigma=3.0)

    map_x = np.arange(width, dtype=np.float32)[None, :] * ratio[:, None].astype(np.float32)
    map_y = np.repeat(aux_row.astype(np.float32)[:, None], width, axis=1)
    warped = cv2.remap(aux.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    warped_mask = cv2.remap(
        aux_mask.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT
    ).astype(bool)
    return Registration(warped, warped_mask, map_x, map_y)
