"""Loading studies from files and folders: the engine's entry point for input."""

from __future__ import annotations

import logging
import multiprocessing
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mommi.child_processes import die_with_parent
from mommi.errors import (
    MissingPathError,
    MixedPatientsError,
    MultipleStudiesError,
    NoStudyFoundError,
    StudyInputError,
    UnreadablePixelDataError,
)
from mommi.study.dicom_reader import read_dicom
from mommi.study.discovery import discover
from mommi.study.grouping import group_into_studies
from mommi.study.model import MammoImage, Study, StudyCollection
from mommi.study.profiles import raster_profile
from mommi.study.raster import RASTER_SUFFIXES, read_profiled_raster, read_raster, sidecar_path

log = logging.getLogger(__name__)

#: progress(done, total, path) is called after each file
ProgressCallback = Callable[[int, int, Path], None]


def _not_a_file_reason(path: Path) -> str:
    """Why a path that is not a regular file cannot be read: opening a named pipe or a device such as
    /dev/zero would block or never end, so they are named instead of read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"the file does not exist or cannot be read ({exc.strerror or exc})"
    kind = (
        "a named pipe"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a folder"
        if stat.S_ISDIR(mode)
        else "a special file"
    )
    return f"not a regular file ({kind}); only files are read"


def read_image(path: Path, keep_pixels: bool = True) -> MammoImage:
    """Read one file (DICOM, or PNG/PGM with a sidecar).

    Raises:
        StudyInputError: the file is unusable; its subclass says why (MissingPathError, NotDicomError,
            TruncatedFileError, UnsupportedImageError, SidecarError, ...), ``reason`` in words.
    """
    if not path.is_file():
        raise MissingPathError(path, _not_a_file_reason(path))
    try:
        if path.suffix.lower() in RASTER_SUFFIXES:
            profile = raster_profile(path) if sidecar_path(path) is None else None  # a sidecar is the user's word
            if profile is not None:
                return read_profiled_raster(path, profile, keep_pixels=keep_pixels)
            return read_raster(path, keep_pixels=keep_pixels)
        return read_dicom(path, keep_pixels=keep_pixels)
    except StudyInputError:
        raise
    except MemoryError as exc:
        raise StudyInputError(path, "the image is too large to load in the memory available") from exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a reader bug must not stop the rest of the study;
        # codecs written in Rust (pylibjpeg-rle) panic on corrupt streams with pyo3's PanicException,
        # which derives from BaseException, not Exception
        log.debug("unexpected error reading %s", path, exc_info=True)  # shown with --debug; the cause goes on
        raise StudyInputError(path, f"unexpected error while reading ({type(exc).__name__}: {exc})") from exc


def _read_or_error(path: Path, keep_pixels: bool) -> MammoImage | StudyInputError:
    """The image or its typed error, as a value that crosses a process boundary: a native panic that still
    escaped (pyo3's PanicException cannot be pickled back from a decoder process) becomes a typed error here."""
    try:
        return read_image(path, keep_pixels=keep_pixels)
    except StudyInputError as exc:
        exc.__cause__ = exc.__context__ = None  # the chain may hold an unpicklable native exception
        return exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        return UnreadablePixelDataError(path, f"the decoder failed on this file ({type(exc).__name__})")


def _can_fork() -> bool:
    """Forking is safe only from the main thread of a process (a GUI's worker thread must not fork)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.current_thread() is threading.main_thread()


def load_studies(
    paths: Iterable[str | Path],
    keep_pixels: bool = True,
    allow_for_processing: bool = False,
    progress: ProgressCallback | None = None,
    processes: int = 1,
) -> StudyCollection:
    """Find every study under ``paths``. Bad files are reported, never fatal.

    ``processes`` > 1 decodes files in forked processes: the JPEG 2000 decoder holds Python's GIL,
    so threads gain nothing (measured: four 3328 x 2560 views in 5.2 s serially, 5.4 s with four
    threads, 2.9 s with two processes). Called from anything but a main thread, or where fork is
    not available, files are decoded one after another.
    """
    found = discover(paths)
    errors: list[StudyInputError] = list(found.errors)
    ignored = list(found.ignored)
    wanted = []
    for path in found.files:
        if _is_unlabelled_raster(path) and path not in found.explicit:
            # masks, thumbnails and screenshots next to a study: not an error when found in a folder
            ignored.append(path)
        else:
            wanted.append(path)
    if processes > 1 and len(wanted) > 1 and _can_fork():
        with ProcessPoolExecutor(
            min(processes, len(wanted)), mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent
        ) as pool:  # no decoder outlives a killed command
            outcomes = pool.map(_read_or_error, wanted, [keep_pixels] * len(wanted))
    else:
        outcomes = (_read_or_error(path, keep_pixels) for path in wanted)
    images: list[MammoImage] = []
    for index, (path, outcome) in enumerate(zip(wanted, outcomes), start=1):
        if isinstance(outcome, StudyInputError):
            errors.append(outcome)
        else:
            images.append(outcome)
        if progress is not None:
            progress(index, len(wanted), path)
    studies, orphans = group_into_studies(images, errors, allow_for_processing)
    for folder in found.empty_folders:
        orphans.append(NoStudyFoundError(folder, "this folder holds no image files"))
    return StudyCollection(studies=studies, errors=orphans, ignored=ignored)


def _is_unlabelled_raster(path: Path) -> bool:
    """A PNG/PGM/JPEG that neither a sidecar nor a dataset profile explains (a mask, a thumbnail)."""
    return path.suffix.lower() in RASTER_SUFFIXES and sidecar_path(path) is None and raster_profile(path) is None


def _files_by_patient(collection: StudyCollection) -> str:
    """Which files belong to which patient, by file name only (the terminal is no place for patient IDs)."""
    groups: dict[str, list[str]] = {}
    for study in collection.studies:
        names = [image.path.name for image in study.images.values()] + [s.image.path.name for s in study.set_aside]
        groups.setdefault(study.patient_key, []).extend(sorted(names))
    return "; ".join(
        f"patient {index}: {', '.join(names[:4])}{', ...' if len(names) > 4 else ''}"
        for index, names in enumerate(groups.values(), 1)
    )


def load_study(paths: Iterable[str | Path] | str | Path, **kwargs: object) -> Study:
    """Load exactly one study.

    Raises:
        NoStudyFoundError: nothing under ``paths`` is a usable mammogram.
        MixedPatientsError, MultipleStudiesError: the paths hold more than one patient or study.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    collection = load_studies(paths, **kwargs)  # type: ignore[arg-type]  # kwargs: load_studies' own options
    where = paths[0] if len(paths) == 1 else None
    if not collection.studies or not any(s.images or s.set_aside for s in collection.studies):
        reasons = "; ".join(str(e) for e in collection.errors[:3])
        raise NoStudyFoundError(where, "no usable mammogram was found" + (f" ({reasons})" if reasons else ""))
    patients = {s.patient_key for s in collection.studies}
    if len(patients) > 1:
        raise MixedPatientsError(
            where,
            f"the images belong to {len(patients)} different patients ({_files_by_patient(collection)}); "
            "open one patient at a time",
        )
    if len(collection.studies) > 1:
        dates = ", ".join(s.study_date or "unknown date" for s in collection.studies)
        raise MultipleStudiesError(
            where, f"the images hold {len(collection.studies)} exams of one patient ({dates}); open one exam at a time"
        )
    study = collection.studies[0]
    study.errors.extend(collection.errors)
    return study
