"""The MommiNet-v2 detection chain on one study, through ONNX Runtime (no torch).

For every view: nipple detector -> bilateral registration -> BiDualNet (Bi-prob
map); IpsiDualNet on the other view of the same breast -> detections rendered
into the Ipsi-prob map; the fusion network reads the image and both maps and
gives the final map, whose regions are the findings. When a partner view is
missing, the view falls back to what can still run (METHOD.md reads each image
with both partners; a study with gaps should still be read):

    both partners        -> "tri-view"     (fusion of both branches)
    contralateral only   -> "bilateral"    (BiDualNet's map)
    ipsilateral only     -> "ipsilateral"  (IpsiDualNet's detections)
    neither              -> "single-view"  (the single-view baseline's map)
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from mommi.findings.nipple import NippleEstimate, locate_nipple
from mommi.findings.regions import CANDIDATE_THRESHOLD, regions_from_probability
from mommi.findings.render import render_detections
from mommi.preprocess.model_input import InputSpec, PreparedView, prepare
from mommi.preprocess.registration import register_bilateral
from mommi.runtime.sessions import ZooModel, load_model
from mommi.study.model import MammoImage, Projection, View


class Branch(str, Enum):
    """Which part of the chain read a view; the value is what result.json and the front ends show."""

    TRI_VIEW = "tri-view"
    BILATERAL = "bilateral"
    IPSILATERAL = "ipsilateral"
    SINGLE_VIEW = "single-view"


def choose_branch(
    view: View, fused: Container[View], bilateral: Container[View], ipsilateral: Container[View]
) -> Branch:
    """The fall-back rule of the module docstring, from the views each branch produced output for:
    the one rule the pipeline and the evaluation both apply."""
    if view in fused:
        return Branch.TRI_VIEW
    if view in bilateral:
        return Branch.BILATERAL
    if view in ipsilateral:
        return Branch.IPSILATERAL
    return Branch.SINGLE_VIEW


#: IpsiDualNet keeps every detection above this score; the fusion network and FROC see them all
DETECTION_FLOOR = 0.01


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def map_regions(
    prob: np.ndarray, threshold: float = CANDIDATE_THRESHOLD
) -> list[tuple[tuple[float, float, float, float], float]]:
    """Findings of a probability map as (grid box, score) pairs, from peaks of at least ``threshold``.

    A region depends only on its own peak, so a caller that drops findings below a score can pass it
    here and skip tracing the many low peaks of a map's flat background."""
    return [
        ((float(r.box[0]), float(r.box[1]), float(r.box[2]), float(r.box[3])), r.score)
        for r in regions_from_probability(prob, threshold=threshold)
    ]


def spec_of(model: ZooModel) -> InputSpec:
    """The input grid and normalisation a zoo model was trained with (its manifest entry)."""
    from mommi.runtime.zoo import ZooEntry

    shape = ZooEntry.of(model.entry).input(0).shape
    norm = model.entry["normalisation"]
    return InputSpec(int(shape[2]), int(shape[3]), float(norm["mean"]), float(norm["std"]))


@dataclass
class ViewDetections:
    view: View
    prepared: PreparedView
    branch: Branch
    nipple: tuple[float, float] | None = None  # on the model grid
    bi_map: np.ndarray | None = None
    ipsi_map: np.ndarray | None = None
    final_map: np.ndarray | None = None
    regions: list[tuple[tuple[float, float, float, float], float]] = field(default_factory=list)  # grid box, score

    def boxes_in_original(self) -> list[tuple[tuple[float, ...], float]]:
        """Findings as (x0, y0, x1, y1) boxes in the original image's pixels, with scores."""
        return [(self.prepared.transform.box_to_original(box), score) for box, score in self.regions]


class DetectionChain:
    """Loads the zoo models once (SHA-256 checked) and reads studies with them."""

    def __init__(self, zoo: Path | None = None, device: str = "auto", size: str = "lite") -> None:
        self.zoo, self.device, self.size = zoo, device, size
        self._models: dict[str, ZooModel] = {}
        self.spec = spec_of(self.model("nipple"))  # every view needs its nipple

    def model(self, task: str) -> ZooModel:
        """A zoo model, loaded on first use: training the fusion network needs the chain without it."""
        if task not in self._models:
            model = load_model(f"{task}-{self.size}", self.zoo, self.device)
            if self._models and (spec_of(model).height, spec_of(model).width) != (self.spec.height, self.spec.width):
                raise ValueError(f"zoo model {model.name} reads a different grid than {self.size}-size models")
            self._models[task] = model
        return self._models[task]

    def loaded_models(self) -> list[ZooModel]:
        return list(self._models.values())

    def _normalised(self, pixels: np.ndarray) -> np.ndarray:
        return self.spec.normalise(pixels)[None, None]

    def _batch(self, views: list[PreparedView]) -> np.ndarray:
        return np.stack([self.spec.normalise(v.pixels) for v in views])[:, None]

    # Stages, each batched over the views it applies to (one session call per stage where the
    # graph has a batch axis; IpsiDualNet was exported for one image pair and runs per view).
    def prepare_views(self, images: dict[View, MammoImage]) -> dict[View, PreparedView]:
        return {v: prepare(img, self.spec) for v, img in images.items()}

    def nipple_estimates(self, prepared: dict[View, PreparedView]) -> dict[View, NippleEstimate]:
        """Every view's nipple on its model grid, with where it came from (all views in one batch)."""
        views = list(prepared)
        if not views:
            return {}
        heatmaps = sigmoid(self.model("nipple").run(image=self._batch([prepared[v] for v in views])))[:, 0]
        return {v: locate_nipple(h, prepared[v].mask) for v, h in zip(views, heatmaps)}

    def nipples(self, prepared: dict[View, PreparedView]) -> dict[View, tuple[float, float]]:
        return {v: (e.x, e.y) for v, e in self.nipple_estimates(prepared).items()}

    def bilateral_maps(
        self, prepared: dict[View, PreparedView], nipples: dict[View, tuple[float, float]]
    ) -> dict[View, np.ndarray]:
        """Bi-prob map of every view whose contralateral view is there (MLO pairs aligned by their nipples first)."""
        views = [v for v in prepared if v.bilateral in prepared]
        if not views:
            return {}
        warped = []
        for view in views:
            main, aux = prepared[view], prepared[view.bilateral]
            use = view.projection is Projection.MLO  # METHOD.md: MLO pairs are first aligned by their nipples
            reg = register_bilateral(
                main.pixels,
                aux.pixels,
                main.mask,
                aux.mask,
                nipples[view] if use else None,
                nipples[view.bilateral] if use else None,
            )
            warped.append(self.spec.normalise(reg.warped)[None])
        logits = self.model("bidual").run(main=self._batch([prepared[v] for v in views]), aux=np.stack(warped))
        return dict(zip(views, sigmoid(logits)[:, 0]))

    def ipsilateral_detections(
        self, main: PreparedView, aux: PreparedView, nipples: tuple[tuple[float, float], tuple[float, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        model = self.model("ipsidual")
        boxes, scores = model.run_all(
            main=self._normalised(main.pixels),
            aux=self._normalised(aux.pixels),
            main_nipple=np.array([nipples[0]], np.float32),
            aux_nipple=np.array([nipples[1]], np.float32),
        )
        keep = scores >= DETECTION_FLOOR
        return boxes[keep], scores[keep]

    def ipsilateral(
        self, prepared: dict[View, PreparedView], nipples: dict[View, tuple[float, float]]
    ) -> dict[View, tuple[np.ndarray, np.ndarray]]:
        """IpsiDualNet's (grid boxes, scores) of every view whose other view of the same breast is there."""
        return {
            v: self.ipsilateral_detections(prepared[v], prepared[v.ipsilateral], (nipples[v], nipples[v.ipsilateral]))
            for v in prepared
            if v.ipsilateral in prepared
        }

    def single_maps(self, prepared: dict[View, PreparedView], views: list[View]) -> dict[View, np.ndarray]:
        if not views:
            return {}
        logits = self.model("single").run(image=self._batch([prepared[v] for v in views]))
        return dict(zip(views, sigmoid(logits)[:, 0]))

    def fused_maps(
        self, prepared: dict[View, PreparedView], ipsi_maps: dict[View, np.ndarray], bi_maps: dict[View, np.ndarray]
    ) -> dict[View, np.ndarray]:
        views = [v for v in prepared if v in ipsi_maps and v in bi_maps]
        if not views:
            return {}
        logits = self.model("fusion").run(
            image=self._batch([prepared[v] for v in views]),
            ipsi_map=np.stack([ipsi_maps[v] for v in views])[:, None],
            bi_map=np.stack([bi_maps[v] for v in views])[:, None],
        )
        return dict(zip(views, sigmoid(logits)[:, 0]))

    def branches(
        self, images: dict[View, MammoImage], which: tuple[str, ...] = ("bidual", "ipsidual")
    ) -> dict[View, ViewDetections]:
        """Every view of a study (pixels loaded) -> nipple and the dual-view branches' outputs
        (``which`` of them: evaluating one branch alone needs only its model)."""
        prepared = self.prepare_views(images)
        nipples = self.nipples(prepared)
        bi_maps = self.bilateral_maps(prepared, nipples) if "bidual" in which else {}
        detections = self.ipsilateral(prepared, nipples) if "ipsidual" in which else {}
        out: dict[View, ViewDetections] = {}
        for view, main in prepared.items():
            result = ViewDetections(view, main, Branch.SINGLE_VIEW, nipples[view], bi_map=bi_maps.get(view))
            if view in detections:
                boxes, scores = detections[view]
                result.ipsi_map = render_detections(boxes, scores, main.pixels.shape)
                result.regions = [
                    ((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s)) for b, s in zip(boxes, scores)
                ]
            out[view] = result
        return out

    def decide(self, out: dict[View, ViewDetections]) -> None:
        """The fall-back rule of the module docstring: branch, final map and findings of every view."""
        prepared = {v: r.prepared for v, r in out.items()}
        fused = self.fused_maps(
            prepared,
            {v: r.ipsi_map for v, r in out.items() if r.ipsi_map is not None},
            {v: r.bi_map for v, r in out.items() if r.bi_map is not None},
        )
        alone = self.single_maps(prepared, [v for v, r in out.items() if r.bi_map is None and r.ipsi_map is None])
        bilateral = {v for v, r in out.items() if r.bi_map is not None}
        ipsilateral = {v for v, r in out.items() if r.ipsi_map is not None}
        for view, result in out.items():
            result.branch = choose_branch(view, fused, bilateral, ipsilateral)
            if result.branch is Branch.TRI_VIEW:
                result.final_map = fused[view]
            elif result.branch is Branch.BILATERAL:
                result.final_map = result.bi_map
            elif result.branch is Branch.SINGLE_VIEW:
                result.final_map = alone[view]
            # IPSILATERAL: the detector's own boxes are the findings (no final map)
            if result.final_map is not None:
                result.regions = map_regions(result.final_map)

    def run(self, images: dict[View, MammoImage]) -> dict[View, ViewDetections]:
        """Every view of a study (pixels loaded) -> its findings and the branch that made them."""
        out = self.branches(images)
        self.decide(out)
        return out
