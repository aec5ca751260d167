"""Research images: PNG, PGM or JPEG with a small JSON sidecar, or named as a dataset profile knows them.

Public datasets such as mini-MIAS ship PGM files without DICOM headers, so what
DICOM tags would say is written in a sidecar next to the image, named
``<image>.json`` or ``<image stem>.json``::

    {"laterality": "L", "view": "MLO", "pixel_spacing_mm": 0.2,
     "patient_id": "mias-001", "study_id": "mias-001",
     "chest_wall": "left", "bits_stored": 12, "photometric": "MONOCHROME2"}

Only ``laterality`` and ``view`` are required. Without ``bits_stored`` 16-bit
images are scaled by the smallest of 10/12/14/16 bits that holds their maximum.
Files of a public dataset whose names say what a sidecar would (CDD-CESM's JPEG
files) need no sidecar: their profile supplies the facts (``read_profiled_raster``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from warnings import catch_warnings, simplefilter

import cv2
import numpy as np

from mommi.errors import ConflictingLateralityError, SidecarError, UnreadablePixelDataError, UnsupportedImageError
from mommi.study.limits import check_declared_size
from mommi.study.model import Laterality, MammoImage, PixelSpacing
from mommi.study.orientation import orientation_transform
from mommi.study.profiles import DatasetProfile

#: the start of the generic warning that a dataset profile's own explanation replaces
_NO_SPACING = "no pixel spacing in the sidecar"

RASTER_SUFFIXES = (".png", ".pgm", ".jpg", ".jpeg")
_KNOWN_KEYS = {
    "laterality",
    "view",
    "pixel_spacing_mm",
    "patient_id",
    "patient_name",
    "study_id",
    "study_date",
    "chest_wall",
    "bits_stored",
    "photometric",
    "acquisition_datetime",
}


@dataclass(frozen=True)
class Sidecar:
    laterality: Laterality
    view_position: str
    spacing_mm: tuple[float, float] | None
    patient_id: str
    study_id: str
    study_date: str
    chest_wall: str | None
    bits_stored: int | None
    photometric: str
    acquisition_datetime: str


#: a sidecar holds a few short fields; anything larger is a mistake or an attack on the JSON parser
MAX_SIDECAR_BYTES = 64_000


def sidecar_path(image_path: Path) -> Path | None:
    for candidate in (image_path.with_name(image_path.name + ".json"), image_path.with_suffix(".json")):
        if candidate.exists():  # a folder or pipe by that name is the user's mistake to report, not to skip
            return candidate
    return None


def _require(cond: bool, path: Path, reason: str) -> None:
    if not cond:
        raise SidecarError(path, reason)


def read_sidecar(image_path: Path) -> Sidecar:
    path = sidecar_path(image_path)
    if path is None:
        raise SidecarError(
            image_path,
            f"a {image_path.suffix.upper().lstrip('.')} image needs a JSON sidecar "
            f"({image_path.name}.json) that says which breast and which view it shows",
        )
    _require(path.is_file(), path, "the sidecar is not a regular file (a folder, pipe or device by that name)")
    _require(
        path.stat().st_size <= MAX_SIDECAR_BYTES,
        path,
        f"the sidecar is {path.stat().st_size / 1e6:.1f} MB; a sidecar holds a few fields (at most "
        f"{MAX_SIDECAR_BYTES // 1000} kB)",
    )
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SidecarError(path, f"the sidecar is not valid JSON ({exc})") from exc
    except RecursionError:
        raise SidecarError(path, "the sidecar nests lists or objects too deeply to be read") from None
    _require(isinstance(data, dict), path, "the sidecar must be a JSON object")
    unknown = sorted(set(data) - _KNOWN_KEYS)
    _require(not unknown, path, f"unknown sidecar keys: {', '.join(unknown)}")

    view = str(data.get("view", "")).strip().upper().replace("_", "-")
    lat_text = str(data.get("laterality", "")).strip().upper()[:1]
    if "-" in view:  # "L-CC"
        view_lat, view = view.split("-", 1)
        if lat_text and view_lat[:1] != lat_text:
            raise ConflictingLateralityError(path, f"the sidecar says laterality {lat_text} but view {data['view']}")
        lat_text = view_lat[:1]
    _require(lat_text in ("L", "R"), path, "sidecar 'laterality' must be 'L' or 'R'")
    _require(bool(view), path, "sidecar 'view' is missing (e.g. 'CC' or 'MLO')")

    spacing = data.get("pixel_spacing_mm")
    pair: tuple[float, float] | None = None
    if spacing is not None:
        values = spacing if isinstance(spacing, list) else [spacing, spacing]
        ok = len(values) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0.01 <= v <= 1.0 for v in values
        )
        _require(ok, path, "sidecar 'pixel_spacing_mm' must be a number (or two) between 0.01 and 1 mm")
        pair = (float(values[0]), float(values[1]))
    chest_wall = data.get("chest_wall")
    _require(chest_wall in (None, "left", "right"), path, "sidecar 'chest_wall' must be 'left' or 'right'")
    bits = data.get("bits_stored")
    _require(
        bits is None or (isinstance(bits, int) and not isinstance(bits, bool) and 8 <= bits <= 16),
        path,
        "'bits_stored' must be 8..16",
    )
    photometric = str(data.get("photometric", "MONOCHROME2")).upper()
    _require(photometric in ("MONOCHROME1", "MONOCHROME2"), path, "'photometric' must be MONOCHROME1 or 2")

    patient_id = str(data.get("patient_id") or image_path.parent.name)
    study_date = _sidecar_date(data.get("study_date"), path)
    return Sidecar(
        laterality=Laterality(lat_text),
        view_position=view,
        spacing_mm=pair,
        patient_id=patient_id,
        study_id=str(data.get("study_id") or patient_id),
        study_date=study_date,
        chest_wall=chest_wall,
        bits_stored=bits,
        photometric=photometric,
        acquisition_datetime=str(data.get("acquisition_datetime", "")),
    )


def _sidecar_date(value: Any, path: Path) -> str:
    """A sidecar's study date as DICOM writes dates (YYYYMMDD), from that or ISO 8601 (YYYY-MM-DD). A date
    that is not one would put the study under a wrong or empty date in grouping, prior matching and exports."""
    if value is None or value == "":
        return ""
    text = str(value).strip()
    for form in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, form).strftime("%Y%m%d")
        except ValueError:
            continue
    raise SidecarError(path, f"sidecar 'study_date' {text[:40]!r} is not a date (YYYYMMDD or YYYY-MM-DD)")


def _normalise(raw: np.ndarray, bits_stored: int | None, path: Path) -> tuple[np.ndarray, int]:
    if raw.ndim == 3:
        raw = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2GRAY)
    if raw.dtype == np.uint8:
        bits = 8
    elif raw.dtype == np.uint16:
        bits = bits_stored or next(b for b in (10, 12, 14, 16) if int(raw.max()) < 2**b)
    else:
        raise UnreadablePixelDataError(path, f"unsupported pixel type {raw.dtype}")
    return (raw.astype(np.float32) / float(2**bits - 1)).clip(0.0, 1.0), bits


def declared_raster_size(path: Path) -> tuple[int, int] | None:
    """(rows, columns) from the file's header without decoding its pixels (Pillow reads headers lazily;
    OpenCV has no header-only read). A header Pillow cannot read is left to the decoder's own error."""
    from PIL import Image, UnidentifiedImageError

    try:
        with catch_warnings():
            simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                cols, rows = image.size
    except Image.DecompressionBombError as exc:  # Pillow's own, far higher limit: certainly too large
        raise UnsupportedImageError(path, f"the image declares too many pixels to decode ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return int(rows), int(cols)


def read_raster(path: Path, keep_pixels: bool = True, sidecar: Sidecar | None = None) -> MammoImage:
    """Read a PNG/PGM research image and its sidecar into a MammoImage.

    ``sidecar`` may be given directly when the facts come from elsewhere (a
    training manifest for MIAS, whose distribution has no sidecars).
    """
    sidecar = sidecar or read_sidecar(path)
    declared = declared_raster_size(path)
    if declared is not None:
        check_declared_size(*declared, path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise UnreadablePixelDataError(path, "the image file could not be decoded (damaged or incomplete PNG/PGM)")
    warnings: list[str] = []
    if raw.ndim == 3:
        warnings.append("colour image converted to grey")
    check_declared_size(raw.shape[0], raw.shape[1], path)  # a header Pillow could not read was not checked
    pixels, bits = _normalise(raw, sidecar.bits_stored, path)
    if float(pixels.max()) == float(pixels.min()):
        raise UnsupportedImageError(path, "the image is blank: every pixel has the same value")
    if sidecar.photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
    rows, cols = pixels.shape
    transform, chest_source, orient_warnings = orientation_transform(
        pixels,
        (rows, cols),
        sidecar.laterality,
        sidecar.view_position,
        declared_chest_wall=sidecar.chest_wall,
    )
    warnings += orient_warnings
    spacing = None
    if sidecar.spacing_mm is not None:
        spacing = PixelSpacing(sidecar.spacing_mm[0], sidecar.spacing_mm[1], "sidecar pixel_spacing_mm")
    else:
        warnings.append("no pixel spacing in the sidecar: sizes in mm are unavailable for this image")
    return MammoImage(
        path=path,
        rows=rows,
        cols=cols,
        laterality=sidecar.laterality,
        view_position=sidecar.view_position,
        view_source="sidecar",
        pixels=pixels if keep_pixels else None,
        spacing=spacing,
        photometric=sidecar.photometric,
        presentation_intent="FOR PRESENTATION",
        intensity_source=f"{bits}-bit values scaled to [0, 1]"
        + ("; MONOCHROME1 inverted" if sidecar.photometric == "MONOCHROME1" else ""),
        to_model=transform,
        chest_wall_source=chest_source,
        patient_id=sidecar.patient_id,
        study_uid=sidecar.study_id,
        study_date=sidecar.study_date,
        sop_instance_uid=f"file:{path.resolve()}",
        acquisition_datetime=sidecar.acquisition_datetime,
        bits_stored=bits,
        file_format=path.suffix.upper().lstrip("."),
        warnings=warnings,
    )


def read_profiled_raster(path: Path, profile: DatasetProfile, keep_pixels: bool = True) -> MammoImage:
    """A dataset's raster image read with the facts its profile takes from the file name."""
    facts = profile.facts(path, None)
    if facts.laterality is None or facts.view_position is None:
        raise SidecarError(path, f"the {profile.name} file name does not say which breast and view it shows")
    if facts.set_aside:
        return MammoImage(
            path=path,
            rows=0,
            cols=0,
            laterality=facts.laterality,
            view_position=facts.view_position,
            view_source=facts.view_source,
            patient_id=facts.patient or "",
            study_uid=facts.exam_key or "",
            sop_instance_uid=f"file:{path.resolve()}",
            file_format=path.suffix.upper().lstrip("."),
            profile=facts.profile,
            exam_key=facts.exam_key or "",
            set_aside_reason=facts.set_aside,
        )
    spacing = (facts.spacing.row_mm, facts.spacing.col_mm) if facts.spacing else None
    sidecar = Sidecar(
        facts.laterality,
        facts.view_position,
        spacing,
        facts.patient or path.parent.name,
        facts.exam_key or facts.patient or path.parent.name,
        "",
        facts.chest_wall,
        None,
        "MONOCHROME2",
        "",
    )
    image = read_raster(path, keep_pixels=keep_pixels, sidecar=sidecar)
    if facts.spacing is not None:
        image.spacing = facts.spacing
    elif facts.spacing_note:
        image.warnings = [w for w in image.warnings if not w.startswith(_NO_SPACING)] + [facts.spacing_note]
    image.view_source, image.profile, image.exam_key = facts.view_source, facts.profile, facts.exam_key or ""
    if facts.chest_wall is not None:  # declared by the dataset's convention, not by a sidecar
        convention = f"{facts.profile} convention"
        image.chest_wall_source = image.chest_wall_source.replace("sidecar", convention, 1)
        image.warnings = [w.replace("sidecar puts", f"the {convention} puts", 1) for w in image.warnings]
    image.warnings += list(facts.warnings)
    return image
