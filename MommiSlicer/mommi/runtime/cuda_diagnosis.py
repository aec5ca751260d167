"""Why CUDA is not used, in one sentence, and the CUDA libraries loaded from NVIDIA's wheels.

ONNX Runtime says why its CUDA provider failed only in raw log lines ("Failed to load library
libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file")
and then falls back to the CPU. A radiologist's workstation has an NVIDIA driver and no CUDA
toolkit: the toolkit's libraries come from the ``nvidia-*`` wheels that ``onnxruntime-gpu[cuda,cudnn]``
installs, and ``onnxruntime.preload_dlls()`` loads them before the first CUDA session. What is left to
go wrong is the driver, which only the machine's owner can install: we ask the driver itself
(``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGetCount`` through ctypes; ONNX Runtime exposes none of
this, and nvidia-ml-py would be one more dependency for three calls) and turn the answer into a sentence.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: ONNX Runtime GPU 1.2x-1.3x wheels are built for CUDA 13
REQUIRED_CUDA = (13, 0)
#: the oldest NVIDIA driver branch with CUDA 13 (Linux 580.65.06, Windows 580.88)
MIN_DRIVER = "580"
CUDA_ERROR_NO_DEVICE = 100
CUDA_ERROR_INSUFFICIENT_DRIVER = 35


@dataclass(frozen=True)
class DriverStatus:
    library: str | None  # the driver library that loaded, None: no driver
    cuda_version: tuple[int, int] | None  # the newest CUDA the driver supports
    devices: int | None  # NVIDIA GPUs the driver sees
    init_error: int | None  # cuInit's error code (0: fine)


def _driver_library_names() -> tuple[str, ...]:
    return ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")


def driver_status(load: Callable[[str], Any] = ctypes.CDLL) -> DriverStatus:
    """Ask the NVIDIA driver (if any) what it supports; never raises."""
    for name in _driver_library_names():
        try:
            driver = load(name)
        except OSError:
            continue
        version, count = ctypes.c_int(0), ctypes.c_int(0)
        try:
            if driver.cuDriverGetVersion(ctypes.byref(version)) != 0:
                return DriverStatus(name, None, None, None)
            init = int(driver.cuInit(0))
            if init == 0:
                driver.cuDeviceGetCount(ctypes.byref(count))
        except (AttributeError, OSError):  # a library by that name that is not the driver
            return DriverStatus(name, None, None, None)
        cuda = (version.value // 1000, (version.value % 1000) // 10)
        return DriverStatus(name, cuda, count.value if init == 0 else None, init)
    return DriverStatus(None, None, None, None)


def unavailable_reason(flavour: str | None, probe_detail: str = "", status: DriverStatus | None = None) -> str:
    """One plain sentence: why the CUDA execution provider is not used here."""
    if flavour != "gpu":
        return (
            "CUDA is not used: the CPU build of ONNX Runtime is installed (pip install 'mommislicer[gpu]' on "
            "a computer with an NVIDIA GPU)"
        )
    status = status or driver_status()
    if status.library is None:
        return (
            f"CUDA is not used: no NVIDIA driver was found ({_driver_library_names()[0]}); install the NVIDIA "
            f"driver {MIN_DRIVER} or newer (CUDA {REQUIRED_CUDA[0]}) on a computer with an NVIDIA GPU"
        )
    if status.cuda_version is not None and status.cuda_version < REQUIRED_CUDA:
        have = f"{status.cuda_version[0]}.{status.cuda_version[1]}"
        return (
            f"CUDA is not used: the NVIDIA driver supports CUDA {have} but ONNX Runtime GPU needs CUDA "
            f"{REQUIRED_CUDA[0]}: update the driver to {MIN_DRIVER} or newer"
        )
    if status.init_error == CUDA_ERROR_NO_DEVICE or status.devices == 0:
        return "CUDA is not used: the NVIDIA driver is installed but sees no NVIDIA GPU"
    if status.init_error == CUDA_ERROR_INSUFFICIENT_DRIVER:
        return f"CUDA is not used: the NVIDIA driver is too old for this CUDA; update it to {MIN_DRIVER} or newer"
    detail = probe_detail.lower()
    if "out of memory" in detail or "cudaerrormemoryallocation" in detail:
        return "CUDA is not used: the GPU is out of memory (close other programs using it, or use the CPU)"
    if status.init_error not in (None, 0):
        return f"CUDA is not used: the NVIDIA driver failed to start (cuInit error {status.init_error})"
    missing = _missing_library(probe_detail)
    if missing:
        return (
            f"CUDA is not used: the CUDA library {missing} is missing; reinstall with pip install "
            "'mommislicer[gpu]' (it brings CUDA and cuDNN as wheels)"
        )
    return f"CUDA is not used: ONNX Runtime could not start its CUDA provider ({probe_detail or 'no reason given'})"


def _missing_library(detail: str) -> str | None:
    marker = ": cannot open shared object file"
    if marker not in detail:
        return None
    return detail.split(marker)[0].split()[-1].strip(":")


@functools.lru_cache(maxsize=1)
def preload_cuda_libraries() -> bool:
    """Load CUDA and cuDNN from the nvidia-* wheels once per process, before the first CUDA session
    (``onnxruntime.preload_dlls``, ONNX Runtime >= 1.21). Only with the GPU build; quiet: a missing
    driver is diagnosed by ``unavailable_reason``, not by its printed warnings."""
    import onnxruntime

    preload = getattr(onnxruntime, "preload_dlls", None)
    if preload is None:
        return False
    with _QuietStderr():
        try:
            preload()
        except Exception:  # noqa: BLE001 - whatever fails here shows up, explained, in the provider probe
            return False
    return True


class _QuietStderr:
    """Native libraries print to file descriptor 2 directly; Python's sys.stderr cannot hold them back."""

    def __enter__(self) -> None:
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)
