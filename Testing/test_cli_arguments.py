"""Option values that used to be accepted and fail late (or fork the machine to death) are usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mommi.cli import exit_codes
from mommi.cli.arg_types import capped_workers
from mommi.cli.main import main


@pytest.mark.parametrize("value", ["-1", "2", "nan", "inf", "-inf", "abc", ""])
@pytest.mark.parametrize("command", ["analyze", "analyze-batch"])
def test_min_score_outside_0_1_is_a_usage_error(
    command: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, str(tmp_path), "--out", str(tmp_path / "out"), "--min-score", value])
    assert info.value.code == exit_codes.USAGE
    err = capsys.readouterr().err
    assert "--min-score" in err
    cause = {"abc": "not a number", "": "not a number", "-inf": "expected one argument"}  # argparse: an option?
    assert cause.get(value, "not a score within 0..1") in err  # the cause is named


def test_a_bad_min_score_from_the_shell_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """In a real process (in-process, argparse's exit can never show a traceback): exit 2 and one clear line."""
    import subprocess
    import sys

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mommi.cli.main",
            "analyze",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--min-score",
            "nan",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == exit_codes.USAGE
    assert "not a score within 0..1" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_workers_must_be_a_positive_count(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze-batch", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", value])
    assert info.value.code == exit_codes.USAGE and "--workers" in capsys.readouterr().err


def test_workers_are_capped_to_the_cores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    cores = len(os.sched_getaffinity(0))
    workers, note = capped_workers(10000)
    assert workers == cores and note == f"--workers 10000 capped to the {cores} CPU cores available"
    assert capped_workers(1) == (1, None)
    # an empty root with 10000 workers: the cap is announced, nothing is forked, "no study" (exit 3)
    assert (
        main(["analyze-batch", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "10000"])
        == exit_codes.NOTHING_FOUND
    )
    assert f"capped to the {cores} CPU cores" in capsys.readouterr().err
