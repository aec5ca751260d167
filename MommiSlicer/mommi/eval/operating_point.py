"""The default reporting threshold, chosen on real films for a target number of false marks per image.

A reader judges the tool by its false marks: the product reports a finding only
from a detection score at which, on real mammograms, at most ``max_fppi`` false
marks per image were measured (DESIGN.md: <= 0.5 at the default operating point).
The threshold is the LOWEST score that meets the target (so sensitivity is as high
as the target allows), measured with the FROC's own matching (IoU > 0.2,
``mommi.eval.froc.match``) on the images of the given splits, with 95% bootstrap
CIs over patients for both the sensitivity and the false marks per image there.
The result is recorded in the zoo manifest (``operating_point``) and in every
``result.json``, with the data it was set on.

An operating point may also cap the marks per view (``max_marks_per_view``): a
reader shown a whole dense breast outlined switches the tool off, and a screening
breast rarely holds more than one or two masses. The cap keeps each image's
highest-scoring marks, so it is measured here exactly as the pipeline applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mommi.errors import MommiError
from mommi.data.manifest import Manifest, Record
from mommi.eval.froc import ImageResult, Matched, match, patient_draws


class OperatingPointError(MommiError, ValueError):
    """No threshold can be set from these images (none chosen, no mass, ...)."""


def at_threshold(m: Matched, threshold: float, weights: np.ndarray) -> tuple[float, float]:
    """(sensitivity, false marks per image) at ``threshold`` with per-patient multiplicities."""
    images = weights[m.image_patient].sum()
    masses = weights[m.mass_patient].sum()
    false_marks = weights[m.fp_patient][m.fp_scores >= threshold].sum()
    found = weights[m.mass_patient][m.mass_best_score >= threshold].sum()
    return float(found / masses) if masses else float("nan"), float(false_marks / max(images, 1e-12))


def lowest_threshold(m: Matched, max_fppi: float, floor: float) -> float:
    """The lowest candidate score (>= ``floor``) whose false marks per image are <= ``max_fppi``."""
    weights = np.ones(len(m.patients))
    finite = m.mass_best_score[np.isfinite(m.mass_best_score)]
    candidates = np.unique(np.concatenate([m.fp_scores, finite, [floor]]))
    for threshold in candidates[candidates >= floor]:  # ascending: the first that meets the target
        if at_threshold(m, float(threshold), weights)[1] <= max_fppi:
            return float(threshold)
    return float(candidates.max()) + 1e-6  # nothing meets it: above every score (no marks at all)


def capped(boxes: Sequence[Sequence[float]], max_marks: int | None) -> list[Sequence[float]]:
    """An image's [x0, y0, x1, y1, score] boxes limited to its ``max_marks`` highest scores (None: all)."""
    ordered = sorted(boxes, key=lambda b: -float(b[4]))
    return ordered if max_marks is None else ordered[:max_marks]


def matched(records: Sequence[Record], predictions: dict[str, Any], max_marks_per_view: int | None) -> Matched:
    """The FROC matching of ``records`` against ``predictions`` (``mommi predict`` JSON), each image's marks
    capped as the product caps them."""
    return match(
        [
            ImageResult(
                r.image_id,
                r.patient_id,
                [f.box for f in r.findings if f.kind == "mass"],
                [
                    (b[:4], float(b[4]))
                    for b in capped(predictions["images"].get(r.image_id, {}).get("boxes", []), max_marks_per_view)
                ],
            )
            for r in records
        ]
    )


def bootstrap_at(m: Matched, threshold: float, resamples: int, seed: int) -> tuple[list, list]:
    """95% patient-bootstrap intervals (METHOD.md's resampling unit: a woman, with all her images) of the
    sensitivity and of the false marks per image at ``threshold``; ``[None, None]`` each without resamples."""
    if not resamples:
        return [None, None], [None, None]
    samples = np.array(
        [at_threshold(m, threshold, weights) for weights in patient_draws(len(m.patients), resamples, seed)]
    ).reshape(-1, 2)
    sensitivity, false_marks = (
        [round(float(np.nanpercentile(samples[:, column], q)), 4) for q in (2.5, 97.5)] for column in (0, 1)
    )
    return sensitivity, false_marks


def at_operating_point(
    records: Sequence[Record], predictions: dict[str, Any], point: dict[str, Any], bootstrap: int = 0, seed: int = 0
) -> dict[str, Any]:
    """Sensitivity and false marks per image of ``predictions`` at a zoo's operating point (``min_score``,
    ``max_marks_per_view``): what a reader sees, where FROC values describe other thresholds; with ``bootstrap``
    resamples also their 95% patient-bootstrap intervals."""
    m = matched(records, predictions, point.get("max_marks_per_view"))
    threshold = float(point["min_score"])
    sensitivity_ci, false_marks_ci = bootstrap_at(m, threshold, bootstrap, seed)
    return {
        "sensitivity": float(np.mean(m.mass_best_score >= threshold)) if len(m.mass_best_score) else None,
        "sensitivity_ci95": sensitivity_ci,
        "false_marks_per_image": float(np.sum(m.fp_scores >= threshold)) / max(len(records), 1),
        "false_marks_per_image_ci95": false_marks_ci,
        "masses": int(len(m.mass_best_score)),
        "images": len(records),
    }


def choose_operating_point(
    manifest: Manifest,
    predictions: dict[str, Any],
    splits: Sequence[str],
    max_fppi: float = 0.5,
    floor: float = 0.05,
    bootstrap: int = 1000,
    seed: int = 0,
    max_marks_per_view: int | None = None,
) -> dict[str, Any]:
    """The operating point on the images of ``splits`` (see the module docstring), as a JSON-ready dict."""
    if max_marks_per_view is not None and max_marks_per_view < 1:
        raise OperatingPointError(f"max_marks_per_view must be at least 1, not {max_marks_per_view}")
    records = [r for r in manifest.records if r.split in splits]
    if not records:
        raise OperatingPointError(f"the manifest has no image in split(s) {', '.join(splits)}")
    m = matched(records, predictions, max_marks_per_view)
    if not len(m.mass_best_score):
        raise OperatingPointError("the chosen images hold no mass: sensitivity cannot be measured")
    threshold = lowest_threshold(m, max_fppi, floor)
    sensitivity, fppi = at_threshold(m, threshold, np.ones(len(m.patients)))
    sensitivity_ci, false_marks_ci = bootstrap_at(m, threshold, bootstrap, seed)
    return {
        "min_score": threshold,  # not rounded: a rounded threshold could drop or add the marks it was set by
        "max_marks_per_view": max_marks_per_view,
        "target_false_marks_per_image": max_fppi,
        "sensitivity": round(sensitivity, 4),
        "sensitivity_ci95": sensitivity_ci,
        "false_marks_per_image": round(fppi, 4),
        "false_marks_per_image_ci95": false_marks_ci,
        "images": len(records),
        "patients": len(m.patients),
        "masses": int(len(m.mass_best_score)),
        "splits": list(splits),
        "manifest_source": manifest.source,
        "model": predictions.get("model"),
        "protocol": "lowest detection score with false marks per image <= target; true mark: IoU > 0.2 with a "
        "mass; 95% CI: patient bootstrap",
    }
