"""Run zoo models (ONNX Runtime, no torch) over a manifest split -> a predictions file.

This is how the model cards' numbers are produced: the shipped ONNX files, read
through the same ``DetectionChain`` the product uses (pre-processing, predicted
nipples, registration, fall-backs), and ``mommi eval`` on the result. Tasks:
``nipple``; ``single``; ``bidual`` and ``ipsidual`` (each branch alone, on views
that have the partner it needs); ``fusion``: the whole tri-view chain, with the
chain's fall-backs where a partner view is missing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mommi.data.manifest import Manifest, Record
from mommi.data.records import load_record_image
from mommi.runtime.detection_chain import Branch, DetectionChain, ViewDetections, map_regions
from mommi.eval.report import PREDICTIONS_SCHEMA
from mommi.study.model import View

PREDICT_TASKS = ("nipple", "single", "bidual", "ipsidual", "fusion")


def _studies(manifest: Manifest, split: str | None) -> list[dict[View, Record]]:
    """The split's CC / MLO records grouped by study, keyed by view."""
    grouped: dict[str, dict[View, Record]] = defaultdict(dict)
    for record in manifest.records:
        if (split is None or record.split == split) and record.view in ("CC", "MLO"):
            grouped[record.study_id][View(f"{record.laterality}-{record.view}")] = record
    return list(grouped.values())


def _rounded(boxes: list[tuple[tuple[float, ...], float]]) -> list[list[float]]:
    return [[*(round(float(v), 2) for v in box), round(float(score), 5)] for box, score in boxes]


def _view_prediction(task: str, result: ViewDetections) -> dict[str, Any] | None:
    """The predictions entry of one view, or None where the task's branch could not run."""
    if task == "bidual":
        if result.bi_map is None:
            return None
        result.regions = map_regions(result.bi_map)
    elif task == "ipsidual" and result.ipsi_map is None:
        return None
    entry: dict[str, Any] = {"boxes": _rounded(result.boxes_in_original())}
    if task == "fusion":
        entry["branch"] = result.branch.value
    return entry


def predict_manifest(
    task: str,
    manifest: Manifest,
    split: str | None,
    zoo: Path | None = None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    if task not in PREDICT_TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(PREDICT_TASKS)}")
    chain = DetectionChain(zoo, device)
    studies = _studies(manifest, split)
    total = sum(len(s) for s in studies)
    images: dict[str, Any] = {}
    skipped = done = 0
    for records in studies:
        loaded = {view: load_record_image(manifest, record) for view, record in records.items()}
        if task in ("nipple", "single"):
            prepared = chain.prepare_views(loaded)
            if task == "nipple":
                for view, (x, y) in chain.nipples(prepared).items():
                    ox, oy = prepared[view].transform.to_original(np.array([[x, y]]))[0]
                    images[records[view].image_id] = {"boxes": [], "nipple": [round(float(ox), 2), round(float(oy), 2)]}
            else:
                for view, prob in chain.single_maps(prepared, list(prepared)).items():
                    result = ViewDetections(view, prepared[view], Branch.SINGLE_VIEW, regions=map_regions(prob))
                    images[records[view].image_id] = {"boxes": _rounded(result.boxes_in_original())}
        else:
            results = chain.run(loaded) if task == "fusion" else chain.branches(loaded, which=(task,))
            for view, result in results.items():
                entry = _view_prediction(task, result)
                if entry is None:
                    skipped += 1
                else:
                    images[records[view].image_id] = entry
        done += len(records)
        if progress is not None:
            progress(done, total)
    main = chain.model(task)
    return {
        "schema": PREDICTIONS_SCHEMA,
        "version": 1,
        "model": main.name,
        "model_sha256": main.entry["sha256"],
        "models": {m.name: m.entry["sha256"] for m in chain.loaded_models()},
        "provider": main.provider,
        "split": split,
        "manifest_source": manifest.source,
        "images_without_partner": skipped,
        "images": images,
    }
