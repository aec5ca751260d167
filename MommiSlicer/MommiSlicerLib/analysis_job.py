"""The analysis on a worker thread, polled from Slicer's main thread.

Why a thread and polling: the pipeline takes seconds (minutes for clinical images on a slow
CPU) and Slicer's GUI must stay live; but MRML and Qt may be touched only on the main thread
(DESIGN.md). So the worker only computes (load, analyse, write the results folder that the
review store points at) and publishes plain Python state; the module polls ``state()`` with
a QTimer and builds the scene itself when the job is done. ONNX Runtime and the image
decoders release the GIL, so the main thread keeps running while the worker works.

Cancellation is a flag the pipeline reads between stages (``Pipeline.analyze``'s ``cancel``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class JobStatus(str, Enum):
    """Where an analysis job is; a str enum so that the widget's ``state.status == "done"`` still reads."""

    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass
class JobState:
    """A snapshot for the GUI: never holds MRML or Qt objects."""

    status: JobStatus
    stage: str = ""
    fraction: float = 0.0
    message: str = ""


@dataclass
class JobOutcome:
    study: Any  # mommi.study.model.Study (pixels loaded)
    result: Any  # mommi.runtime.result.StudyResult (maps included)
    folder: Path  # results folder (result.json, maps.npz) that the review store refers to
    seconds: float
    provider: str = ""
    warnings: list[str] = field(default_factory=list)


class AnalysisJob:
    """Analyse one study (a folder, or a list of files from Slicer's DICOM database)."""

    def __init__(
        self, source: Path | list[Path], device: str = "auto", zoo: Path | None = None, results_root: Path | None = None
    ) -> None:
        from mommi.runtime.outputs import results_cache_root  # the engine is imported on use

        self.source, self.device, self.zoo = source, device, zoo
        self.results_root = results_root or results_cache_root()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._state = JobState(JobStatus.RUNNING, "starting", 0.0)
        self.outcome: JobOutcome | None = None
        self._thread = threading.Thread(target=self._run, name="MommiSlicer analysis", daemon=True)

    def start(self) -> AnalysisJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at the next stage boundary (thread-safe)."""
        self._cancel.set()

    def state(self) -> JobState:
        with self._lock:
            return JobState(**vars(self._state))

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the job ends (tests and the self-test only; the GUI polls)."""
        self._thread.join(timeout)
        return self.state()

    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self._state, key, value)

    def _run(self) -> None:
        from mommi.errors import MommiError
        from mommi.runtime.batch import folder_name
        from mommi.runtime.outputs import write_outputs
        from mommi.runtime.pipeline import AnalysisCancelled, shared_pipeline
        from mommi.runtime.zoo import ZooError, chosen_manifest

        start = time.perf_counter()
        try:
            self._set(stage="models", fraction=0.0)
            # a zoo chosen in the module that is not there is said so, not read as an empty zoo
            zoo = chosen_manifest(self.zoo) if self.zoo is not None else None
            pipeline = shared_pipeline(zoo, self.device)
            if self._cancel.is_set():
                raise AnalysisCancelled("cancelled before the analysis started")
            self._set(stage="load")
            study, result = pipeline.analyze_path(
                self.source, progress=lambda s, f: self._set(stage=s, fraction=f), cancel=self._cancel.is_set
            )
            self._set(stage="saving", fraction=1.0)
            folder = self.results_root / folder_name(study)
            written = write_outputs(result, study, folder, dicom=False, overlays=False)
            self.outcome = JobOutcome(
                study,
                result,
                folder,
                time.perf_counter() - start,
                pipeline.provider,
                list(result.warnings) + list(written.warnings),
            )
            self._set(
                status=JobStatus.DONE, message=f"analysed in {time.perf_counter() - start:.1f} s on {pipeline.provider}"
            )
        except AnalysisCancelled:
            self._set(status=JobStatus.CANCELLED, message="Analysis cancelled.")
        except ZooError as exc:
            self._set(status=JobStatus.FAILED, message=f"Model zoo problem: {exc}")
        except (MommiError, ValueError, OSError) as exc:
            self._set(status=JobStatus.FAILED, message=str(exc))
        except ImportError as exc:
            self._set(status=JobStatus.FAILED, message=f"A dependency is missing ({exc}). Use 'Install dependencies'.")
        except Exception as exc:  # noqa: BLE001 - reported to the user, never raised into Slicer's event loop
            self._set(status=JobStatus.FAILED, message=f"Unexpected error ({type(exc).__name__}: {exc})")
