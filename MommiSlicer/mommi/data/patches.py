"""Malignancy-classifier samples for training and evaluation: gold and detected patches, labelled as in the paper.

- Gold patches: every annotated mass of a TRAINING split.
- Detected patches: the detector's boxes (a ``mommi predict`` file, score >=
  ``min_score``, at most ``per_image`` best per image). One with IoU >= 0.5 to a
  gold mass takes that mass's labels; any other is "not malignant" (paper) and,
  ours, BI-RADS 1 (normal tissue), so the regression head also learns what a
  false detection looks like.
- Validation and test use detected patches only (paper).
- Findings a reader rejected (feedback batches, kind ``rejected``) are training
  patches too: hard negatives, labelled like an unmatched detection.
- Unknown labels are NaN: a MIAS mass (no BI-RADS) trains the binary head only, a
  mass without pathology the regression head only.

Patches are cut once (decoding full mammograms costs far more than training on
96-pixel patches) and can be kept in an ``.npz`` cache keyed by everything that
decides their content, so a loss-weighting sweep decodes the images once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest, Record
from mommi.data.records import load_record_image
from mommi.eval.froc import box_iou
from mommi.findings.birads import birads_value
from mommi.preprocess.patches import PatchSpec, cut_patches

#: IoU from which a detected patch takes the labels of the gold mass it overlaps (paper)
LABEL_IOU = 0.5
NORMAL_TISSUE_BIRADS = "1"


@dataclass
class PatchSamples:
    """Column arrays of one split's patches (what the cache stores)."""

    patches: np.ndarray  # (N, S, S) float16, normalised
    malignant: np.ndarray  # (N,) float32: 1, 0 or NaN (unknown)
    birads: np.ndarray  # (N,) float32 normalised value or NaN
    detected: np.ndarray  # (N,) bool: from the detector (False: gold)
    matched: np.ndarray  # (N,) bool: detected and overlapping a gold mass (IoU >= 0.5)
    image_ids: np.ndarray  # (N,) str
    patient_ids: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return len(self.malignant)

    def subset(self, keep: np.ndarray) -> PatchSamples:
        return PatchSamples(*(getattr(self, name)[keep] for name in self.__dataclass_fields__))


def read_detections(paths: Sequence[Path]) -> dict[str, list[list[float]]]:
    """image id -> [x0, y0, x1, y1, score] boxes in original pixels, merged over `mommi predict` files."""
    merged: dict[str, list[list[float]]] = {}
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            merged.update({image_id: entry["boxes"] for image_id, entry in data["images"].items()})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a `mommi predict` detections file ({error})") from error
    return merged


def mass_labels(finding: Any) -> tuple[float, float]:
    """(malignant 1/0/NaN, normalised BI-RADS or NaN) of an annotated mass."""
    malignant = {"malignant": 1.0, "benign": 0.0}.get(finding.pathology or "", np.nan)
    value = birads_value(finding.birads)
    return malignant, np.nan if value is None else value


def label_detections(record: Record, boxes: Sequence[Sequence[float]]) -> list[tuple[float, float, bool]]:
    """(malignant, BI-RADS value, matched) of each detected box against the record's gold masses."""
    masses = [f for f in record.findings if f.kind == "mass"]
    normal = birads_value(NORMAL_TISSUE_BIRADS)
    labels = []
    for box in boxes:
        overlaps = [box_iou(box[:4], m.box) for m in masses]
        best = int(np.argmax(overlaps)) if overlaps else -1
        if best >= 0 and overlaps[best] >= LABEL_IOU:
            labels.append((*mass_labels(masses[best]), True))
        else:
            labels.append((0.0, float(normal), False))  # type: ignore[arg-type]  # normal: BI-RADS 1's fixed value
    return labels


def select_detections(boxes: Sequence[Sequence[float]], min_score: float, per_image: int) -> list[list[float]]:
    chosen = sorted((list(b) for b in boxes if b[4] >= min_score), key=lambda b: -b[4])
    return chosen[:per_image]


def build_patch_samples(
    manifests: list[Manifest],
    split: str,
    detections: dict[str, list[list[float]]],
    spec: PatchSpec,
    with_gold: bool,
    min_score: float = 0.05,
    per_image: int = 4,
    progress: Callable[[int, int], None] | None = None,
    limit: int | None = None,
) -> PatchSamples:
    """The patches of one split (``limit``: the first N images, for smoke tests; ``progress(done, total)``)."""
    columns: dict[str, list[Any]] = {k: [] for k in PatchSamples.__dataclass_fields__}
    records = [(m, r) for m in manifests for r in m.records if r.split == split][:limit]
    for done, (manifest, record) in enumerate(records):
        if progress is not None:
            progress(done, len(records))
        found = select_detections(detections.get(record.image_id, []), min_score, per_image)
        gold = [f for f in record.findings if f.kind == "mass"] if with_gold else []
        # detections a reader rejected (feedback batches): hard negatives, not malignant, normal tissue
        rejected = [f for f in record.findings if f.kind == "rejected"] if with_gold else []
        if not found and not gold and not rejected:
            continue
        pixels = load_record_image(manifest, record).loaded_pixels()
        rows = [(f.box, *mass_labels(f), False, False) for f in gold]
        normal_value = birads_value(NORMAL_TISSUE_BIRADS)
        assert normal_value is not None  # a fixed category with a value (BI-RADS 1)
        rows += [(f.box, 0.0, float(normal_value), True, False) for f in rejected]
        rows += [(b[:4], m, v, True, hit) for b, (m, v, hit) in zip(found, label_detections(record, found))]
        rows = [r for r in rows if not (np.isnan(r[1]) and np.isnan(r[2]))]
        if not rows:
            continue
        columns["patches"].append(cut_patches(pixels, [r[0] for r in rows], spec)[:, 0].astype(np.float16))
        for _, malignant, value, detected, matched in rows:
            columns["malignant"].append(malignant)
            columns["birads"].append(value)
            columns["detected"].append(detected)
            columns["matched"].append(matched)
            columns["image_ids"].append(record.image_id)
            columns["patient_ids"].append(record.patient_id)
    patches = (
        np.concatenate(columns.pop("patches"))
        if columns["malignant"]
        else np.zeros((0, spec.size, spec.size), np.float16)
    )
    return PatchSamples(
        patches,
        np.array(columns["malignant"], np.float32),
        np.array(columns["birads"], np.float32),
        np.array(columns["detected"], bool),
        np.array(columns["matched"], bool),
        np.array(columns["image_ids"], str),
        np.array(columns["patient_ids"], str),
    )


def cache_key(
    manifest_paths: Sequence[Path], detection_paths: Sequence[Path], split: str, spec: PatchSpec, **options: Any
) -> str:
    """Digest of everything that decides a split's patches (file contents, not just names)."""
    digest = hashlib.sha256()
    for path in [*manifest_paths, *detection_paths]:
        digest.update(Path(path).read_bytes())
    digest.update(json.dumps([split, spec.to_dict(), options], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def save_samples(path: Path, samples: PatchSamples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part.npz")
    np.savez(temporary, **{k: getattr(samples, k) for k in PatchSamples.__dataclass_fields__})
    temporary.replace(path)


def load_samples(path: Path) -> PatchSamples:
    with np.load(path) as data:
        return PatchSamples(**{k: data[k] for k in PatchSamples.__dataclass_fields__})
