"""Benchmark: loading a four-view study at clinical size, per transfer syntax.

Prints a table of wall time and peak traced memory (numpy allocations included) for
`load_study` on a Hologic-like four-view study of 3328 x 4096 pixels (12-bit), written
uncompressed and in the compressed syntaxes PACS exports use.

    python Testing/benchmarks/bench_study_loading.py [--rows 4096 --cols 3328]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dicom_factory as f  # noqa: E402

from mommi.study import load_study  # noqa: E402

SYNTAXES = {
    "uncompressed": None,
    "RLE": RLELossless,
    "JPEG-LS lossless": JPEGLSLossless,
    "JPEG 2000 lossless": JPEG2000Lossless,
}


def write_study(folder: Path, rows: int, cols: int, syntax: str | None) -> None:
    patient = f.Patient()
    for index, (lat, view) in enumerate((("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))):
        ds = f.mammogram(patient, lat, view, rows=rows, cols=cols, seed=index)
        f.write(ds, folder / f"{lat}{view}.dcm", transfer_syntax=syntax)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=3328)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"four-view study, {args.cols} x {args.rows} px per view, best of {args.repeat}")
    print(f"{'transfer syntax':<20} {'MB on disk':>10} {'load s':>8} {'s / view':>9} {'peak MB':>8}")
    for name, syntax in SYNTAXES.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_study(folder, args.rows, args.cols, syntax)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            best, peak = float("inf"), 0
            for _ in range(args.repeat):
                tracemalloc.start()
                start = time.perf_counter()
                study = load_study(folder)
                best = min(best, time.perf_counter() - start)
                peak = max(peak, tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                assert len(study.images) == 4
                del study
        print(f"{name:<20} {size:>10.1f} {best:>8.2f} {best / 4:>9.2f} {peak / 1e6:>8.0f}")


if __name__ == "__main__":
    main()
