"""Acquisition and display styles: how an attenuation image becomes a film or an FFDM image.

Why styles: a detector trained on one look fails on another. Real archives hold
digitised screen-film (mini-MIAS, DDSM) and processed FFDM "for presentation" images
of several vendors, so the phantom draws a style per study.

Every style starts from the same physics: the total attenuation along each ray
``A = mu_fat * thickness + mu_excess * (gland, skin, muscle, ligaments, masses...)``
(dimensionless, ln of the unattenuated over the transmitted exposure).

- ``film``: exposure through a screen-film system. Optical density follows the film's
  characteristic (H&D) curve, a sigmoid of log exposure, so the display (bright = dense)
  is a sigmoid of A: thin periphery black, fat grey, gland and muscle near white; the
  exposure level and film gradient vary per study. Screen blur, film grain, an 8-bit
  digitiser, and lead markers / labels burnt in beside the breast.
- ``ffdm-ge`` / ``ffdm-hologic``: a digital detector's linear exposure with quantum and
  electronic noise, log transform, then vendor-like processing: peripheral (thickness)
  equalisation so the skin line stays visible, unsharp masking, and a display LUT
  (GE-like: strong equalisation and contrast; Hologic-like: milder, more linear).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np

#: attenuation per mm of fat and the excess of denser tissue over fat (about 20 keV)
MU_FAT = 0.05
MU_EXCESS = 0.025  # gland, muscle, ligaments: mm of "gland" -> attenuation


class Style(str, Enum):
    FILM = "film"
    FFDM_GE = "ffdm-ge"
    FFDM_HOLOGIC = "ffdm-hologic"


#: film: the screen's quantum mottle (sd, attenuation units) and its correlation length. A screen-film
#: system records the X-ray quanta absorbed in the screen, blurred by the screen's light spread: noise with
#: most of its power between 0.5 and 2 cycles/mm, which survives the 0.2 mm sampling that film grain does
#: not. Without it, v3 film patches had half the real films' power there (0.9-1.6 cycles/mm).
MOTTLE_RANGE = (0.008, 0.018)
MOTTLE_MM = 0.12

#: default draw per study: mostly film (what the public real sets are), some FFDM of two looks
STYLE_WEIGHTS: tuple[tuple[Style, float], ...] = ((Style.FILM, 0.7), (Style.FFDM_GE, 0.15), (Style.FFDM_HOLOGIC, 0.15))


@dataclass(frozen=True)
class StyleParams:
    """One study's acquisition, drawn once so all four views share it."""

    style: Style
    gradient: float  # display slope per unit of attenuation at the mid level
    level: float  # attenuation above fat-at-full-thickness that maps to mid grey
    blur_mm: float  # system unsharpness (screen, detector)
    grain: float  # film: noise sd in display units at 0.1 mm pixels; FFDM: quantum noise scale
    mottle: float  # film: screen (quantum) mottle, sd in attenuation units before the film curve
    equalisation: float  # FFDM: fraction of the thinning periphery compensated
    unsharp: float  # FFDM: unsharp-mask gain
    unsharp_mm: float  # FFDM: unsharp-mask radius
    gamma: float  # display LUT gamma (1 = none)


def draw_style(rng: np.random.Generator, weights: tuple[tuple[Style, float], ...] = STYLE_WEIGHTS) -> StyleParams:
    styles, probabilities = zip(*weights)
    p = np.array(probabilities, dtype=float)
    style = Style(styles[int(rng.choice(len(styles), p=p / p.sum()))])
    if style is Style.FILM:
        return StyleParams(
            style,
            gradient=float(rng.uniform(1.5, 2.4)),
            level=float(rng.uniform(-0.3, 0.0)),
            blur_mm=float(rng.uniform(0.08, 0.16)),
            grain=float(rng.uniform(0.006, 0.012)),
            mottle=float(rng.uniform(MOTTLE_RANGE[0], MOTTLE_RANGE[1])),
            equalisation=0.0,
            unsharp=0.0,
            unsharp_mm=0.0,
            gamma=1.0,
        )
    ge = style is Style.FFDM_GE
    return StyleParams(
        style,
        gradient=float(rng.uniform(2.2, 3.0) if ge else rng.uniform(1.6, 2.2)),
        level=float(rng.uniform(0.05, 0.3)),
        blur_mm=float(rng.uniform(0.05, 0.09)),
        grain=float(rng.uniform(0.006, 0.012)),
        mottle=0.0,
        equalisation=float(rng.uniform(0.75, 0.95) if ge else rng.uniform(0.45, 0.7)),
        unsharp=float(rng.uniform(0.5, 1.0) if ge else rng.uniform(0.15, 0.4)),
        unsharp_mm=float(rng.uniform(3.0, 6.0)),
        gamma=float(1.0 if ge else rng.uniform(0.85, 1.0)),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def wide_blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """A Gaussian blur of several mm done at 1/4 resolution: the same low-pass, 16 times fewer pixels."""
    rows, cols = image.shape
    factor = 4 if sigma_px > 8 else 1
    small = cv2.resize(
        image.astype(np.float32), (max(cols // factor, 1), max(rows // factor, 1)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR)


def display(
    attenuation: np.ndarray,
    thickness: np.ndarray,
    full_thickness: float,
    params: StyleParams,
    pixel_mm: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Display values in [0, 1] (bright = dense) of an attenuation image, in the study's style."""
    blur_px = params.blur_mm / pixel_mm
    a: np.ndarray = attenuation.astype(np.float32)
    a = cv2.GaussianBlur(a, (0, 0), blur_px) if blur_px > 0.3 else a
    fat_level = MU_FAT * full_thickness
    # noise scales with 1 / pixel side (fewer quanta, fewer grains per pixel)
    noise_scale = 0.1 / pixel_mm
    if params.style is Style.FILM:
        if params.mottle > 0:
            mottle: np.ndarray = cv2.GaussianBlur(
                rng.standard_normal(a.shape, dtype=np.float32), (0, 0), max(MOTTLE_MM / pixel_mm, 0.3)
            )
            a = a + mottle * np.float32(params.mottle / (float(mottle.std()) + 1e-6))
        shown = _sigmoid(params.gradient * (a - fat_level - params.level))
        # grain clumps over about a pixel of a 0.1 mm scan (blurred white noise, renormalised)
        grain: np.ndarray = cv2.GaussianBlur(
            rng.standard_normal(a.shape, dtype=np.float32), (0, 0), max(0.05 / pixel_mm, 0.3)
        )
        grain /= float(grain.std()) + 1e-6
        shown = shown + grain * np.float32(params.grain * noise_scale)
        return np.round(np.clip(shown, 0.0, 1.0) * 255.0) / 255.0  # the digitiser's 8 bits
    # FFDM: quantum noise in the log domain grows where fewer photons arrive (more attenuation)
    quantum = params.grain * noise_scale * np.exp(0.5 * (a - fat_level))
    log_image = a + rng.standard_normal(a.shape, dtype=np.float32) * quantum
    equalised = log_image + params.equalisation * MU_FAT * np.maximum(full_thickness - thickness, 0.0) * (thickness > 0)
    sharpened = equalised + params.unsharp * (equalised - wide_blur(equalised, params.unsharp_mm / pixel_mm))
    shown = _sigmoid(params.gradient * (sharpened - fat_level - params.level))
    return np.power(np.clip(shown, 0.0, 1.0), params.gamma)


def burn_in_markers(
    image: np.ndarray, breast: np.ndarray, laterality: str, projection: str, pixel_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Film only: a lead marker ("R MLO") and a patient label where there is no breast.

    Real digitised films carry them; the product's breast mask must ignore them.
    """
    rows, cols = image.shape
    out = image.copy()
    scale = 6.0 / pixel_mm / 22.0  # Hershey simplex at scale 1 is about 22 px tall; letters 6 mm
    text = f"{laterality} {projection}"
    for _ in range(10):
        h, w = int(12 / pixel_mm), int(28 / pixel_mm)
        r = int(rng.integers(0, max(rows - h, 1)))
        c = int(rng.integers(0, max(cols - w, 1)))
        if not breast[max(r - 5, 0) : r + h + 5, max(c - 5, 0) : c + w + 5].any():
            out[r : r + h, c : c + w] = float(rng.uniform(0.85, 1.0))
            label = out[r : r + h, c : c + w]  # a view: the letters are written into the label only
            letters = np.zeros(label.shape, np.uint8)  # OpenCV writes text into 8-bit images only
            cv2.putText(
                letters,
                text,
                (int(2 / pixel_mm), int(9 / pixel_mm)),
                cv2.FONT_HERSHEY_SIMPLEX,
                max(scale, 0.3),
                255,
                max(1, int(1 / pixel_mm)),
                cv2.LINE_AA,
            )
            label[:] = np.where(letters > 0, label * (1.0 - 0.9 * letters / 255.0), label)
            break
    return out
