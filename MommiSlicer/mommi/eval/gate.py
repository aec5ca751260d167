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

A candidate is refused when, on any measured set or on all of them pooled by size, it measures below its base by
more than the tolerance, or when the paired patient-bootstrap draws (``mommi.eval.paired``: both models on the
same draw of women) find it so in at least ``confidence`` (default 0.5) of them. The draws add refusals and
never overrule a measured loss. Why not let the draws excuse a small set's loss as chance (promote unless the
loss is clear, e.g. in 80% of draws): the gate's sets are small and the costs are not symmetric. Refusing a good
candidate costs a round's wait for more feedback; promoting a worse one costs masses readers are not shown,
round after round. The feedback benchmark measured it (README): excused so, the bilateral network passed three
rounds level on the gate's 20 real women and then showed 6 instead of 9 of 12 masses on 20 untouched women; with
0.5 the untouched recall stayed where it was. What the draws add over two point estimates: the difference's own
95% interval in every card, the share of draws that sees a loss (a loss inside the tolerance that most draws see
still refuses), and the pooled comparison, which catches small losses on every set.

A set on which either model cannot be measured (no masses, one class) is reported with the reason and decides
nothing; a gate that measured nothing refuses, because "no evidence" is not "no harm". ``--force`` promotes a
refused candidate and the record says so. No torch here: the gate reads ONNX files only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest
from mommi.data.patches import PatchSamples
from mommi.eval.classifier_report import classifier_report, classify_split
from mommi.eval.froc import patient_draws
from mommi.eval.operating_point import matched
from mommi.eval.paired import (
    auc_differences,
    froc_differences,
    harm_share,
    interval,
    pooled,
    recall_at_fppi,
    sensitivity_at,
)
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
#: the share of paired resamples in which a candidate must be worse beyond the tolerance to be refused
GATE_CONFIDENCE = 0.5


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
    #: what the set weighs when sets are pooled: its masses (detectors) or labelled patches (classifier)
    weight: int = 0
    #: candidate - base of the gate metric on each paired patient-bootstrap draw (None: point estimates only)
    differences: np.ndarray | None = field(default=None, repr=False)
    #: the same at the zoo's operating point (detectors with an operating point)
    differences_at_point: np.ndarray | None = field(default=None, repr=False)

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
            **({"difference_ci95": interval(self.differences)} if self.differences is not None else {}),
            **(
                {
                    "recall_at_operating_point": {
                        "base": self.at_operating_point[0],
                        "candidate": self.at_operating_point[1],
                        **(
                            {"difference_ci95": interval(self.differences_at_point)}
                            if self.differences_at_point is not None
                            else {}
                        ),
                    }
                }
                if self.at_operating_point
                else {}
            ),
        }


@dataclass(frozen=True)
class Comparison:
    """One check of the gate: base against candidate on a set (or all sets pooled), for one statistic."""

    statistic: str
    name: str
    base: float
    candidate: float
    differences: np.ndarray | None = field(default=None, repr=False)

    def worse_share(self, tolerance: float) -> float:
        """The share of paired draws with the candidate below its base by more than ``tolerance``; without
        draws, the point estimates decide (1.0 or 0.0)."""
        if self.differences is None:
            return float(self.candidate < self.base - tolerance)
        return harm_share(self.differences, tolerance)

    def refuses(self, tolerance: float, confidence: float) -> bool:
        """Measured below its base by more than ``tolerance``, or so in at least ``confidence`` of the draws."""
        return self.candidate < self.base - tolerance or self.worse_share(tolerance) >= confidence

    def describe(self, tolerance: float) -> str:
        words = f"{self.name}: {self.candidate:.3f} vs base {self.base:.3f}"
        if self.differences is None:
            return words
        low, high = interval(self.differences)
        return (
            f"{words}, difference 95% CI {low:+.3f} to {high:+.3f}, worse by more than {tolerance:g} in "
            f"{self.worse_share(tolerance):.0%} of {len(self.differences)} paired resamples"
        )

    def summary(self, tolerance: float) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "name": self.name,
            "base": self.base,
            "candidate": self.candidate,
            "difference": round(self.candidate - self.base, 4),
            "difference_ci95": interval(self.differences) if self.differences is not None else None,
            "worse_share": round(self.worse_share(tolerance), 4),
        }


#: the name of the pooled comparison (every measured set together, weighted by size)
POOLED = "all sets pooled"


#: the statistic a detector is also gated on: what readers are shown at the zoo's unchanged threshold
AT_OPERATING_POINT = "recall at the zoo's operating point"


def _pooled(statistic: str, rows: list[tuple[str, float, float, np.ndarray | None, int]]) -> list[Comparison]:
    """The comparison of every bootstrapped set together, weighted by size; none for fewer than two sets."""
    drawn = [(base, candidate, draws, weight) for _, base, candidate, draws, weight in rows if draws is not None]
    drawn = [row for row in drawn if row[3] > 0]
    if len(drawn) < 2:
        return []
    weights = np.array([weight for *_, weight in drawn], dtype=float)
    base = float(np.dot(weights, [row[0] for row in drawn]) / weights.sum())
    candidate = float(np.dot(weights, [row[1] for row in drawn]) / weights.sum())
    return [Comparison(statistic, POOLED, base, candidate, pooled([row[2] for row in drawn], list(weights)))]


def comparisons(metric: str, sets: list[SetResult]) -> list[Comparison]:
    """Every check of the gate: each measured set and, where two or more were bootstrapped, all of them pooled by
    size; for the gate metric, then recall at the zoo's operating point."""
    rows: dict[str, list[tuple[str, float, float, np.ndarray | None, int]]] = {metric: [], AT_OPERATING_POINT: []}
    for s in sets:
        if s.base is None or s.candidate is None:
            continue
        rows[metric].append((s.name, s.base, s.candidate, s.differences, s.weight))
        if s.at_operating_point is not None:
            base, candidate = s.at_operating_point
            rows[AT_OPERATING_POINT].append((s.name, base, candidate, s.differences_at_point, s.weight))
    out: list[Comparison] = []
    for statistic, measured in rows.items():
        out += [Comparison(statistic, name, base, candidate, draws) for name, base, candidate, draws, _ in measured]
        out += _pooled(statistic, measured)
    return out


@dataclass
class GateResult:
    metric: str
    tolerance: float
    sets: list[SetResult]
    promoted: bool
    forced: bool
    reason: str
    confidence: float = GATE_CONFIDENCE
    checks: list[Comparison] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "tolerance": self.tolerance,
            "confidence": self.confidence,
            "sets": [s.summary() for s in self.sets],
            "comparisons": [c.summary(self.tolerance) for c in self.checks],
            "promoted": self.promoted,
            "forced": self.forced,
            "reason": self.reason,
        }


def decide(
    metric: str, sets: list[SetResult], tolerance: float, force: bool = False, confidence: float = GATE_CONFIDENCE
) -> GateResult:
    """Promote, or refuse with the reason: refused when, on any measured set or on all of them pooled, the
    candidate measures below its base by more than ``tolerance`` (absolute; a negative tolerance demands that much
    improvement), or is so in at least ``confidence`` of the paired resamples, or when no set could be measured.
    ``force`` promotes anyway, keeping the reason it was refused for."""
    if not 0.0 < confidence <= 1.0:
        raise ValueError(f"the gate's confidence must be in (0, 1], not {confidence:g}")
    checks = comparisons(metric, sets)
    if not any(c.statistic == metric for c in checks):
        unmeasured = "; ".join(f"{s.name}: {s.why_not}" for s in sets) or "no validation set"
        verdict, reason = False, f"nothing to measure it on ({unmeasured}); give --validation MANIFEST with masses"
    else:
        worse = [c for c in checks if c.refuses(tolerance, confidence)]
        if worse:
            statistic = worse[0].statistic
            listed = "; ".join(c.describe(tolerance) for c in worse if c.statistic == statistic)
            verdict, reason = False, f"{statistic} below its base by more than the tolerance {tolerance:g} ({listed})"
            if statistic == AT_OPERATING_POINT:
                reason += ": readers would be shown fewer masses"
        else:
            verdict = True
            sets_measured = sum(c.statistic == metric and c.name != POOLED for c in checks)
            reason = (
                f"{metric} not below its base by more than the tolerance {tolerance:g} on any of the "
                f"{sets_measured} measured set(s) or pooled"
            )
            drawn = [c for c in checks if c.differences is not None]
            if drawn:
                largest = max(drawn, key=lambda c: c.worse_share(tolerance))
                reason += (
                    f", nor in {confidence:.0%} or more of the paired resamples (the most: {largest.statistic}, "
                    f"{largest.describe(tolerance)})"
                )
    result = GateResult(metric, tolerance, sets, verdict, False, reason, confidence, checks)
    if not verdict and force:
        result.promoted, result.forced = True, True
        result.reason = f"promoted by --force although refused: {reason}"
    return result


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
    froc = reports[0]["froc"]
    result = SetResult(
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
        weight=int(froc["masses"]),
    )
    if base is None:
        return result
    uncapped = [matched(manifest.records, p, None) for p in predictions]
    draws = patient_draws(len(uncapped[0].patients), bootstrap, seed)
    if bootstrap:
        result.differences = froc_differences(uncapped[0], uncapped[1], recall_at_fppi(float(GATE_FPPI)), draws)
    if operating_point is not None:
        shown = [matched(manifest.records, p, operating_point.get("max_marks_per_view")) for p in predictions]
        statistic = sensitivity_at(float(operating_point["min_score"]))
        everyone = np.ones(len(shown[0].patients))
        result.at_operating_point = (statistic(shown[0], everyone), statistic(shown[1], everyone))
        if bootstrap:
            result.differences_at_point = froc_differences(shown[0], shown[1], statistic, draws)
    return result


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
    differences = None
    if base is not None and bootstrap:
        groups = [str(g) for g in samples.patient_ids[known]]
        draws = patient_draws(len(set(groups)), bootstrap, seed)
        differences = auc_differences(
            patches.base_logits[known], candidate_logits[known], samples.malignant[known], groups, draws
        )
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
        weight=int(known.sum()),
        differences=differences,
    )
