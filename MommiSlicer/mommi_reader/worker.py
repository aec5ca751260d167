"""The analysis worker: finding, loading and analysing studies off the GUI thread.

``AnalysisWorker`` is a QObject moved to its own QThread; the main window calls
its slots through queued signals, one request at a time, and gets answers as
signals carrying the request's token (the GUI ignores answers to requests it has
moved on from). The ``Pipeline`` is heavy (ONNX Runtime sessions, SHA-256
checks), so it is created lazily in the worker thread on the first analysis and
shared by every window of the process. Cancelling sets a number, not a Qt event:
the GUI writes it while the worker is busy, and the pipeline's ``cancel``
callback reads it between stages.

Every failure becomes a ``failed`` signal with a sentence for a dialog; nothing
raised here can reach Qt's event loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal, pyqtSlot

from mommi.errors import MommiError, StudyInputError
from mommi.runtime.outputs import write_outputs
from mommi.runtime.pipeline import AnalysisCancelled, shared_pipeline
from mommi.runtime.zoo import ZooError, chosen_manifest
from mommi.study.loader import load_studies, load_study
from mommi.study.model import Study

from mommi_reader.results_store import load_saved, results_folder
from mommi_reader.study_data import AnalysisOutcome, ScanResult, entry_of, heat_maps, prepare_study

log = logging.getLogger(__name__)


@dataclass
class WorkerOptions:
    """What the analysis depends on (from the command line and the settings)."""

    zoo: Path | None = None
    device: str = "auto"
    results_location: str = "cache"
    results_folder: str = ""
    write_dicom: bool = False
    write_pictures: bool = False


class AnalysisWorker(QObject):
    scanned = pyqtSignal(int, object)  # token, ScanResult
    study_loaded = pyqtSignal(int, object)  # token, LoadedStudy
    progress = pyqtSignal(int, str, float)  # token, stage, fraction
    analysed = pyqtSignal(int, object)  # token, AnalysisOutcome
    cancelled = pyqtSignal(int)
    failed = pyqtSignal(int, str, str)  # token, title, message
    engine_ready = pyqtSignal(str, str)  # zoo version, execution provider

    def __init__(self, options: WorkerOptions) -> None:
        super().__init__()
        self.options = options
        self._cancelled_upto = 0  # requests with a token up to this one are cancelled (written by the GUI)
        self._study: tuple[Study, float] | None = None  # the last loaded study and its load time

    # ------------------------------------------------------------------ called from the GUI thread
    def cancel_upto(self, token: int) -> None:
        """Cancel every request up to ``token``: thread-safe, takes effect at the next pipeline stage."""
        self._cancelled_upto = max(self._cancelled_upto, token)

    def _is_cancelled(self, token: int) -> bool:
        return token <= self._cancelled_upto

    # ------------------------------------------------------------------ slots (worker thread)
    @pyqtSlot(object)
    def configure(self, options: WorkerOptions) -> None:
        self.options = options

    @pyqtSlot(int, object)
    def scan(self, token: int, path: Any) -> None:
        """Find the studies under ``path`` from their headers (fast: no pixels)."""
        try:
            collection = load_studies([Path(path)], keep_pixels=False)
            entries = [entry_of(s) for s in collection.studies if s.images]
            problems = [str(e) for e in collection.errors]
            problems += [
                f"{s.study_uid}: no screening view (only {', '.join(x.image.label for x in s.set_aside)})"
                for s in collection.studies
                if not s.images and s.set_aside
            ]
            self.scanned.emit(token, ScanResult(entries, problems))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into Qt
            log.exception("scanning %s failed", path)
            self.failed.emit(token, "Cannot open", f"{path}: {_describe(exc)}")

    @pyqtSlot(int, object, bool)
    def open_study(self, token: int, paths: Any, analyse: bool) -> None:
        """Load a study's pixels, hand it over for display, then analyse it (saved results first)."""
        self._study = None
        if self._is_cancelled(token):
            self.cancelled.emit(token)
            return
        self.progress.emit(token, "load", 0.0)
        start = time.perf_counter()
        try:
            study = load_study([Path(p) for p in paths])
            loaded = prepare_study(study, time.perf_counter() - start)
        except StudyInputError as exc:
            self.failed.emit(token, "Cannot open the study", str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("loading %s failed", paths)
            self.failed.emit(token, "Cannot open the study", _describe(exc))
            return
        if not loaded.images:
            self.failed.emit(
                token, "Cannot open the study", "no view of this study could be decoded:\n" + "\n".join(loaded.warnings)
            )
            return
        self._study = (study, loaded.load_seconds)
        self.study_loaded.emit(token, loaded)
        if analyse:
            self._analyse(token, study, loaded.load_seconds, force=False)

    @pyqtSlot(int, str, bool)
    def analyse(self, token: int, study_uid: str, force: bool) -> None:
        """Analyse the study loaded last (``force``: ignore saved results)."""
        if self._study is None or self._study[0].study_uid != study_uid:
            self.failed.emit(token, "Nothing to analyse", "open a study first")
            return
        study, load_seconds = self._study
        self._analyse(token, study, load_seconds, force)

    # ------------------------------------------------------------------ the analysis
    def _analyse(self, token: int, study: Study, load_seconds: float, force: bool) -> None:
        options = self.options
        try:
            # a chosen zoo that is not there (moved, unmounted) is said so, not read as an empty zoo
            zoo = chosen_manifest(options.zoo) if options.zoo is not None else None
            folder = results_folder(study, options.results_location, options.results_folder)
            if not force:
                saved, reason = load_saved(folder, study.study_uid, zoo)
                log.info("%s: %s", folder, reason)
                if saved is not None:
                    self.analysed.emit(
                        token,
                        AnalysisOutcome(
                            study.study_uid,
                            saved,
                            folder,
                            heat_maps(saved),
                            True,
                            float(saved.timings_s.get("total", 0.0)),
                        ),
                    )
                    return
            if self._is_cancelled(token):
                raise AnalysisCancelled("cancelled before the analysis started")
            self.progress.emit(token, "models", 0.0)
            pipeline = shared_pipeline(zoo, options.device)
            self.engine_ready.emit(pipeline.zoo_version, pipeline.provider)
            start = time.perf_counter()
            result = pipeline.analyze(
                study,
                progress=lambda stage, f: self.progress.emit(token, stage, f),
                cancel=lambda: self._is_cancelled(token),
                load_seconds=load_seconds,
            )
            seconds = time.perf_counter() - start
            self.progress.emit(token, "saving", 1.0)
            written = write_outputs(result, study, folder, dicom=options.write_dicom, overlays=options.write_pictures)
            self.analysed.emit(
                token,
                AnalysisOutcome(study.study_uid, result, folder, heat_maps(result), False, seconds, written.warnings),
            )
        except AnalysisCancelled:
            self.cancelled.emit(token)
        except ZooError as exc:
            self.failed.emit(
                token,
                "Model zoo problem",
                f"{exc}\n\nCheck the zoo folder (--zoo, or Settings > Model zoo) or reinstall it.",
            )
        except OSError as exc:
            self.failed.emit(
                token,
                "Results not saved",
                f"The analysis results could not be written ({exc}).\n\n"
                "Choose another results location in Settings and analyse again (F5).",
            )
        except (MommiError, ValueError) as exc:
            self.failed.emit(token, "Analysis failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into Qt
            log.exception("analysis of %s failed", study.study_uid)
            self.failed.emit(token, "Analysis failed", _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"unexpected error ({type(exc).__name__}: {exc})"
