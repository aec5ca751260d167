"""ONNX export of a trained network into the model zoo, with a parity check.

The legacy TorchScript exporter is used (``dynamo=False``, opset 17) because the
dynamo exporter fails on detection ops later networks need; all zoo models are
exported the same way. The batch axis is dynamic, so the runtime can batch views;
IpsiDualNet is exported for one image pair, with a dynamic number of detections.
After export, ONNX Runtime and PyTorch must agree on random inputs, and the
outputs on a fixed, seeded input are recorded in the manifest so that a test can
check that the shipped file still computes them.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mommi.runtime.zoo import MANIFEST_NAME, read_manifest, sha256_of, write_manifest
from mommi.train.loop import INPUT_SPECS, TrainConfig, build_model

PARITY_ATOL = 1e-3
OPSET = 17
DETECTOR_TASKS = ("ipsidual",)  # batch 1 in, (boxes, scores) out


def input_names(task: str) -> list[str]:
    return {
        "bidual": ["main", "aux"],
        "ipsidual": ["main", "aux", "main_nipple", "aux_nipple"],
        "fusion": ["image", "ipsi_map", "bi_map"],
        "malignancy": ["patches"],
    }.get(task, ["image"])


def output_names(task: str) -> list[str]:
    if task == "malignancy":
        return ["malignancy_logit", "birads"]
    return ["boxes", "scores"] if task in DETECTOR_TASKS else ["logits"]


def input_shape(task: str, config: str) -> tuple[int, int]:
    """(height, width) of one input image: the view grid, or the classifier's square patch."""
    if task == "malignancy":
        from mommi.train.models.classifier import PATCH_SIZES

        return PATCH_SIZES[config], PATCH_SIZES[config]
    spec = INPUT_SPECS[config]
    return spec.height, spec.width


REFERENCE_INPUT = (
    "numpy default_rng(0), inputs in order: images standard normal, probability maps uniform "
    "in [0, 1], nipples at (0.75 width, 0.5 height); batch 2 (detectors: 1)"
)


def reference_inputs(task: str, spec_shape: tuple[int, int], batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """The fixed input whose outputs are recorded (REFERENCE_INPUT; the zoo test rebuilds it without torch)."""
    rng = np.random.default_rng(seed)
    batch = 1 if task in DETECTOR_TASKS else batch
    inputs = {}
    for name in input_names(task):
        if name.endswith("_nipple"):
            inputs[name] = np.array([[0.75 * spec_shape[1], 0.5 * spec_shape[0]]] * batch, np.float32)
        elif name.endswith("_map"):
            inputs[name] = rng.random((batch, 1, *spec_shape)).astype(np.float32)
        else:
            inputs[name] = rng.standard_normal((batch, 1, *spec_shape)).astype(np.float32)
    return inputs


def output_summary(output: np.ndarray) -> dict[str, Any]:
    flat = output.astype(np.float64).ravel()
    if flat.size == 0:
        return {"shape": list(output.shape), "mean": 0.0, "std": 0.0, "sample": []}
    return {
        "shape": list(output.shape),
        "mean": float(flat.mean()),
        "std": float(flat.std()),
        "sample": [float(v) for v in flat[:: max(flat.size // 8, 1)][:8]],
    }


#: share of detections that must agree between PyTorch and ONNX Runtime (see detection_parity)
DETECTION_AGREEMENT = 0.9


def detection_parity(path: Path, want: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]) -> float:
    """Largest |difference| over detections found by both; raises if fewer than 90% agree.

    Element-wise comparison is wrong for a detector: rounding differences of 1e-6 can
    flip one NMS decision between two near-equal boxes, which shifts every later row.
    So each PyTorch detection is matched to the ONNX Runtime detection closest to it,
    and the two lists must agree on at least DETECTION_AGREEMENT of their boxes.
    """
    (want_boxes, want_scores), (got_boxes, got_scores) = want, got
    if len(want_boxes) == 0 or len(got_boxes) == 0:
        if len(want_boxes) != len(got_boxes):
            raise RuntimeError(f"{path}: ONNX Runtime finds {len(got_boxes)} boxes, PyTorch {len(want_boxes)}")
        return 0.0
    box_diff = np.abs(want_boxes[:, None, :] - got_boxes[None, :, :]).max(axis=2)
    score_diff = np.abs(want_scores[:, None] - got_scores[None, :])
    close = (box_diff < 1e-2) & (score_diff < PARITY_ATOL)
    agreed = min(close.any(axis=1).mean(), close.any(axis=0).mean())
    if agreed < DETECTION_AGREEMENT:
        raise RuntimeError(f"{path}: only {agreed:.0%} of the detections agree between ONNX Runtime and PyTorch")
    return float(np.max(np.where(close, np.maximum(box_diff, score_diff), 0.0)))


class _Detections(torch.nn.Module):
    """IpsiDualNet at inference as a graph of tensors: (boxes, scores) of the one main image."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, main: torch.Tensor, aux: torch.Tensor, main_nipple: torch.Tensor, aux_nipple: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        (found,) = self.model(main, aux, main_nipple, aux_nipple)
        return found["boxes"], found["scores"]


def _outputs_meaning(task: str, spec: Any) -> list[dict[str, Any]]:
    if task == "malignancy":
        return [
            {
                "name": "malignancy_logit",
                "shape": ["batch"],
                "dtype": "float32",
                "meaning": "benign-vs-malignant logit, uncalibrated (the entry's calibration gives the temperature)",
            },
            {
                "name": "birads",
                "shape": ["batch"],
                "dtype": "float32",
                "meaning": "normalised BI-RADS value in [0, 1] (METHOD.md table; nearest category by "
                "mommi.findings.birads.nearest_birads)",
            },
        ]
    if task in DETECTOR_TASKS:
        return [
            {
                "name": "boxes",
                "shape": ["detections", 4],
                "dtype": "float32",
                "meaning": "mass boxes (x0, y0, x1, y1) on the main view's model grid, best first",
            },
            {"name": "scores", "shape": ["detections"], "dtype": "float32", "meaning": "mass probability"},
        ]
    if task == "nipple":
        return [
            {
                "name": "logits",
                "shape": ["batch", 1, spec.height // 4, spec.width // 4],
                "dtype": "float32",
                "meaning": "nipple heatmap logits (1/4 resolution)",
            }
        ]
    return [
        {
            "name": "logits",
            "shape": ["batch", 1, spec.height, spec.width],
            "dtype": "float32",
            "meaning": "per-pixel mass logits (sigmoid gives the probability)",
        }
    ]


def _inputs_meaning(task: str, spec: Any) -> list[dict[str, Any]]:
    if task == "malignancy":
        return [
            {
                "name": "patches",
                "shape": ["batch", 1, spec.size, spec.size],
                "dtype": "float32",
                "meaning": "normalised patches cut around findings by mommi.preprocess.patches.cut_patches",
            }
        ]
    batch = 1 if task in DETECTOR_TASKS else "batch"
    out = []
    for name in input_names(task):
        if name.endswith("_nipple"):
            out.append(
                {
                    "name": name,
                    "shape": [batch, 2],
                    "dtype": "float32",
                    "meaning": "nipple (x, y) on that view's model grid",
                }
            )
        else:
            entry = {"name": name, "shape": [batch, 1, spec.height, spec.width], "dtype": "float32"}
            if name.endswith("_map"):
                entry["meaning"] = "probability map in [0, 1] on the main view's grid (not normalised)"
            out.append(entry)
    return out


def _patch_spec(config: str) -> Any:
    from mommi.preprocess.patches import PatchSpec
    from mommi.train.models.classifier import PATCH_SIZES

    return PatchSpec(PATCH_SIZES[config])


def _normalisation(task: str, spec: Any) -> dict[str, Any]:
    if task == "malignancy":
        return {
            "pixels": "display values in [0, 1] of the ORIGINAL image, square window around the box "
            "(mommi.preprocess.patches)",
            "patch": spec.to_dict(),
            "mean": spec.mean,
            "std": spec.std,
        }
    return {
        "pixels": "display values in [0, 1], chest wall on the left, breast cropped and resized keeping its "
        "aspect (mommi.preprocess.model_input)",
        "mean": spec.mean,
        "std": spec.std,
    }


def export(task: str, checkpoint: Path, zoo: Path, name: str | None = None) -> dict[str, Any]:
    """Export ``checkpoint`` to ``zoo/<name>.onnx`` and (re)write its manifest entry."""
    import onnxruntime as ort

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**saved["config"])
    model = build_model(task, cfg.config, cfg.fuse_stage, cfg.geometry)
    model.load_state_dict(saved["model"])
    model.eval()
    graph = _Detections(model).eval() if task in DETECTOR_TASKS else model
    spec = _patch_spec(cfg.config) if task == "malignancy" else INPUT_SPECS[cfg.config]
    name = name or f"{task}-{cfg.config}"
    names, outputs = input_names(task), output_names(task)
    shape = input_shape(task, cfg.config)
    example = tuple(torch.from_numpy(v) for v in reference_inputs(task, shape).values())
    dynamic = (
        {n: {0: "detections"} for n in outputs}
        if task in DETECTOR_TASKS
        else {n: {0: "batch"} for n in [*names, *outputs]}
    )
    buffer = io.BytesIO()
    torch.onnx.export(
        graph,
        example,
        buffer,  # type: ignore[arg-type]  # torch's stub names paths only; the exporter writes to file objects too
        input_names=names,
        output_names=outputs,
        opset_version=OPSET,
        dynamo=False,
        dynamic_axes=dynamic,
    )
    zoo.mkdir(parents=True, exist_ok=True)
    path = zoo / f"{name}.onnx"
    path.write_bytes(buffer.getvalue())

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # the exporter drops inputs the graph never reads (IpsiDualNet with plain box geometry has no
    # use for nipples): the session is fed, and the manifest lists, only the inputs it has
    present = {i.name for i in session.get_inputs()}
    feed = lambda inputs: {k: v for k, v in inputs.items() if k in present}  # noqa: E731
    worst = 0.0
    for seed in (1, 2, 3):
        inputs = reference_inputs(task, shape, batch=3, seed=seed)
        with torch.no_grad():
            expected = graph(*[torch.from_numpy(v) for v in inputs.values()])
        got = session.run(None, feed(inputs))
        if task in DETECTOR_TASKS:
            worst = max(worst, detection_parity(path, (expected[0].numpy(), expected[1].numpy()), (got[0], got[1])))
            continue
        for want, have in zip(expected if isinstance(expected, tuple) else (expected,), got):
            if want.shape != have.shape:
                raise RuntimeError(f"{path}: ONNX Runtime gives shape {have.shape}, PyTorch {tuple(want.shape)}")
            worst = max(worst, float(np.abs(have - want.numpy()).max()))
    if worst > PARITY_ATOL:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by {worst:g} (> {PARITY_ATOL})")
    references = session.run(None, feed(reference_inputs(task, shape)))

    entry = {
        "name": name,
        "task": task,
        "file": path.name,
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
        "inputs": [i for i in _inputs_meaning(task, spec) if i["name"] in present],
        "outputs": _outputs_meaning(task, spec),
        "normalisation": _normalisation(task, spec),
        "config": {
            "configuration": cfg.config,
            "fuse_stage": cfg.fuse_stage if task == "bidual" else None,
            "geometry": cfg.geometry if task == "ipsidual" else None,
            "loss_weighting": cfg.loss_weighting if task == "malignancy" else None,
            "classification_weight": cfg.classification_weight
            if task == "malignancy" and cfg.loss_weighting == "fixed"
            else None,
            "epochs_run": saved.get("epoch"),
            "seed": cfg.seed,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "kept_epoch": cfg.keep,
            "initialised_from": "/".join(Path(cfg.init_from).parts[-2:]) if cfg.init_from else None,
        },
        "training_data": saved.get("manifests") or [],
        "validation_metric": saved.get("metric"),
        "parity_max_abs_diff": worst,
        "reference": {"input": REFERENCE_INPUT, "outputs": {n: output_summary(r) for n, r in zip(outputs, references)}},
        "exported": date.today().isoformat(),
        "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        "metrics": {},
    }
    manifest = read_manifest(zoo / MANIFEST_NAME)
    manifest["models"] = [m for m in manifest["models"] if m["name"] != name] + [entry]
    manifest["models"].sort(key=lambda m: m["name"])
    write_manifest(zoo / MANIFEST_NAME, manifest)
    return entry
