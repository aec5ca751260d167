"""Nipple localisation error in millimetres."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: an error above this is a wrong nipple (the paper counts wrong nipples, 1 in 11,228)
WRONG_NIPPLE_MM = 10.0


@dataclass(frozen=True)
class NippleReport:
    images: int
    mean_mm: float
    median_mm: float
    p95_mm: float
    max_mm: float
    wrong: int

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()} | {
            "wrong_threshold_mm": WRONG_NIPPLE_MM
        }


def nipple_errors(
    predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], spacing_mm: Sequence[Sequence[float]]
) -> NippleReport:
    """Euclidean error per image, with each image's own (row, col) spacing."""
    p, t, s = (np.asarray(a, dtype=float).reshape(-1, 2) for a in (predicted, truth, spacing_mm))
    if len(p) == 0:
        return NippleReport(0, float("nan"), float("nan"), float("nan"), float("nan"), 0)
    dx = (p[:, 0] - t[:, 0]) * s[:, 1]
    dy = (p[:, 1] - t[:, 1]) * s[:, 0]
    err = np.hypot(dx, dy)
    return NippleReport(
        len(err),
        float(err.mean()),
        float(np.median(err)),
        float(np.percentile(err, 95)),
        float(err.max()),
        int((err > WRONG_NIPPLE_MM).sum()),
    )
