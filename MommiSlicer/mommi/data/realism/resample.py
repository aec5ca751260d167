"""One pixel size for every image, and where analysis regions fit inside the breast.

Why: spectra, textures and patches are only comparable at one physical scale. The
real films (mini-MIAS) have 0.2 mm pixels, the phantom 0.5 mm (lite) or 0.1 mm
(clinical), a DICOM set anything; every image is brought to ``TARGET_MM`` from its
own pixel spacing before anything is measured. Downsampling averages pixels
(``INTER_AREA``, no aliasing of fine texture into the band we measure); upsampling
interpolates linearly (it adds no texture that was not there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from mommi.study.orientation import breast_mask

#: the common pixel size (mm): mini-MIAS's, the coarsest real films we have
TARGET_MM = 0.2
#: analysis regions keep this far (mm) from the breast edge: the skin line and the
#: thinning periphery are not anatomical noise
EDGE_MARGIN_MM = 2.0
#: random candidate positions tried per image (enough to fill any count we ask for)
MAX_CANDIDATES = 20000


def resample(
    pixels: np.ndarray, spacing_mm: tuple[float, float], target_mm: float = TARGET_MM, nearest: bool = False
) -> np.ndarray:
    """``pixels`` (row spacing, column spacing in mm) resampled to ``target_mm`` square pixels.

    ``nearest`` is for label maps (mass masks), which must keep their labels.
    """
    rows, cols = pixels.shape[:2]
    new_rows = max(1, int(round(rows * spacing_mm[0] / target_mm)))
    new_cols = max(1, int(round(cols * spacing_mm[1] / target_mm)))
    if (new_rows, new_cols) == (rows, cols):
        return pixels.copy()
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif new_rows < rows or new_cols < cols:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(pixels, (new_cols, new_rows), interpolation=interpolation)


@dataclass
class AnalysedImage:
    """One image at ``TARGET_MM``: pixels in [0, 1], its breast mask, and whose it is.

    ``masses`` holds the image's mass regions at the same scale as (mask, label)
    pairs, for the contrast figure; ``mass_diameters_mm`` their sizes.
    """

    patient: str
    label: str  # "L-MLO", "mdb001", ... for messages
    pixels: np.ndarray
    mask: np.ndarray
    masses: list[np.ndarray] = field(default_factory=list)
    mass_diameters_mm: list[float] = field(default_factory=list)


def analysed_image(
    patient: str, label: str, pixels: np.ndarray, spacing_mm: tuple[float, float], target_mm: float = TARGET_MM
) -> AnalysedImage:
    """Resample, then find the breast with the product's own ``breast_mask``.

    The mask is computed after resampling so that it matches the analysed grid
    exactly, with the same morphology scale for every source.
    """
    resampled = resample(np.asarray(pixels, dtype=np.float32), spacing_mm, target_mm)
    return AnalysedImage(patient, label, resampled, breast_mask(resampled))


def inner_mask(mask: np.ndarray, margin_mm: float = EDGE_MARGIN_MM, pixel_mm: float = TARGET_MM) -> np.ndarray:
    """The breast eroded by ``margin_mm``: where analysis regions may lie."""
    radius = max(1, int(round(margin_mm / pixel_mm)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask.astype(np.uint8), kernel).astype(bool)


def square_positions(mask: np.ndarray, size: int) -> np.ndarray:
    """(K, 2) top-left (row, col) of every ``size`` x ``size`` square lying fully inside ``mask``.

    An integral image makes the test O(1) per position: a square is inside when
    the mask sums to size^2 over it.
    """
    rows, cols = mask.shape
    if rows < size or cols < size:
        return np.zeros((0, 2), dtype=int)
    integral = cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_32S)
    total = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    return np.argwhere(total == size * size)


def pick_squares(
    mask: np.ndarray, size: int, count: int, rng: np.random.Generator, min_distance: int | None = None
) -> list[tuple[int, int]]:
    """Up to ``count`` random squares fully inside ``mask``, at least ``min_distance`` apart.

    Why spaced: overlapping squares measure the same tissue twice, which narrows
    confidence intervals without adding information. Seeded by ``rng``.
    """
    positions = square_positions(mask, size)
    if positions.size == 0:
        return []
    min_distance = size // 2 if min_distance is None else min_distance
    chosen: list[tuple[int, int]] = []
    for index in rng.permutation(len(positions))[:MAX_CANDIDATES]:
        r, c = (int(v) for v in positions[index])
        if all(max(abs(r - r0), abs(c - c0)) >= min_distance for r0, c0 in chosen):
            chosen.append((r, c))
            if len(chosen) >= count:
                break
    return chosen
