"""Anatomical-noise power spectrum and its slope beta (Burgess et al., Med. Phys. 2001).

Why: the texture of breast tissue in a mammogram follows a power law, P(f) ~ f^-beta,
with beta close to 3 on real films. A phantom whose beta is off has structures of the
wrong size mix (too smooth or too busy), which a detector learns and then misreads on
real films. The recipe is the usual one: square ROIs fully inside the breast, mean
removed, a 2-D Hann window, |FFT|^2, radially averaged, then a straight line in log-log
over 0.1-1 cycles/mm; beta is minus its slope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

from mommi.data.realism.resample import TARGET_MM, inner_mask, pick_squares

ROI_PX = 128  # 25.6 mm at 0.2 mm: resolves 0.04 cycles/mm, well below the 0.1 lower limit
ROIS_PER_IMAGE = 8
BAND_CYCLES_PER_MM = (0.1, 1.0)


def radial_power_spectrum(roi: np.ndarray, pixel_mm: float = TARGET_MM) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in cycles/mm, radially averaged power) of one square ROI.

    Mean removed and a 2-D Hann window applied first, so that the ROI's edges and
    its mean level do not leak power into the low frequencies. Bins are one
    frequency step wide (1 / (N * pixel)); the zero bin is dropped.
    """
    n = roi.shape[0]
    if roi.shape != (n, n):
        raise ValueError(f"the ROI must be square, got {roi.shape}")
    window = np.outer(np.hanning(n), np.hanning(n))
    data = (roi - roi.mean()) * window
    power = np.abs(fft.fft2(data)) ** 2 * (pixel_mm**2) / (window**2).sum()
    freq = fft.fftfreq(n, d=pixel_mm)
    radius = np.hypot(freq[:, None], freq[None, :])
    step = 1.0 / (n * pixel_mm)
    bins = np.rint(radius / step).astype(int)
    counts = np.bincount(bins.ravel())
    sums = np.bincount(bins.ravel(), weights=power.ravel())
    keep = np.arange(1, min(n // 2, counts.size))  # up to Nyquist along an axis
    return keep * step, sums[keep] / counts[keep]


def fit_beta(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float] = BAND_CYCLES_PER_MM) -> float:
    """beta = minus the slope of log10 P against log10 f inside ``band`` (least squares)."""
    inside = (freqs >= band[0]) & (freqs <= band[1]) & (power > 0)
    if inside.sum() < 3:
        return float("nan")
    slope, _ = np.polyfit(np.log10(freqs[inside]), np.log10(power[inside]), 1)
    return float(-slope)


@dataclass
class SpectrumResult:
    """One image's mean spectrum over its ROIs and the beta fitted to it."""

    beta: float
    rois: int
    freqs: np.ndarray
    power: np.ndarray


def image_spectrum(
    pixels: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    roi_px: int = ROI_PX,
    rois: int = ROIS_PER_IMAGE,
    pixel_mm: float = TARGET_MM,
) -> SpectrumResult | None:
    """beta of one image from the mean spectrum of up to ``rois`` ROIs inside the breast.

    Spectra are averaged before the fit (as Burgess does) because single ROI
    periodograms scatter by 100% per bin. None when no ROI fits in the breast.
    """
    squares = pick_squares(inner_mask(mask, pixel_mm=pixel_mm), roi_px, rois, rng, min_distance=roi_px // 2)
    if not squares:
        return None
    spectra = [
        radial_power_spectrum(pixels[r : r + roi_px, c : c + roi_px].astype(np.float64), pixel_mm) for r, c in squares
    ]
    freqs = spectra[0][0]
    power = np.mean([p for _, p in spectra], axis=0)
    return SpectrumResult(fit_beta(freqs, power), len(squares), freqs, power)


def power_law_field(
    shape: tuple[int, int], beta: float, rng: np.random.Generator, pixel_mm: float = TARGET_MM
) -> np.ndarray:
    """A Gaussian random field with P(f) ~ f^-beta, scaled to unit variance.

    The known-answer input of the tests: ``image_spectrum`` on it must give back beta.
    """
    rows, cols = shape
    fy = fft.fftfreq(rows, d=pixel_mm)[:, None]
    fx = fft.fftfreq(cols, d=pixel_mm)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = np.inf
    amplitude = radius ** (-beta / 2.0)
    noise = fft.fft2(rng.standard_normal(shape))
    field = np.real(fft.ifft2(noise * amplitude))
    return (field - field.mean()) / field.std()
