"""Benchmark: synthetic studies per second per core, and the multi-view cue numbers.

    python Testing/benchmarks/bench_synth.py [--lite 20] [--clinical 2] [--cue-studies 200] [--phantom v1|v2|v3]

One process on one core: the time includes rendering AND writing the DICOM files,
masks and truth.json. The cue table is what the README's data section reports.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from mommi.data.phantom.config import DEFAULT_PHANTOM, PHANTOMS, SIZES
from mommi.data.phantom.cues import measure_cues
from mommi.data.phantom.study import make_study
from mommi.data.synth import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lite", type=int, default=20, help="lite studies to time")
    parser.add_argument("--clinical", type=int, default=2, help="clinical-size studies to time")
    parser.add_argument("--cue-studies", type=int, default=200, help="lite studies for the cue measurement")
    parser.add_argument("--phantom", choices=sorted(PHANTOMS), default=DEFAULT_PHANTOM, help="phantom version")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target is per core

    print(f"{'size':<10} {'pixels':>12} {'studies':>8} {'seconds':>8} {'studies/s/core':>15}")
    for name, count in (("lite", args.lite), ("clinical", args.clinical)):
        size = PHANTOMS[args.phantom].image_size(SIZES[name])  # what is written: v3 puts lite on a 0.2 mm detector
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            synthesize(Path(tmp), count, seed=1, size=name, phantom=args.phantom)
            elapsed = time.perf_counter() - start
        print(f"{name:<10} {f'{size.cols}x{size.rows}':>12} {count:>8} {elapsed:>8.2f} {count / elapsed:>15.2f}")

    size = SIZES["lite"]
    studies = [
        make_study(np.random.default_rng([2026, i]), PHANTOMS[args.phantom], size, normal=i % 4 == 0)
        for i in range(args.cue_studies)
    ]
    pixel_mm = PHANTOMS[args.phantom].image_size(size).pixel_mm
    report = measure_cues(studies, pixel_mm)
    hard = measure_cues(studies, pixel_mm, brightest_normals=True)
    print()
    print(
        f"cues on {args.cue_studies} lite studies, phantom {args.phantom} ({report.masses} masses; "
        f"{report.mass_regions} mass regions vs {report.normal_regions} normal regions)"
    )
    print(
        f"  nipple distance CC vs MLO within 15%: {report.nipple_distance_within_15pct:.3f} "
        f"(median relative difference {report.median_relative_difference:.3f})"
    )
    print(f"  AUC single-view intensity score:     {report.single_view_auc:.3f}")
    print(f"  AUC bilateral difference score:      {report.bilateral_auc:.3f}")
    print(f"  AUC ipsilateral (same nipple distance in the other view): {report.ipsilateral_auc:.3f}")
    print(
        f"  single view + the cue, weights fitted on other studies (5 folds): bilateral "
        f"{report.bilateral_learned_auc:.3f}, ipsilateral {report.ipsilateral_learned_auc:.3f}"
    )
    print(
        f"  against the brightest normal boxes of each view ({hard.normal_regions}), the single-view reader's "
        f"false positives:"
    )
    print(
        f"    single {hard.single_view_auc:.3f}, bilateral {hard.bilateral_auc:.3f}, "
        f"ipsilateral {hard.ipsilateral_auc:.3f}; fitted: bilateral {hard.bilateral_learned_auc:.3f}, "
        f"ipsilateral {hard.ipsilateral_learned_auc:.3f}"
    )


if __name__ == "__main__":
    main()
