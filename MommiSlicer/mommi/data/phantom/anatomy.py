"""The 3D breast: shape, fibroglandular tissue field, pectoral muscle."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mommi.data.phantom.config import PhantomConfig
from mommi.data.phantom.lesions import Blob3D

#: gland field grid over the normalised box x/a in [0,1], y/b and z/c in [-1,1]
FIELD_SHAPE = (56, 100, 32)


def power_law_field(shape: tuple[int, ...], beta: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with power spectrum ~ |f|^-beta, zero mean, unit variance.

    Written with numpy's FFT because no maintained library offers N-D power-law noise
    with a chosen exponent; it is five lines.
    """
    white = rng.standard_normal(shape)
    freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij", sparse=True)
    radius = np.sqrt(sum(f**2 for f in freqs))
    radius.flat[0] = np.inf  # no DC component
    spectrum = np.fft.fftn(white) * radius ** (-beta / 2.0)
    result = np.real(np.fft.ifftn(spectrum))
    return (result - result.mean()) / (result.std() + 1e-12)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class Breast:
    """One compressed breast of one patient, in breast coordinates (mm)."""

    laterality: str
    a: float
    b: float
    c: float
    skin_mm: float
    mlo_angle: float  # radians
    gland: np.ndarray  # fraction of gland in [0, 1] on FIELD_SHAPE over the normalised box
    pectoral_slope: float
    pectoral_offset: float
    cone_slope: float
    nipple: Blob3D
    masses: list[Blob3D] = field(default_factory=list)
    lookalikes: list[Blob3D] = field(default_factory=list)

    def field_indices(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        nx, ny, nz = FIELD_SHAPE
        return np.stack(
            [
                x / self.a * (nx - 1),
                (y / self.b + 1.0) * 0.5 * (ny - 1),
                (z / self.c + 1.0) * 0.5 * (nz - 1),
            ]
        )

    def normalised_radius(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.sqrt((x / self.a) ** 2 + (y / self.b) ** 2 + (z / self.c) ** 2)

    def in_cone(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Inside the fibroglandular cone that widens from the nipple to the chest wall."""
        allowed = self.cone_slope * (self.a - x) + 6.0 - margin
        return np.sqrt(y**2 + z**2) <= allowed

    def muscle(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pectoral muscle: behind a plane that rises toward the axilla (oblique direction)."""
        w = y * np.cos(self.mlo_angle) + z * np.sin(self.mlo_angle)
        return x < self.pectoral_slope * (w - self.pectoral_offset)


def gland_envelope(a: float, b: float, c: float, cone_slope: float) -> np.ndarray:
    """Where gland may be: inside the cone, away from the skin and the chest wall."""
    nx, ny, nz = FIELD_SHAPE
    x = np.linspace(0, a, nx)[:, None, None]
    y = np.linspace(-b, b, ny)[None, :, None]
    z = np.linspace(-c, c, nz)[None, None, :]
    lateral = np.sqrt(y**2 + z**2)
    cone = _sigmoid((cone_slope * (a - x) + 6.0 - lateral) / 4.0)
    rho = np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)
    subcutaneous = _sigmoid((0.88 - rho) / 0.03)
    chest_wall = _sigmoid((x - 8.0) / 3.0)
    return cone * subcutaneous * chest_wall


def make_gland_fields(
    rng: np.random.Generator, config: PhantomConfig, density: float, beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gland-field values: a shared smooth part plus an independent part."""
    shared = ndimage.gaussian_filter(power_law_field(FIELD_SHAPE, beta, rng), sigma=3.0)
    shared = (shared - shared.mean()) / (shared.std() + 1e-12)
    w = config.shared_low_frequency
    fields = []
    for _ in range(2):
        own = power_law_field(FIELD_SHAPE, beta, rng)
        mix = w * shared + np.sqrt(1.0 - w**2) * own
        threshold = np.quantile(mix, 1.0 - density)
        fields.append(_sigmoid((mix - threshold) / 0.3))
    return fields[0], fields[1]
