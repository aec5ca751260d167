"""Training samples: manifest records prepared once on the model grid, then served as tensors.

Preparation (decode, orient, crop, resize, register the contralateral view) is
done once per record and kept in memory as float16, because it costs far more
than a lite network's forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from mommi.data.manifest import Manifest, Record
from mommi.data.records import (
    contralateral_index,
    load_record_image,
    nipple_on_grid,
    rejected_on_grid,
    target_mask,
)
from mommi.findings.nipple import HEATMAP_STRIDE
from mommi.preprocess.model_input import InputSpec, PreparedView, prepare
from mommi.preprocess.registration import register_bilateral
from mommi.study.geometry import GridTransform
from mommi.train.augment import augment_weighted

HEATMAP_SIGMA = 1.5  # in heatmap cells
#: loss weight of the pixels of a finding a reader rejected. Such a region is one the model scored above its
#: operating point: among ~40,000 background pixels per image, the few hundred of a rejected box move a
#: fine-tuning of a few epochs at a tenth of the learning rate too little at weight 1 (measured with
#: Testing/benchmarks/bench_feedback_rounds.py: the reviewed studies' own false marks did not fall).
HARD_NEGATIVE_WEIGHT = 5.0


@dataclass
class CachedView:
    manifest: Manifest
    record: Record
    pixels: np.ndarray  # float16 (H, W) in [0, 1]
    mask: np.ndarray  # bool breast mask
    target: np.ndarray  # float16 mass mask
    nipple: tuple[float, float] | None  # on the model grid
    transform: GridTransform
    aux: np.ndarray | None = None  # registered contralateral view, float16
    rejected: np.ndarray | None = None  # bool: boxes of findings a reader rejected (hard negatives)

    def loss_weight(self) -> np.ndarray:
        return loss_weight(self.target, self.rejected)


def loss_weight(target: np.ndarray, rejected: np.ndarray | None) -> np.ndarray:
    """Per-pixel weight of a mass-map loss: ``HARD_NEGATIVE_WEIGHT`` on rejected boxes outside masses, else 1."""
    weight = np.ones(target.shape, np.float32)
    if rejected is not None:
        weight[rejected & (target < 0.5)] = HARD_NEGATIVE_WEIGHT
    return weight


def collect(
    manifests: list[Manifest], split: str, need_pair: bool, need_nipple: bool
) -> list[tuple[Manifest, Record, Record | None]]:
    """(manifest, record, contralateral record) of a split, filtered for the task."""
    chosen = []
    for manifest in manifests:
        pairs = contralateral_index(manifest.records)
        for i, record in enumerate(manifest.records):
            if record.split != split:
                continue
            other = manifest.records[pairs[i]] if i in pairs else None
            if need_pair and other is None:
                continue
            if need_nipple and record.nipple is None:
                continue
            chosen.append((manifest, record, other))
    return chosen


def _prepared(manifest: Manifest, record: Record, spec: InputSpec) -> tuple[PreparedView, np.ndarray]:
    image = load_record_image(manifest, record)
    view = prepare(image, spec)
    return view, target_mask(manifest, record, image, view.transform)


def build_cache(
    items: list[tuple[Manifest, Record, Record | None]], spec: InputSpec, with_aux: bool, progress: bool = True
) -> list[CachedView]:
    cache: list[CachedView] = []
    for manifest, record, other in tqdm(items, desc="preparing", disable=not progress, leave=False):
        view, target = _prepared(manifest, record, spec)
        entry = CachedView(
            manifest,
            record,
            view.pixels.astype(np.float16),
            view.mask,
            target.astype(np.float16),
            nipple_on_grid(record, view.transform),
            view.transform,
            rejected=rejected_on_grid(record, view.transform, view.pixels.shape),
        )
        if with_aux and other is not None:
            aux_view, _ = _prepared(manifest, other, spec)
            aux_nipple = nipple_on_grid(other, aux_view.transform)
            use_nipples = record.view == "MLO" and entry.nipple is not None and aux_nipple is not None
            reg = register_bilateral(
                view.pixels,
                aux_view.pixels,
                view.mask,
                aux_view.mask,
                entry.nipple if use_nipples else None,
                aux_nipple if use_nipples else None,
            )
            entry.aux = reg.warped.astype(np.float16)
        cache.append(entry)
    return cache


def gaussian_heatmap(shape: tuple[int, int], point: tuple[float, float]) -> np.ndarray:
    """Target heatmap at 1/4 resolution with a Gaussian at the (input-grid) point."""
    h, w = shape[0] // HEATMAP_STRIDE, shape[1] // HEATMAP_STRIDE
    cx, cy = (point[0] - 1.5) / HEATMAP_STRIDE, (point[1] - 1.5) / HEATMAP_STRIDE
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * HEATMAP_SIGMA**2)).astype(np.float32)


class ViewDataset(Dataset):
    """Tensors for one task: 'nipple' (image, heatmap), 'single' (image, mask, loss weight),
    'bidual' (image, registered aux, mask, loss weight). Training augments: intensity jitter for the nipple
    detector, the geometry, display and acquisition draws of ``mommi.train.augment`` for the mass maps."""

    def __init__(self, cache: list[CachedView], task: str, spec: InputSpec, augment: bool, seed: int = 0) -> None:
        self.cache, self.task, self.spec, self.augment = cache, task, spec, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.cache)

    def _jitter(self, pixels: np.ndarray) -> np.ndarray:
        gain = self.rng.uniform(0.85, 1.15)
        bias = self.rng.uniform(-0.05, 0.05)
        return np.clip(pixels * gain + bias, 0.0, 1.0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        item = self.cache[index]
        main = item.pixels.astype(np.float32)
        aux = item.aux.astype(np.float32) if item.aux is not None else None
        if self.task == "nipple":
            target = gaussian_heatmap(main.shape, item.nipple or (0.0, 0.0))
            if self.augment:  # the heatmap target is not warped: intensities only
                main = self._jitter(main)
        else:
            target = item.target.astype(np.float32)
            weight: np.ndarray | None = item.loss_weight()
            if self.augment:
                main, target, aux, weight = augment_weighted(main, target, aux, weight, self.rng)
        tensors = [torch.from_numpy(self.spec.normalise(np.ascontiguousarray(main)))[None]]
        if self.task == "bidual":
            assert aux is not None
            tensors.append(torch.from_numpy(self.spec.normalise(np.ascontiguousarray(aux)))[None])
        tensors.append(torch.from_numpy(np.ascontiguousarray(target))[None])
        if self.task != "nipple":
            assert weight is not None
            tensors.append(torch.from_numpy(np.ascontiguousarray(weight))[None])
        return tuple(tensors)
