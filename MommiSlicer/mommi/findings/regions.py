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
    """Connected regions of ``prob >= threshold``, best first."""
    binary = (prob >= threshold).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = []
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if area < min_area:
            continue
        peak = float(prob[labels == label].max())
        regions.append(Region((int(x), int(y), int(x + w - 1), int(y + h - 1)), peak, int(area),
                              (float(centroids[label][0]), float(centroids[label][1]))))
    return sorted(regions, key=lambda r: -r.score)
