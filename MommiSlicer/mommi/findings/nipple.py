"""Decoding the nipple detector's heatmap into a point on the input grid."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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


#: rows at the top and bottom of the model grid that are not skin line: an MLO film cuts the breast at the
#: axilla (top) and a film edge may cut the fold (bottom); the mask has a boundary there but the nipple never is
EDGE_ROWS_SHARE = 0.1
#: opening diameter, as a share of the grid's width, that detaches what the breast mask touches without being
#: breast (burned-in labels and the bright strip along a scanned film's edge, both seen on mini-MIAS)
BODY_OPENING_SHARE = 0.2
#: the skin line the detector may choose from: its points at least this share of the breast's depth (from the
#: chest wall, the grid's left edge) away from the chest wall; the nipple is the front of the breast
ANTERIOR_SHARE = 0.8
#: cells of slack around that skin line (the heatmap's peak may sit a cell inside the mask)
SKIN_SLACK_CELLS = 2
#: the lowest heatmap peak on the skin line that is trusted over the skin line's apex
CONFIDENT_PEAK = 0.7


class NippleSource(str, Enum):
    """Where a view's nipple came from (reported with the result)."""

    DETECTOR = "detector"  # the keypoint network's peak on the front skin line
    SKIN_APEX = "skin apex"  # the skin line's point farthest from the chest wall


@dataclass(frozen=True)
class NippleEstimate:
    x: float
    y: float
    peak: float  # the detector's peak on the front skin line
    source: NippleSource


def breast_body(mask: np.ndarray) -> np.ndarray:
    """The mask's largest part after an opening that detaches labels and film-edge strips it touches."""
    if not mask.any():
        return mask
    size = max(3, int(round(BODY_OPENING_SHARE * mask.shape[1])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:  # the opening removed everything (a sliver of breast): keep the mask
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def skin_line(mask: np.ndarray) -> np.ndarray:
    """The breast body's boundary pixels that can be skin: not at the grid's top or bottom rows."""
    body = breast_body(mask).astype(np.uint8)
    line = (body - cv2.erode(body, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)) > 0
    edge = int(round(EDGE_ROWS_SHARE * mask.shape[0]))
    line[:edge] = False
    line[mask.shape[0] - edge :] = False
    return line


def skin_apex(line: np.ndarray) -> tuple[float, float]:
    """The skin line's point farthest from the chest wall (the grid's left edge): the front of the breast."""
    ys, xs = np.nonzero(line)
    front = xs >= xs.max() - 1
    return float(xs[front].mean()), float(ys[front].mean())


def locate_nipple(heatmap: np.ndarray, mask: np.ndarray) -> NippleEstimate:
    """The nipple of one view on the model grid: the detector's heatmap peak on the front skin line when it is
    confident, else the skin line's apex.

    Why not the heatmap's peak alone: the detector learned the phantom, and on scanned films its peak is weak
    and wanders (on mini-MIAS zoo 0.3.0's peak sat in the grid's top or bottom tenth on 85 of 216 films, mostly
    at the top edge, where the MLO film cuts the axilla); the MLO pair's bilateral registration starts from these
    points. The nipple is on
    the skin line at the front of the breast by anatomy, so the search is limited to it, and where the detector
    has no confident peak there, the apex of the skin line is the estimate (on the realistic phantom, whose
    nipples are known, the apex is closer than the detector trained on the simple phantom: see the nipple card).
    An empty mask leaves the heatmap's peak as it is.
    """
    line = skin_line(mask) if mask.any() else mask
    if not line.any():
        x, y, peak = nipple_from_heatmap(heatmap)
        return NippleEstimate(x, y, peak, NippleSource.DETECTOR)
    xs = np.nonzero(line)[1]
    front = line.copy()
    front[:, : int(ANTERIOR_SHARE * xs.max())] = False
    h, w = heatmap.shape
    cells = np.zeros((h, w), bool)
    ys, xs = np.nonzero(front)
    cells[np.minimum(ys // HEATMAP_STRIDE, h - 1), np.minimum(xs // HEATMAP_STRIDE, w - 1)] = True
    size = 2 * SKIN_SLACK_CELLS + 1
    allowed = cv2.dilate(cells.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    edge = int(np.ceil(EDGE_ROWS_SHARE * h))  # the slack must not reach back into the edge rows
    allowed[:edge] = False
    allowed[h - edge :] = False
    x, y, peak = nipple_from_heatmap(np.where(allowed, heatmap, 0.0))
    if peak >= CONFIDENT_PEAK:
        return NippleEstimate(x, y, peak, NippleSource.DETECTOR)
    ax, ay = skin_apex(line)
    return NippleEstimate(ax, ay, peak, NippleSource.SKIN_APEX)
