"""IpsiDualNet samples: a main view and the other view of the same breast, with boxes and nipples.

Like ``mommi.train.datasets``, every view is prepared once (decode, orient, crop,
resize) and kept as float16; a view appears once as main and once as auxiliary.
Views without a nipple annotation (MIAS has none, and no CC views either) cannot
give the nipple geometry and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from mommi.data.manifest import Manifest, Record
from mommi.data.records import ipsilateral_index, load_record_image, mass_boxes_on_grid, nipple_on_grid
from mommi.preprocess.model_input import InputSpec, prepare
from mommi.study.geometry import GridTransform


@dataclass
class PreparedRecord:
    record: Record
    pixels: np.ndarray  # float16 (H, W) in [0, 1]
    boxes: np.ndarray  # (K, 4) mass boxes on the grid
    nipple: tuple[float, float]
    transform: GridTransform


@dataclass
class IpsiPair:
    main: PreparedRecord
    aux: PreparedRecord


def collect_pairs(manifests: list[Manifest], split: str) -> list[tuple[Manifest, Record, Record]]:
    """(manifest, main, ipsilateral auxiliary) for every view of the split with a partner and nipples."""
    chosen = []
    for manifest in manifests:
        pairs = ipsilateral_index(manifest.records)
        for i, record in enumerate(manifest.records):
            if record.split != split or i not in pairs:
                continue
            other = manifest.records[pairs[i]]
            if record.nipple is not None and other.nipple is not None:
                chosen.append((manifest, record, other))
    return chosen


def _prepare(manifest: Manifest, record: Record, spec: InputSpec) -> PreparedRecord:
    view = prepare(load_record_image(manifest, record), spec)
    nipple = nipple_on_grid(record, view.transform)
    assert nipple is not None  # collect_pairs keeps annotated views only
    return PreparedRecord(
        record, view.pixels.astype(np.float16), mass_boxes_on_grid(record, view.transform), nipple, view.transform
    )


def build_pairs(items: list[tuple[Manifest, Record, Record]], spec: InputSpec, progress: bool = True) -> list[IpsiPair]:
    prepared: dict[tuple[int, str], PreparedRecord] = {}

    def get(manifest: Manifest, record: Record) -> PreparedRecord:
        key = (id(manifest), record.image_id)
        if key not in prepared:
            prepared[key] = _prepare(manifest, record, spec)
        return prepared[key]

    return [
        IpsiPair(get(m, r), get(m, o)) for m, r, o in tqdm(items, desc="preparing", disable=not progress, leave=False)
    ]


class IpsiDataset(Dataset):
    """(main, aux, main nipple, aux nipple, main target, aux target); training adds intensity jitter.

    No flips: a vertical flip of one view would need the same anatomical flip of the
    other, which for a CC / MLO pair is not the same image operation.
    """

    def __init__(self, pairs: list[IpsiPair], spec: InputSpec, augment: bool, seed: int = 0) -> None:
        self.pairs, self.spec, self.augment = pairs, spec, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def _image(self, view: PreparedRecord) -> torch.Tensor:
        pixels = view.pixels.astype(np.float32)
        if self.augment:
            pixels = np.clip(pixels * self.rng.uniform(0.85, 1.15) + self.rng.uniform(-0.05, 0.05), 0.0, 1.0)
        return torch.from_numpy(self.spec.normalise(pixels))[None]

    @staticmethod
    def _target(view: PreparedRecord) -> dict[str, torch.Tensor]:
        boxes = torch.from_numpy(view.boxes.astype(np.float32)).reshape(-1, 4)
        return {"boxes": boxes, "labels": torch.ones(boxes.shape[0], dtype=torch.int64)}

    def __getitem__(self, index: int) -> tuple:
        pair = self.pairs[index]
        return (
            self._image(pair.main),
            self._image(pair.aux),
            torch.tensor(pair.main.nipple, dtype=torch.float32),
            torch.tensor(pair.aux.nipple, dtype=torch.float32),
            self._target(pair.main),
            self._target(pair.aux),
        )


def collate_pairs(batch: list[tuple]) -> tuple:
    """Stack images and nipples; keep the per-image target dicts as lists (box counts differ)."""
    main, aux, main_nipple, aux_nipple, targets, aux_targets = zip(*batch)
    return (
        torch.stack(main),
        torch.stack(aux),
        torch.stack(main_nipple),
        torch.stack(aux_nipple),
        list(targets),
        list(aux_targets),
    )
