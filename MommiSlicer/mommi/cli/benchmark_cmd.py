"""`mommi benchmark`: a public dataset as downloaded -> the paper-style table (mommi.eval.benchmark)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mommi.cli import exit_codes
from mommi.cli.arg_types import capped_workers, probability


def register(commands: argparse._SubParsersAction) -> None:
    from mommi.eval.benchmark_datasets import DATASETS, SPLIT_CHOICES

    parser = commands.add_parser(
        "benchmark",
        help="run the pipeline over a public dataset and write the paper-style table",
        description="Import the dataset's ground truth, analyse every exam of the chosen split with the product "
        "pipeline (resumable, in --workers processes), and evaluate as METHOD.md says: recall at 0.5/1/2 false "
        "positives per image with 95%% patient-bootstrap CIs, malignancy ROC AUC on matched masses, BI-RADS "
        "agreement. Writes DIR/manifest.json, predictions.json, report.json, report.md (with the paper's "
        "published DDSM numbers side by side), froc.png, exams.csv and exams/<exam>/result.json. "
        "Research models: not for clinical use.",
        epilog="exit codes: 0 report written, every exam analysed; 1 report written but some exams failed, or the "
        "dataset could not be imported (the message names the file); 2 usage error",
    )
    parser.add_argument("dataset", choices=sorted(DATASETS), metavar="DATASET", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("root", type=Path, help="the dataset folder as downloaded")
    parser.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        default="test",
        help="the dataset's official split to evaluate (default test; datasets without one: "
        "every image, and the report says so)",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--workers", type=int, default=1, help="exams analysed in parallel (processes; at most one per CPU core)"
    )
    parser.add_argument("--zoo", type=Path, default=None, help="zoo folder or manifest (default: the checkout's)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument(
        "--min-score",
        type=probability,
        default=None,
        help="keep detections from this score (default: the candidate threshold, so the FROC has its whole curve)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print report.json instead of the summary")
    parser.set_defaults(handler=run)


def _usage(message: str) -> int:
    print(f"mommi benchmark: {message}", file=sys.stderr)
    return exit_codes.USAGE


def run(args: argparse.Namespace) -> int:
    from mommi.data.manifest import ManifestError
    from mommi.errors import DatasetImportError
    from mommi.eval.benchmark import REPORT_MD, BenchmarkOptions, run_benchmark
    from mommi.eval.benchmark_datasets import BenchmarkSetupError
    from mommi.eval.report import PredictionsError
    from mommi.runtime.zoo import ZooError

    if args.workers < 1:
        return _usage(f"--workers must be at least 1, got {args.workers}")
    if args.bootstrap < 0:
        return _usage(f"--bootstrap must not be negative, got {args.bootstrap}")
    workers, note = capped_workers(args.workers)
    if note:
        print(f"mommi benchmark: {note}", file=sys.stderr)
    options = BenchmarkOptions(
        split=args.split,
        workers=workers,
        zoo=args.zoo,
        device=args.device,
        min_score=args.min_score,
        bootstrap=args.bootstrap,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    try:
        result = run_benchmark(args.dataset, args.root, args.out, options)
    except (DatasetImportError, BenchmarkSetupError, ManifestError, PredictionsError, ZooError, OSError) as exc:
        print(f"mommi benchmark: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    report = result.report
    failed = report["counts"]["exams_failed"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print((args.out / REPORT_MD).read_text(encoding="utf-8"))
        done = sum(1 for r in result.rows if r["status"] == "done")
        print(
            f"{len(result.rows)} exams: {done} analysed now, {len(result.rows) - done - failed} already done, "
            f"{failed} failed; outputs in {args.out}"
        )
    return exit_codes.PROBLEMS if failed else exit_codes.OK
