"""Which ONNX Runtime is installed, and which execution providers really work here.

``onnxruntime`` and ``onnxruntime-gpu`` install the same Python package, so having
both is a broken install that may silently lose the GPU; having neither means no
analysis can run. Both cases get a sentence that says what to install.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

import numpy as np

from mommi.errors import RuntimeSetupError
from mommi.runtime.cuda_diagnosis import preload_cuda_libraries, unavailable_reason
from mommi.runtime.probe_model import probe_model_bytes

FLAVOURS = {"onnxruntime": "cpu", "onnxruntime-gpu": "gpu"}
CUDA = "CUDAExecutionProvider"
INSTALL_HINT = (
    "install exactly one ONNX Runtime: pip install 'mommislicer[cpu]' on any computer, "
    "or pip install 'mommislicer[gpu]' with an NVIDIA GPU (driver 580 or newer; CUDA 13 and cuDNN come as wheels)"
)
#: ONNX Runtime's own log: 4 = fatal only. Its provider-loading errors and fall-back warnings are raw
#: lines on the terminal; we say the same in one sentence (``cuda_diagnosis``).
ORT_LOG_SEVERITY = 4
#: providers that are listed by GPU builds but not used by MommiSlicer
NOT_PROBED = {
    "TensorrtExecutionProvider": "not used by MommiSlicer (engine build is slow)",
    "AzureExecutionProvider": "remote-endpoint provider, not a local device; not used",
}


@dataclass(frozen=True)
class Flavour:
    name: str | None  # "cpu", "gpu" or None
    distributions: dict[str, str]  # installed distribution -> version
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"flavour": self.name, "distributions": dict(self.distributions), "problem": self.problem}


def detect_flavour() -> Flavour:
    installed: dict[str, str] = {}
    for dist in FLAVOURS:
        try:
            installed[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    if not installed:
        return Flavour(None, installed, "ONNX Runtime is not installed: " + INSTALL_HINT)
    if len(installed) > 1:
        return Flavour(
            None,
            installed,
            "both onnxruntime and onnxruntime-gpu are installed and overwrite each other: "
            "pip uninstall -y onnxruntime onnxruntime-gpu, then " + INSTALL_HINT,
        )
    dist = next(iter(installed))
    return Flavour(FLAVOURS[dist], installed, None)


def require_onnxruntime() -> Any:
    """Import onnxruntime or raise RuntimeSetupError saying what to install."""
    flavour = detect_flavour()
    if not flavour.distributions:
        raise RuntimeSetupError(flavour.problem or INSTALL_HINT)
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise RuntimeSetupError(f"ONNX Runtime cannot be imported ({exc}); {INSTALL_HINT}") from exc
    ort.set_default_logger_severity(ORT_LOG_SEVERITY)
    if flavour.name == "gpu":
        preload_cuda_libraries()
    return ort


@dataclass(frozen=True)
class ProviderProbe:
    provider: str
    works: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe(ort: Any, provider: str) -> ProviderProbe:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # a failed provider falls back with a warning we report ourselves
    try:
        with warnings.catch_warnings():  # a fallback is reported below, not as a Python warning
            warnings.simplefilter("ignore")
            session = ort.InferenceSession(probe_model_bytes(), sess_options=options, providers=[provider])
        got = session.get_providers()
        x = np.arange(4, dtype=np.float32).reshape(1, 4)
        (y,) = session.run(None, {"x": x})
    except Exception as exc:  # every provider failure mode is a 'no' here
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if provider == CUDA:
            return ProviderProbe(provider, False, unavailable_reason(detect_flavour().name, first_line))
        return ProviderProbe(provider, False, first_line[:200])
    if not got or got[0] != provider:
        detail = f"session fell back to {got[0] if got else 'nothing'}"
        if provider == CUDA:
            detail = unavailable_reason(detect_flavour().name, detail)
        return ProviderProbe(provider, False, detail)
    if not np.allclose(y, 2 * x):
        return ProviderProbe(provider, False, "session ran but computed a wrong result")
    return ProviderProbe(provider, True, "session created and ran")


def cuda_status() -> tuple[bool, str | None]:
    """(CUDA usable here, why not in one sentence); the CUDA provider is probed with a real session."""
    ort = require_onnxruntime()
    if CUDA not in ort.get_available_providers():
        return False, unavailable_reason(detect_flavour().name)
    probe = _probe(ort, CUDA)
    return probe.works, None if probe.works else probe.detail


def probe_providers() -> list[ProviderProbe]:
    """Create a real session on every listed provider and report which ones held."""
    ort = require_onnxruntime()
    probes = []
    for provider in ort.get_available_providers():
        if provider in NOT_PROBED:
            probes.append(ProviderProbe(provider, False, NOT_PROBED[provider]))
        else:
            probes.append(_probe(ort, provider))
    return probes
