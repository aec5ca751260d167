"""Run the hostile-input catalogue in one fresh process and write one JSON record per case.

Usage: python Testing/hostile_runner.py WORK_DIR [--only KIND,KIND]

One process for all cases, so the process's peak resident memory after every case is an honest
upper bound for each case's own peak (a fresh interpreter, nothing else running in it). Output is
captured at the file-descriptor level: a native library's panic or a C-level message counts as
printed. Each case gets an alarm: a case that runs past it is recorded as a hang, not waited for.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_catalogue import CASES, Workspace  # noqa: E402

CASE_TIME_LIMIT_S = 120
RESULTS_NAME = "results.jsonl"


class _Hang(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Hang()


def _captured(run: Callable[[], int]) -> tuple[int | str, str]:
    """Run with file descriptors 1 and 2 pointing at one temporary file; return (exit code, text)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            code: int | str = run()
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except _Hang:
            code = "hang"
        except BaseException:  # recorded: a case must never get here, main() owns every error
            code = "escaped"
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        sink.seek(0)
        return code, sink.read().decode("utf-8", errors="replace")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    from mommi.cli.main import main as mommi

    shared = args.work / "_shared"
    shared.mkdir(parents=True, exist_ok=True)
    os.environ["MOMMI_REVIEW_DB"] = str(shared / "default-review.sqlite")  # never the user's own store
    signal.signal(signal.SIGALRM, _on_alarm)
    with (args.work / RESULTS_NAME).open("w", encoding="utf-8") as results:
        for case in CASES:
            if only and case.kind not in only:
                continue
            folder = args.work / case.kind
            folder.mkdir()
            workspace = Workspace(folder, shared)
            record: dict[str, object] = {"kind": case.kind}
            try:
                argv = case.build(workspace)
            except Exception:
                record.update(code="build-failed", output=traceback.format_exc(), seconds=0.0, peak_mb=_peak_mb())
                results.write(json.dumps(record) + "\n")
                results.flush()
                continue
            before = _peak_mb()
            start = time.perf_counter()
            signal.alarm(CASE_TIME_LIMIT_S)
            try:
                code, output = _captured(lambda: mommi(argv))
            finally:
                signal.alarm(0)
            record.update(
                code=code,
                output=output,
                seconds=round(time.perf_counter() - start, 2),
                peak_mb=round(_peak_mb(), 1),
                peak_rise_mb=round(_peak_mb() - before, 1),
                result_written=(workspace.out / "result.json").is_file(),
                argv=argv,
            )
            results.write(json.dumps(record) + "\n")
            results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
