"""Evaluating and calibrating the malignancy classifier on DETECTED patches (METHOD.md protocol).

Both run the shipped ONNX model through ``MalignancyClassifier`` on the patches the
detection chain found (a ``mommi predict`` file), labelled as for training
(``mommi.data.patches``): what is measured is what a radiologist would see.

The report gives
- ``auc``: benign-vs-malignant ROC AUC over all detected patches with a known
  label (false detections count as not malignant, as in the paper), 95% patient
  bootstrap CI;
- ``auc_masses``: the same over detected patches that overlap a real mass only
  (benign mass vs malignant mass: the harder question, reported beside it);
- BI-RADS agreement on matched masses with a known category;
- expected calibration error of the raw and the calibrated probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest
from mommi.data.patches import PatchSamples, build_patch_samples
from mommi.eval.malignancy import AucError, evaluate_auc, roc_curve
from mommi.findings.birads import BIRADS_CATEGORIES, nearest_birads
from mommi.findings.calibration import apply_temperature, expected_calibration_error, fit_temperature, plot_reliability
from mommi.runtime.malignancy import MalignancyClassifier


def classify_split(
    manifests: Sequence[Manifest],
    split: str | None,
    detections: dict[str, list[list[float]]],
    classifier: MalignancyClassifier,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[PatchSamples, np.ndarray, np.ndarray]:
    """(detected patches, logits, BI-RADS values) of a split; split None means every split."""
    splits = (
        sorted({r.split for m in manifests for r in m.records if r.split is not None}) if split is None else [split]
    )
    parts = [
        build_patch_samples(list(manifests), s, detections, classifier.spec, with_gold=False, progress=progress)
        for s in splits
    ]
    samples = PatchSamples(*(np.concatenate([getattr(p, k) for p in parts]) for k in PatchSamples.__dataclass_fields__))
    logits, values = classifier.raw(samples.patches[:, None].astype(np.float32))
    return samples, logits, values


def _auc_or_reason(
    scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, bootstrap: int, seed: int
) -> dict[str, Any]:
    try:
        return evaluate_auc(scores, labels, list(groups), bootstrap=bootstrap, seed=seed)
    except AucError as exc:
        return {"auc": None, "reason": str(exc), "n": int(len(scores))}


def birads_agreement(values: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Exact and within-one-category agreement of the nearest category, and the mean absolute error."""
    if truth.size == 0:
        return {"n": 0}
    order = {c: i for i, c in enumerate(BIRADS_CATEGORIES)}
    predicted = np.array([order[nearest_birads(float(v))] for v in values])
    expected = np.array([order[nearest_birads(float(t))] for t in truth])
    return {
        "n": int(truth.size),
        "exact": float(np.mean(predicted == expected)),
        "within_one": float(np.mean(np.abs(predicted - expected) <= 1)),
        "mean_abs_error": float(np.mean(np.abs(values - truth))),
    }


def classifier_report(
    samples: PatchSamples,
    logits: np.ndarray,
    values: np.ndarray,
    temperature: float,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    known = ~np.isnan(samples.malignant)
    masses = known & samples.matched
    labels = samples.malignant[known]
    raw = apply_temperature(logits[known], 1.0)
    calibrated = apply_temperature(logits[known], temperature)
    with_birads = samples.matched & ~np.isnan(samples.birads)
    return {
        "patches": int(len(samples)),
        "matched_masses": int(samples.matched.sum()),
        "auc": _auc_or_reason(logits[known], labels, samples.patient_ids[known], bootstrap, seed),
        "auc_masses": _auc_or_reason(
            logits[masses], samples.malignant[masses], samples.patient_ids[masses], bootstrap, seed
        ),
        "birads": birads_agreement(values[with_birads], samples.birads[with_birads]),
        "calibration": {
            "temperature": temperature,
            "ece_raw": expected_calibration_error(raw, labels) if labels.size else None,
            "ece_calibrated": expected_calibration_error(calibrated, labels) if labels.size else None,
        },
        "protocol": {
            "patches": "detected only; IoU >= 0.5 to a mass takes its labels, others are not malignant",
            "ci": "95% patient bootstrap",
            "bootstrap_samples": bootstrap,
        },
    }


def fit_calibration(samples: PatchSamples, logits: np.ndarray) -> dict[str, Any]:
    """Temperature scaling fitted on (validation) patches, with the ECE before and after on them."""
    known = ~np.isnan(samples.malignant)
    labels = samples.malignant[known]
    temperature = fit_temperature(logits[known], labels)
    return {
        "method": "temperature scaling (Guo et al. 2017)",
        "temperature": temperature,
        "patches": int(known.sum()),
        "malignant": int(labels.sum()),
        "ece_before": expected_calibration_error(apply_temperature(logits[known], 1.0), labels),
        "ece_after": expected_calibration_error(apply_temperature(logits[known], temperature), labels),
    }


def plot_calibration(samples: PatchSamples, logits: np.ndarray, temperature: float, path: Path, title: str) -> bool:
    """The reliability diagram of the labelled patches before and after ``temperature`` (what a calibration
    card shows); False when matplotlib (the train extra) is missing and nothing was drawn."""
    known = ~np.isnan(samples.malignant)
    try:
        plot_reliability(
            apply_temperature(logits[known], 1.0),
            apply_temperature(logits[known], temperature),
            samples.malignant[known],
            path,
            title,
        )
    except ImportError:
        return False
    return True


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: Path, title: str) -> Path:
    """ROC curves {label: (fpr, tpr, auc)} as a small PNG (matplotlib from the train extra, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for label, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def roc_curves(samples: PatchSamples, logits: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    from mommi.eval.malignancy import roc_auc

    known = ~np.isnan(samples.malignant)
    curves = {}
    for label, keep in (("all detected patches", known), ("detected masses", known & samples.matched)):
        labels = samples.malignant[keep]
        if 0 < labels.sum() < labels.size:
            fpr, tpr = roc_curve(logits[keep], labels)
            curves[label] = (fpr, tpr, roc_auc(logits[keep], labels))
    return curves
