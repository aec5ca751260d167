"""FROC exactly as in METHOD.md, with a patient-level bootstrap.

- A predicted region is a true positive when its IoU with some ground-truth mass
  is > 0.2 (strictly). A prediction that matches no mass is a false positive; a
  second prediction on an already-found mass is still a true positive, not a
  false positive (the protocol's wording).
- A mass counts as detected at threshold t when any prediction with score >= t
  matches it. Recall at F false positives per image is the highest recall of an
  operating point whose FPPI is <= F, over ALL images (normal ones included).
  Predictions with equal scores enter together (one operating point per distinct
  score), so ties are never split.
- 95% CI: percentiles 2.5 / 97.5 of the statistic over bootstrap resamples of
  PATIENTS (with replacement; a patient drawn twice counts twice).

Boxes are [x0, y0, x1, y1] inclusive pixel-centre coordinates (as in the training
manifest), so a box covers (x1 - x0 + 1) x (y1 - y0 + 1) pixels. Written with numpy
because no maintained library implements this protocol (FROC with IoU matching
and patient bootstrap); it is short and tested on hand-computed cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mommi.findings.regions import box_iou

IOU_THRESHOLD = 0.2
FPPI_POINTS = (0.5, 1.0, 2.0)


@dataclass
class ImageResult:
    """Ground truth and predictions of one image."""

    image_id: str
    patient_id: str
    truth: list[Sequence[float]] = field(default_factory=list)  # boxes
    predictions: list[tuple[Sequence[float], float]] = field(default_factory=list)  # (box, score)


@dataclass
class Matched:
    """Per-prediction and per-mass facts; thresholds are applied later (and per resample)."""

    patients: list[str]
    image_patient: np.ndarray  # (n_images,) patient index
    fp_scores: np.ndarray  # scores of false-positive predictions
    fp_patient: np.ndarray
    mass_best_score: np.ndarray  # best score of a matching prediction per mass (-inf: never found)
    mass_patient: np.ndarray


def match(images: list[ImageResult], iou_threshold: float = IOU_THRESHOLD) -> Matched:
    patients = sorted({im.patient_id for im in images})
    index = {p: i for i, p in enumerate(patients)}
    fp_scores: list[float] = []
    fp_patient: list[int] = []
    best: list[float] = []
    mass_patient: list[int] = []
    for image in images:
        p = index[image.patient_id]
        image_best = np.full(len(image.truth), -np.inf)
        for box, score in image.predictions:
            ious = [box_iou(box, truth) for truth in image.truth]
            hits = [i for i, v in enumerate(ious) if v > iou_threshold]
            if not hits:
                fp_scores.append(score)
                fp_patient.append(p)
            for i in hits:
                image_best[i] = max(image_best[i], score)
        best.extend(image_best)
        mass_patient.extend([p] * len(image.truth))
    return Matched(
        patients,
        np.array([index[im.patient_id] for im in images], dtype=int),
        np.array(fp_scores, dtype=float),
        np.array(fp_patient, dtype=int),
        np.array(best, dtype=float),
        np.array(mass_patient, dtype=int),
    )


def froc_curve(m: Matched, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(FPPI, recall) at every distinct score, highest threshold first, starting at (0, 0).

    ``weights`` gives each patient's multiplicity (bootstrap); None means 1 each.
    """
    w = np.ones(len(m.patients)) if weights is None else weights
    n_images = w[m.image_patient].sum()
    n_masses = w[m.mass_patient].sum()
    thresholds = np.unique(np.concatenate([m.fp_scores, m.mass_best_score[np.isfinite(m.mass_best_score)]]))[::-1]
    fp_sorted = np.sort(m.fp_scores)
    fp_w = w[m.fp_patient][np.argsort(m.fp_scores)]
    mass_order = np.argsort(m.mass_best_score)
    mass_sorted, mass_w = m.mass_best_score[mass_order], w[m.mass_patient][mass_order]
    # weighted count of values >= t = total - weighted count of values < t
    fp_cum = np.concatenate([[0.0], np.cumsum(fp_w)])
    mass_cum = np.concatenate([[0.0], np.cumsum(mass_w)])
    fp_at = fp_cum[-1] - fp_cum[np.searchsorted(fp_sorted, thresholds, side="left")]
    tp_at = mass_cum[-1] - mass_cum[np.searchsorted(mass_sorted, thresholds, side="left")]
    fppi = np.concatenate([[0.0], fp_at / max(n_images, 1e-12)])
    recall = np.concatenate([[0.0], tp_at / n_masses if n_masses > 0 else np.zeros_like(tp_at)])
    return fppi, recall


def recall_at(fppi: np.ndarray, recall: np.ndarray, points: Sequence[float] = FPPI_POINTS) -> list[float]:
    """Highest recall among operating points with FPPI <= each point."""
    return [float(recall[fppi <= f + 1e-12].max()) for f in points]


@dataclass
class FrocReport:
    recall: dict[float, float]
    ci: dict[float, tuple[float, float]]
    images: int
    patients: int
    masses: int
    curve: tuple[np.ndarray, np.ndarray]
    bootstrap: int

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": {
                "iou_threshold": IOU_THRESHOLD,
                "iou_rule": "> (strict)",
                "ci": "95% patient bootstrap",
                "bootstrap_samples": self.bootstrap,
            },
            "images": self.images,
            "patients": self.patients,
            "masses": self.masses,
            "recall_at_fppi": {
                f"{f:g}": {"recall": round(self.recall[f], 4), "ci95": [round(v, 4) for v in self.ci[f]]}
                for f in self.recall
            },
            "curve": {
                "fppi": [round(float(v), 5) for v in self.curve[0]],
                "recall": [round(float(v), 5) for v in self.curve[1]],
            },
        }


def patient_draws(patients: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, patients) multiplicities of METHOD.md's bootstrap: each row draws as many patients as there
    are, with replacement (a patient drawn twice counts twice). Every patient bootstrap of the evaluation uses
    it, so that one seed gives the same draws to the FROC, the operating point, the AUC and the gate."""
    rng = np.random.default_rng(seed)
    return np.array(
        [np.bincount(rng.integers(0, patients, patients), minlength=patients) for _ in range(resamples)], dtype=float
    ).reshape(resamples, patients)


def evaluate_froc(
    images: list[ImageResult], bootstrap: int = 1000, seed: int = 0, points: Sequence[float] = FPPI_POINTS
) -> FrocReport:
    m = match(images)
    fppi, recall = froc_curve(m)
    point_values = recall_at(fppi, recall, points)
    n_patients = len(m.patients)
    samples = np.empty((bootstrap, len(points)))
    for b, weights in enumerate(patient_draws(n_patients, bootstrap, seed)):
        samples[b] = recall_at(*froc_curve(m, weights), points)
    ci = (
        {
            f: (float(np.percentile(samples[:, i], 2.5)), float(np.percentile(samples[:, i], 97.5)))
            for i, f in enumerate(points)
        }
        if bootstrap
        else {f: (np.nan, np.nan) for f in points}
    )
    return FrocReport(
        dict(zip(points, point_values)), ci, len(images), n_patients, len(m.mass_best_score), (fppi, recall), bootstrap
    )
