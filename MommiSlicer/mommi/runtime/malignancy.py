"""The malignancy classifier at run time: patches cut around findings -> probability and BI-RADS.

The probability shown to a radiologist is the calibrated one: the zoo entry's
``calibration`` (temperature scaling fitted on validation patches by ``mommi zoo
calibrate``) divides the logit; without one the raw sigmoid is used and
``calibrated`` says so. Any number of boxes is classified, in chunks of
``max_batch`` (the exported graph has a dynamic batch axis).

Whether the probability may be shown at all is the zoo entry's ``real_masses``
record (``mommi zoo real-masses``, ``mommi.eval.real_masses``): unless the classifier
was measured to separate benign from malignant REAL masses, ``withheld_reason``
says why the front ends show no probability or BI-RADS estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mommi.findings.birads import finding_birads
from mommi.findings.calibration import apply_temperature
from mommi.preprocess.patches import PatchSpec, cut_patches
from mommi.runtime.sessions import ZooModel, load_model

DEFAULT_MODEL = "malignancy-lite"


@dataclass(frozen=True)
class MalignancyScore:
    probability: float  # calibrated where the zoo entry has a calibration
    logit: float  # raw network output
    birads_value: float  # normalised, [0, 1]
    birads: str  # nearest category a reported finding can have (2-5; findings.birads.finding_birads)
    calibrated: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "probability": round(self.probability, 5),
            "logit": round(self.logit, 5),
            "birads_value": round(self.birads_value, 5),
            "birads": self.birads,
            "calibrated": self.calibrated,
        }


def withheld_reason(check: dict | None) -> str | None:
    """Why a classifier with this ``real_masses`` record may not show its probability (None: it may)."""
    if not isinstance(check, dict):
        return "not measured on real masses"
    if check.get("separates"):
        return None
    if check.get("auc") is None:
        return f"not measurable on real masses ({check.get('reason', 'no result')})"
    low, high = check["ci95"]
    return (
        f"does not separate benign from malignant real masses (AUC {check['auc']:.2f}, 95% CI "
        f"{low:.2f}-{high:.2f}, on {check['masses']} {check.get('manifest_source', '')} masses it was not "
        f"trained on)"
    )


class MalignancyClassifier:
    def __init__(
        self, manifest: Path | None = None, device: str = "auto", name: str = DEFAULT_MODEL, max_batch: int = 32
    ) -> None:
        self.model: ZooModel = load_model(name, manifest, device)
        patch = self.model.entry.get("normalisation", {}).get("patch")
        if not patch:
            raise ValueError(f"zoo model {name!r} is not a malignancy classifier (no patch specification)")
        self.spec = PatchSpec(**patch)
        calibration = self.model.entry.get("calibration") or {}
        self.temperature = float(calibration.get("temperature", 1.0))
        self.calibrated = "temperature" in calibration
        self.max_batch = max(int(max_batch), 1)
        self.real_masses: dict | None = self.model.entry.get("real_masses")

    @property
    def withheld_reason(self) -> str | None:
        """None when the classifier separates real benign and malignant masses; else why its output is withheld."""
        return withheld_reason(self.real_masses)

    @property
    def provider(self) -> str:
        return self.model.provider

    def raw(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, BI-RADS values) of (N, 1, S, S) patches, N of any size."""
        logits, values = [], []
        for start in range(0, len(patches), self.max_batch):
            logit, value = self.model.run_all(patches=patches[start : start + self.max_batch])
            logits.append(logit)
            values.append(value)
        if not logits:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        return np.concatenate(logits), np.concatenate(values)

    def scores(self, patches: np.ndarray) -> list[MalignancyScore]:
        """Calibrated scores of (N, 1, S, S) patches cut by ``cut_patches`` (from one image or several)."""
        logits, values = self.raw(patches)
        probabilities = apply_temperature(logits, self.temperature)
        return [
            MalignancyScore(float(p), float(z), float(v), finding_birads(float(v)), self.calibrated)
            for p, z, v in zip(probabilities, logits, values)
        ]

    def classify(self, pixels: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[MalignancyScore]:
        """Scores of boxes (x0, y0, x1, y1) in the ORIGINAL pixels of one image (values in [0, 1])."""
        return self.scores(cut_patches(pixels, [b[:4] for b in boxes], self.spec))
