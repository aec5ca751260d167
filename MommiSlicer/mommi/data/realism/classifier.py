"""The cheap discriminator: L2-regularised logistic regression on texture statistics.

Why a second, simple discriminator: if a linear model on a dozen intensity and GLCM
numbers already separates synthetic from real patches, the gap is in first- and
second-order statistics that the phantom can be tuned to; the CNN then says whether
anything subtler is left. (This is the "simple texture statistics" scorer of issue 15.)
Fitted with scipy's L-BFGS on standardised features; no scikit-learn dependency.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from mommi.data.realism.patches import PatchSet
from mommi.data.realism.statistics import patch_features

L2 = 1e-2


def texture_features(patches: PatchSet, with_glcm: bool) -> np.ndarray:
    """(N, F) intensity (+ GLCM) statistics of each patch."""
    if len(patches) == 0:
        return np.zeros((0, 0))
    return np.stack([patch_features(p, with_glcm) for p in patches.patches])


def logistic_fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, seed: int) -> np.ndarray:
    """Scores (probability of class 1) of ``test_x`` from a logistic model fitted on the training fold.

    Standardisation uses the training fold's mean and spread only; ``seed`` is
    unused (the fit is deterministic) but keeps the cross-validation signature.
    """
    del seed
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std[std == 0] = 1.0
    a = np.column_stack([(train_x - mean) / std, np.ones(len(train_x))])
    b = np.column_stack([(test_x - mean) / std, np.ones(len(test_x))])
    y = train_y.astype(np.float64)
    n = len(y)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = a @ w
        p = expit(z)
        # log(1 + e^z) - y z, written stably
        value = np.sum(np.logaddexp(0.0, z) - y * z) / n + 0.5 * L2 * np.dot(w[:-1], w[:-1])
        grad = a.T @ (p - y) / n
        grad[:-1] += L2 * w[:-1]
        return float(value), grad

    w = minimize(loss, np.zeros(a.shape[1]), jac=True, method="L-BFGS-B").x
    return b @ w
