"""Writing a finished StudyResult to disk: result.json, maps.npz, overlays, the four-view sheet, DICOM.

Everything is written into a hidden staging folder and swapped in, ``result.json`` last: its
presence means the folder is complete (`mommi analyze-batch` skips such studies when resumed),
and a killed run never leaves two analyses mixed. The probability
maps are stored as uint8 (probability x 255, rounded) so that a full-field
mammogram's map stays a few MB compressed; ``maps.npz`` holds ``prob_<VIEW>``
and ``mask_<VIEW>`` for every analysed view, in original pixel geometry.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mommi.findings.overlay import four_view_sheet, hanging_flips, render_view, write_png
from mommi.runtime.result import StudyResult
from mommi.study.model import MammoImage, Study

RESULT_FILE = "result.json"
MAPS_FILE = "maps.npz"
SHEET_FILE = "four-view.png"
SR_FILE = "findings-sr.dcm"
#: probability maps are stored as round(p * MAP_SCALE) in uint8
MAP_SCALE = 255


@dataclass
class WrittenOutputs:
    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # role -> path relative to the folder
    warnings: list[str] = field(default_factory=list)


def results_cache_root(env: dict[str, str] | None = None, platform: str | None = None) -> Path:
    """The per-user cache folder where the front ends keep analysis results by default (study folders
    may be read-only): ``~/.cache/mommislicer/results`` on Linux, the platform's cache folder elsewhere."""
    env = dict(os.environ) if env is None else env
    platform = platform or sys.platform
    if platform.startswith("win"):
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mommislicer" / "results"


def quantised(prob: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(prob * MAP_SCALE), 0, MAP_SCALE).astype(np.uint8)


def write_maps(result: StudyResult, path: Path) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for view, prob in result.maps.items():
        arrays[f"prob_{view}"] = quantised(prob)
    for view, mask in result.masks.items():
        arrays[f"mask_{view}"] = mask.astype(bool)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy's stub reads **arrays as allow_pickle
    return path


def read_maps(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(probability maps as float32 in [0, 1], breast masks) per view, from a maps.npz."""
    with np.load(path) as data:
        probs = {k[5:]: data[k].astype(np.float32) / MAP_SCALE for k in data.files if k.startswith("prob_")}
        masks = {k[5:]: data[k] for k in data.files if k.startswith("mask_")}
    return probs, masks


def _images_by_name(study: Study) -> dict[str, MammoImage]:
    return {view.value: image for view, image in study.images.items()}


def render_overlays(result: StudyResult, study: Study, folder: Path) -> dict[str, str]:
    images = _images_by_name(study)
    panels, files = {}, {}
    for name, view in result.views.items():
        image = images.get(name)
        if image is None or image.pixels is None:
            continue
        transform = image.to_model
        flips = hanging_flips(
            name, bool(transform and transform.flip_horizontal), bool(transform and transform.flip_vertical)
        )
        prob = result.maps.get(name)
        if prob is not None and name in result.masks:
            prob = np.where(result.masks[name], prob, 0.0)  # nothing to show outside the breast
        rgb = render_view(
            image.pixels,
            prob,
            result.findings_of(name),
            view.nipple_px,
            f"{name}  ({view.branch})",
            flip_horizontal=flips[0],
            flip_vertical=flips[1],
        )
        files[f"overlay_{name}"] = write_png(folder / f"overlay-{name}.png", rgb).name
        panels[name] = rgb
    files["sheet"] = write_png(folder / SHEET_FILE, four_view_sheet(panels)).name
    return files


def write_dicom(result: StudyResult, study: Study, folder: Path) -> tuple[dict[str, str], list[str]]:
    """DICOM SEG per view and one SR, as far as the source headers allow.

    The analysis is done by now: a source header that a conformant object cannot carry (PixelSpacing
    "NaN", a bogus SpecificCharacterSet, no SOP Instance UID, ...) costs that view its DICOM outputs,
    with a warning naming the file and the cause, never the result. Any exception of the writers
    counts: they are third-party code fed whatever the files say.
    """

    from mommi.runtime.dicom_outputs import (
        result_uid,
        unreferable_reason,
        write_segmentations,
        write_structured_report,
    )

    images = _images_by_name(study)
    warnings: list[str] = []
    usable: dict[str, MammoImage] = {}
    series_uid = result_uid(result, "seg-series")  # one SEG series for the analysis, written view by view
    for name in result.views:
        reason = unreferable_reason(images[name]) if name in images else "not loaded"
        if reason is not None:
            warnings.append(f"{name}: {reason}, so no DICOM Segmentation or SR references it")
            continue
        try:
            write_segmentations(result, {name: images[name]}, folder, series_uid, first_number=len(usable) + 1)
            usable[name] = images[name]
        except Exception as exc:  # noqa: BLE001 - see the docstring
            warnings.append(
                f"{name}: no DICOM Segmentation or SR for this view ({_file_name(images[name])}): {_cause(exc)}"
            )
            (folder / f"seg-{name}.dcm").unlink(missing_ok=True)
    files = {f"seg_{name}": f"seg-{name}.dcm" for name in usable}
    try:
        written = write_structured_report(result, usable, folder / SR_FILE) if usable else None
        if written is not None:
            files["sr"] = written.name
    except Exception as exc:  # noqa: BLE001 - see the docstring
        # one view's header can break the whole report (an MG image whose Modality says CT): find the
        # views the report can describe, one by one, and report those
        (folder / SR_FILE).unlink(missing_ok=True)
        describable = {name: image for name, image in usable.items() if _describable(result, name, image, folder)}
        for name in usable.keys() - describable.keys():
            warnings.append(
                f"{name}: left out of the DICOM Structured Report ({_file_name(usable[name])}): {_cause(exc)}"
            )
        try:
            written = write_structured_report(result, describable, folder / SR_FILE) if describable else None
            if written is not None:
                files["sr"] = written.name
        except Exception as again:  # noqa: BLE001 - see the docstring
            (folder / SR_FILE).unlink(missing_ok=True)
            warnings.append(f"no DICOM Structured Report written: {_cause(again)}")
        if not describable:
            warnings.append(f"no DICOM Structured Report written: {_cause(exc)}")
    return files, warnings


def _describable(result: StudyResult, name: str, image: MammoImage, folder: Path) -> bool:
    """Whether a Structured Report of this view alone can be written (a trial file, removed again)."""
    from mommi.runtime.dicom_outputs import write_structured_report

    trial = folder / f".sr-trial-{name}.dcm"
    try:
        write_structured_report(result, {name: image}, trial)
        return True
    except Exception:  # noqa: BLE001 - any failure means: not describable
        return False
    finally:
        trial.unlink(missing_ok=True)


def _file_name(image: MammoImage) -> str:
    return image.path.name if image.path is not None else "no file"


def _cause(exc: Exception) -> str:
    """Our own refusal in its words; a third-party writer's failure (highdicom, pydicom) as what it is."""
    from mommi.runtime.dicom_outputs import DicomOutputError

    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, DicomOutputError):
        return message.split(": ", 1)[1] if message.startswith("/") and ": " in message else message
    return f"the DICOM writer cannot carry this file's header ({message})"


#: every file name an analysis writes (besides result.json), as glob patterns
OUTPUT_PATTERNS = (MAPS_FILE, SHEET_FILE, SR_FILE, "overlay-*.png", "seg-*.dcm", RESULT_FILE + ".part")


def clear_previous_outputs(folder: Path) -> None:
    """Remove an earlier analysis's outputs from ``folder``, result.json FIRST: a run killed while
    writing must leave a folder without result.json (visibly unfinished), never the old result.json
    beside new maps. Only the product's own file names are touched; anything else stays."""
    (folder / RESULT_FILE).unlink(missing_ok=True)
    for pattern in OUTPUT_PATTERNS:
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)


#: hidden folder inside the output folder where a run writes before swapping its files in
STAGING_PREFIX = ".mommi-writing-"


def _remove_stale_staging(folder: Path) -> None:
    """Staging folders of runs that were killed before they swapped their files in."""
    for path in folder.glob(STAGING_PREFIX + "*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def _swap_in(staging: Path, folder: Path) -> None:
    """Move a finished run's files from ``staging`` into ``folder``: old outputs out (result.json first),
    new ones in, result.json last. Renames within one file system: the window is milliseconds."""
    clear_previous_outputs(folder)
    for path in sorted(staging.iterdir()):
        if path.name != RESULT_FILE:
            os.replace(path, folder / path.name)
    os.replace(staging / RESULT_FILE, folder / RESULT_FILE)


def write_outputs(
    result: StudyResult, study: Study, folder: Path, dicom: bool = True, overlays: bool = True
) -> WrittenOutputs:
    """Every output of one study into ``folder``, written into a fresh hidden staging folder and swapped in.

    Why: maps, overlays and DICOM take seconds to write; a run killed meanwhile must leave the
    previous complete result untouched (or, in the milliseconds of the swap, a folder without
    result.json, visibly unfinished), never a mix of two analyses.
    """
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        written = WrittenOutputs(folder)
        written.files["maps"] = write_maps(result, staging / MAPS_FILE).name
        if overlays:
            written.files.update(render_overlays(result, study, staging))
        if dicom:
            files, warnings = write_dicom(result, study, staging)
            written.files.update(files)
            written.warnings += warnings
        document: dict[str, Any] = result.to_dict()
        document["warnings"] = list(document["warnings"]) + written.warnings
        document["files"] = dict(written.files)
        (staging / RESULT_FILE).write_text(json.dumps(document, indent=1), encoding="utf-8")
        _swap_in(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written.files["result"] = RESULT_FILE
    return written
