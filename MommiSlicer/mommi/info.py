"""What `mommi info` reports: versions, the ONNX Runtime flavour, providers, the zoo."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from mommi import __version__
from mommi.errors import RuntimeSetupError
from mommi.runtime.providers import cuda_status, detect_flavour, probe_providers
from mommi.runtime.zoo import manifest_path_of, zoo_status

DEPENDENCIES = (
    "numpy",
    "pydicom",
    "pylibjpeg",
    "pylibjpeg-libjpeg",
    "pylibjpeg-openjpeg",
    "pylibjpeg-rle",
    "opencv-python-headless",
    "onnxruntime",
    "onnxruntime-gpu",
    "PyQt5",
    "torch",
    "torchvision",
    "timm",
    "onnx",
)


def dependency_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def dicom_decoders() -> dict[str, list[str]]:
    """Compressed transfer syntaxes and the pydicom plugins that can decode them here."""
    from pydicom.pixels import decoders

    names = (
        "RLELosslessDecoder",
        "JPEGBaseline8BitDecoder",
        "JPEGExtended12BitDecoder",
        "JPEGLosslessDecoder",
        "JPEGLosslessSV1Decoder",
        "JPEG2000LosslessDecoder",
        "JPEG2000Decoder",
        "JPEGLSLosslessDecoder",
        "JPEGLSNearLosslessDecoder",
    )
    table = {}
    for name in names:
        decoder = getattr(decoders, name)
        table[decoder.UID.name] = sorted(decoder.available_plugins)
    return table


def collect_info(zoo: Path | None = None) -> dict[str, Any]:
    """The report; ``zoo`` (a folder or a manifest) is checked instead of the default zoo, so that a zoo
    about to be handed to a front end (``--zoo``, a setting) can be checked first."""
    flavour = detect_flavour()
    try:
        providers = [p.to_dict() for p in probe_providers()]
        provider_error = None
        usable, reason = cuda_status()
    except RuntimeSetupError as exc:
        providers, provider_error = [], str(exc)
        usable, reason = False, None
    status = zoo_status(manifest_path_of(zoo))
    problems = [p for p in (flavour.problem, provider_error) if p] + status.problems
    return {
        "mommislicer": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": dependency_versions(),
        "onnxruntime": flavour.to_dict(),
        "execution_providers": providers,
        "cuda": {"usable": usable, "why_not": reason},
        "dicom_decoders": dicom_decoders(),
        "model_zoo": status.to_dict(),
        "problems": list(dict.fromkeys(problems)),
    }
