"""Seeded patient-level train / validation / test split (8:1:1 by default).

Splitting by patient, never by image, keeps the left and right breast (and both
views) of one patient on the same side of the split, so no model is evaluated on
the other breast of a patient it was trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from mommi.data.manifest import Manifest

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_patients(
    patient_ids: Iterable[str], seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> dict[str, str]:
    """Map each patient to 'train', 'val' or 'test'.

    Patients are ordered by a seeded hash of their id (stable whatever the input
    order or the other patients), then cut at the cumulative fractions, so the
    counts are as close to the fractions as whole patients allow.
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions {fractions} must be non-negative and sum to 1")
    unique = sorted(set(patient_ids))
    ordered = sorted(unique, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    n = len(ordered)
    n_train = round(n * fractions[0])
    n_val = round(n * (fractions[0] + fractions[1])) - n_train
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    return dict(zip(ordered, names))


def assign_splits(
    manifest: Manifest, seed: int = 0, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> Manifest:
    """Set every record's split from its patient; records the seed in the manifest."""
    splits = split_patients((r.patient_id for r in manifest.records), seed, fractions)
    for record in manifest.records:
        record.split = splits[record.patient_id]
    manifest.split_seed = seed
    return manifest
