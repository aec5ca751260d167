"""What the analysis worker hands to the GUI thread: plain data, prepared off the GUI thread.

The worker does the slow conversions (12-bit quantisation of each view, the
first grey picture, the heat map colours) into QImages, which unlike QPixmaps may
be made outside the GUI thread; the GUI thread only turns them into pixmaps.
Geometry stays in ORIGINAL pixel coordinates; the display flips are recorded
here and applied by the canvas as a view transform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt5.QtGui import QImage

from mommi.findings.overlay import hanging_flips
from mommi.runtime.result import StudyResult
from mommi.study.model import HANGING_ORDER, Study

from mommi_reader.imaging import DEFAULT_LEVEL, DEFAULT_WINDOW, grey_image, heat_rgba, quantise, rgba_image, window_lut


@dataclass
class ViewImage:
    """One view ready to draw."""

    view: str
    rows: int
    cols: int
    quantised: np.ndarray  # uint16 levels, original geometry
    display_flip_h: bool  # hanging protocol: chest walls meet in the middle
    display_flip_v: bool
    canonical_flip_h: bool  # the flips that put the chest wall on the left (to_model)
    canonical_flip_v: bool
    path: str
    default_grey: QImage | None = None  # the picture at the default window/level, made in the worker


@dataclass
class WorklistEntry:
    """A study found in an opened folder (headers only)."""

    study_uid: str
    patient_key: str
    study_date: str
    views: list[str]
    paths: list[Path]

    @property
    def label(self) -> str:
        return f"{self.patient_key} {self.study_date}".strip()


@dataclass
class ScanResult:
    entries: list[WorklistEntry]
    problems: list[str]  # files or folders that hold no usable study, as sentences


@dataclass
class LoadedStudy:
    """A study with its pixels, as displayed before (and while) it is analysed."""

    study_uid: str
    patient_key: str
    study_date: str
    images: dict[str, ViewImage]
    warnings: list[str] = field(default_factory=list)
    load_seconds: float = 0.0


@dataclass
class AnalysisOutcome:
    """A finished analysis (fresh or read back from its results folder)."""

    study_uid: str
    result: StudyResult
    folder: Path  # holds result.json: what the ReviewSession opens
    heat: dict[str, QImage]  # RGBA heat map per view (QImage is safe to make outside the GUI thread)
    from_saved: bool
    seconds: float  # analysis time (of the run that made the result, when read back)
    warnings: list[str] = field(default_factory=list)


def study_paths(study: Study) -> list[Path]:
    """Every file of a study, the set-aside ones included (the pipeline reports them)."""
    return [image.path for image in study.images.values()] + [s.image.path for s in study.set_aside]


def entry_of(study: Study) -> WorklistEntry:
    return WorklistEntry(
        study.study_uid,
        study.patient_key,
        study.study_date,
        [v.value for v in HANGING_ORDER if v in study.images],
        study_paths(study),
    )


def prepare_study(study: Study, load_seconds: float) -> LoadedStudy:
    """Quantise every loaded view and record its display flips (worker thread)."""
    images: dict[str, ViewImage] = {}
    lut = window_lut(DEFAULT_WINDOW, DEFAULT_LEVEL)
    for view, image in study.images.items():
        if image.pixels is None:
            continue
        transform = image.to_model
        fh = bool(transform and transform.flip_horizontal)
        fv = bool(transform and transform.flip_vertical)
        dh, dv = hanging_flips(view.value, fh, fv)
        rows, cols = image.pixels.shape
        levels = quantise(image.pixels)
        images[view.value] = ViewImage(
            view.value, rows, cols, levels, dh, dv, fh, fv, str(image.path), grey_image(levels, lut)
        )
    warnings = list(study.warnings) + [str(e) for e in study.errors]
    warnings += [f"{s.image.path.name} set aside: {s.reason}" for s in study.set_aside]
    return LoadedStudy(study.study_uid, study.patient_key, study.study_date, images, warnings, load_seconds)


def heat_maps(result: StudyResult) -> dict[str, QImage]:
    """The heat map picture of every analysed view (worker thread)."""
    return {view: rgba_image(heat_rgba(prob, result.masks.get(view))) for view, prob in result.maps.items()}
