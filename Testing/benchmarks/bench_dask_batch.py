"""Studies per second of `analyze-batch` on a Dask LocalCluster with 1, 2 and 4 workers, and in the local
process mode, on the same synthetic lite studies (one run, one table; ratios measured together).

    python Testing/benchmarks/bench_dask_batch.py [--studies 8] [--json PATH]

Each mode analyses the studies into a fresh folder (no resumption), DICOM outputs off; the time includes each
worker building its pipeline once, as a real batch pays it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mommi.cli.main import main
from mommi.data.synth import synthesize


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    code = main(argv)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return time.perf_counter() - start


def run(studies: int) -> list[dict]:
    from distributed import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        root = work / "studies"
        synthesize(root, studies, seed=11)
        rows = []
        for workers in (1, 2):
            seconds = timed(
                [
                    "analyze-batch",
                    str(root),
                    "--out",
                    str(work / f"local-{workers}"),
                    "--no-dicom",
                    "--workers",
                    str(workers),
                ]
            )
            rows.append({"mode": f"local processes x{workers}", "seconds": seconds})
        for workers in (1, 2, 4):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as c:
                seconds = timed(
                    [
                        "analyze-batch",
                        str(root),
                        "--out",
                        str(work / f"dask-{workers}"),
                        "--no-dicom",
                        "--scheduler",
                        c.scheduler_address,
                    ]
                )
            rows.append({"mode": f"Dask LocalCluster x{workers}", "seconds": seconds})
        for row in rows:
            row["studies_per_s"] = studies / row["seconds"]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main_() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = run(args.studies)
    base = rows[0]["studies_per_s"]
    print(f"{args.studies} synthetic lite studies, DICOM outputs off")
    print(f"{'mode':<28} {'seconds':>8} {'studies/s':>10} {'vs local x1':>12}")
    for row in rows:
        ratio = row["studies_per_s"] / base
        print(f"{row['mode']:<28} {row['seconds']:>8.1f} {row['studies_per_s']:>10.2f} {ratio:>11.2f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main_())
