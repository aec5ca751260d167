"""Candidate regions from a mass probability map (shared by evaluation and the pipeline).

Each connected region above ``threshold`` becomes one candidate whose score is
its peak probability; FROC needs low-threshold candidates so that the whole curve
can be traced, the reading UI filters them later by its own operating point.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


#: candidates for FROC and review start at this probability
CANDIDATE_THRESHOLD = 0.05


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # inclusive pixel box (x0, y0, x1, y1) on the map's grid
    score: float
    area: int
    centroid: tuple[float, float]


def regions_from_probability(prob: np.ndarray, threshold: float = CANDIDATE_THRESHOLD, min_area: int = 4) -> list[Region]:
    """One candidate per local peak >= ``threshold``: the half-maximum region around it.

    A fixed cut would merge everything once a map's background rises above it (a
    whole breast at 0.12 becomes one "region"); the region at half the peak keeps
    each candidate the size of the object that made the peak.
    """
    smooth = cv2.GaussianBlur(prob.astype(np.float32), (5, 5), 0)
    peaks = (smooth == cv2.dilate(smooth, np.ones((7, 7), np.uint8))) & (smooth >= threshold)
    regions: dict[tuple[int, int, int, int], Region] = {}
    for row, col in sorted(zip(*np.nonzero(peaks)), key=lambda rc: -smooth[rc]):
        peak = float(prob[max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3].max())
        binary = (prob >= 0.5 * peak).astype(np.uint8)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
        label = labels[row, col]
        if label == 0:
            continue
        x, y, w, h, area = stats[label]
        box = (int(x), int(y), int(x + w - 1), int(y + h - 1))
        if area < min_area or box in regions:
            continue
        regions[box] = Region(box, peak, int(area), (float(centroids[label][0]), float(centroids[label][1])))
    return sorted(regions.values(), key=lambda r: -r.score)
