"""Paired patient bootstrap of a candidate model against its base on the same images (the retraining gate).

Why paired: base and candidate read the same women, so most of the noise in either model's number (which women
happen to be in the set) is shared. Drawing the women once per resample and measuring both models on that draw
gives the distribution of the DIFFERENCE, which is what a gate has to decide on. Comparing two point estimates
against an absolute tolerance lets one mass decide on a small set: on 18 masses one mass is 0.056 of recall, more
than any sensible tolerance (#23's benchmark: the bilateral network was refused in every round by one synthetic
mass while level on real films). With the paired draws, a loss counts as harm in the share of resamples in which
it is beyond the tolerance: one mass lost by one woman is there only in the draws that hold her (about 63% of
them), three masses lost by three women in about 95%.

Resampling unit: a patient with all her images, as the FROC's and the AUC's confidence intervals (METHOD.md). The
same draws serve every statistic of one set, so the difference at 1 FPPI and at the operating point move
together. Written with numpy because no maintained library bootstraps FROC differences (scipy.stats.bootstrap
resamples observations, not patients with their images, and knows no FROC).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mommi.eval.froc import Matched, froc_curve, recall_at
from mommi.eval.malignancy import roc_auc
from mommi.eval.operating_point import at_threshold

#: a statistic of one model's matched detections under per-patient multiplicities
FrocStatistic = Callable[[Matched, np.ndarray], float]


def recall_at_fppi(fppi: float) -> FrocStatistic:
    """The FROC's recall at ``fppi`` false marks per image (the detectors' gate metric)."""
    return lambda m, weights: recall_at(*froc_curve(m, weights), (fppi,))[0]


def sensitivity_at(threshold: float) -> FrocStatistic:
    """The share of masses marked at a score threshold (what a reader is shown at an operating point)."""
    return lambda m, weights: at_threshold(m, threshold, weights)[0]


def froc_differences(base: Matched, candidate: Matched, statistic: FrocStatistic, draws: np.ndarray) -> np.ndarray:
    """candidate - base of ``statistic`` on each draw; both matched on the same images (the same patients)."""
    if base.patients != candidate.patients:
        raise ValueError("base and candidate were matched on different patients: a paired difference needs the same")
    return np.array([statistic(candidate, w) - statistic(base, w) for w in draws])


def auc_differences(
    base_scores: np.ndarray, candidate_scores: np.ndarray, labels: np.ndarray, groups: Sequence[str], draws: np.ndarray
) -> np.ndarray:
    """candidate - base ROC AUC on each draw of the groups (patients); nan where a draw holds one class only."""
    index = {g: i for i, g in enumerate(sorted(set(groups)))}
    if draws.shape[1] != len(index):
        raise ValueError(f"draws are over {draws.shape[1]} patients, the patches come from {len(index)}")
    sample_group = np.array([index[g] for g in groups], dtype=int)
    return np.array(
        [
            roc_auc(candidate_scores, labels, w[sample_group]) - roc_auc(base_scores, labels, w[sample_group])
            for w in draws
        ]
    )


def harm_share(differences: np.ndarray, tolerance: float) -> float:
    """The share of draws in which the candidate is below its base by more than ``tolerance`` (nan draws skipped)."""
    finite = differences[np.isfinite(differences)]
    return float(np.mean(finite < -tolerance)) if finite.size else float("nan")


def pooled(differences: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Per-draw difference over several sets, each weighted by its size (masses, patches): the sets are drawn
    independently, so draw b of every set together is one draw of the whole."""
    stacked = np.vstack(differences)
    w = np.asarray(weights, dtype=float)[:, None]
    return np.nansum(stacked * w, axis=0) / np.sum(w * np.isfinite(stacked), axis=0)


def interval(differences: np.ndarray) -> list[float]:
    """The 95% percentile interval of the differences (nan draws skipped)."""
    finite = differences[np.isfinite(differences)]
    return [round(float(np.percentile(finite, q)), 4) for q in (2.5, 97.5)] if finite.size else [np.nan, np.nan]
