"""Parameters of the phantom and the image sizes it renders."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageSize:
    """Detector geometry: pixel pitch and matrix (rows tall, cols wide)."""

    name: str
    pixel_mm: float
    rows: int
    cols: int


#: ``lite`` for fast CPU training; ``clinical`` close to a 0.1 mm FFDM detector
#: (GE Senographe: 0.1 mm, 2394 x 3062). Both cover 240 x 300 mm.
SIZES: dict[str, ImageSize] = {
    "lite": ImageSize("lite", 0.5, 600, 480),
    "clinical": ImageSize("clinical", 0.1, 3000, 2400),
}


@dataclass(frozen=True)
class PhantomConfig:
    """Ranges the phantom draws from; defaults give realistic screening studies."""

    # breast half-ellipsoid semi-axes (mm): depth a, half width b, half thickness c
    depth_mm: tuple[float, float] = (70.0, 125.0)
    half_width_mm: tuple[float, float] = (65.0, 105.0)
    half_thickness_mm: tuple[float, float] = (22.0, 35.0)
    skin_mm: float = 1.5
    mlo_angle_deg: tuple[float, float] = (40.0, 60.0)
    # glandular tissue
    voxel_mm: float = 2.0
    spectrum_beta: tuple[float, float] = (2.7, 3.3)
    gland_fraction: tuple[float, float] = (0.08, 0.6)
    shared_low_frequency: float = 0.97  # weight of the smooth field both breasts share
    bilateral_shape_jitter: float = 0.015  # left/right size difference, relative
    cone_slope: float = 1.0  # lateral half-width of the gland cone per mm of depth
    # masses
    mass_diameter_mm: tuple[float, float] = (5.0, 40.0)
    malignant_fraction: float = 0.5
    mass_contrast: tuple[float, float] = (1.15, 1.6)  # mass / gland attenuation excess
    second_mass_probability: float = 0.15
    lookalikes_per_breast: tuple[int, int] = (0, 2)
    # detector
    noise_quantum: float = 0.012
    noise_electronic: float = 0.004
    fine_texture: float = 0.035
