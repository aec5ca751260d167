"""GPU smoke check for a developer with an NVIDIA GPU (or the project's device tool): install state, the
demo study on CUDA and on the CPU, their parity, and the pipeline benchmark on CUDA.

    pip install -e ".[gpu,test]"          # exactly one ONNX Runtime: the GPU build
    python Testing/benchmarks/gpu_smoke.py --out gpu-smoke [--repeats 5]

Steps (each printed; exit 1 at the first that fails):
1. `mommi info --json`: CUDA must be usable (else the one-sentence reason is printed);
2. the demo study analysed with `--device cpu` and with `--device cuda`;
3. parity of the two results within the stated tolerance: every probability map within
   MAP_TOLERANCE (of 255), the same findings in the same order, boxes within BOX_TOLERANCE_PX and
   detection scores within SCORE_TOLERANCE;
4. `bench_pipeline.py --device cuda` (seconds per study, peak memory), its table printed.
Record the GPU model, the parity numbers and the bench table in the README when measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: CUDA and CPU kernels sum in different orders: maps may differ by a rounding step or two
MAP_TOLERANCE = 2  # of 255
SCORE_TOLERANCE = 0.01
BOX_TOLERANCE_PX = 2.0


def _mommi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mommi.cli.main", *args], capture_output=True, text=True)


def parity(cpu: Path, cuda: Path) -> dict[str, Any]:
    """How far the CUDA result is from the CPU one, and whether it is within the tolerance."""
    a, b = (json.loads((folder / "result.json").read_text()) for folder in (cpu, cuda))
    with np.load(cpu / "maps.npz") as maps_a, np.load(cuda / "maps.npz") as maps_b:
        keys = sorted(k for k in maps_a.files if k.startswith("prob_"))
        worst_map = max((int(np.abs(maps_a[k].astype(int) - maps_b[k].astype(int)).max()) for k in keys), default=0)
        same_maps = keys == sorted(k for k in maps_b.files if k.startswith("prob_"))
    fa, fb = a["findings"], b["findings"]
    same_findings = [f["id"] for f in fa] == [f["id"] for f in fb]
    worst_score = max((abs(x["score"] - y["score"]) for x, y in zip(fa, fb)), default=0.0)
    worst_box = max((float(np.abs(np.subtract(x["box_px"], y["box_px"])).max()) for x, y in zip(fa, fb)), default=0.0)
    ok = (
        same_maps
        and worst_map <= MAP_TOLERANCE
        and same_findings
        and worst_score <= SCORE_TOLERANCE
        and worst_box <= BOX_TOLERANCE_PX
    )
    return {
        "ok": ok,
        "max_map_difference_of_255": worst_map,
        "same_findings": same_findings,
        "max_score_difference": round(worst_score, 5),
        "max_box_difference_px": round(worst_box, 3),
        "providers": {"cpu": a["provider"], "cuda": b["provider"]},
        "seconds": {"cpu": a["timings_s"].get("total"), "cuda": b["timings_s"].get("total")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu-smoke"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    info = json.loads(_mommi("info", "--json").stdout or "{}")
    cuda = info.get("cuda", {})
    print(f"1. mommi info: CUDA usable: {cuda.get('usable')} {cuda.get('why_not') or ''}".rstrip())
    if not cuda.get("usable"):
        return 1
    demo = _mommi("demo", "--out", str(args.out / "cpu"), "--device", "cpu", "--no-dicom")
    on_gpu = _mommi(
        "analyze", str(args.out / "cpu" / "study"), "--out", str(args.out / "cuda"), "--device", "cuda", "--no-dicom"
    )
    print(f"2. demo on the CPU: exit {demo.returncode}; on CUDA: exit {on_gpu.returncode}")
    if demo.returncode or on_gpu.returncode:
        print(demo.stderr[-2000:] + on_gpu.stderr[-2000:])
        return 1
    measured = parity(args.out / "cpu" / "result", args.out / "cuda")
    print(
        f"3. parity (maps <= {MAP_TOLERANCE}/255, scores <= {SCORE_TOLERANCE}, boxes <= {BOX_TOLERANCE_PX} px): "
        + json.dumps(measured)
    )
    bench = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("bench_pipeline.py")),
            "--device",
            "cuda",
            "--repeat",
            str(args.repeats),
        ],
        capture_output=True,
        text=True,
    )
    print("4. bench_pipeline.py --device cuda:\n" + bench.stdout + bench.stderr[-1000:])
    return 0 if measured["ok"] and bench.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
