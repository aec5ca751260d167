"""Why CUDA is not used, in one sentence (#20): the decision for every driver state, and what this machine
really says. CI has the CPU build of ONNX Runtime and no GPU; the GPU-build checks run where
`pip install -e ".[gpu]"` was done (skipped elsewhere, with the reason)."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mommi.errors import RuntimeSetupError
from mommi.runtime.cuda_diagnosis import DriverStatus, driver_status, unavailable_reason
from mommi.runtime.providers import cuda_status, detect_flavour

FLAVOUR = detect_flavour().name
NO_DRIVER = ctypes.util.find_library("cuda") is None


@pytest.mark.parametrize(
    ("flavour", "status", "detail", "says"),
    [
        ("cpu", None, "", "the CPU build of ONNX Runtime is installed"),
        ("gpu", DriverStatus(None, None, None, None), "", "no NVIDIA driver was found"),
        (
            "gpu",
            DriverStatus("libcuda.so.1", (12, 4), 1, 0),
            "",
            "supports CUDA 12.4 but ONNX Runtime GPU needs CUDA 13",
        ),
        ("gpu", DriverStatus("libcuda.so.1", (13, 0), None, 100), "", "sees no NVIDIA GPU"),
        ("gpu", DriverStatus("libcuda.so.1", (13, 0), 0, 0), "", "sees no NVIDIA GPU"),
        ("gpu", DriverStatus("libcuda.so.1", (13, 0), 1, 0), "CUDA failure 2: out of memory", "out of memory"),
        (
            "gpu",
            DriverStatus("libcuda.so.1", (13, 0), 1, 0),
            "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared "
            "object file: No such file or directory",
            "the CUDA library libcublasLt.so.13 is missing",
        ),
        ("gpu", DriverStatus("libcuda.so.1", (13, 0), 1, 999), "", "failed to start (cuInit error 999)"),
    ],
)
def test_one_sentence_for_each_reason(flavour, status, detail, says) -> None:
    sentence = unavailable_reason(flavour, detail, status or DriverStatus(None, None, None, None))
    assert sentence.startswith("CUDA is not used: ") and says in sentence
    assert "\n" not in sentence and "[E:onnxruntime" not in sentence


def test_the_driver_is_asked_and_a_missing_one_is_named() -> None:
    if not NO_DRIVER:
        pytest.skip("this machine has an NVIDIA driver")
    status = driver_status()
    assert status.library is None
    assert "no NVIDIA driver was found (libcuda.so.1)" in unavailable_reason("gpu", "", status)


def test_cuda_requested_without_a_gpu_is_an_error_with_the_sentence() -> None:
    from mommi.runtime.sessions import load_model

    usable, reason = cuda_status()
    if usable:
        pytest.skip("CUDA works on this machine")
    with pytest.raises(RuntimeSetupError, match="CUDA is not used: "):
        load_model("nipple-lite", device="cuda")
    assert reason.startswith("CUDA is not used: ")
    if FLAVOUR == "cpu":
        assert "CPU build" in reason


def test_mommi_info_says_why_in_one_line_and_prints_no_onnx_runtime_log() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "mommi.cli.main", "info"], capture_output=True, text=True, timeout=300
    )
    output = shown.stdout + shown.stderr
    assert "[E:onnxruntime" not in output and "[W:onnxruntime" not in output, output
    gpu_lines = [line for line in output.splitlines() if line.startswith("GPU: ")]
    assert len(gpu_lines) == 1 and ("CUDA is used" in gpu_lines[0] or "CUDA is not used: " in gpu_lines[0])


@pytest.mark.skipif(
    FLAVOUR != "gpu" or not NO_DRIVER,
    reason="needs the GPU build of ONNX Runtime (pip install -e '.[gpu]') on a machine without an NVIDIA driver",
)
def test_the_gpu_build_lacks_only_the_driver() -> None:
    """With the CUDA and cuDNN wheels preloaded, ONNX Runtime's CUDA provider fails for one reason only:
    the driver library (libcuda.so.1), which no wheel can bring."""
    probe = textwrap.dedent("""
        import onnxruntime as ort
        from mommi.runtime.cuda_diagnosis import preload_cuda_libraries
        from mommi.runtime.probe_model import probe_model_bytes
        preload_cuda_libraries()
        ort.set_default_logger_severity(0)
        ort.InferenceSession(probe_model_bytes(), providers=["CUDAExecutionProvider"])
    """)
    raw = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    failed = [line for line in raw.stderr.splitlines() if "cannot open shared object file" in line]
    assert failed and all("libcuda.so.1: cannot open shared object file" in line for line in failed), raw.stderr


def test_cuda_provider_options_from_the_environment() -> None:
    from mommi.runtime.sessions import cuda_provider_options

    default = cuda_provider_options({})
    assert default == {
        "device_id": "0",
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
    }
    chosen = cuda_provider_options({"MOMMI_CUDA_DEVICE": "1", "MOMMI_CUDA_MEMORY_GB": "4"})
    assert chosen["device_id"] == "1" and chosen["gpu_mem_limit"] == str(4 * 1024**3)
    for bad in ({"MOMMI_CUDA_DEVICE": "first"}, {"MOMMI_CUDA_MEMORY_GB": "lots"}, {"MOMMI_CUDA_MEMORY_GB": "-2"}):
        with pytest.raises(RuntimeSetupError, match="MOMMI_CUDA_"):
            cuda_provider_options(bad)


def test_the_gpu_smoke_parity_check_tells_equal_from_different(tmp_path) -> None:
    """The smoke script's parity rule on two real CPU analyses of the demo study (equal), then on one
    whose map is changed beyond the tolerance (different). The CUDA side runs only where a GPU is."""
    import shutil

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
    from gpu_smoke import MAP_TOLERANCE, parity
    from mommi.cli.main import main

    assert main(["demo", "--out", str(tmp_path / "demo"), "--device", "cpu", "--no-dicom"]) == 0
    first = tmp_path / "demo" / "result"
    second = tmp_path / "again"
    assert (
        main(["analyze", str(tmp_path / "demo" / "study"), "--out", str(second), "--device", "cpu", "--no-dicom"]) == 0
    )
    assert parity(first, second)["ok"]
    changed = tmp_path / "changed"
    shutil.copytree(second, changed)
    with np.load(changed / "maps.npz") as maps:
        arrays = {k: maps[k].copy() for k in maps.files}
    key = next(k for k in arrays if k.startswith("prob_"))
    arrays[key] = np.clip(arrays[key].astype(int) + MAP_TOLERANCE + 1, 0, 255).astype(np.uint8)
    np.savez_compressed(changed / "maps.npz", **arrays)
    result = parity(first, changed)
    assert not result["ok"] and result["max_map_difference_of_255"] > MAP_TOLERANCE
