"""Malignancy and BI-RADS of detections, judged against a dataset's truth.

The paper scores malignancy "on detected patches" (METHOD.md); here a ground-truth
mass is *matched* by the highest-scoring prediction whose IoU with it is > 0.2
(the FROC's hit rule, ``mommi.eval.froc.box_iou``), and that prediction's
malignancy probability and BI-RADS stand for the mass. Masses no prediction
matches are counted and reported, never scored (a made-up score would move the
AUC). Datasets with breast-level labels only are scored per breast from the
highest malignancy among the breast's reported findings (0 when none: a breast
without findings is the least suspicious).

Predictions come from a ``mommi-predictions`` document whose image entries carry,
next to ``boxes`` ([x0, y0, x1, y1, score]), the parallel lists ``malignancy``
and ``birads`` (None where the classifier did not run).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mommi.data.manifest import Record
from mommi.eval.froc import IOU_THRESHOLD, box_iou
from mommi.eval.malignancy import AucError, evaluate_auc
from mommi.findings.birads import BIRADS_CATEGORIES

#: the order used when the truth has no 4A/4B/4C (CBIS-DDSM, VinDr-Mammo say plain "4")
COARSE_BIRADS = ("1", "2", "3", "4", "5", "6")


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    score: float
    malignancy: float | None = None
    birads: str | None = None


def detections_of(entry: dict[str, Any] | None) -> list[Detection]:
    """The detections of one image entry of a predictions document (none when the entry is missing)."""
    if not entry:
        return []
    boxes = entry.get("boxes", [])
    malignancy = entry.get("malignancy") or [None] * len(boxes)
    birads = entry.get("birads") or [None] * len(boxes)
    return [
        Detection((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(b[4]), m, r)
        for b, m, r in zip(boxes, malignancy, birads)
    ]


def best_match(
    truth_box: Sequence[float], detections: list[Detection], iou_threshold: float = IOU_THRESHOLD
) -> Detection | None:
    """The highest-scoring detection with IoU > ``iou_threshold`` (strict, as the FROC), or None."""
    hits = [d for d in detections if box_iou(d.box, truth_box) > iou_threshold]
    return max(hits, key=lambda d: d.score) if hits else None


def _auc_section(
    scores: list[float], labels: list[int], groups: list[str], bootstrap: int, seed: int
) -> dict[str, Any]:
    if not scores:
        return {"auc": None, "reason": "no scored sample"}
    try:
        return evaluate_auc(np.array(scores), np.array(labels), groups, bootstrap=bootstrap, seed=seed)
    except AucError as exc:
        return {"auc": None, "reason": str(exc)}


def lesion_malignancy(
    records: list[Record], predictions: dict[str, Any], bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """AUC benign vs malignant over masses with a pathology, each scored by its matched detection."""
    scores, labels, groups = [], [], []
    with_pathology = unmatched = unscored = 0
    for record in records:
        detections = detections_of(predictions["images"].get(record.image_id))
        for finding in record.findings:
            if finding.kind != "mass" or finding.pathology not in ("benign", "malignant"):
                continue
            with_pathology += 1
            match = best_match(finding.box, detections)
            if match is None:
                unmatched += 1
            elif match.malignancy is None:
                unscored += 1
            else:
                scores.append(float(match.malignancy))
                labels.append(int(finding.pathology == "malignant"))
                groups.append(record.patient_id)
    section = {
        "level": "lesion (matched masses)",
        "masses_with_pathology": with_pathology,
        "matched": len(scores),
        "unmatched": unmatched,
        "matched_without_malignancy": unscored,
    }
    return section | _auc_section(scores, labels, groups, bootstrap, seed)


def breast_malignancy(
    records: list[Record], predictions: dict[str, Any], report_score: float, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """AUC per breast (record.extra["breast_pathology"]) from the highest malignancy of its findings."""
    truth: dict[tuple[str, str, str], str] = {}
    highest: dict[tuple[str, str, str], float] = defaultdict(float)
    for record in records:
        label = record.extra.get("breast_pathology")
        if label not in ("benign", "malignant"):
            continue
        key = (record.patient_id, record.study_id, record.laterality)
        truth[key] = label
        for d in detections_of(predictions["images"].get(record.image_id)):
            if d.score >= report_score and d.malignancy is not None:
                highest[key] = max(highest[key], float(d.malignancy))
    keys = sorted(truth)
    section = {
        "level": f"breast (highest malignancy of findings with score >= {report_score:g}, 0 when none)",
        "breasts": len(keys),
        "breasts_without_findings": sum(1 for k in keys if k not in highest),
    }
    return section | _auc_section(
        [highest.get(k, 0.0) for k in keys],
        [int(truth[k] == "malignant") for k in keys],
        [k[0] for k in keys],
        bootstrap,
        seed,
    )


def _scale(truth: str, predicted: str) -> tuple[str, ...]:
    return COARSE_BIRADS if "4" in (truth, predicted) else BIRADS_CATEGORIES


def _coarse(category: str) -> str:
    return "4" if category in ("4A", "4B", "4C") else category


def birads_distance(truth: str, predicted: str) -> int:
    """Categories between truth and prediction; a plain '4' (either side) matches 4A, 4B and 4C."""
    scale = _scale(truth, predicted)
    if scale is COARSE_BIRADS:
        truth, predicted = _coarse(truth), _coarse(predicted)
    return abs(scale.index(truth) - scale.index(predicted))


def birads_agreement(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Exact and within-one-category agreement over (truth, predicted) pairs."""
    distances = [birads_distance(t, p) for t, p in pairs]
    n = len(distances)
    return {
        "pairs": n,
        "exact": round(sum(d == 0 for d in distances) / n, 4) if n else None,
        "within_one": round(sum(d <= 1 for d in distances) / n, 4) if n else None,
    }


def finding_birads_pairs(records: list[Record], predictions: dict[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """(truth, predicted) for masses with a BI-RADS whose matched detection has one; and the unmatched count."""
    pairs, unmatched = [], 0
    for record in records:
        detections = detections_of(predictions["images"].get(record.image_id))
        for finding in record.findings:
            if finding.kind != "mass" or finding.birads is None:
                continue
            match = best_match(finding.box, detections)
            if match is None or match.birads is None:
                unmatched += 1
            else:
                pairs.append((finding.birads, match.birads))
    return pairs, unmatched


def image_birads_pairs(
    records: list[Record], predictions: dict[str, Any], report_score: float
) -> list[tuple[str, str]]:
    """(image BI-RADS, highest BI-RADS of the image's findings with score >= report_score, else '1')."""
    pairs = []
    for record in records:
        if record.image_birads is None:
            continue
        found = [
            d.birads
            for d in detections_of(predictions["images"].get(record.image_id))
            if d.score >= report_score and d.birads is not None
        ]
        predicted = max(found, key=BIRADS_CATEGORIES.index) if found else "1"
        pairs.append((record.image_birads, predicted))
    return pairs


def exam_counts(records: list[Record], predictions: dict[str, Any], score: float) -> dict[str, Any]:
    """Masses, findings, masses found (true positives) and false positives at ``score`` for some images."""
    masses = findings = found = false_positives = 0
    malignancy: list[float] = []
    for record in records:
        kept = [d for d in detections_of(predictions["images"].get(record.image_id)) if d.score >= score]
        truth = [f.box for f in record.findings if f.kind == "mass"]
        masses += len(truth)
        findings += len(kept)
        found += sum(1 for box in truth if best_match(box, kept) is not None)
        false_positives += sum(1 for d in kept if not any(box_iou(d.box, t) > IOU_THRESHOLD for t in truth))
        malignancy += [float(d.malignancy) for d in kept if d.malignancy is not None]
    return {
        "masses": masses,
        "findings": findings,
        "true_positives": found,
        "false_positives": false_positives,
        "max_malignancy": round(max(malignancy), 4) if malignancy else None,
    }
