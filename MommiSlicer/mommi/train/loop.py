"""`mommi train TASK`: seeded, resumable training with early stopping, the same for every network.

- Seeded (python, numpy, torch) and deterministic data order per epoch.
- Resumable: ``checkpoint.pt`` after every epoch (model, optimiser, epoch, best
  metric, patience counter); running the same command again continues from it.
- Logs: a tqdm bar per epoch and ``log.csv`` (epoch, loss, validation metric, seconds).
- Early stopping on the task's validation metric (``mommi.train.tasks``); ``best.pt``
  holds the best epoch. With ``keep="last"`` there is no selection: every epoch runs and
  ``best.pt`` is the last one, so a run needs no validation split (cross-validation
  folds and a final model trained on every real film are chosen this way).
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
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from mommi.data.manifest import Manifest
from mommi.preprocess.model_input import InputSpec
from mommi.train.models.bidual import BiDualNet, SingleViewNet
from mommi.train.models.nipple import NippleNet
from mommi.train.tasks import FusionTask, IpsiDualTask, MalignancyTask, SegmentationTask

KEEP_CHOICES = ("best", "last")
TASKS = ("nipple", "bidual", "single", "ipsidual", "fusion", "malignancy")
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
    geometry: str = "nipple"  # IpsiDualNet relation geometry
    encoder: str | None = None  # fusion: the IpsiDualNet checkpoint whose trunk is the encoder
    zoo: str | None = None  # fusion: the zoo manifest whose BiDualNet / IpsiDualNet make the maps
    init_from: str | None = None  # start from another run's weights (those whose names and shapes match)
    detections: list[str] | None = None  # malignancy: `mommi predict` files whose boxes give detected patches
    loss_weighting: str = "learned"  # malignancy: learned | fixed | binary (mommi.train.losses)
    classification_weight: float = 0.7  # malignancy, fixed weighting: share of the binary loss
    cache: str | None = None  # malignancy: folder for the cut patches (reused by runs on the same inputs)
    keep: str = "best"  # best: the epoch with the best validation metric (early stopping); last: the last epoch
    device: str = "auto"  # auto: CUDA when PyTorch sees a GPU; cuda: required; cpu
    amp: bool = True  # mixed precision on CUDA (bfloat16 where the GPU has it, else float16 with loss scaling)


def build_model(task: str, config: str, fuse_stage: int = 3, geometry: str = "nipple") -> torch.nn.Module:
    if task == "nipple":
        return NippleNet(config)
    if task == "bidual":
        return BiDualNet(config, fuse_stage)
    if task == "single":
        return SingleViewNet(config)
    if task == "ipsidual":
        from mommi.train.models.ipsidual import IpsiDualNet

        return IpsiDualNet(config, geometry)
    if task == "fusion":
        from mommi.train.models.fusion import FusionNet

        return FusionNet(config)
    if task == "malignancy":
        from mommi.train.models.classifier import MalignancyNet

        return MalignancyNet(config)
    raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")


def build_task(cfg: TrainConfig, device: str, manifest_paths: list[Path]) -> Any:
    spec = INPUT_SPECS[cfg.config]
    if cfg.task == "malignancy":
        return MalignancyTask(
            cfg.config,
            device,
            manifest_paths,
            [Path(p) for p in cfg.detections or []],
            cfg.loss_weighting,
            cfg.classification_weight,
            Path(cfg.cache) if cfg.cache else None,
        )
    if cfg.task == "ipsidual":
        return IpsiDualTask(spec, device)
    if cfg.task == "fusion":
        return FusionTask(spec, device, Path(cfg.zoo) if cfg.zoo else None, Path(cfg.encoder) if cfg.encoder else None)
    return SegmentationTask(cfg.task, spec, device)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _initialise_from(model: torch.nn.Module, checkpoint: Path) -> list[str]:
    """Copy the weights of ``checkpoint`` whose names and shapes match (e.g. a single-view run into
    BiDualNet, whose zero-initialised fusion then starts as that single-view network); returns the
    names left at their initial values."""
    if not checkpoint.is_file():
        raise ValueError(f"{checkpoint}: --init-from checkpoint not found")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    own = model.state_dict()
    matching = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    if not matching:
        raise ValueError(f"{checkpoint}: no weights match this network")
    model.load_state_dict(matching, strict=False)
    return sorted(set(own) - set(matching))


DEVICES = ("auto", "cuda", "cpu")


def _device(requested: str, rank: int) -> str:
    """The torch device of this process: ``cuda`` without a GPU is an error, not a silent CPU run."""
    if requested not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda: PyTorch sees no CUDA GPU here (torch.cuda.is_available() is False: no "
            "NVIDIA driver, or a CPU-only PyTorch build); use --device cpu or auto"
        )
    if requested == "cpu" or not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{rank % torch.cuda.device_count()}"


def _amp_dtype(device: str) -> torch.dtype | None:
    """Mixed precision only on CUDA: bfloat16 needs no loss scaling (Ampere and newer); float16 does."""
    if not device.startswith("cuda"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def train(cfg: TrainConfig, manifest_paths: list[Path], out: Path, progress: bool = True) -> dict[str, float]:
    """Train one network; returns the best validation metric and the epochs run."""
    rank, world = _distributed()
    _seed_everything(cfg.seed)
    device = _device(cfg.device, rank)
    amp_dtype = _amp_dtype(device) if cfg.amp else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    task = build_task(cfg, device, manifest_paths)
    model = build_model(cfg.task, cfg.config, cfg.fuse_stage, cfg.geometry)
    if hasattr(task, "prepare_model"):
        task.prepare_model(model)  # before any data work: a wrong --encoder fails fast
    if cfg.init_from:
        _initialise_from(model, Path(cfg.init_from))
    manifests = [Manifest.read(p) for p in manifest_paths]
    train_items = task.items(manifests, "train", progress and rank == 0, cfg.max_train)
    if cfg.keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {', '.join(KEEP_CHOICES)}, not {cfg.keep!r}")
    keep_last = cfg.keep == "last"
    val_items = task.items(manifests, "val", progress and rank == 0, cfg.max_val) if rank == 0 else [None]
    if not train_items or not (val_items or keep_last):
        raise ValueError(f"no training or validation images for task {cfg.task!r} in {manifest_paths}")

    model = model.to(device)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=1e-4)
    out.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"epoch": 0, "best": -float("inf"), "stale": 0}  # epoch, stale: int; best: float
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        state = saved["state"]
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=cfg.epochs, last_epoch=state["epoch"] - 1)
        if state["epoch"]
        else torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=cfg.epochs)
    )
    net = DistributedDataParallel(model) if world > 1 else model
    dataset = task.dataset(train_items, augment=True, seed=cfg.seed + rank)
    sampler: DistributedSampler | None = (
        DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed) if world > 1 else None
    )
    (out / "config.json").write_text(
        json.dumps(asdict(cfg) | {"manifests": [str(p) for p in manifest_paths], "world_size": world}, indent=1)
    )

    while state["epoch"] < cfg.epochs and (keep_last or state["stale"] < cfg.patience):
        epoch = state["epoch"]
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            generator=generator,
            drop_last=len(dataset) > cfg.batch_size,
            collate_fn=task.collate,
        )
        net.train()
        start, total, batches = time.time(), 0.0, 0
        for batch in tqdm(
            loader, desc=f"{cfg.task} epoch {epoch + 1}/{cfg.epochs}", disable=not progress or rank != 0, leave=False
        ):
            with torch.autocast("cuda", dtype=amp_dtype or torch.float16, enabled=amp_dtype is not None):
                loss = task.loss(net, batch)
            optimiser.zero_grad()
            scaler.scale(loss).backward()
            if task.max_grad_norm:
                scaler.unscale_(optimiser)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(model.parameters(), task.max_grad_norm)
            scaler.step(optimiser)
            scaler.update()
            total += float(loss.detach())
            batches += 1
        scheduler.step()
        state["epoch"] = epoch + 1
        if rank == 0:
            metric = task.validate(model, val_items) if val_items else float("nan")
            improved = keep_last or metric > state["best"]
            state["best"] = metric if keep_last else max(state["best"], metric)
            state["stale"] = 0 if improved else state["stale"] + 1
            if improved:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "config": asdict(cfg),
                        "metric": metric,
                        "epoch": epoch + 1,
                        "manifests": [str(p) for p in manifest_paths],
                    },
                    out / "best.pt",
                )
            torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "state": state}, checkpoint)
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
