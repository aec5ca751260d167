"""Training augmentation for the mass maps: what changes between real mammograms and what does not.

The models must transfer from the phantom and from one digitiser (mini-MIAS) to other
films and FFDM systems, so training draws, per sample:

- geometry: breast size and position on the grid (scale 0.85-1.15, shift up to 6 %),
  a small rotation (+-8 degrees: compression and positioning differ), and the
  vertical flip (upper / lower quadrants); never a horizontal flip, since the chest
  wall stays on the left of every model input;
- display: a tone curve (gamma 0.6-1.6: film characteristic curves and vendors'
  look-up tables), gain and offset, a contrast change about the breast's mean;
- acquisition: Gaussian blur (focal spot, scanner MTF) and additive noise (quantum,
  film grain, electronics) of random strength.

Geometry is applied identically to the main view, the registered contralateral
view and the target (the registration put them on one grid); intensities are drawn
per image, because two breasts are exposed and processed separately. OpenCV does
the warping and filtering.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentRanges:
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.06  # of the grid size
    rotation_deg: float = 8.0
    gamma: tuple[float, float] = (0.6, 1.6)
    gain: tuple[float, float] = (0.85, 1.15)
    offset: float = 0.05
    contrast: tuple[float, float] = (0.75, 1.3)
    blur_probability: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # grid pixels
    noise_probability: float = 0.5
    noise_sigma: tuple[float, float] = (0.005, 0.03)


DEFAULT_RANGES = AugmentRanges()


def random_affine(
    shape: tuple[int, int], rng: np.random.Generator, ranges: AugmentRanges = DEFAULT_RANGES
) -> np.ndarray:
    """A 2 x 3 affine matrix: rotation and scale about the grid centre, then a shift."""
    h, w = shape
    matrix = cv2.getRotationMatrix2D(
        (w / 2.0, h / 2.0),
        float(rng.uniform(-ranges.rotation_deg, ranges.rotation_deg)),
        float(rng.uniform(*ranges.scale)),
    )
    matrix[:, 2] += rng.uniform(-ranges.shift, ranges.shift, 2) * np.array([w, h])
    return matrix


def warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp onto the same grid; outside the image is background (0), as around a real breast."""
    h, w = image.shape
    return cv2.warpAffine(
        image.astype(np.float32),
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def random_display(pixels: np.ndarray, rng: np.random.Generator, ranges: AugmentRanges = DEFAULT_RANGES) -> np.ndarray:
    """Tone curve, gain / offset, contrast, blur and noise on display values in [0, 1]."""
    out: np.ndarray = np.clip(pixels.astype(np.float32), 0.0, 1.0) ** float(rng.uniform(*ranges.gamma))
    breast = out > 0.02
    mean = float(out[breast].mean()) if breast.any() else 0.5
    out = (out - mean) * float(rng.uniform(*ranges.contrast)) + mean
    out = out * float(rng.uniform(*ranges.gain)) + float(rng.uniform(-ranges.offset, ranges.offset))
    if rng.random() < ranges.blur_probability:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(*ranges.blur_sigma)))
    if rng.random() < ranges.noise_probability:
        out = out + rng.normal(0.0, float(rng.uniform(*ranges.noise_sigma)), out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def augment_views(
    main: np.ndarray,
    target: np.ndarray,
    aux: np.ndarray | None,
    rng: np.random.Generator,
    ranges: AugmentRanges = DEFAULT_RANGES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One draw for a training sample: the same geometry for every input and the target, display per image."""
    main, target, aux, _ = augment_weighted(main, target, aux, None, rng, ranges)
    return main, target, aux


def augment_weighted(
    main: np.ndarray,
    target: np.ndarray,
    aux: np.ndarray | None,
    weight: np.ndarray | None,
    rng: np.random.Generator,
    ranges: AugmentRanges = DEFAULT_RANGES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``augment_views`` with a per-pixel loss weight moved by the same geometry (the same random draws).

    The weight is 1 where nothing is special, so it is warped as ``weight - 1``: outside the image is an
    ordinary pixel, not one the loss ignores.
    """
    matrix = random_affine(main.shape, rng, ranges)
    flip = rng.random() < 0.5
    main, target = warp(main, matrix), (warp(target, matrix) > 0.5).astype(np.float32)
    aux = warp(aux, matrix) if aux is not None else None
    weight = warp(weight - 1.0, matrix) + 1.0 if weight is not None else None
    if flip:
        main, target = main[::-1], target[::-1]
        aux = aux[::-1] if aux is not None else None
        weight = weight[::-1] if weight is not None else None
    main = random_display(main, rng, ranges)
    aux = random_display(aux, rng, ranges) if aux is not None else None
    return (
        np.ascontiguousarray(main),
        np.ascontiguousarray(target),
        (np.ascontiguousarray(aux) if aux is not None else None),
        (np.ascontiguousarray(weight) if weight is not None else None),
    )
