"""Calibration of the benign-vs-malignant logit, so that the probability shown is honest.

Deep classifiers trained with cross-entropy are typically over-confident: a
region shown as "90% malignant" is malignant far less often than 90% of the
time. A radiologist reads that number as a risk, so it must match observed
frequencies. Temperature scaling (Guo et al. 2017, "On Calibration of Modern
Neural Networks") fixes this with one parameter T fitted on validation data:
p = sigmoid(logit / T). It keeps the ranking (hence the ROC AUC) unchanged, so
calibration can never cost detection or classification performance.

Calibration is checked with the expected calibration error (ECE) and a
reliability diagram over equal-width bins of the predicted probability of
malignancy (the binary form: the predicted probability of the positive class
against the observed fraction of positives).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit
from mommi.errors import MommiError

__all__ = [
    "CalibrationError",
    "apply_temperature",
    "expected_calibration_error",
    "fit_temperature",
    "plot_reliability",
    "reliability_table",
]

#: search range of log T: T in [e^-4, e^4] ~ [0.018, 55], far beyond any sensible network
LOG_T_BOUNDS = (-4.0, 4.0)


class CalibrationError(MommiError, ValueError):
    """Inputs that cannot be calibrated or assessed (too few samples, one class, bad shapes)."""


def _as_logits(logits: np.ndarray, name: str = "logits") -> np.ndarray:
    array = np.asarray(logits, dtype=float)
    if array.ndim != 1:
        raise CalibrationError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{name} contain non-finite values (nan or inf)")
    return array


def _as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.shape != (n,):
        raise CalibrationError(f"labels have shape {array.shape}, expected ({n},) to match the predictions")
    values = array.astype(float)
    if not np.all((values == 0) | (values == 1)):
        raise CalibrationError("labels must be 0 (benign) or 1 (malignant)")
    return values


def _as_probabilities(probabilities: np.ndarray, name: str = "probabilities") -> np.ndarray:
    array = _as_logits(probabilities, name)
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise CalibrationError(f"{name} must lie in [0, 1], got values in [{array.min():g}, {array.max():g}]")
    return array


def _nll(scaled: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary negative log-likelihood of sigmoid(scaled); -log sigmoid(s) = logaddexp(0, -s)."""
    return float(np.mean(labels * np.logaddexp(0.0, -scaled) + (1.0 - labels) * np.logaddexp(0.0, scaled)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising the NLL of sigmoid(logits / T) on held-out data.

    Optimised over log T (bounded to ``LOG_T_BOUNDS``) so that T stays positive
    and the search is symmetric between sharpening and softening. Fit it on the
    validation split, never on the test split that reports the result.
    """
    z = _as_logits(logits)
    y = _as_labels(labels, z.size)
    if z.size < 2:
        raise CalibrationError(f"temperature scaling needs at least 2 samples, got {z.size}")
    if y.min() == y.max():
        raise CalibrationError(
            f"temperature scaling needs both benign and malignant samples; all labels are {int(y[0])}"
        )
    result = minimize_scalar(
        lambda log_t: _nll(z / math.exp(log_t), y), bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6}
    )
    return float(math.exp(result.x))


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities sigmoid(logits / T) (scipy's expit: no overflow for large logits)."""
    if not (
        isinstance(temperature, (int, float, np.floating, np.integer))
        and math.isfinite(temperature)
        and temperature > 0
    ):
        raise CalibrationError(f"temperature must be a finite number > 0, got {temperature!r}")
    return expit(np.asarray(logits, dtype=float) / float(temperature))


def _bin_index(probabilities: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1]; p = 1 falls into the last bin."""
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise CalibrationError(f"bins must be a positive integer, got {bins!r}")
    return np.minimum((probabilities * bins).astype(int), bins - 1)


def reliability_table(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """One row per equal-width bin: lower, upper, count, mean_confidence, observed_frequency.

    ``mean_confidence`` is the mean predicted probability of malignancy in the
    bin and ``observed_frequency`` the fraction of malignant samples; both are
    None for an empty bin (no evidence either way, which a 0 would hide).
    """
    p = _as_probabilities(probabilities)
    y = _as_labels(labels, p.size)
    index = _bin_index(p, bins)
    counts = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=p, minlength=bins)
    sum_y = np.bincount(index, weights=y, minlength=bins)
    rows: list[dict[str, Any]] = []  # count: int; the means: float, or None for an empty bin
    for b in range(bins):
        n = int(counts[b])
        rows.append(
            {
                "lower": b / bins,
                "upper": (b + 1) / bins,
                "count": n,
                "mean_confidence": float(sum_p[b] / n) if n else None,
                "observed_frequency": float(sum_y[b] / n) if n else None,
            }
        )
    return rows


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width bins of (bin count / N) * |mean confidence - observed frequency|."""
    rows = reliability_table(probabilities, labels, bins)
    total = sum(int(r["count"]) for r in rows)
    if total == 0:
        raise CalibrationError("expected calibration error needs at least one sample")
    return float(
        sum(
            int(r["count"]) * abs(float(r["mean_confidence"]) - float(r["observed_frequency"]))
            for r in rows
            if r["count"]
        )
        / total
    )


def plot_reliability(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, path: Path, title: str, bins: int = 10
) -> Path:
    """Reliability diagram (before and after calibration) with a histogram of counts, as a small PNG.

    matplotlib is imported here, not at module level, because it belongs to the
    ``train`` extra: the reading workstation calibrates without plotting. The
    figure is drawn on an Agg canvas without pyplot, so no global backend is
    switched inside an application that may run Qt.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise CalibrationError("plotting needs matplotlib (pip install 'mommislicer[train]')") from exc

    curves = {}
    for name, probabilities in (("before", before), ("after", after)):
        rows = reliability_table(probabilities, labels, bins)
        curves[name] = (rows, expected_calibration_error(probabilities, labels, bins))

    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.15, right=0.96, top=0.93, bottom=0.1)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
    ax = fig.add_subplot(grid[0])
    hist = fig.add_subplot(grid[1], sharex=ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    centres = (np.arange(bins) + 0.5) / bins
    width = 0.4 / bins
    for (name, (rows, ece)), colour, shift in zip(curves.items(), ("tab:red", "tab:blue"), (-width / 2, width / 2)):
        filled = [r for r in rows if r["count"]]
        ax.plot(
            [r["mean_confidence"] for r in filled],
            [r["observed_frequency"] for r in filled],
            marker="o",
            markersize=4,
            color=colour,
            label=f"{name} calibration (ECE {ece:.3f})",
        )
        hist.bar(centres + shift, [r["count"] for r in rows], width=width, color=colour, alpha=0.7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed fraction malignant")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(labelbottom=False)
    hist.set_xlabel("predicted probability of malignancy")
    hist.set_ylabel("count")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
