"""Benchmark: one four-view study through the whole pipeline, per stage, on CPU and (when present) CUDA.

For each device, in a fresh worker process (so that its peak RSS belongs to that
configuration alone): the time to build the ``Pipeline`` (SHA-256 checks and
session creation), one warm-up analysis, then ``--repeat`` analyses of which the
median seconds per stage are reported (``load`` is ``Pipeline.load``, the DICOM
decode), with the time spent inside each model's ``session.run`` and the peak
RSS. Then the zoo models' FLOPs at the shapes the pipeline really fed them
(mommi.runtime.flops: Conv, ConvTranspose, MatMul and Gemm only), the matrix-
multiply rate of this machine measured in the same run (numpy and ONNX Runtime),
the floor time FLOPs / rate, and measured / floor. Output is Markdown tables
(for the README); ``--json`` saves the numbers. Timings are reported, never
asserted: DESIGN.md's target is printed next to the measurement.

    python Testing/benchmarks/bench_pipeline.py [--repeat 5] [--size lite|clinical] [--study FOLDER]
                                                [--device auto|cpu|cuda] [--cores N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = "lite, 2-core CPU: <= 10 s per study"
TARGET_S = 10.0
#: stage of Pipeline.analyze that runs each zoo task
STAGE_OF_TASK = {
    "nipple": "nipple",
    "single": "single",
    "bidual": "bilateral",
    "ipsidual": "ipsilateral",
    "fusion": "fusion",
    "malignancy": "malignancy",
}
NOT_COUNTED = (
    "FLOPs count Conv, ConvTranspose, MatMul and Gemm (2 per multiply-add); elementwise ops, Resize, "
    "pooling, normalisation, Softmax, TopK, NMS and RoiAlign are not counted, nor is the pipeline's "
    "numpy/OpenCV work (preprocessing, registration, rendering, findings)"
)


# ----------------------------------------------------------------------------------------- helpers


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Recorder:
    """Stands in for a zoo model's InferenceSession: times every run (and keeps the feeds if asked)."""

    def __init__(self, session: Any, keep_feeds: bool = False) -> None:
        self._session, self.keep_feeds = session, keep_feeds
        self.seconds, self.calls, self.feeds = 0.0, 0, []  # type: ignore[var-annotated]

    def reset(self) -> None:
        self.seconds, self.calls, self.feeds = 0.0, 0, []

    def run(self, output_names: Any, feeds: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self._session.run(output_names, feeds, *args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        if self.keep_feeds:
            self.feeds.append(dict(feeds))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def zoo_models(pipeline: Any) -> list[Any]:
    return list(pipeline.chain.loaded_models()) + ([pipeline.classifier.model] if pipeline.classifier else [])


def instrument(pipeline: Any, keep_feeds: bool = False) -> dict[str, Recorder]:
    recorders = {}
    for model in zoo_models(pipeline):
        recorders[model.name] = model.session = Recorder(model.session, keep_feeds)
    return recorders


def task_of(pipeline: Any) -> dict[str, str]:
    return {m.name: str(m.entry.get("task", m.name.split("-")[0])) for m in zoo_models(pipeline)}


def matmul_model(n: int) -> bytes | None:
    """One n x n float32 MatMul as an ONNX graph (None without the onnx package)."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def best_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rates(device: str, repeats: int = 7) -> list[dict[str, Any]]:
    """float32 n x n matrix-multiply rate(s) on ``device``, GFLOP/s, best of ``repeats``."""
    import numpy as np

    rates = []
    n = 1024 if device == "cpu" else 4096
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    flops = 2 * n**3
    if device == "cpu":
        seconds = best_seconds(lambda: np.matmul(a, b), repeats)
        rates.append({"engine": "numpy matmul", "n": n, "gflop_s": flops / seconds / 1e9, "threads": blas_threads()})
    data = matmul_model(n)
    if data is None:
        rates.append(
            {
                "engine": "onnxruntime MatMul",
                "n": n,
                "gflop_s": None,
                "threads": "",
                "note": "skipped: the onnx package is not installed",
            }
        )
        return rates
    import onnxruntime as ort

    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(data, providers=providers)
    if device == "cuda":  # inputs and output stay on the GPU: the rate is the kernel's, not PCIe's
        binding = session.io_binding()
        for name, x in (("a", a), ("b", b)):
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
        binding.bind_output("c", "cuda")
        seconds = best_seconds(lambda: session.run_with_iobinding(binding), repeats)
        threads = "GPU"
    else:
        seconds = best_seconds(lambda: session.run(None, {"a": a, "b": b}), repeats)
        threads = "ORT default intra-op pool"
    rates.append(
        {
            "engine": f"onnxruntime MatMul ({session.get_providers()[0]})",
            "n": n,
            "gflop_s": flops / seconds / 1e9,
            "threads": threads,
        }
    )
    return rates


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            return f"{blas[0]['num_threads']} ({blas[0].get('internal_api', 'blas')})"
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return f"{os.environ[var]} ({var})"
    return f"BLAS default ({len(os.sched_getaffinity(0))} cores available)"


def gpu_memory_mb() -> float | None:
    """This process's GPU memory per nvidia-smi (ORT's arena keeps its peak), or None."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return float(used)
    return None


# ------------------------------------------------------------------------------------------ worker


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in a fresh process: one device's setup, warm-up, repeats, peak RSS and matmul rates."""
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    import numpy as np  # noqa: F401 - counted in the RSS after imports

    from mommi.runtime.pipeline import Pipeline

    out: dict[str, Any] = {"device": args.worker, "cores": len(os.sched_getaffinity(0)), "pid": os.getpid()}
    out["rss_imports_mb"] = maxrss_mb()
    start = time.perf_counter()
    try:
        pipeline = Pipeline(args.zoo, device=args.worker)
    except Exception as exc:  # noqa: BLE001 - e.g. CUDA listed but no GPU: reported as a skip
        return {**out, "skipped": f"Pipeline(device={args.worker!r}) failed: {exc}"}
    out["setup_s"] = time.perf_counter() - start
    out["provider"] = pipeline.provider
    if args.worker == "cuda" and pipeline.provider != "CUDAExecutionProvider":
        return {**out, "skipped": f"Pipeline(device='cuda') got {pipeline.provider}"}
    out["missing"] = dict(pipeline.missing)
    recorders = instrument(pipeline)
    out["tasks"] = task_of(pipeline)
    out["rss_setup_mb"] = maxrss_mb()

    study, seconds = pipeline.load(Path(args.study))
    pipeline.analyze(study, load_seconds=seconds)  # warm-up: first-run allocations and kernel choices
    del study
    runs = []
    for _ in range(args.repeat):
        for r in recorders.values():
            r.reset()
        study, seconds = pipeline.load(Path(args.study))
        result = pipeline.analyze(study, load_seconds=seconds)
        runs.append(
            {
                "timings_s": dict(result.timings_s),
                "findings": len(result.findings),
                "session_s": {n: r.seconds for n, r in recorders.items()},
                "calls": {n: r.calls for n, r in recorders.items()},
            }
        )
        del study, result
    out["rss_peak_mb"] = maxrss_mb()
    out["gpu_memory_mb"] = gpu_memory_mb() if args.worker == "cuda" else None
    out["runs"] = runs
    out["rates"] = matmul_rates(args.worker)  # after the RSS reading: its matrices are not the pipeline's
    return out


def run_worker(device: str, study: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            device,
            "--study",
            str(study),
            "--repeat",
            str(args.repeat),
            "--worker-out",
            str(result_file),
        ]
        if args.zoo:
            command += ["--zoo", str(args.zoo)]
        env = dict(os.environ)
        if args.cores:
            command += ["--cores", str(args.cores)]
            env.setdefault("OPENBLAS_NUM_THREADS", str(args.cores))
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if result_file.is_file():
            return json.loads(result_file.read_text())
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {"device": device, "skipped": f"worker exited {done.returncode}: " + " | ".join(tail)}


def cuda_skip_reason() -> str | None:
    """Why CUDA is not benchmarked, or None when onnxruntime lists it (the worker then checks the session)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return f"onnxruntime cannot be imported ({exc})"
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        return f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (providers: {', '.join(available)})"
    return None


# ------------------------------------------------------------------------------------------- FLOPs


def model_flops(study: Path, zoo: Path | None) -> tuple[dict[str, Any] | None, str]:
    """FLOPs of every zoo model as the pipeline calls it on ``study`` (in this process, CPU), or None and why."""
    try:
        import onnx
    except ImportError:
        return None, "FLOPs and floor times skipped: the onnx package is not installed (pip install onnx)"
    from mommi.runtime.flops import count_flops, observe_shapes
    from mommi.runtime.pipeline import Pipeline
    from mommi.runtime.zoo import verified_model_path

    pipeline = Pipeline(zoo, device="cpu")
    tasks = task_of(pipeline)
    recorders = instrument(pipeline, keep_feeds=True)
    loaded, seconds = pipeline.load(study)
    result = pipeline.analyze(loaded, load_seconds=seconds)
    models: dict[str, Any] = {}
    for name, recorder in recorders.items():
        if not recorder.feeds:
            continue
        graph = onnx.load(str(verified_model_path(name, zoo)[0]))
        groups: dict[str, list[dict[str, Any]]] = {}
        for feeds in recorder.feeds:
            shapes = {k: list(v.shape) for k, v in feeds.items()}
            groups.setdefault(json.dumps(shapes, sort_keys=True), []).append(feeds)
        static = run = 0
        unresolved, resolved, note = set(), True, ""
        for key, calls in groups.items():
            shapes = json.loads(key)
            count = count_flops(graph, shapes)
            static += count.flops * len(calls)
            unresolved.update(count.unresolved)
            if count.exact:
                run += count.flops * len(calls)
                continue
            try:  # data-dependent shapes: read them off a run of the graph on the very same inputs
                for observed in observe_shapes(graph, calls, count.missing):
                    again = count_flops(graph, shapes, observed)
                    run += again.flops
                    resolved = resolved and again.exact
            except Exception as exc:  # noqa: BLE001 - the static count stands, as a lower bound
                run += count.flops * len(calls)
                resolved, note = False, f"not resolved by running the graph: {exc}"
        batches = [int(next(iter(f.values())).shape[0]) for f in recorder.feeds]
        models[name] = {
            "task": tasks[name],
            "stage": STAGE_OF_TASK.get(tasks[name], tasks[name]),
            "calls": len(batches),
            "batches": batches,
            "gflops_static": static / 1e9,
            "static_exact": not unresolved,
            "unresolved_nodes": len(unresolved),
            "gflops": run / 1e9,
            "exact": resolved,
            "note": note,
        }
    return {"models": models, "findings": len(result.findings)}, NOT_COUNTED


# ----------------------------------------------------------------------------------------- reports


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
        info["providers_available"] = ort.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    import numpy as np

    info["numpy"] = np.__version__
    return info


def table(headers: list[str], rows: list[list[Any]], align: str = "") -> str:
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def median_stage(result: dict[str, Any], stage: str) -> float | None:
    values = [r["timings_s"][stage] for r in result["runs"] if stage in r["timings_s"]]
    return statistics.median(values) if values else None


def median_session(result: dict[str, Any], model: str) -> float | None:
    values = [r["session_s"][model] for r in result["runs"] if model in r["session_s"]]
    return statistics.median(values) if values else None


def best_rate(result: dict[str, Any]) -> float | None:
    rates = [r["gflop_s"] for r in result.get("rates", []) if r.get("gflop_s")]
    return max(rates) if rates else None


def report(
    machine: dict[str, Any],
    study: dict[str, Any],
    devices: dict[str, dict[str, Any]],
    flops: dict[str, Any] | None,
    flops_note: str,
    args: argparse.Namespace,
) -> None:
    from mommi.runtime.pipeline import STAGES

    measured = {d: r for d, r in devices.items() if "skipped" not in r}
    print("## Pipeline benchmark\n")
    print(
        f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores "
        f"({machine['cores_available']} available to this process), {machine['platform']}"
    )
    print(
        f"- python {machine['python']}, numpy {machine['numpy']}, onnxruntime {machine.get('onnxruntime')} "
        f"(providers: {', '.join(machine.get('providers_available', []))})"
    )
    print(f"- study: {study['source']}; {study['views']}")
    for device, result in devices.items():
        if "skipped" in result:
            print(f"- {device}: skipped — {result['skipped']}")
        else:
            pinned = f"pinned to {result['cores']} cores" if args.cores else f"{result['cores']} cores"
            print(
                f"- {device}: provider {result['provider']}, {pinned}, one warm-up then median of "
                f"{len(result['runs'])} analyses, each in a fresh worker process"
            )
            for task, why in result.get("missing", {}).items():
                print(f"  - {task} not in the zoo: {why.split(' (models:')[0]}")
    if not measured:
        return
    names = list(measured)

    print("\n### Time per study (median seconds)\n")
    rows = [["setup (hash checks + sessions, once)"] + [fmt(measured[d]["setup_s"], 2) for d in names]]
    for stage in STAGES:
        label = "load (DICOM decode)" if stage == "load" else stage
        rows.append([label] + [fmt(median_stage(measured[d], stage)) for d in names])
    rows.append(["**total**"] + [f"**{fmt(median_stage(measured[d], 'total'))}**" for d in names])
    rows.append(["findings reported (count)"] + [str(measured[d]["runs"][-1]["findings"]) for d in names])
    print(table(["stage"] + [f"{d} s" for d in names], rows))
    if "cpu" in measured:
        total = median_stage(measured["cpu"], "total")
        verdict = "within" if total is not None and total <= TARGET_S else "over"
        print(
            f"\nDESIGN target ({TARGET}); measured: {fmt(total, 2)} s on {measured['cpu']['cores']} CPU cores, "
            f"{study['size']} study ({verdict} the target; not asserted)"
        )

    print("\n### Peak memory (resident set of each device's worker process, MB)\n")
    rows = [
        [
            d,
            fmt(r["rss_imports_mb"], 0),
            fmt(r["rss_setup_mb"], 0),
            fmt(r["rss_peak_mb"], 0),
            fmt(r["rss_peak_mb"] - r["rss_setup_mb"], 0),
            fmt(r.get("gpu_memory_mb"), 0),
        ]
        for d, r in measured.items()
    ]
    print(
        table(["device", "after imports", "after setup", "peak (analyses)", "analyses added", "GPU (nvidia-smi)"], rows)
    )

    print("\n### Matrix-multiply rate, float32, measured in this run\n")
    rows = [
        [d, r["engine"], f"{r['n']}x{r['n']}", fmt(r["gflop_s"], 1), r.get("threads", "") or r.get("note", "")]
        for d, res in measured.items()
        for r in res["rates"]
    ]
    print(table(["device", "engine", "matrices", "GFLOP/s", "threads"], rows, "lllrl"))

    if flops is None:
        print(f"\n{flops_note}")
        return
    models = flops["models"]
    rates = {d: best_rate(r) for d, r in measured.items()}
    print("\n### Model FLOPs and floor time (FLOPs / best measured rate of the device)\n")
    rows = []
    for name, m in models.items():
        batches = m["batches"]
        batch = (
            str(batches[0])
            if len(batches) == 1
            else (f"{batches[0]} x {len(batches)} calls" if len(set(batches)) == 1 else "+".join(map(str, batches)))
        )
        if m["static_exact"]:
            counted = "exact"
        elif m["exact"]:
            counted = (
                f"shape inference: lower bound {m['gflops_static']:.3f} ({m['unresolved_nodes']} nodes "
                "data-dependent); as run on this study"
            )
        else:
            counted = f"lower bound ({m['unresolved_nodes']} nodes data-dependent) {m['note']}".strip()
        rows.append(
            [name, batch, fmt(m["gflops"]), counted]
            + [fmt(m["gflops"] / rates[d] * 1e3 if rates[d] else None, 1) for d in names]
        )
    total_gflops = sum(m["gflops"] for m in models.values())
    rows.append(
        ["**all models**", "", f"**{fmt(total_gflops)}**", ""]
        + [f"**{fmt(total_gflops / rates[d] * 1e3 if rates[d] else None, 1)}**" for d in names]
    )
    print(
        table(
            ["model", "batch", "GFLOPs", "counted"] + [f"floor ms ({d}, {fmt(rates[d], 0)} GFLOP/s)" for d in names],
            rows,
            "llrl" + "r" * len(names),
        )
    )
    print(f"\n{flops_note}.")

    for device in names:
        rate = rates[device]
        if not rate:
            continue
        result = measured[device]
        print(f"\n### Measured / floor, {device}\n")
        rows = []
        sum_floor = sum_session = 0.0
        for name, m in models.items():
            floor = m["gflops"] / rate
            session, stage = median_session(result, name), median_stage(result, m["stage"])
            sum_floor += floor
            sum_session += session or 0.0
            rows.append(
                [
                    m["stage"],
                    name,
                    fmt(floor * 1e3, 1),
                    fmt(session * 1e3 if session else None, 1),
                    fmt(stage * 1e3 if stage else None, 1),
                    fmt(session / floor if session else None, 1),
                    fmt(stage / floor if stage else None, 1),
                ]
            )
        total = median_stage(result, "total")
        rows.append(
            [
                "**network sessions**",
                "",
                fmt(sum_floor * 1e3, 1),
                fmt(sum_session * 1e3, 1),
                "",
                fmt(sum_session / sum_floor, 1),
                "",
            ]
        )
        rows.append(
            [
                "**total** (all stages)",
                "",
                fmt(sum_floor * 1e3, 1),
                "",
                fmt(total * 1e3 if total else None, 1),
                "",
                fmt(total / sum_floor if total else None, 1),
            ]
        )
        print(
            table(
                ["stage", "model", "floor ms", "session.run ms", "stage ms", "session / floor", "stage / floor"],
                rows,
                "llrrrrr",
            )
        )
    print(
        "\nsession.run ms: time inside the model's ONNX Runtime session (median over analyses); stage ms "
        "adds the stage's Python, numpy and OpenCV work (registration, rendering of detections, ...)."
    )


# -------------------------------------------------------------------------------------------- main


def make_study(tmp: Path, size: str, seed: int) -> Path:
    from mommi.data.synth import synthesize

    (folder,) = synthesize(tmp, 1, seed=seed, size=size, normal_fraction=0.0)
    return folder


def describe_study(folder: Path) -> str:
    from mommi.study import load_study

    study = load_study(folder)
    views = ", ".join(
        f"{v.value} {img.cols}x{img.rows}" for v, img in sorted(study.images.items(), key=lambda kv: kv[0].value)
    )
    return f"{len(study.images)} views ({views})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed analyses per device, after one warm-up")
    parser.add_argument(
        "--size",
        default="lite",
        help="synthetic study size, a key of "
        "mommi.data.phantom.config.SIZES (lite, clinical); the models read the lite grid either way",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic study")
    parser.add_argument("--study", type=Path, help="benchmark this study folder (e.g. real DICOM) instead")
    parser.add_argument("--zoo", type=Path, help="model zoo manifest (default: the checkout's)")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CPU, and CUDA when onnxruntime offers it",
    )
    parser.add_argument("--cores", type=int, help="pin each worker to this many cores (DESIGN's target: 2)")
    parser.add_argument("--json", type=Path, help="also save the numbers here")
    parser.add_argument("--worker", choices=("cpu", "cuda"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = max(args.repeat, 1)

    if args.worker:
        args.worker_out.write_text(json.dumps(worker(args), indent=1))
        return
    from mommi.data.phantom.config import SIZES

    if args.size not in SIZES:
        parser.error(f"--size: choose from {', '.join(SIZES)}")

    with tempfile.TemporaryDirectory(prefix="mommi-bench-") as tmp:
        if args.study:
            folder, source, size = args.study.resolve(), f"{args.study}", "given"
        else:
            start = time.perf_counter()
            folder = make_study(Path(tmp), args.size, args.seed)
            size = args.size
            source = f"synthetic {args.size} study, seed {args.seed} (written in {time.perf_counter() - start:.1f} s)"
        study = {"source": source, "size": size, "folder": str(folder), "views": describe_study(folder)}
        devices: dict[str, dict[str, Any]] = {}
        if args.device in ("auto", "cpu"):
            devices["cpu"] = run_worker("cpu", folder, args)
        if args.device in ("auto", "cuda"):
            reason = cuda_skip_reason()
            devices["cuda"] = {"device": "cuda", "skipped": reason} if reason else run_worker("cuda", folder, args)
        flops, flops_note = model_flops(folder, args.zoo)
    machine = machine_info()
    report(machine, study, devices, flops, flops_note, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine,
                    "study": study,
                    "target": TARGET,
                    "devices": devices,
                    "flops": flops,
                    "flops_note": flops_note,
                },
                indent=1,
            )
        )
        print(f"\nnumbers saved to {args.json}")


if __name__ == "__main__":
    main()
