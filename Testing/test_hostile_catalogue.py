"""The hostile-input catalogue (`hostile_catalogue.py`), run end to end through the `mommi` command line in
one fresh process (`hostile_runner.py`). Each kind must end with the documented exit code, say the cause,
name the file, print no traceback or native panic, keep the analysis of the good views where there is one,
and stay within the memory and time bounds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_catalogue import CASES, Family, kinds_by_family

RUNNER = Path(__file__).with_name("hostile_runner.py")
PEAK_MEMORY_MB = 3 * 1024  # the bound for any single hostile input
CASE_SECONDS = 60  # far above what a refused input needs (about 1 s): a case near it is a hang in disguise
NATIVE_OR_PYTHON_CRASH = re.compile(
    r"Traceback \(most recent call last\)|panicked at|stack backtrace|"
    r"Segmentation fault|core dumped|internal error"
)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("hostile")
    finished = subprocess.run([sys.executable, str(RUNNER), str(work)], capture_output=True, text=True, timeout=1500)
    assert finished.returncode == 0, finished.stderr[-3000:]
    lines = (work / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["kind"]: record for record in map(json.loads, lines)}


def test_the_catalogue_covers_at_least_80_kinds_in_every_family() -> None:
    counts = kinds_by_family()
    assert sum(counts.values()) >= 80 and len({c.kind for c in CASES}) == len(CASES)
    assert all(counts[family] >= 5 for family in Family), counts


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind)
def test_hostile_input(case, records: dict[str, dict]) -> None:
    record = records[case.kind]
    output = record["output"]
    context = f"{case.kind}: exit {record['code']}, output:\n{output[-1500:]}"
    assert record["code"] == case.exit_code, context
    assert not NATIVE_OR_PYTHON_CRASH.search(output), context
    assert re.search(case.says, output, re.IGNORECASE), f"cause /{case.says}/ not said; {context}"
    if case.names is not None:
        assert case.names in output, f"{case.names!r} not named; {context}"
    if case.keeps_result:
        assert record["result_written"], f"the analysis of the good views was lost; {context}"
    assert record["seconds"] < CASE_SECONDS, context


def test_no_hostile_input_takes_more_than_the_memory_bound(records: dict[str, dict]) -> None:
    peak = max(record["peak_mb"] for record in records.values())
    worst = max(records.values(), key=lambda r: r.get("peak_rise_mb", 0))
    assert peak < PEAK_MEMORY_MB, (
        f"peak {peak:.0f} MB; the largest rise was {worst['kind']} (+{worst['peak_rise_mb']} MB)"
    )
