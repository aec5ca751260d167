"""The retraining gate of `mommi zoo retrain` (#23): a fine-tuned candidate against its base model.

A model fine-tuned on readers' feedback may get worse (too few studies, readers who disagree, a batch that
teaches it one site's films and makes it forget the rest). So before a candidate replaces its base in a new
zoo, both are measured on data neither was trained on, with the metric the model cards state:

- detectors (single, bidual, fusion): recall at 1 false mark per image (FROC, METHOD.md), each branch run
  through the product's detection chain exactly as `mommi predict` runs it, on the ONNX files; and recall at
  the zoo's operating point, the marks a reader is shown: a retrained zoo keeps its base's threshold, so a
  candidate whose scores all fell loses masses there while its FROC at 1 FPPI stays level (the feedback
  benchmark measured exactly that on real films: 9 of 12 masses shown before, 7 after);
- the malignancy classifier: ROC AUC over the detected patches, where both classifiers read the same
  patches (those the BASE zoo's tri-view chain finds), so that only the classifier differs.

A candidate is refused when on any measured set it is below its base by more than the tolerance. A set on
which either model cannot be measured (no masses, one class) is reported with the reason and decides
nothing; a gate that measured nothing refuses, because "no evidence" is not "no harm". ``--force`` promotes
a refused candidate and the record says so. No torch here: the gate reads ONNX files only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest
from mommi.data.patches import PatchSamples
from mommi.eval.classifier_report import classifier_report, classify_split
from mommi.eval.operating_point import at_operating_point
from mommi.eval.predict import predict_manifest
from mommi.eval.report import evaluate
from mommi.runtime.malignancy import MalignancyClassifier

#: the number each task's gate compares (the first line of the card's Measured table says the same)
GATE_METRICS = {
    "single": "recall at 1 FPPI",
    "bidual": "recall at 1 FPPI",
    "fusion": "recall at 1 FPPI",
    "malignancy": "AUC, all detected patches",
}
#: the operating point of the detectors' gate: false marks per image (a key of the FROC report)
GATE_FPPI = "1"


@dataclass(frozen=True)
class GateSet:
    """A validation set of the gate: a manifest holding only the images to read (all of its splits)."""

    name: str
    manifest: Path
    description: str


@dataclass
class SetResult:
    """Base and candidate on one set; ``why_not`` says why the set could not be measured (None: it was)."""

    name: str
    description: str
    size: str
    base: float | None
    candidate: float | None
    base_ci95: list[float] | None = None
    candidate_ci95: list[float] | None = None
    why_not: str | None = None
    base_report: dict[str, Any] = field(default_factory=dict, repr=False)
    candidate_report: dict[str, Any] = field(default_factory=dict, repr=False)
    #: detectors: (base, candidate) recall at the zoo's operating point; None where the zoo has none
    at_operating_point: tuple[float, float] | None = None

    def summary(self) -> dict[str, Any]:
        """What the manifest keeps of the set (the full reports go into the round's gate.json)."""
        return {
            "name": self.name,
            "description": self.description,
            "size": self.size,
            "base": self.base,
            "candidate": self.candidate,
            "base_ci95": self.base_ci95,
            "candidate_ci95": self.candidate_ci95,
            "why_not": self.why_not,
            **(
                {
                    "recall_at_operating_point": {
                        "base": self.at_operating_point[0],
                        "candidate": self.at_operating_point[1],
                    }
                }
                if self.at_operating_point
                else {}
            ),
        }


@dataclass
class GateResult:
    metric: str
    tolerance: float
    sets: list[SetResult]
    promoted: bool
    forced: bool
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "tolerance": self.tolerance,
            "sets": [s.summary() for s in self.sets],
            "promoted": self.promoted,
            "forced": self.forced,
            "reason": self.reason,
        }


def decide(metric: str, sets: list[SetResult], tolerance: float, force: bool = False) -> GateResult:
    """Promote, or refuse with the reason: refused when any measured set has the candidate below its base by
    more than ``tolerance`` (absolute; a negative tolerance demands that much improvement), or when no set
    could be measured. ``force`` promotes anyway, keeping the reason it was refused for."""
    measured = [(s.name, s.base, s.candidate) for s in sets if s.base is not None and s.candidate is not None]
    if not measured:
        unmeasured = "; ".join(f"{s.name}: {s.why_not}" for s in sets) or "no validation set"
        verdict, reason = False, f"nothing to measure it on ({unmeasured}); give --validation MANIFEST with masses"
    else:
        worse = [(name, base, candidate) for name, base, candidate in measured if candidate < base - tolerance]
        at_point = [
            (s.name, *s.at_operating_point)
            for s in sets
            if s.at_operating_point and s.at_operating_point[1] < s.at_operating_point[0] - tolerance
        ]
        if worse:
            listed = "; ".join(f"{name}: {candidate:.3f} vs base {base:.3f}" for name, base, candidate in worse)
            verdict, reason = False, f"{metric} below its base by more than the tolerance {tolerance:g} ({listed})"
        elif at_point:
            listed = "; ".join(f"{name}: {candidate:.3f} vs base {base:.3f}" for name, base, candidate in at_point)
            verdict = False
            reason = (
                f"recall at the zoo's operating point below its base by more than the tolerance {tolerance:g} "
                f"({listed}): readers would be shown fewer masses"
            )
        else:
            verdict = True
            reason = (
                f"{metric} not below its base by more than the tolerance {tolerance:g} on any of the "
                f"{len(measured)} measured set(s)"
            )
    if not verdict and force:
        return GateResult(metric, tolerance, sets, True, True, f"promoted by --force although refused: {reason}")
    return GateResult(metric, tolerance, sets, verdict, False, reason)


def _froc_value(report: dict[str, Any]) -> tuple[float | None, list[float] | None]:
    froc = report["froc"]
    if not froc["masses"]:
        return None, None
    point = froc["recall_at_fppi"][GATE_FPPI]
    return float(point["recall"]), [float(v) for v in point["ci95"]]


def detector_set(
    task: str,
    gate_set: GateSet,
    base_zoo: Path,
    candidate_zoo: Path,
    device: str,
    bootstrap: int,
    seed: int,
    operating_point: dict[str, Any] | None = None,
) -> SetResult:
    """Base and candidate detector (``task``'s branch alone) on one set, FROC with patient-bootstrap CIs, and
    recall at ``operating_point`` (the base zoo's, which a retrained zoo keeps) when there is one."""
    manifest = Manifest.read(gate_set.manifest)
    predictions = [predict_manifest(task, manifest, None, zoo, device) for zoo in (base_zoo, candidate_zoo)]
    reports = [evaluate(manifest, p, None, bootstrap, seed) for p in predictions]
    (base, base_ci), (candidate, candidate_ci) = (_froc_value(r) for r in reports)
    at_point = None
    if operating_point is not None and base is not None:
        base_at, candidate_at = (
            at_operating_point(manifest.records, p, operating_point)["sensitivity"] for p in predictions
        )
        at_point = (float(base_at), float(candidate_at))
    froc = reports[0]["froc"]
    return SetResult(
        gate_set.name,
        gate_set.description,
        f"{froc['images']} images, {froc['masses']} masses",
        base,
        candidate,
        base_ci,
        candidate_ci,
        None if base is not None else "no masses among its images",
        reports[0],
        reports[1],
        at_point,
    )


@dataclass
class PatchSet:
    """The detected patches of one set, cut once and read by both classifiers."""

    gate_set: GateSet
    samples: PatchSamples
    base_logits: np.ndarray
    base_values: np.ndarray


def patch_set(gate_set: GateSet, base_zoo: Path, classifier: MalignancyClassifier, device: str) -> PatchSet:
    """The patches the base zoo's tri-view chain detects in the set, with the base classifier's outputs."""
    manifest = Manifest.read(gate_set.manifest)
    found = predict_manifest("fusion", manifest, None, base_zoo, device)
    detections = {image_id: entry["boxes"] for image_id, entry in found["images"].items()}
    samples, logits, values = classify_split([manifest], None, detections, classifier)
    return PatchSet(gate_set, samples, logits, values)


def _auc_value(report: dict[str, Any]) -> tuple[float | None, list[float] | None, str | None]:
    auc = report["auc"]
    if auc.get("auc") is None:
        return None, None, str(auc.get("reason", "not measurable"))
    return float(auc["auc"]), [float(v) for v in auc["ci95"]], None


def classifier_set(
    patches: PatchSet,
    candidate_logits: np.ndarray,
    candidate_values: np.ndarray,
    temperatures: tuple[float, float],
    bootstrap: int,
    seed: int,
) -> SetResult:
    """Base and candidate classifier on one set's patches; ``temperatures``: (base, candidate) calibration."""
    reports = [
        classifier_report(patches.samples, logits, values, temperature, bootstrap, seed)
        for logits, values, temperature in (
            (patches.base_logits, patches.base_values, temperatures[0]),
            (candidate_logits, candidate_values, temperatures[1]),
        )
    ]
    (base, base_ci, why_not), (candidate, candidate_ci, _) = (_auc_value(r) for r in reports)
    samples = patches.samples
    known = ~np.isnan(samples.malignant)
    return SetResult(
        patches.gate_set.name,
        patches.gate_set.description,
        f"{len(samples)} detected patches, {int(samples.malignant[known].sum())} malignant",
        base,
        candidate,
        base_ci,
        candidate_ci,
        why_not,
        reports[0],
        reports[1],
    )
