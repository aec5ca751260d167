"""A real full disk (#18): a small tmpfs filled to the brim, not an injected error. Writing an analysis over
a finished one, exporting a feedback batch and recording a review decision must each fail with a clean
error that says the disk is full, and leave what was already saved exactly as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import dicom_factory as factory
from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.feedback.store import open_store, ReviewStoreError
from mommi.review.session import ReviewSession

FREE_AFTER_FILLING = 64 * 1024  # room for small writes (SQLite's journal page), not for an analysis (~460 kB)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted for this test. Mounting needs root (CAP_SYS_ADMIN), which CI and the project
    machines have; elsewhere the test is skipped, and the injected ENOSPC test in test_review.py remains."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot create a small filesystem to fill")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'}): needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path, leave: int = FREE_AFTER_FILLING) -> Path:
    """Take all the free space of ``disk`` but ``leave`` bytes."""
    stats = os.statvfs(disk)
    filler = disk / "filler.bin"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(stats.f_bavail * stats.f_frsize - leave, 0))
    return filler


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_analysis_on_a_full_disk_fails_cleanly_and_keeps_the_previous_result(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    factory.four_view_study(first, factory.Patient(patient_id="PAT-FIRST"))
    factory.four_view_study(second, factory.Patient(patient_id="PAT-SECOND"), seed=5)
    out = small_disk / "result"
    assert main(["analyze", str(first), "--out", str(out), "--device", "cpu"]) == exit_codes.OK
    before = _snapshot(out)
    assert "result.json" in before
    _fill(small_disk)
    capsys.readouterr()
    assert main(["analyze", str(second), "--out", str(out), "--device", "cpu"]) == exit_codes.PROBLEMS
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err, err
    assert _snapshot(out) == before  # the finished result of the first study, whole and alone
    assert not [p for p in out.iterdir() if p.name.startswith(".mommi-writing")]  # no staging left behind


def test_a_batch_on_a_full_disk_names_the_cause(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.four_view_study(tmp_path / "root" / "one", factory.Patient(patient_id="PAT-ONE"))
    _fill(small_disk, leave=0)
    code = main(["analyze-batch", str(tmp_path / "root"), "--out", str(small_disk / "batch"), "--no-dicom"])
    err = capsys.readouterr().err
    assert code == exit_codes.PROBLEMS
    assert "No space left on device" in err and "Traceback" not in err, err


@pytest.fixture
def reviewed_store(tmp_path: Path) -> tuple[Path, Path]:
    analysed = tmp_path / "analysed"
    factory.four_view_study(tmp_path / "study")
    assert main(["analyze", str(tmp_path / "study"), "--out", str(analysed), "--no-dicom"]) == exit_codes.OK
    return analysed, tmp_path / "review.sqlite"


def test_a_feedback_export_on_a_full_disk_exports_nothing(
    small_disk: Path, reviewed_store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    analysed, db = reviewed_store
    with open_store(db) as store:
        session = ReviewSession(store, analysed, reader="dr-a")
        session.add_mass("R-CC", [30, 40, 70, 90])
    _fill(small_disk, leave=16 * 1024)
    capsys.readouterr()
    code = main(["feedback", "export", "--db", str(db), "--out", str(small_disk / "batch")])
    err = capsys.readouterr().err
    assert code == exit_codes.PROBLEMS
    assert "No space left on device" in err and "nothing was exported" in err and "Traceback" not in err, err
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler.bin"]  # no batch, no staging


def test_a_review_decision_on_a_full_disk_is_a_clean_error_and_loses_nothing_saved(
    small_disk: Path, reviewed_store: tuple[Path, Path]
) -> None:
    analysed, _ = reviewed_store
    db = small_disk / "review.sqlite"
    with open_store(db) as store:
        session = ReviewSession(store, analysed, reader="dr-a")
        saved = session.add_mass("R-CC", [30, 40, 70, 90])
        _fill(small_disk, leave=0)
        with pytest.raises(ReviewStoreError, match="full|space"):
            for index in range(200):  # until a page no longer fits: each decision writes events and an index
                session.add_mass("L-CC", [10 + index % 50, 10, 60 + index % 50, 70])
    (small_disk / "filler.bin").unlink()
    with open_store(db) as store:  # reopened: the database is whole and the saved decision is in it
        again = ReviewSession(store, analysed, reader="dr-a")
        assert saved.id in {f.id for f in again.findings}
