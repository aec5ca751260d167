"""Intensity and texture statistics inside the breast, and patient-bootstrap summaries.

Why: a discriminator says *that* synthetic and real differ; these numbers say *how*
(too bright, too little spread, wrong skew, too smooth or too grainy), which is what
whoever improves the phantom needs. Texture is the grey-level co-occurrence matrix
(Haralick) of scikit-image on 64 x 64 patches at 0.2 mm, averaged over four
directions; intensities are quantised on the absolute [0, 1] display scale, so a
difference in brightness shows up in the texture as it does to a reader.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from scipy import stats

INTENSITY_NAMES = ("mean", "std", "skewness", "kurtosis", "p5", "p50", "p95")
GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
GLCM_DISTANCES_PX = (1, 4)  # 0.2 mm and 0.8 mm at 0.2 mm pixels
GLCM_LEVELS = 32
BOOTSTRAP = 1000


def intensity_statistics(values: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, skewness, excess kurtosis and 5/50/95th percentiles."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < 2:
        return {name: float("nan") for name in INTENSITY_NAMES}
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    flat = bool(v.std() == 0)
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "skewness": 0.0 if flat else float(stats.skew(v)),
        "kurtosis": 0.0 if flat else float(stats.kurtosis(v)),  # Fisher: 0 for a Gaussian
        "p5": float(p5),
        "p50": float(p50),
        "p95": float(p95),
    }


def glcm_available() -> bool:
    """Whether scikit-image (the ``datasets`` extra) is installed."""
    try:
        import skimage.feature  # noqa: F401
    except ImportError:
        return False
    return True


def glcm_names() -> list[str]:
    """Feature names in the order ``glcm_statistics`` returns them."""
    return [f"{prop}_d{d}" for d in GLCM_DISTANCES_PX for prop in GLCM_PROPS]


def glcm_statistics(patch: np.ndarray) -> dict[str, float]:
    """GLCM contrast, homogeneity, energy and correlation at each distance, mean of 4 angles.

    Needs scikit-image (imported here, not at module import: the engine loads without it).
    """
    from skimage.feature import graycomatrix, graycoprops

    levels = np.clip((np.asarray(patch, dtype=np.float64) * GLCM_LEVELS).astype(int), 0, GLCM_LEVELS - 1)
    matrix = graycomatrix(
        levels.astype(np.uint8),
        distances=list(GLCM_DISTANCES_PX),
        angles=[0, np.pi / 4, np.pi / 2, 3 * np.pi / 4],
        levels=GLCM_LEVELS,
        symmetric=True,
        normed=True,
    )
    out = {}
    for prop in GLCM_PROPS:
        values = graycoprops(matrix, prop)  # (distances, angles)
        for i, d in enumerate(GLCM_DISTANCES_PX):
            value = float(values[i].mean())
            out[f"{prop}_d{d}"] = value if np.isfinite(value) else 1.0  # flat patch: correlation undefined
    return {name: out[name] for name in glcm_names()}


def patch_features(patch: np.ndarray, with_glcm: bool) -> np.ndarray:
    """The feature vector of the texture discriminator: intensity statistics (+ GLCM)."""
    values = list(intensity_statistics(patch).values())
    if with_glcm:
        values += list(glcm_statistics(patch).values())
    return np.asarray(values, dtype=np.float64)


def feature_names(with_glcm: bool) -> list[str]:
    return list(INTENSITY_NAMES) + (glcm_names() if with_glcm else [])


def per_patient_means(values: Sequence[float], patients: Sequence[Hashable]) -> np.ndarray:
    """One number per patient (mean over her images or patches), nan values left out.

    Why: the images of one woman are alike, so the woman is the unit a CI counts.
    """
    groups: dict[Hashable, list[float]] = {}
    for value, patient in zip(values, patients):
        if np.isfinite(value):
            groups.setdefault(patient, []).append(float(value))
    return np.array([np.mean(v) for v in groups.values()], dtype=np.float64)


def bootstrap_mean(per_patient: np.ndarray, seed: int, resamples: int = BOOTSTRAP) -> dict[str, Any]:
    """Mean over patients with a 95% percentile bootstrap CI (patients resampled)."""
    x = np.asarray(per_patient, dtype=np.float64)
    if x.size == 0:
        return {"value": None, "ci": None, "patients": 0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    return {
        "value": float(x.mean()),
        "ci": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "patients": int(x.size),
    }


def summarise(values: Sequence[float], patients: Sequence[Hashable], seed: int) -> dict[str, Any]:
    """Per-patient means, then ``bootstrap_mean``; also the number of values behind it."""
    result = bootstrap_mean(per_patient_means(values, patients), seed)
    result["n"] = int(sum(1 for v in values if np.isfinite(v)))
    return result


def quantiles(
    values: Sequence[float],
    patients: Sequence[Hashable],
    seed: int,
    levels: Sequence[float] = (5, 25, 50, 75, 95),
    resamples: int = BOOTSTRAP,
) -> dict[str, Any]:
    """Quantiles of a distribution (mass sizes, contrasts) and a patient-bootstrap CI of the median."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "patients": 0, "quantiles": None, "median_ci": None}
    groups = list(dict.fromkeys(patients))
    index = {p: i for i, p in enumerate(groups)}
    member = np.array([index[p] for p in patients])
    rng = np.random.default_rng(seed)
    medians = []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, len(groups), len(groups)), minlength=len(groups))
        medians.append(np.median(np.repeat(v, counts[member])))
    return {
        "n": int(v.size),
        "patients": len(groups),
        "quantiles": {f"p{int(q)}": float(np.percentile(v, q)) for q in levels},
        "median_ci": [float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))],
    }
