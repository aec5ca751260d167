"""ONNX export of a trained network into the model zoo, with a parity check.

The legacy TorchScript exporter is used (``dynamo=False``, opset 17) because the
dynamo exporter fails on detection ops later networks need; all zoo models are
exported the same way. The batch axis is dynamic, so the runtime can batch views.
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


def input_names(task: str) -> list[str]:
    return ["main", "aux"] if task == "bidual" else ["image"]


def reference_inputs(task: str, spec_shape: tuple[int, int], batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """The fixed input whose outputs are recorded (also rebuilt by the zoo test)."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((batch, 1, *spec_shape)).astype(np.float32) for name in input_names(task)}


def output_summary(output: np.ndarray) -> dict[str, Any]:
    flat = output.astype(np.float64).ravel()
    return {"shape": list(output.shape), "mean": float(flat.mean()), "std": float(flat.std()),
            "sample": [float(v) for v in flat[:: max(flat.size // 8, 1)][:8]]}


def export(task: str, checkpoint: Path, zoo: Path, name: str | None = None) -> dict[str, Any]:
    """Export ``checkpoint`` to ``zoo/<name>.onnx`` and (re)write its manifest entry."""
    import onnxruntime as ort

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**saved["config"])
    model = build_model(task, cfg.config, cfg.fuse_stage)
    model.load_state_dict(saved["model"])
    model.eval()
    spec = INPUT_SPECS[cfg.config]
    name = name or f"{task}-{cfg.config}"
    names = input_names(task)
    example = tuple(torch.from_numpy(v) for v in reference_inputs(task, (spec.height, spec.width)).values())
    buffer = io.BytesIO()
    torch.onnx.export(
        model, example, buffer, input_names=names, output_names=["logits"], opset_version=OPSET, dynamo=False,
        dynamic_axes={n: {0: "batch"} for n in [*names, "logits"]},
    )
    zoo.mkdir(parents=True, exist_ok=True)
    path = zoo / f"{name}.onnx"
    path.write_bytes(buffer.getvalue())

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed in (1, 2, 3):
        inputs = reference_inputs(task, (spec.height, spec.width), batch=3, seed=seed)
        with torch.no_grad():
            expected = model(*[torch.from_numpy(v) for v in inputs.values()]).numpy()
        (got,) = session.run(None, inputs)
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > PARITY_ATOL:
        raise RuntimeError(f"{path}: ONNX Runtime differs from PyTorch by {worst:g} (> {PARITY_ATOL})")
    (reference,) = session.run(None, reference_inputs(task, (spec.height, spec.width)))

    out_shape = ["batch", 1, spec.height // 4, spec.width // 4] if task == "nipple" else ["batch", 1, spec.height, spec.width]
    entry = {
        "name": name,
        "task": task,
        "file": path.name,
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
        "inputs": [{"name": n, "shape": ["batch", 1, spec.height, spec.width], "dtype": "float32"} for n in names],
        "outputs": [{"name": "logits", "shape": out_shape, "dtype": "float32",
                     "meaning": "nipple heatmap logits (1/4 resolution)" if task == "nipple"
                     else "per-pixel mass logits (sigmoid gives the probability)"}],
        "normalisation": {"pixels": "display values in [0, 1], chest wall on the left, breast cropped "
                                    "and resized keeping its aspect (mommi.preprocess.model_input)",
                          "mean": spec.mean, "std": spec.std},
        "config": {"configuration": cfg.config, "fuse_stage": cfg.fuse_stage if task == "bidual" else None,
                   "epochs_run": saved.get("epoch"), "seed": cfg.seed, "batch_size": cfg.batch_size, "lr": cfg.lr},
        "training_data": saved.get("manifests") or [],
        "validation_metric": saved.get("metric"),
        "parity_max_abs_diff": worst,
        "reference": {"input": "numpy default_rng(0).standard_normal per input, batch 2", **output_summary(reference)},
        "exported": date.today().isoformat(),
        "checkpoint_sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
        "metrics": {},
    }
    manifest = read_manifest(zoo / MANIFEST_NAME)
    manifest["models"] = [m for m in manifest["models"] if m["name"] != name] + [entry]
    manifest["models"].sort(key=lambda m: m["name"])
    write_manifest(zoo / MANIFEST_NAME, manifest)
    return entry
