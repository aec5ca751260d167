"""What differs between the networks `mommi train` knows: data, loss, validation metric.

The loop (``mommi.train.loop``) is shared: seeding, resuming, early stopping, logs
and DDP are the same for every network. A task supplies

- ``items(manifests, split, progress, limit)``: the prepared samples of a split
  (cached in memory; ``limit`` keeps the first N for smoke tests);
- ``dataset(items, augment, seed)`` and an optional ``collate``;
- ``loss(model, batch)``;
- ``max_grad_norm``: gradient clipping (None: none);
- ``validate(model, items)``: the early-stopping metric, higher is better: mean
  recall at 0.5/1/2 FPPI (FROC without bootstrap) for the mass networks, minus
  the median nipple error in mm for the nipple detector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mommi.data.manifest import Manifest
from mommi.eval.froc import FPPI_POINTS, ImageResult, evaluate_froc
from mommi.findings.nipple import nipple_from_heatmap
from mommi.findings.regions import regions_from_probability
from mommi.preprocess.model_input import InputSpec
from mommi.study.geometry import GridTransform
from mommi.train.datasets import CachedView, ViewDataset, build_cache, collect
from mommi.train.losses import heatmap_loss, pixel_focal_loss


def mean_recall(results: list[ImageResult]) -> float:
    report = evaluate_froc(results, bootstrap=0)
    return float(np.mean([report.recall[f] for f in FPPI_POINTS]))


def image_result(record: Any, transform: GridTransform, grid_boxes: list[tuple[Any, float]]) -> ImageResult:
    """FROC input in ORIGINAL pixels: grid boxes mapped back through the view's transform."""
    predictions: list[tuple[Sequence[float], float]] = [
        (list(transform.box_to_original(box)), float(score)) for box, score in grid_boxes
    ]
    truth = [f.box for f in record.findings if f.kind == "mass"]
    return ImageResult(record.image_id, record.patient_id, truth, predictions)


def map_results(records: list[Any], transforms: list[GridTransform], maps: list[np.ndarray]) -> list[ImageResult]:
    return [
        image_result(r, t, [(reg.box, reg.score) for reg in regions_from_probability(m)])
        for r, t, m in zip(records, transforms, maps)
    ]


class SegmentationTask:
    """nipple (heatmap), single (mass map), bidual (mass map from main + registered contralateral)."""

    collate: Callable | None = None
    max_grad_norm: float | None = None

    def __init__(self, name: str, spec: InputSpec, device: str) -> None:
        self.name, self.spec, self.device = name, spec, device

    def items(self, manifests: list[Manifest], split: str, progress: bool, limit: int | None) -> list[CachedView]:
        need_pair = self.name in ("bidual", "single")  # both mass networks see the same images
        chosen = collect(manifests, split, need_pair, self.name == "nipple")[:limit]
        return build_cache(chosen, self.spec, self.name == "bidual", progress)

    def dataset(self, items: list[CachedView], augment: bool, seed: int) -> Dataset:
        return ViewDataset(items, self.name, self.spec, augment=augment, seed=seed)

    def _forward(
        self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(logits, target, per-pixel loss weight or None)."""
        batch = tuple(t.to(self.device) for t in batch)
        if self.name == "nipple":
            main, target = batch
            return model(main), target, None
        if self.name == "bidual":
            main, aux, target, weight = batch
            return model(main, aux), target, weight
        main, target, weight = batch
        return model(main), target, weight

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        logits, target, weight = self._forward(model, batch)
        if self.name == "nipple":
            return heatmap_loss(logits, target)
        return pixel_focal_loss(logits, target, weight=weight)

    @torch.no_grad()
    def predict_maps(self, model: torch.nn.Module, items: list[CachedView], batch_size: int = 16) -> list[np.ndarray]:
        """Sigmoid outputs (probability map or heatmap) for every item, in order."""
        model.eval()
        outputs: list[np.ndarray] = []
        for batch in DataLoader(self.dataset(items, False, 0), batch_size=batch_size):
            logits, _, _ = self._forward(model, batch)
            outputs.extend(torch.sigmoid(logits)[:, 0].cpu().numpy())
        return outputs

    def validate(self, model: torch.nn.Module, items: list[CachedView]) -> float:
        maps = self.predict_maps(model, items)
        if self.name == "nipple":
            return -float(np.median(nipple_errors_mm(items, maps)))
        return mean_recall(map_results([i.record for i in items], [i.transform for i in items], maps))


def nipple_errors_mm(items: list[CachedView], heatmaps: list[np.ndarray]) -> np.ndarray:
    errors = []
    for item, heatmap in zip(items, heatmaps):
        x, y, _ = nipple_from_heatmap(heatmap)
        ox, oy = item.transform.to_original(np.array([[x, y]]))[0]
        tx, ty = item.record.nipple  # type: ignore[misc]  # nipple-task items are chosen for having a nipple
        sy, sx = item.record.spacing_mm or (1.0, 1.0)
        errors.append(float(np.hypot((ox - tx) * sx, (oy - ty) * sy)))
    return np.array(errors)


class IpsiDualTask:
    """IpsiDualNet: (main, ipsilateral) pairs with boxes and annotated nipples; the model returns its losses."""

    max_grad_norm: float | None = 10.0  # two-stage detectors take occasional huge steps early on

    def __init__(self, spec: InputSpec, device: str) -> None:
        from mommi.train.detection_data import collate_pairs

        self.spec, self.device, self.collate = spec, device, collate_pairs

    def items(self, manifests: list[Manifest], split: str, progress: bool, limit: int | None) -> list:
        from mommi.train.detection_data import build_pairs, collect_pairs

        return build_pairs(collect_pairs(manifests, split)[:limit], self.spec, progress)

    def dataset(self, items: list, augment: bool, seed: int) -> Dataset:
        from mommi.train.detection_data import IpsiDataset

        return IpsiDataset(items, self.spec, augment=augment, seed=seed)

    def _moved(self, batch: tuple) -> tuple:
        main, aux, main_nipple, aux_nipple, targets, aux_targets = batch
        move = lambda ts: [{k: v.to(self.device) for k, v in t.items()} for t in ts]  # noqa: E731
        return (
            main.to(self.device),
            aux.to(self.device),
            main_nipple.to(self.device),
            aux_nipple.to(self.device),
            move(targets),
            move(aux_targets),
        )

    def loss(self, model: torch.nn.Module, batch: tuple) -> torch.Tensor:
        return sum(model(*self._moved(batch)).values())

    @torch.no_grad()
    def detections(
        self, model: torch.nn.Module, items: list, batch_size: int = 8
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(boxes on the grid, scores) for every pair's main view, in order."""
        model.eval()
        out = []
        for batch in DataLoader(self.dataset(items, False, 0), batch_size=batch_size, collate_fn=self.collate):
            main, aux, main_nipple, aux_nipple, _, _ = self._moved(batch)
            for d in model(main, aux, main_nipple, aux_nipple):
                out.append((d["boxes"].cpu().numpy(), d["scores"].cpu().numpy()))
        return out

    def validate(self, model: torch.nn.Module, items: list) -> float:
        results = [
            image_result(p.main.record, p.main.transform, list(zip(b, s)))
            for p, (b, s) in zip(items, self.detections(model, items))
        ]
        return mean_recall(results)


class FusionTask:
    """The fusion network on maps the shipped BiDualNet and IpsiDualNet make (see fusion_data)."""

    collate: Callable | None = None
    max_grad_norm: float | None = None

    def __init__(self, spec: InputSpec, device: str, zoo: Path | None, encoder: Path | None) -> None:
        self.spec, self.device, self.zoo, self.encoder = spec, device, zoo, encoder

    def prepare_model(self, model: torch.nn.Module) -> None:
        """Copy IpsiDualNet's trained trunk into the (frozen) encoder, as the paper does."""
        if self.encoder is None:
            raise ValueError("the fusion network needs --encoder: an IpsiDualNet checkpoint (best.pt)")
        if not self.encoder.is_file():
            raise ValueError(f"{self.encoder}: encoder checkpoint not found")
        state = torch.load(self.encoder, map_location="cpu", weights_only=False)["model"]
        prefix = "backbone.trunk."
        trunk = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not trunk:
            raise ValueError(f"{self.encoder}: not an IpsiDualNet checkpoint (no backbone.trunk weights)")
        cast(torch.nn.Module, model.encoder).load_state_dict(trunk)

    def items(self, manifests: list[Manifest], split: str, progress: bool, limit: int | None) -> list:
        from mommi.runtime.detection_chain import DetectionChain
        from mommi.runtime.zoo import manifest_path_of
        from mommi.train.fusion_data import build_fusion_samples

        chain = DetectionChain(manifest_path_of(self.zoo), device="cpu")
        return build_fusion_samples(manifests, split, chain, progress, limit)

    def dataset(self, items: list, augment: bool, seed: int) -> Dataset:
        from mommi.train.fusion_data import FusionDataset

        return FusionDataset(items, self.spec, augment=augment, seed=seed)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        image, ipsi, bi, target, weight = (t.to(self.device) for t in batch)
        return pixel_focal_loss(model(image, ipsi, bi), target, weight=weight)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, items: list) -> float:
        model.eval()
        maps: list[np.ndarray] = []
        for batch in DataLoader(self.dataset(items, False, 0), batch_size=16):
            image, ipsi, bi, _, _ = (t.to(self.device) for t in batch)
            maps.extend(torch.sigmoid(model(image, ipsi, bi))[:, 0].cpu().numpy())
        return mean_recall(map_results([i.record for i in items], [i.transform for i in items], maps))


class MalignancyTask:
    """The malignancy classifier on gold + detected patches (see patch_data); validation AUC on detected ones."""

    collate: Callable | None = None
    max_grad_norm: float | None = None

    def __init__(
        self,
        config: str,
        device: str,
        manifest_paths: list[Path],
        detection_paths: list[Path],
        weighting: str,
        classification_weight: float,
        cache: Path | None,
    ) -> None:
        from mommi.preprocess.patches import PatchSpec
        from mommi.train.models.classifier import PATCH_SIZES

        if not detection_paths:
            raise ValueError(
                "the malignancy classifier needs --detections: `mommi predict` files of the "
                "training manifests (validation uses detected patches only)"
            )
        self.spec = PatchSpec(PATCH_SIZES[config])
        self.device, self.weighting, self.classification_weight = device, weighting, classification_weight
        self.manifest_paths, self.detection_paths, self.cache = manifest_paths, detection_paths, cache

    def items(self, manifests: list[Manifest], split: str, progress: bool, limit: int | None) -> Any:
        from mommi.data import patches as patch_data

        with_gold = split == "train"
        path = None
        if self.cache is not None:
            key = patch_data.cache_key(
                self.manifest_paths, self.detection_paths, split, self.spec, with_gold=with_gold, limit=limit
            )
            path = self.cache / f"patches-{split}-{key}.npz"
            if path.is_file():
                return patch_data.load_samples(path)
        detections = patch_data.read_detections(self.detection_paths)
        bar = tqdm(desc=f"patches {split}", disable=not progress, leave=False)

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done + 1 - bar.n)

        samples = patch_data.build_patch_samples(
            manifests, split, detections, self.spec, with_gold, progress=advance, limit=limit
        )
        bar.close()
        if path is not None:
            patch_data.save_samples(path, samples)
        return samples

    def dataset(self, items: Any, augment: bool, seed: int) -> Dataset:
        from mommi.train.patch_data import PatchDataset

        return PatchDataset(items, augment=augment, seed=seed)

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        from mommi.train.losses import malignancy_loss

        patches, malignant, birads = (t.to(self.device) for t in batch)
        logit, value = model(patches)
        network: Any = model.module if hasattr(model, "module") else model  # DistributedDataParallel wraps it
        return malignancy_loss(
            logit, value, malignant, birads, self.weighting, network.loss_log_variances, self.classification_weight
        )

    @torch.no_grad()
    def outputs(self, model: torch.nn.Module, items: Any, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(malignancy logits, BI-RADS values) of every patch, in order."""
        model.eval()
        logits, values = [], []
        for patches, _, _ in DataLoader(self.dataset(items, False, 0), batch_size=batch_size):
            logit, value = model(patches.to(self.device))
            logits.append(logit.cpu().numpy())
            values.append(value.cpu().numpy())
        return np.concatenate(logits), np.concatenate(values)

    def validate(self, model: torch.nn.Module, items: Any) -> float:
        from mommi.eval.malignancy import roc_auc

        logits, _ = self.outputs(model, items)
        known = ~np.isnan(items.malignant)
        return float(roc_auc(logits[known], items.malignant[known]))
