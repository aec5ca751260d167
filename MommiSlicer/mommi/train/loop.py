"""`mommi train nipple|bidual|single`: seeded, resumable training with early stopping.

- Seeded (python, numpy, torch) and deterministic data order per epoch.
- Resumable: ``checkpoint.pt`` after every epoch (model, optimiser, epoch, best
  metric, patience counter); running the same command again continues from it.
- Logs: a tqdm bar per epoch and ``log.csv`` (epoch, loss, validation metric, seconds).
- Early stopping on the validation metric: mean recall at 0.5/1/2 FPPI (FROC, the
  evaluation protocol without bootstrap) for the mass networks, minus the median
  nipple error in mm for the nipple detector. ``best.pt`` holds the best epoch.
- Multi-GPU (or multi-process CPU) through ``torchrun``: DistributedDataParallel on
  NCCL when CUDA is there, gloo otherwise; rank 0 validates and writes.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mommi.data.manifest import Manifest
from mommi.eval.froc import FPPI_POINTS, ImageResult, evaluate_froc
from mommi.findings.nipple import nipple_from_heatmap
from mommi.findings.regions import regions_from_probability
from mommi.preprocess.model_input import InputSpec
from mommi.train.datasets import CachedView, ViewDataset, build_cache, collect
from mommi.train.losses import heatmap_loss, pixel_focal_loss
from mommi.train.models.bidual import BiDualNet, SingleViewNet
from mommi.train.models.nipple import NippleNet

TASKS = ("nipple", "bidual", "single")
INPUT_SPECS = {"lite": InputSpec(256, 160), "full": InputSpec(1024, 640)}


@dataclass
class TrainConfig:
    task: str
    config: str = "lite"
    epochs: int = 12
    batch_size: int = 8
    lr: float = 2e-3
    seed: int = 0
    patience: int = 4
    fuse_stage: int = 3
    max_train: int | None = None  # subset for smoke tests
    max_val: int | None = None


def build_model(task: str, config: str, fuse_stage: int = 3) -> torch.nn.Module:
    if task == "nipple":
        return NippleNet(config)
    if task == "bidual":
        return BiDualNet(config, fuse_stage)
    if task == "single":
        return SingleViewNet(config)
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _forward(model: torch.nn.Module, task: str, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    if task == "bidual":
        main, aux, target = batch
        return model(main, aux), target
    main, target = batch
    return model(main), target


@torch.no_grad()
def predict_maps(model: torch.nn.Module, task: str, cache: list[CachedView], spec: InputSpec,
                 batch_size: int = 16, device: str = "cpu") -> list[np.ndarray]:
    """Sigmoid outputs (probability map or heatmap) for every cached view, in order."""
    model.eval()
    dataset = ViewDataset(cache, task, spec, augment=False)
    outputs: list[np.ndarray] = []
    for batch in DataLoader(dataset, batch_size=batch_size):
        logits, _ = _forward(model, task, tuple(t.to(device) for t in batch))
        outputs.extend(torch.sigmoid(logits)[:, 0].cpu().numpy())
    return outputs


def detection_results(cache: list[CachedView], maps: list[np.ndarray]) -> list[ImageResult]:
    """FROC inputs in ORIGINAL pixels: predicted regions mapped back through each transform."""
    results = []
    for item, prob in zip(cache, maps):
        predictions = [(list(item.transform.box_to_original(r.box)), r.score)
                       for r in regions_from_probability(prob)]
        truth = [f.box for f in item.record.findings if f.kind == "mass"]
        results.append(ImageResult(item.record.image_id, item.record.patient_id, truth, predictions))
    return results


def nipple_errors_mm(cache: list[CachedView], heatmaps: list[np.ndarray]) -> np.ndarray:
    errors = []
    for item, heatmap in zip(cache, heatmaps):
        x, y, _ = nipple_from_heatmap(heatmap)
        ox, oy = item.transform.to_original(np.array([[x, y]]))[0]
        tx, ty = item.record.nipple  # type: ignore[misc]
        sy, sx = item.record.spacing_mm or (1.0, 1.0)
        errors.append(float(np.hypot((ox - tx) * sx, (oy - ty) * sy)))
    return np.array(errors)


def validation_metric(task: str, cache: list[CachedView], maps: list[np.ndarray]) -> float:
    if task == "nipple":
        return -float(np.median(nipple_errors_mm(cache, maps)))
    report = evaluate_froc(detection_results(cache, maps), bootstrap=0)
    return float(np.mean([report.recall[f] for f in FPPI_POINTS]))


def train(cfg: TrainConfig, manifest_paths: list[Path], out: Path, progress: bool = True) -> dict[str, float]:
    """Train one network; returns the best validation metric and the epochs run."""
    rank, world = _distributed()
    _seed_everything(cfg.seed)
    device = f"cuda:{rank % max(torch.cuda.device_count(), 1)}" if torch.cuda.is_available() else "cpu"
    spec = INPUT_SPECS[cfg.config]
    manifests = [Manifest.read(p) for p in manifest_paths]
    need_pair = cfg.task in ("bidual", "single")  # both mass networks see the same images
    train_items = collect(manifests, "train", need_pair, cfg.task == "nipple")[: cfg.max_train]
    val_items = collect(manifests, "val", need_pair, cfg.task == "nipple")[: cfg.max_val]
    if not train_items or not val_items:
        raise ValueError(f"no training or validation images for task {cfg.task!r} in {manifest_paths}")
    with_aux = cfg.task == "bidual"
    train_cache = build_cache(train_items, spec, with_aux, progress and rank == 0)
    val_cache = build_cache(val_items, spec, with_aux, progress and rank == 0) if rank == 0 else []

    model = build_model(cfg.task, cfg.config, cfg.fuse_stage).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    out.mkdir(parents=True, exist_ok=True)
    state = {"epoch": 0, "best": -float("inf"), "stale": 0}
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        state = saved["state"]
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=cfg.epochs, last_epoch=state["epoch"] - 1) \
        if state["epoch"] else torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=cfg.epochs)
    net = DistributedDataParallel(model) if world > 1 else model
    dataset = ViewDataset(train_cache, cfg.task, spec, augment=True, seed=cfg.seed + rank)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed) \
        if world > 1 else None
    loss_fn = heatmap_loss if cfg.task == "nipple" else pixel_focal_loss
    (out / "config.json").write_text(json.dumps(asdict(cfg) | {"manifests": [str(p) for p in manifest_paths],
                                                                "world_size": world}, indent=1))

    while state["epoch"] < cfg.epochs and state["stale"] < cfg.patience:
        epoch = state["epoch"]
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                            generator=generator, drop_last=len(dataset) > cfg.batch_size)
        net.train()
        start, total, batches = time.time(), 0.0, 0
        for batch in tqdm(loader, desc=f"{cfg.task} epoch {epoch + 1}/{cfg.epochs}", disable=not progress or rank != 0,
                          leave=False):
            logits, target = _forward(net, cfg.task, tuple(t.to(device) for t in batch))
            loss = loss_fn(logits, target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        scheduler.step()
        state["epoch"] = epoch + 1
        if rank == 0:
            metric = validation_metric(cfg.task, val_cache, predict_maps(model, cfg.task, val_cache, spec, device=device))
            improved = metric > state["best"]
            state["best"] = max(state["best"], metric)
            state["stale"] = 0 if improved else state["stale"] + 1
            if improved:
                torch.save({"model": model.state_dict(), "config": asdict(cfg), "metric": metric, "epoch": epoch + 1,
                            "manifests": [str(p) for p in manifest_paths]}, out / "best.pt")
            torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "state": state},
                       checkpoint)
            _log(out / "log.csv", epoch + 1, total / max(batches, 1), metric, time.time() - start)
        if world > 1:
            shared = torch.tensor([state["stale"]], dtype=torch.int64)
            dist.broadcast(shared, src=0)
            state["stale"] = int(shared.item())
    if world > 1:
        dist.barrier()
    return {"best_metric": state["best"], "epochs": state["epoch"]}


def _log(path: Path, epoch: int, loss: float, metric: float, seconds: float) -> None:
    new = not path.exists()
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["epoch", "train_loss", "val_metric", "seconds"])
        writer.writerow([epoch, f"{loss:.5f}", f"{metric:.5f}", f"{seconds:.1f}"])
