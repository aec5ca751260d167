"""Decoding DICOM pixels into display intensities in [0, 1].

Order follows the DICOM grayscale pipeline: stored values -> modality LUT
(rescale) -> VOI LUT or window (LINEAR, LINEAR_EXACT, SIGMOID; pydicom implements
them) -> MONOCHROME1 inversion. The result is normalised by the output range of
the VOI transform itself, found by sending every possible stored value through
it, so that the same file always gives the same intensities whatever its content.
Compressed transfer syntaxes (RLE, JPEG baseline/extended/lossless, JPEG 2000,
JPEG-LS) decode through pydicom's pixel plugins (pylibjpeg, installed with us).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from mommi.errors import TruncatedFileError, UnreadablePixelDataError, UnsupportedImageError
from mommi.study.limits import check_declared_size

#: percentiles of the automatic window used when a file carries no VOI at all
AUTO_WINDOW_PERCENTILES = (0.5, 99.5)


def _stored_value_range(ds: Dataset, raw: np.ndarray) -> np.ndarray:
    """Every value a pixel of this file may store (the data's own range past 16 bits)."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if bits > 16:
        return np.linspace(float(raw.min()), float(raw.max()), 65536)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return np.arange(-(2 ** (bits - 1)), 2 ** (bits - 1), dtype=np.int64)
    return np.arange(0, 2**bits, dtype=np.int64)


def _expected_pixel_bytes(ds: Dataset) -> int:
    bits = int(ds.get("BitsAllocated", 16))
    samples = int(ds.get("SamplesPerPixel", 1))
    return int(ds.Rows) * int(ds.Columns) * samples * bits // 8


#: bits per stored value the decoders are used for in mammography (1-bit overlays and masks are not images)
SUPPORTED_BITS_ALLOCATED = (8, 16, 32)


def _check_declared_image(ds: Dataset, path: Path) -> None:
    """Size and bit depth from the header, before anything is decoded (see study.limits); multi-frame
    files were set aside earlier, when the header was read."""
    try:
        rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
        bits = int(ds.get("BitsAllocated", 16))
    except (TypeError, ValueError) as exc:
        raise UnsupportedImageError(path, f"the header's image size or bit depth is not a number ({exc})") from exc
    check_declared_size(rows, cols, path)
    if bits not in SUPPORTED_BITS_ALLOCATED:
        raise UnsupportedImageError(path, f"BitsAllocated {bits} is not a greyscale image depth (8 or 16)")


@contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """Catch what native decoders write straight to file descriptor 2 (pylibjpeg-rle's Rust panic prints
    a message and a backtrace there before Python sees an exception). The lines are handed back for the
    error message instead of reaching the user's terminal. Process-wide for the decode's duration: a
    line another thread writes to stderr in that moment is caught too (and dropped)."""
    lines: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (some GUI launchers): nothing to protect
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _decode(ds: Dataset, path: Path) -> np.ndarray:
    _check_declared_image(ds, path)
    with _native_stderr_captured() as native:
        try:
            return _decode_pixels(ds, path)
        except UnreadablePixelDataError as exc:
            failure = exc
    # the captured lines are there once the capture has ended
    cause = next(
        (line.strip() for line in native if line.strip() and "panicked" not in line and not line.startswith("note:")),
        None,
    )
    if cause and cause not in failure.reason:
        raise UnreadablePixelDataError(path, f"{failure.reason} ({cause})") from failure
    raise failure


def _decode_pixels(ds: Dataset, path: Path) -> np.ndarray:
    transfer_syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if transfer_syntax is not None and not transfer_syntax.is_compressed:
        available = len(ds.get("PixelData") or b"")
        if available < _expected_pixel_bytes(ds):
            raise TruncatedFileError(
                path,
                f"the pixel data is incomplete ({available} of {_expected_pixel_bytes(ds)} bytes); "
                "the file was probably cut off during copying",
            )
    try:
        return ds.pixel_array
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, TypeError, EOFError) as exc:
        name = transfer_syntax.name if transfer_syntax is not None else "unknown transfer syntax"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "less than expected" in message or "end of" in message.lower():
            raise TruncatedFileError(path, f"the pixel data is incomplete ({name})") from exc
        raise UnreadablePixelDataError(path, f"the image pixels could not be decoded ({name}): {message}") from exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - pylibjpeg-rle (Rust) panics on corrupt streams
        name = transfer_syntax.name if transfer_syntax is not None else "unknown transfer syntax"
        raise UnreadablePixelDataError(
            path,
            f"the image pixels could not be decoded ({name}): the decoder failed on a corrupt "
            f"stream ({type(exc).__name__})",
        ) from exc


def decode_display_pixels(ds: Dataset, path: Path) -> tuple[np.ndarray, str, list[str]]:
    """Return (float32 pixels in [0, 1], how intensities were set, warnings)."""
    warnings: list[str] = []
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    raw = _decode(ds, path)
    if raw.ndim == 3:
        if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT") and raw.shape[-1] == 3:
            # pydicom converts YCbCr to RGB on decoding; scanned film saved as colour is grey anyway
            raw = raw.astype(np.float32).mean(axis=-1)
            warnings.append(f"colour image ({photometric}) converted to grey")
            photometric = "MONOCHROME2"
        else:
            raise UnsupportedImageError(path, f"image of shape {raw.shape} is not a single 2D mammogram")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise UnsupportedImageError(path, f"photometric interpretation {photometric} is not supported")

    has_voi = bool(ds.get("VOILUTSequence")) or ("WindowCenter" in ds and "WindowWidth" in ds)
    try:
        if raw.dtype.kind == "f":
            values = raw.astype(np.float64)
            has_voi = False
        else:
            values = _as_lut_index(apply_modality_lut(raw, ds), ds)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise UnreadablePixelDataError(path, f"the rescale / modality LUT in the header is invalid: {exc}") from exc
    if float(np.max(values)) == float(np.min(values)):
        slope = ds.get("RescaleSlope")
        raise UnsupportedImageError(
            path,
            "the image is blank: every pixel has the same value"
            + (" (RescaleSlope is 0)" if slope is not None and float(slope) == 0 else ""),
        )

    voi_problem = ""
    if has_voi:
        try:
            windowed = apply_voi_lut(values, ds, index=0)
            # the output range of this very VOI transform: every stored value through it
            every_value = _as_lut_index(apply_modality_lut(_stored_value_range(ds, raw), ds), ds)
            span = apply_voi_lut(every_value, ds, index=0)
            lo, hi = float(np.min(span)), float(np.max(span))
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError("it maps every value to one level")
            values, source = windowed, _voi_description(ds)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            # a window that cannot be applied does not make the image unreadable: its pixels are fine
            voi_problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            has_voi = False
    if not has_voi:
        lo, hi = (float(v) for v in np.percentile(values, AUTO_WINDOW_PERCENTILES))
        source = "automatic window (no usable VOI LUT or window in the file)"
        warnings.append(
            f"the window / VOI LUT in the header is invalid ({voi_problem}): an automatic window was used"
            if voi_problem
            else "no window or VOI LUT in the file: an automatic window was used"
        )
    pixels = np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0).astype(np.float32)
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
        source += "; MONOCHROME1 inverted"
    return pixels, source, warnings


def _as_lut_index(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """A VOI LUT table is indexed by integers; an identity rescale makes floats of them."""
    if ds.get("VOILUTSequence") and values.dtype.kind == "f":
        rounded = np.rint(values)
        if np.array_equal(rounded, values):
            return rounded.astype(np.int64)
    return values


def _voi_description(ds: Dataset) -> str:
    if ds.get("VOILUTSequence"):
        explanation = ds.VOILUTSequence[0].get("LUTExplanation", "")
        return f"VOI LUT Sequence{f' ({explanation})' if explanation else ''}"
    function = str(ds.get("VOILUTFunction", "LINEAR")).upper() or "LINEAR"
    center = ds["WindowCenter"].value
    width = ds["WindowWidth"].value
    center = center[0] if ds["WindowCenter"].VM > 1 else center
    width = width[0] if ds["WindowWidth"].VM > 1 else width
    return f"window {function} C={float(center):g} W={float(width):g}"
