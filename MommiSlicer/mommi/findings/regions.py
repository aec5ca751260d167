"""Candidate regions from a mass probability map (shared by evaluation and the pipeline).

Each connected region above ``threshold`` becomes one candidate whose score is
its peak probability; FROC needs low-threshold candidates so that the whole curve
can be traced, the reading UI filters them later by its own operating point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


#: candidates for FROC and review start at this probability
CANDIDATE_THRESHOLD = 0.05
#: a candidate whose box overlaps a higher-scoring one by more than this IoU is the same object
DUPLICATE_IOU = 0.5
#: a candidate is the region around its peak down to this share of the peak. 0.6, not half-maximum:
#: on the real-film cross-validation (5 folds by woman, MIAS, two training recipes) the half-maximum
#: regions of low real-film peaks spread over surrounding gland and missed the mass (IoU <= 0.2);
#: 0.6 gave the best mean recall at 0.5 / 1 / 2 FPPI of 0.5, 0.6 and 0.7 for both recipes
REGION_LEVEL = 0.6


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # inclusive pixel box (x0, y0, x1, y1) on the map's grid
    score: float
    area: int
    centroid: tuple[float, float]


def regions_from_probability(
    prob: np.ndarray, threshold: float = CANDIDATE_THRESHOLD, min_area: int = 4
) -> list[Region]:
    """One candidate per local peak >= ``threshold``: the region around it down to ``REGION_LEVEL`` of the peak.

    A fixed cut would merge everything once a map's background rises above it (a
    whole breast at 0.12 becomes one "region"); a cut relative to the peak keeps
    each candidate the size of the object that made the peak.
    """
    smooth = cv2.GaussianBlur(prob.astype(np.float32), (5, 5), 0)
    peaks = (smooth == cv2.dilate(smooth, np.ones((7, 7), np.uint8))) & (smooth >= threshold)
    regions: dict[tuple[int, int, int, int], Region] = {}
    for row, col in sorted(zip(*np.nonzero(peaks)), key=lambda rc: -smooth[rc]):
        peak = float(prob[max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3].max())
        binary = (prob >= REGION_LEVEL * peak).astype(np.uint8)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
        label = labels[row, col]
        if label == 0:
            continue
        x, y, w, h, area = stats[label]
        box = (int(x), int(y), int(x + w - 1), int(y + h - 1))
        if area < min_area or box in regions:
            continue
        regions[box] = Region(box, peak, int(area), (float(centroids[label][0]), float(centroids[label][1])))
    return without_duplicates(sorted(regions.values(), key=lambda r: -r.score))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two inclusive pixel boxes (x0, y0, x1, y1): FROC matching uses the same."""
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return float(inter / (area_a + area_b - inter))


def without_duplicates(regions: list[Region], max_iou: float = DUPLICATE_IOU) -> list[Region]:
    """Non-maximum suppression of score-sorted regions: two peaks of one mass (a lobulated mass, a
    plateau) would otherwise be two marks on the reader's screen, one of them a false mark.
    torchvision's nms is not used: the engine does not import torch."""
    kept: list[Region] = []
    for region in regions:
        if all(box_iou(region.box, other.box) <= max_iou for other in kept):
            kept.append(region)
    return kept
