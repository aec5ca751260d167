"""Cross-validation by woman on real films: the numbers that choose the zoo (issue: real films decide).

A real-film set is small (mini-MIAS here: 108 women, 39 masses), so one held-out split
says little and choosing checkpoints on it overfits it. Instead every woman is held out
exactly once:

1. women are dealt into K folds with a seeded hash, stratified by whether they have a
   mass, so every fold holds about the same number of masses; both breasts of a woman
   always stay in one fold;
2. for each fold a network is trained on the other folds' films (plus any further
   manifests, e.g. phantom studies, whose training split is mixed in) with a fixed
   number of epochs and the last epoch kept (``keep="last"``): no checkpoint is chosen
   on the films that are scored;
3. the held-out fold's films are read by that fold's network, and the candidates of all
   folds are pooled into one ``mommi-predictions`` file (in original pixels);
4. ``mommi eval`` statistics run on the pooled file: FROC to maximum recall with patient
   bootstrap CIs, and the operating point for a target of false marks per image.

The recipe (initial weights, epochs, learning rate, augmentation) is the same for
every fold and for the final model trained on all films, so the CV numbers describe
the shipped model's recipe.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mommi.data.manifest import Manifest
from mommi.eval.operating_point import OperatingPointError, choose_operating_point
from mommi.eval.report import PREDICTIONS_SCHEMA, evaluate
from mommi.findings.regions import regions_from_probability
from mommi.train.loop import TrainConfig, build_model, train

CV_TASKS = ("single", "bidual")
HELD_OUT = "test"  # the held-out fold's split name in a fold manifest


def assign_folds(manifest: Manifest, folds: int, seed: int = 0) -> dict[str, int]:
    """Fold (0..folds-1) of every patient: seeded hash order, women with and without masses dealt
    round-robin separately so the masses spread evenly over the folds."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    with_mass = {r.patient_id for r in manifest.records if any(f.kind == "mass" for f in r.findings)}
    patients = sorted({r.patient_id for r in manifest.records})
    if len(patients) < folds:
        raise ValueError(f"{len(patients)} patients cannot fill {folds} folds")
    order = sorted(patients, key=lambda p: hashlib.sha256(f"cv{seed}:{p}".encode()).hexdigest())
    fold_of: dict[str, int] = {}
    for group in ([p for p in order if p in with_mass], [p for p in order if p not in with_mass]):
        offset = len(fold_of)  # continue the deal where the first group stopped: equal fold sizes
        for i, patient in enumerate(group):
            fold_of[patient] = (offset + i) % folds
    return fold_of


def fold_manifest(manifest: Manifest, fold_of: dict[str, int], fold: int) -> Manifest:
    """A copy whose records are 'train' outside ``fold`` and HELD_OUT inside it."""
    copied = copy.deepcopy(manifest)
    for record in copied.records:
        record.split = HELD_OUT if fold_of[record.patient_id] == fold else "train"
    return copied


def _mixed_in(path: Path, out: Path) -> Path:
    """A further manifest with only its training split kept (its validation and test images must not
    be read as this fold's held-out films)."""
    manifest = Manifest.read(path)
    manifest.records = [r for r in manifest.records if r.split == "train"]
    return manifest.write(out / f"mixed-{path.stem}.json")


@torch.no_grad()
def _predict_held_out(cfg: TrainConfig, checkpoint: Path, manifest_path: Path) -> dict[str, Any]:
    """Candidates (original pixels) of the held-out films, read by the fold's kept network."""
    from mommi.train.tasks import SegmentationTask
    from mommi.train.loop import INPUT_SPECS

    task = SegmentationTask(cfg.task, INPUT_SPECS[cfg.config], "cpu")
    model = build_model(cfg.task, cfg.config, cfg.fuse_stage)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    items = task.items([Manifest.read(manifest_path)], HELD_OUT, progress=False, limit=None)
    images: dict[str, Any] = {}
    for item, prob in zip(items, task.predict_maps(model, items)):
        boxes = [
            [*(round(float(v), 2) for v in item.transform.box_to_original(r.box)), round(float(r.score), 5)]
            for r in regions_from_probability(prob)
        ]
        images[item.record.image_id] = {"boxes": boxes}
    return images


def cross_validate(
    cfg: TrainConfig,
    manifest_path: Path,
    out: Path,
    folds: int = 5,
    cv_seed: int = 0,
    mix: list[Path] | None = None,
    max_fppi: float = 0.5,
    bootstrap: int = 1000,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and score every fold (resumable: finished folds are kept), then pool and evaluate.

    Writes ``out/predictions.json`` (pooled held-out candidates), ``out/report.json`` (FROC over
    every film, each read by the network that never saw its woman) and ``out/cv.json`` (folds,
    recipe, operating point, times). Returns the cv.json content.
    """
    if cfg.task not in CV_TASKS:
        raise ValueError(f"cross-validation runs the mass-map networks {', '.join(CV_TASKS)}, not {cfg.task!r}")
    cfg = replace(cfg, keep="last")
    manifest = Manifest.read(manifest_path)
    fold_of = assign_folds(manifest, folds, cv_seed)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, Any] = {}
    fold_rows = []
    for fold in range(folds):
        fold_dir = out / f"fold-{fold}"
        fold_dir.mkdir(exist_ok=True)
        scored = fold_dir / "held_out.json"
        if not scored.is_file():
            start = time.time()
            fold_path = fold_manifest(manifest, fold_of, fold).write(fold_dir / "manifest.json")
            extra = [_mixed_in(p, fold_dir) for p in mix or []]
            train(cfg, [fold_path, *extra], fold_dir, progress=progress)
            held = _predict_held_out(cfg, fold_dir / "best.pt", fold_path)
            scored.write_text(json.dumps({"images": held, "seconds": round(time.time() - start, 1)}))
        held_out = json.loads(scored.read_text())
        images.update(held_out["images"])
        patients = sorted(p for p, f in fold_of.items() if f == fold)
        masses = sum(
            1 for r in manifest.records if fold_of[r.patient_id] == fold for f in r.findings if f.kind == "mass"
        )
        fold_rows.append({"fold": fold, "patients": len(patients), "masses": masses, "seconds": held_out["seconds"]})
    predictions = {
        "schema": PREDICTIONS_SCHEMA,
        "version": 1,
        "model": f"{cfg.task}-{cfg.config} ({folds}-fold CV)",
        "split": None,
        "manifest_source": manifest.source,
        "images": images,
    }
    (out / "predictions.json").write_text(json.dumps(predictions))
    report = evaluate(manifest, predictions, None, bootstrap, 0)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    everyone = replace_splits(manifest, "cv")
    try:
        operating_point = choose_operating_point(everyone, predictions, ["cv"], max_fppi, bootstrap=bootstrap)
    except OperatingPointError as exc:
        operating_point = {"error": str(exc)}
    summary = {
        "task": cfg.task,
        "folds": folds,
        "cv_seed": cv_seed,
        "manifest": str(manifest_path),
        "manifest_source": manifest.source,
        "mixed_in": [str(p) for p in mix or []],
        "recipe": asdict(cfg),
        "fold_rows": fold_rows,
        "froc": {k: report["froc"][k] for k in ("images", "patients", "masses", "recall_at_fppi")},
        "max_recall": max_recall(report),
        "operating_point": operating_point,
    }
    (out / "cv.json").write_text(json.dumps(summary, indent=1))
    return summary


def replace_splits(manifest: Manifest, split: str) -> Manifest:
    """A copy with every record in one split (the pooled CV predictions cover every film)."""
    copied = copy.deepcopy(manifest)
    for record in copied.records:
        record.split = split
    return copied


def max_recall(report: dict[str, Any]) -> dict[str, float]:
    """Where the FROC curve ends: the best-case recall over every candidate, and its false marks per image."""
    curve = report["froc"]["curve"]
    if not curve["recall"]:
        return {"recall": 0.0, "fppi": 0.0}
    best = int(np.argmax(curve["recall"]))
    return {"recall": float(curve["recall"][best]), "fppi": float(curve["fppi"][best])}
