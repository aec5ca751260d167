"""`mommi analyze-batch`: every study under a folder, resumable, one bad study never stopping the rest.

Studies are found from their headers only (fast), then each is analysed in a
worker process that builds its own ``Pipeline`` once (ONNX Runtime sessions are
per process). A study's folder is complete when its ``result.json`` exists, since
``write_outputs`` writes that file last; such studies are skipped when the batch
is run again. Every study, analysed, skipped or failed, gets a row in
``summary.csv``, and so does every file that could not be read (it belongs to no
study: discovery decodes each file once, so an unreadable image is found there).

``analyse_jobs`` is that analysis of a list of (files, folder) jobs on its own, so
`mommi benchmark` analyses a dataset's exams with the same workers, resumability
and one-row-per-job accounting.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import re
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mommi.errors import MommiError, NoStudyFoundError
from mommi.child_processes import die_with_parent
from mommi.study.loader import load_studies
from mommi.study.model import Study

SUMMARY_FILE = "summary.csv"
COLUMNS = ("study_uid", "patient_key", "folder", "status", "findings", "max_malignancy", "seconds", "error", "file")

_worker: dict[str, Any] = {}
SKIPPED = "skipped (already done)"


@dataclass(frozen=True)
class Job:
    """One study to analyse: its files (loaded as any study is, dataset profiles included) and the
    folder its outputs go to."""

    files: tuple[str, ...]
    folder: Path


@dataclass
class BatchSummary:
    studies: int
    done: int
    skipped: int
    failed: int
    csv_path: Path


def folder_name(study: Study) -> str:
    """A file-system-safe, unique folder name: patient key and study UID."""
    text = f"{study.patient_key}_{study.study_uid}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:150]


def _study_files(study: Study) -> list[str]:
    return [str(i.path) for i in study.images.values()] + [str(s.image.path) for s in study.set_aside]


def _initialise(options: dict[str, Any]) -> None:
    from mommi.runtime.pipeline import Pipeline
    from mommi.runtime.zoo import manifest_path_of

    if options.get("child"):
        die_with_parent()  # a killed batch must not leave its workers analysing on

    try:
        _worker["pipeline"] = Pipeline(manifest_path_of(options["zoo"]), options["device"], options["min_score"])
    except Exception as exc:  # an initializer that raises breaks the whole pool: keep it, fail each study with it
        _worker["setup_error"] = exc
    _worker["dicom"] = options["dicom"]
    _worker["overlays"] = options.get("overlays", True)


def _finished_row(folder: Path) -> dict[str, Any]:
    """The summary row of a study analysed by an earlier run, from its result.json (a rerun of a finished
    batch keeps every column)."""
    row: dict[str, Any] = {"folder": folder.name, "status": SKIPPED}
    try:
        document = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        malignancy = [f["malignancy"] for f in document.get("findings", []) if f.get("malignancy") is not None]
        row.update(
            study_uid=document.get("study_uid", ""),
            patient_key=document.get("patient_key", ""),
            findings=len(document.get("findings", [])),
            max_malignancy=round(max(malignancy), 4) if malignancy else "",
            seconds=document.get("timings_s", {}).get("total", ""),
        )
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # the columns stay empty; the study is still done
    return row


def _analyse(files: list[str], folder: str) -> dict[str, Any]:
    """One study in a worker: never raises, returns its summary row."""
    from mommi.runtime.outputs import write_outputs

    start = time.perf_counter()
    row: dict[str, Any] = {"folder": Path(folder).name, "status": "failed"}
    try:
        if "setup_error" in _worker:
            raise _worker["setup_error"]
        pipeline = _worker["pipeline"]
        study, seconds = pipeline.load([Path(f) for f in files])
        row.update(study_uid=study.study_uid, patient_key=study.patient_key)
        result = pipeline.analyze(study, load_seconds=seconds)
        write_outputs(result, study, Path(folder), dicom=_worker["dicom"], overlays=_worker.get("overlays", True))
        malignancy = [f.malignancy for f in result.findings if f.malignancy is not None]
        row.update(
            status="done", findings=len(result.findings), max_malignancy=round(max(malignancy), 4) if malignancy else ""
        )
    except Exception as exc:  # a bad study is recorded, never fatal to the batch
        row["error"] = f"{type(exc).__name__}: {exc}"
        (Path(folder) / "error.txt").parent.mkdir(parents=True, exist_ok=True)
        (Path(folder) / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def analyse_jobs(
    jobs: list[Job],
    workers: int = 1,
    zoo: Path | None = None,
    device: str = "auto",
    min_score: float | None = None,
    dicom: bool = True,
    overlays: bool = True,
    progress: bool = True,
    desc: str = "studies",
    on_row: Callable[[list[dict[str, Any]]], None] | None = None,
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Analyse every job in ``workers`` processes; one row per job, in job order. ``on_row`` is called
    with the rows so far after every finished job (a killed batch keeps a summary of what it did).

    Resumable: a job whose folder holds ``result.json`` (written last by
    ``write_outputs``) is not analysed again and gets status ``SKIPPED``. A job that
    fails gets status "failed" and its error (and ``error.txt`` in its folder); the
    others go on. Each worker process builds its ``Pipeline`` once. With ``scheduler`` (a Dask distributed
    scheduler address) the studies run on that cluster's workers instead of local processes.
    """
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    pending = []
    for index, job in enumerate(jobs):
        if (job.folder / "result.json").is_file():
            rows[index] = _finished_row(job.folder)
        else:
            pending.append(index)
    options = {"zoo": zoo, "device": device, "min_score": min_score, "dicom": dicom, "overlays": overlays}
    if pending:
        bar = tqdm(total=len(pending), desc=desc, disable=not progress)
        if scheduler is not None:
            for index, row in _on_dask(scheduler, options, [(i, jobs[i]) for i in pending]):
                rows[index] = row
                bar.update()
                if on_row is not None:
                    on_row([row for row in rows if row is not None])
        elif workers <= 1:
            _initialise(options)
            for index in pending:
                job = jobs[index]
                rows[index] = _analyse(list(job.files), str(job.folder))
                bar.update()
                if on_row is not None:
                    on_row([row for row in rows if row is not None])
        else:
            # spawn, not fork: a fork of a process that already runs ONNX Runtime sessions (their thread pools
            # hold locks) can deadlock in the child. Not forkserver either: its workers are the server's
            # children and hold the pipe that would tell the server the batch died, so a killed batch left
            # server and workers running; spawned workers are the batch's own children and die with it
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=workers, initializer=_initialise, initargs=(options | {"child": True},), mp_context=context
            ) as pool:
                futures = [
                    (index, pool.submit(_analyse, list(jobs[index].files), str(jobs[index].folder)))
                    for index in pending
                ]
                for index, future in futures:
                    rows[index] = future.result()
                    bar.update()
                    if on_row is not None:
                        on_row([row for row in rows if row is not None])
        bar.close()
    return [row for row in rows if row is not None]


class SchedulerError(MommiError):
    """The Dask scheduler cannot be reached, or the cluster lost the batch."""


def _on_dask(
    scheduler: str, options: dict[str, Any], jobs: list[tuple[int, Job]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, row) of every job as the cluster finishes it. Each Dask worker process builds its Pipeline once
    (``_analyse_on_worker``); the files and the output folder must be reachable from the workers under the
    same paths (one machine, or a shared file system)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SchedulerError("--scheduler needs Dask: pip install 'mommislicer[cluster]'") from None
    try:
        client = Client(scheduler, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    with client:
        futures = {
            client.submit(_analyse_on_worker, options, list(job.files), str(job.folder), pure=False): index
            for index, job in jobs
        }
        for future in as_completed(futures):
            index = futures[future]
            try:
                yield index, future.result()
            except Exception as exc:  # a worker lost (killed, out of memory): recorded like a failed study
                folder = next(job.folder.name for i, job in jobs if i == index)
                yield (
                    index,
                    {
                        "folder": folder,
                        "status": "failed",
                        "error": f"the cluster lost this study ({type(exc).__name__}: {exc})",
                    },
                )


def _analyse_on_worker(options: dict[str, Any], files: list[str], folder: str) -> dict[str, Any]:
    """A study on a Dask worker: the worker's Pipeline is built by its first study and kept for the rest."""
    if _worker.get("options") != options:
        _initialise(options)
        _worker["options"] = options
    return _analyse(files, folder)


def run_batch(
    root: Path,
    out: Path,
    workers: int = 1,
    zoo: Path | None = None,
    device: str = "auto",
    min_score: float | None = None,
    dicom: bool = True,
    progress: bool = True,
    scheduler: str | None = None,
) -> BatchSummary:
    collection = load_studies([root], keep_pixels=False)
    studies = [s for s in collection.studies if s.images]
    out.mkdir(parents=True, exist_ok=True)
    # files that belong to no study because they cannot be read are failures of the batch too; a folder
    # with no image at all is not a failure but "no study found" (the caller's exit code 3)
    rows: list[dict[str, Any]] = [
        {"status": "failed", "error": str(e), "file": str(e.path or "")}
        for e in collection.errors
        if not isinstance(e, NoStudyFoundError)
    ]
    jobs = [Job(tuple(_study_files(study)), out / folder_name(study)) for study in studies]
    csv_path = out / SUMMARY_FILE

    def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # unreadable files, then skipped studies, then the analysed ones, as the summary has always listed them
        return rows + [r for r in results if r["status"] == SKIPPED] + [r for r in results if r["status"] != SKIPPED]

    def progress_summary(results: list[dict[str, Any]]) -> None:
        _write_summary(csv_path, summarise(results))

    results = [
        row | _identity(study)
        for row, study in zip(
            analyse_jobs(
                jobs,
                workers,
                zoo,
                device,
                min_score,
                dicom,
                progress=progress,
                on_row=progress_summary,
                scheduler=scheduler,
            ),
            studies,
        )
    ]
    rows = summarise(results)
    _write_summary(csv_path, rows)
    failed = sum(1 for r in rows if r["status"] == "failed")
    skipped = sum(1 for r in rows if r["status"].startswith("skipped"))
    done = sum(1 for r in rows if r["status"] == "done")
    return BatchSummary(len(studies), done, skipped, failed, csv_path)


def _write_summary(path: Path, rows: list[dict[str, Any]]) -> None:
    """summary.csv, replaced atomically (a kill never leaves half a file)."""
    partial = path.with_name(path.name + ".part")
    with partial.open("w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in COLUMNS})
    partial.replace(path)


def _identity(study: Study) -> dict[str, str]:
    return {"study_uid": study.study_uid, "patient_key": study.patient_key}
