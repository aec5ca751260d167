"""Fusion-network samples: main image, Ipsi-prob map, Bi-prob map and the mass target.

The paper's order: IpsiDualNet and BiDualNet are trained first, then their maps are
produced for the training set and the fusion network learns on them. The maps are
made here by the shipped ONNX models through ``DetectionChain.branches`` (predicted
nipples included), i.e. exactly as at inference, so the fusion network never sees
maps that are cleaner than the ones it will get.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from mommi.data.manifest import Manifest, Record
from mommi.data.records import load_record_image, rejected_on_grid, target_mask
from mommi.runtime.detection_chain import DetectionChain
from mommi.preprocess.model_input import InputSpec
from mommi.study.geometry import GridTransform
from mommi.study.model import View
from mommi.train.datasets import loss_weight


@dataclass
class FusionSample:
    record: Record
    pixels: np.ndarray  # float16 (H, W)
    ipsi_map: np.ndarray  # float16
    bi_map: np.ndarray  # float16
    target: np.ndarray  # float16 mass mask
    transform: GridTransform
    rejected: np.ndarray | None = None  # bool: boxes of findings a reader rejected (hard negatives)


def build_fusion_samples(
    manifests: list[Manifest], split: str, chain: DetectionChain, progress: bool = True, limit: int | None = None
) -> list[FusionSample]:
    """One sample per view of the split that has both partner views (only those reach the fusion network);
    ``limit`` stops after about N samples (whole studies)."""
    studies: list[tuple[Manifest, list[Record]]] = []
    for manifest in manifests:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for record in manifest.records:
            if record.split == split and record.view in ("CC", "MLO"):
                grouped[record.study_id].append(record)
        studies += [(manifest, records) for records in grouped.values() if len(records) >= 3]
    samples: list[FusionSample] = []
    for manifest, records in tqdm(studies, desc="fusion maps", disable=not progress, leave=False):
        if limit is not None and len(samples) >= limit:
            break
        images = {View(f"{r.laterality}-{r.view}"): load_record_image(manifest, r) for r in records}
        by_view = {View(f"{r.laterality}-{r.view}"): r for r in records}
        for view, result in chain.branches(images).items():
            if result.bi_map is None or result.ipsi_map is None:
                continue
            record = by_view[view]
            target = target_mask(manifest, record, images[view], result.prepared.transform)
            samples.append(
                FusionSample(
                    record,
                    result.prepared.pixels.astype(np.float16),
                    result.ipsi_map.astype(np.float16),
                    result.bi_map.astype(np.float16),
                    target.astype(np.float16),
                    result.prepared.transform,
                    rejected_on_grid(record, result.prepared.transform, target.shape),
                )
            )
    return samples


class FusionDataset(Dataset):
    """(image, ipsi map, bi map, target, loss weight); training adds intensity jitter and a shared vertical flip."""

    def __init__(self, samples: list[FusionSample], spec: InputSpec, augment: bool, seed: int = 0) -> None:
        self.samples, self.spec, self.augment = samples, spec, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        s = self.samples[index]
        arrays = [
            s.pixels.astype(np.float32),
            s.ipsi_map.astype(np.float32),
            s.bi_map.astype(np.float32),
            s.target.astype(np.float32),
            loss_weight(s.target, s.rejected),
        ]
        if self.augment:
            arrays[0] = np.clip(arrays[0] * self.rng.uniform(0.85, 1.15) + self.rng.uniform(-0.05, 0.05), 0.0, 1.0)
            if self.rng.random() < 0.5:
                arrays = [a[::-1] for a in arrays]
        arrays[0] = self.spec.normalise(arrays[0])
        return tuple(torch.from_numpy(np.ascontiguousarray(a))[None] for a in arrays)
