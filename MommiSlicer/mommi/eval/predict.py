"""Run zoo models (ONNX Runtime, no torch) over a manifest split -> a predictions file.

This is how the model cards' numbers are produced: the shipped ONNX files, the
runtime's own pre-processing, and ``mommi eval`` on the result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest, Record
from mommi.data.records import contralateral_index, load_record_image
from mommi.eval.report import PREDICTIONS_SCHEMA
from mommi.findings.nipple import nipple_from_heatmap
from mommi.findings.regions import regions_from_probability
from mommi.preprocess.model_input import InputSpec, PreparedView, prepare
from mommi.preprocess.registration import register_bilateral
from mommi.runtime.sessions import ZooModel, load_model
from mommi.runtime.zoo import ZooError

NIPPLE_MODEL = "nipple-lite"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def spec_of(model: ZooModel) -> InputSpec:
    shape = model.entry["inputs"][0]["shape"]
    norm = model.entry["normalisation"]
    return InputSpec(int(shape[2]), int(shape[3]), float(norm["mean"]), float(norm["std"]))


def predict_nipples(model: ZooModel, views: list[PreparedView]) -> list[tuple[float, float]]:
    """Nipple (x, y) on each view's model grid."""
    spec = spec_of(model)
    points = []
    for start in range(0, len(views), 16):
        batch = np.stack([spec.normalise(v.pixels)[None] for v in views[start : start + 16]])
        heatmaps = _sigmoid(model.run(image=batch))[:, 0]
        points.extend(nipple_from_heatmap(h)[:2] for h in heatmaps)
    return points


def _boxes(prob: np.ndarray, view: PreparedView) -> list[list[float]]:
    return [[*(round(float(v), 2) for v in view.transform.box_to_original(r.box)), round(r.score, 5)]
            for r in regions_from_probability(prob)]


def predict_manifest(
    task: str,
    manifest: Manifest,
    split: str | None,
    zoo: Path | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    name = f"{task}-lite"
    model = load_model(name, zoo, device)
    spec = spec_of(model)
    nipple_model = model if task == "nipple" else None
    if task == "bidual":
        try:
            nipple_model = load_model(NIPPLE_MODEL, zoo, device)
        except ZooError:
            nipple_model = None  # registration then uses the breast contours only
    pairs = contralateral_index(manifest.records)
    chosen: list[tuple[Record, Record | None]] = [
        (r, manifest.records[pairs[i]] if i in pairs else None)
        for i, r in enumerate(manifest.records) if split is None or r.split == split
    ]
    images: dict[str, Any] = {}
    skipped = 0
    for done, (record, other) in enumerate(chosen, start=1):
        view = prepare(load_record_image(manifest, record), spec)
        if task == "nipple":
            x, y = predict_nipples(model, [view])[0]
            ox, oy = view.transform.to_original(np.array([[x, y]]))[0]
            images[record.image_id] = {"boxes": [], "nipple": [round(float(ox), 2), round(float(oy), 2)]}
        elif task == "single":
            prob = _sigmoid(model.run(image=spec.normalise(view.pixels)[None, None]))[0, 0]
            images[record.image_id] = {"boxes": _boxes(prob, view)}
        else:
            if other is None:
                skipped += 1
                continue
            aux = prepare(load_record_image(manifest, other), spec)
            nipples = predict_nipples(nipple_model, [view, aux]) if nipple_model and record.view == "MLO" else [None, None]
            reg = register_bilateral(view.pixels, aux.pixels, view.mask, aux.mask, nipples[0], nipples[1])
            logits = model.run(main=spec.normalise(view.pixels)[None, None], aux=spec.normalise(reg.warped)[None, None])
            images[record.image_id] = {"boxes": _boxes(_sigmoid(logits)[0, 0], view)}
        if progress is not None:
            progress(done, len(chosen))
    return {
        "schema": PREDICTIONS_SCHEMA, "version": 1, "model": name, "model_sha256": model.entry["sha256"],
        "provider": model.provider, "split": split, "manifest_source": manifest.source,
        "images_without_contralateral": skipped, "images": images,
    }
