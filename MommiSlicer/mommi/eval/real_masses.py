"""Does the malignancy classifier tell benign from malignant REAL masses? (recorded in the zoo)

A probability of malignancy is only worth showing when the classifier separates
biopsy-proven benign from malignant masses on real films. This module measures
that on the annotated masses (gold boxes, as a reader would draw them) of the
given splits, which must be women the classifier was not trained on: ROC AUC with
a 95% patient-bootstrap CI (``mommi.eval.malignancy``). The classifier counts as
separating them only when the whole CI lies above 0.5; otherwise the product
withholds the probability and the BI-RADS estimate and says why
(``mommi.runtime.malignancy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest
from mommi.data.patches import mass_labels
from mommi.data.records import load_record_image
from mommi.eval.malignancy import AucError, evaluate_auc
from mommi.preprocess.patches import cut_patches
from mommi.runtime.malignancy import MalignancyClassifier


def real_mass_separation(
    manifest: Manifest, splits: Sequence[str], classifier: MalignancyClassifier, bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """AUC of the classifier on the biopsy-labelled masses of ``splits``, as a JSON-ready record."""
    logits: list[float] = []
    labels: list[float] = []
    patients: list[str] = []
    for entry in manifest.records:
        masses = [f for f in entry.findings if f.kind == "mass" and not np.isnan(mass_labels(f)[0])]
        if entry.split not in splits or not masses:
            continue
        image = load_record_image(manifest, entry)
        patches = cut_patches(image.loaded_pixels(), [f.box for f in masses], classifier.spec)
        logits.extend(float(z) for z in classifier.raw(patches)[0])
        labels.extend(mass_labels(f)[0] for f in masses)
        patients.extend(entry.patient_id for _ in masses)
    record: dict[str, Any] = {
        "masses": len(labels),
        "malignant": int(sum(labels)),
        "patients": len(set(patients)),
        "splits": list(splits),
        "manifest_source": manifest.source,
        "model": classifier.model.name,
        "protocol": "ROC AUC of the classifier's logit on gold mass boxes (biopsy: benign 0, malignant 1); 95% CI: "
        "patient bootstrap; separates = the whole CI above 0.5",
    }
    try:
        auc: dict[str, Any] = evaluate_auc(np.array(logits), np.array(labels), patients, bootstrap, seed)
    except AucError as exc:
        return record | {"auc": None, "ci95": None, "separates": False, "reason": str(exc)}
    low = auc["ci95"][0]
    return record | {
        "auc": round(float(auc["auc"]), 4),
        "ci95": [round(float(v), 4) for v in auc["ci95"]],
        "separates": bool(np.isfinite(low) and low > 0.5),
    }
