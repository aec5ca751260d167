"""`mommi analyze-batch --scheduler` on a real Dask LocalCluster (#19): the same results as the local mode,
the same resumable summary, and an unreachable scheduler is a clean error."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

import dicom_factory as factory
from mommi.cli import exit_codes
from mommi.cli.main import main

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (the cluster extra)")


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    factory.four_view_study(root / "one", factory.Patient(patient_id="DASK-1"))
    factory.four_view_study(root / "two", factory.Patient(patient_id="DASK-2"), seed=3)
    return root


def _findings(out: Path) -> dict[str, list]:
    return {
        folder.name: [
            (f["id"], f["box_px"], f["score"]) for f in json.loads((folder / "result.json").read_text())["findings"]
        ]
        for folder in sorted(out.iterdir())
        if (folder / "result.json").is_file()
    }


def test_a_local_cluster_gives_the_local_results(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert main(["analyze-batch", str(root), "--out", str(tmp_path / "local"), "--no-dicom"]) == exit_codes.OK
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        out = tmp_path / "cluster"
        assert (
            main(["analyze-batch", str(root), "--out", str(out), "--no-dicom", "--scheduler", address]) == exit_codes.OK
        )
        assert _findings(out) == _findings(tmp_path / "local") and len(_findings(out)) == 2
        with (out / "summary.csv").open() as handle:
            assert sorted(r["status"] for r in csv.DictReader(handle)) == ["done", "done"]
        # resumable as the local mode: a finished batch run again analyses nothing
        shutil.rmtree(next(p for p in out.iterdir() if p.is_dir()))
        assert (
            main(["analyze-batch", str(root), "--out", str(out), "--no-dicom", "--scheduler", address]) == exit_codes.OK
        )
        with (out / "summary.csv").open() as handle:
            statuses = sorted(r["status"] for r in csv.DictReader(handle))
        assert statuses[0] == "done" and statuses[1].startswith("skipped")


def test_an_unreachable_scheduler_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orthanc_server import free_port

    root = _root(tmp_path)
    code = main(
        ["analyze-batch", str(root), "--out", str(tmp_path / "out"), "--scheduler", f"tcp://127.0.0.1:{free_port()}"]
    )
    err = capsys.readouterr().err
    assert code == exit_codes.PROBLEMS and "cannot reach the Dask scheduler" in err and "Traceback" not in err
