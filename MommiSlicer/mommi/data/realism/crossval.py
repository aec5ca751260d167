"""Patient-grouped, class-balanced k-fold cross-validation of a two-class discriminator.

Why patient-grouped: patches of one woman share her anatomy and her film's look;
with her patches on both sides of a split a classifier recognises the woman, not the
source, and the AUC is inflated. Why balanced: an AUC is insensitive to class sizes,
but training is not; equal counts keep the classifier from learning the prior.
The AUC of the pooled out-of-fold scores comes with a 95% bootstrap CI over patients
(``mommi.eval.malignancy.evaluate_auc``).

The classifier is a function ``fit_predict(train_x, train_y, test_x, seed) -> scores``,
so the torch CNN (``mommi.train.realism_discriminator``) and the numpy texture model
(``mommi.data.realism.classifier``) go through the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mommi.eval.malignancy import evaluate_auc

FOLDS = 5
FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def balanced_indices(labels: np.ndarray, seed: int) -> np.ndarray:
    """Indices with the larger class randomly cut to the size of the smaller (sorted)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7])
    positive, negative = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n = min(positive.size, negative.size)
    keep = np.concatenate([rng.choice(positive, n, replace=False), rng.choice(negative, n, replace=False)])
    return np.sort(keep)


def patient_folds(patients: Sequence[str], labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number per sample; every patient in one fold, each class's patients spread evenly."""
    labels = np.asarray(labels)
    fold_of: dict[str, int] = {}
    rng = np.random.default_rng([seed, 11])
    for cls in (0, 1):
        members = sorted({p for p, y in zip(patients, labels) if y == cls})
        for rank, index in enumerate(rng.permutation(len(members))):
            fold_of[members[index]] = rank % folds
    return np.array([fold_of[p] for p in patients], dtype=int)


def cross_validate(
    x: np.ndarray,
    labels: np.ndarray,
    patients: Sequence[str],
    fit_predict: FitPredict,
    seed: int,
    folds: int = FOLDS,
    bootstrap: int = 1000,
) -> dict[str, Any]:
    """Out-of-fold scores of ``fit_predict`` after balancing; AUC and its patient bootstrap CI.

    Needs at least ``folds`` patients per class; otherwise the result says why instead.
    """
    labels = np.asarray(labels, dtype=int)
    keep = balanced_indices(labels, seed)
    x, labels, patients = x[keep], labels[keep], [patients[i] for i in keep]
    per_class = [len({p for p, y in zip(patients, labels) if y == cls}) for cls in (0, 1)]
    base = {
        "folds": folds,
        "seed": seed,
        "samples": int(labels.size),
        "samples_per_class": int(labels.size // 2),
        "patients": {"negative": per_class[0], "positive": per_class[1]},
    }
    if min(per_class) < folds:
        return {**base, "auc": None, "ci": None, "reason": f"fewer than {folds} patients in a class ({per_class})"}
    fold = patient_folds(patients, labels, folds, seed)
    scores = np.zeros(labels.size, dtype=np.float64)
    for k in range(folds):
        test = fold == k
        scores[test] = fit_predict(x[~test], labels[~test], x[test], seed * 100 + k)
    result: dict[str, Any] = evaluate_auc(scores, labels, patients, bootstrap=bootstrap, seed=seed)
    return {
        **base,
        "auc": float(result["auc"]),
        "ci": [float(v) for v in result["ci95"]],
        "ci_method": str(result["ci"]),
        "bootstrap": bootstrap,
    }
