"""ONNX Runtime sessions for zoo models: verified hash, chosen device, provider reported."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mommi.errors import RuntimeSetupError
from mommi.runtime.cuda_diagnosis import unavailable_reason
from mommi.runtime.providers import CUDA, cuda_status, detect_flavour, require_onnxruntime
from mommi.runtime.zoo import ZooError, verified_model_bytes

DEVICES = ("auto", "cuda", "cpu")


@dataclass
class ZooModel:
    name: str
    entry: dict[str, Any]
    session: Any
    provider: str  # what the session really got

    def run(self, **inputs: np.ndarray) -> np.ndarray:
        """The output of a single-output model."""
        (out,) = self.run_all(**inputs)
        return out

    def run_all(self, **inputs: np.ndarray) -> list[np.ndarray]:
        """Every output, in the manifest's order (a detector gives boxes and scores).

        Inputs the graph does not have are not passed: the exporter drops inputs a network
        never reads (IpsiDualNet with box-shape geometry ignores the nipples), and callers
        need not know which variant of a model the zoo holds."""
        present = {i.name for i in self.session.get_inputs()}
        try:
            return self.session.run(None, {k: v.astype(np.float32) for k, v in inputs.items() if k in present})
        except Exception as exc:  # ONNX Runtime's error classes have no common base but Exception
            raise ZooError(
                f"model {self.name!r} ({self.entry.get('file')}) failed to run: "
                f"{str(exc).splitlines()[0][:300]} (a model of another task or version?)"
            ) from None


def cuda_provider_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CUDA provider options that matter on a reading workstation, from the environment:

    - ``device_id``: ``MOMMI_CUDA_DEVICE`` (default 0), the GPU to use on a multi-GPU machine;
    - ``gpu_mem_limit``: ``MOMMI_CUDA_MEMORY_GB`` (default: no limit), a cap for a GPU shared with a viewer;
    - ``arena_extend_strategy`` kSameAsRequested: the arena grows by what a model asks, not by doubling,
      so the four-view chain keeps its footprint close to what it needs;
    - ``cudnn_conv_algo_search`` HEURISTIC: EXHAUSTIVE benchmarks every convolution on the first run of
      each session (seconds, once per process), for little gain on these small lite networks.
    """
    env = os.environ if env is None else env
    options = {"device_id": "0", "arena_extend_strategy": "kSameAsRequested", "cudnn_conv_algo_search": "HEURISTIC"}
    device = env.get("MOMMI_CUDA_DEVICE", "").strip()
    if device:
        if not device.isdigit():
            raise RuntimeSetupError(f"MOMMI_CUDA_DEVICE={device!r} is not a GPU number (0, 1, ...)")
        options["device_id"] = device
    memory = env.get("MOMMI_CUDA_MEMORY_GB", "").strip()
    if memory:
        try:
            gigabytes = float(memory)
        except ValueError:
            gigabytes = -1.0
        if not 0 < gigabytes < 4096:
            raise RuntimeSetupError(f"MOMMI_CUDA_MEMORY_GB={memory!r} is not a memory size in GB (e.g. 4)")
        options["gpu_mem_limit"] = str(int(gigabytes * 1024**3))
    return options


def load_model(name: str, manifest: Path | None = None, device: str = "auto") -> ZooModel:
    """Create a session for ``name`` after its SHA-256 check; ``auto`` falls back to the CPU (the pipeline warns).

    Raises:
        ZooError: the model is not listed (ModelNotInZooError), missing, altered, outside the zoo or unloadable.
        RuntimeSetupError: no ONNX Runtime, or ``cuda`` without a usable GPU (the one-sentence reason).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}")
    ort = require_onnxruntime()
    content, _, entry = verified_model_bytes(name, manifest)  # the hashed bytes are the ones loaded
    cuda_listed = CUDA in ort.get_available_providers()
    if device == "cuda" and not cuda_listed:
        raise RuntimeSetupError(unavailable_reason(detect_flavour().name))
    providers: list[Any] = (
        [(CUDA, cuda_provider_options()), "CPUExecutionProvider"]
        if device in ("auto", "cuda") and cuda_listed
        else ["CPUExecutionProvider"]
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(content, sess_options=options, providers=providers)
    except Exception as exc:  # ONNX Runtime raises its own classes (InvalidProtobuf, Fail, ...), no common base
        raise ZooError(
            f"model {name!r}: {entry['file']} could not be loaded by ONNX Runtime ({str(exc).splitlines()[0][:300]})"
        ) from None
    provider = session.get_providers()[0]
    if device == "cuda" and provider != CUDA:
        raise RuntimeSetupError(
            cuda_status()[1] or f"model {name!r}: CUDA was requested but the session got {provider}"
        )
    return ZooModel(name, entry, session, provider)
