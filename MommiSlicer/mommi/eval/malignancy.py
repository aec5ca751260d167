"""Malignancy: ROC AUC of benign vs malignant with a 95% patient bootstrap CI (METHOD.md).

- AUC is the Mann-Whitney probability that a random malignant sample scores
  higher than a random benign one, ties counted half; this equals the area under
  the (tie-aware) ROC curve and needs no threshold.
- 95% CI: percentiles 2.5 / 97.5 of the AUC over bootstrap resamples of
  PATIENTS (groups), with replacement, as ``mommi.eval.froc`` does for FROC:
  samples of one patient are correlated, so resampling samples would make the
  interval too narrow. A patient drawn twice counts twice (integer weights), and
  a resample that lacks one class has no AUC and is skipped.

Written with numpy/scipy because scikit-learn is not a dependency of the engine;
the weighted form is O(n) per resample once the scores are ranked, so 1000
resamples of a few thousand samples take well under a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from scipy.stats import rankdata
from mommi.errors import MommiError
from mommi.eval.froc import patient_draws

__all__ = ["AucError", "evaluate_auc", "roc_auc", "roc_curve"]

CI_LABEL = "95% patient bootstrap"


class AucError(MommiError, ValueError):
    """Scores, labels, weights or groups that cannot be evaluated; the message says which."""


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    if s.ndim != 1:
        raise AucError(f"scores must be one-dimensional, got shape {s.shape}")
    if y.shape != s.shape:
        raise AucError(f"labels have shape {y.shape}, scores {s.shape}; they must match")
    if not np.all(np.isfinite(s)):
        raise AucError("scores contain non-finite values (nan or inf)")
    values = y.astype(float)
    if not np.all((values == 0) | (values == 1)):
        raise AucError("labels must be 0 (benign) or 1 (malignant)")
    return s, values.astype(bool)


def _weighted_auc(inverse: np.ndarray, n_unique: int, positive: np.ndarray, weights: np.ndarray) -> float:
    """AUC from each sample's index among the sorted distinct scores, with sample weights.

    Sum over positive-negative pairs of w_i * w_j * (1 if s_i > s_j, 1/2 if equal),
    divided by W_pos * W_neg; with integer weights this is exactly the AUC of the
    data with each sample repeated w times.
    """
    pos = np.bincount(inverse, weights=np.where(positive, weights, 0.0), minlength=n_unique)
    neg = np.bincount(inverse, weights=np.where(positive, 0.0, weights), minlength=n_unique)
    w_pos, w_neg = pos.sum(), neg.sum()
    if w_pos <= 0 or w_neg <= 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.dot(pos, neg_below + 0.5 * neg) / (w_pos * w_neg))


def roc_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """ROC AUC (Mann-Whitney, ties half); nan when either class is missing.

    ``weights`` are sample multiplicities (a bootstrap draws a patient k times);
    non-integer non-negative weights are accepted with the same pairwise meaning.
    """
    s, positive = _check(scores, labels)
    if weights is None:
        n_pos = int(positive.sum())
        n_neg = s.size - n_pos
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        ranks = rankdata(s)  # average ranks: ties count half
        return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    w = np.asarray(weights, dtype=float)
    if w.shape != s.shape:
        raise AucError(f"weights have shape {w.shape}, scores {s.shape}; they must match")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise AucError("weights must be finite and non-negative")
    unique, inverse = np.unique(s, return_inverse=True)
    return _weighted_auc(inverse, unique.size, positive, w)


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct score, highest threshold first, from (0, 0) to (1, 1).

    Samples with equal scores enter together (one operating point per distinct
    score), so the trapezoidal area under the curve equals ``roc_auc``.
    """
    s, positive = _check(scores, labels)
    n_pos = int(positive.sum())
    n_neg = s.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise AucError(f"an ROC curve needs both classes; got {n_pos} malignant and {n_neg} benign samples")
    unique, inverse = np.unique(s, return_inverse=True)
    tp = np.bincount(inverse, weights=positive.astype(float), minlength=unique.size)[::-1]
    fp = np.bincount(inverse, weights=(~positive).astype(float), minlength=unique.size)[::-1]
    fpr = np.concatenate([[0.0], np.cumsum(fp) / n_neg])
    tpr = np.concatenate([[0.0], np.cumsum(tp) / n_pos])
    return fpr, tpr


def evaluate_auc(
    scores: np.ndarray, labels: np.ndarray, groups: Sequence[Hashable], bootstrap: int = 1000, seed: int = 0
) -> dict[str, object]:
    """AUC with a 95% CI over bootstrap resamples of groups (patients).

    Each resample draws as many groups as there are, with replacement (the same
    generator and draw as ``mommi.eval.froc.evaluate_froc``), and every sample of
    a drawn group comes along. Resamples with only one class are skipped (their
    number is reported as ``skipped``); the CI is nan when none is left.
    """
    s, positive = _check(scores, labels)
    group_list = list(groups)
    if len(group_list) != s.size:
        raise AucError(f"got {len(group_list)} group ids for {s.size} scores; give one per sample")
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise AucError(f"bootstrap must be a non-negative integer, got {bootstrap!r}")
    n_pos = int(positive.sum())
    if n_pos == 0 or n_pos == s.size:
        raise AucError(f"AUC needs both classes; got {n_pos} malignant and {s.size - n_pos} benign samples")
    index: dict[Hashable, int] = {}
    group_of = np.array([index.setdefault(g, len(index)) for g in group_list], dtype=int)
    n_groups = len(index)

    auc = roc_auc(s, positive)
    unique, inverse = np.unique(s, return_inverse=True)
    samples = np.empty(bootstrap)
    for b, counts in enumerate(patient_draws(n_groups, bootstrap, seed)):
        samples[b] = _weighted_auc(inverse, unique.size, positive, counts[group_of])
    valid = samples[np.isfinite(samples)]
    if valid.size:
        ci = [float(np.percentile(valid, 2.5)), float(np.percentile(valid, 97.5))]
    else:
        ci = [float("nan"), float("nan")]
    return {
        "auc": auc,
        "ci95": ci,
        "n": int(s.size),
        "positives": n_pos,
        "negatives": int(s.size - n_pos),
        "groups": n_groups,
        "bootstrap": int(bootstrap),
        "skipped": int(bootstrap - valid.size),
        "ci": CI_LABEL,
    }
