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
    # masses: diameter log-uniform over the range, or log-normal around a median (clipped to the range)
    mass_diameter_mm: tuple[float, float] = (5.0, 40.0)
    mass_diameter_median_mm: float | None = None
    mass_diameter_sigma: float = 0.45  # of the log-normal, in natural-log units
    malignant_fraction: float = 0.5
    mass_contrast: tuple[float, float] = (1.15, 1.6)  # mass attenuation over fat, in units of gland's
    #: v1 adds the mass on top of the tissue on its path; True: it replaces the gland it displaces
    mass_displaces_tissue: bool = False
    second_mass_probability: float = 0.15
    lookalikes_per_breast: tuple[int, int] = (0, 2)
    # detector
    noise_quantum: float = 0.012
    noise_electronic: float = 0.004
    fine_texture: float = 0.035
    #: "coarse": v1/v2 (2 mm gland field, linear display); "structured": v3 (fine anatomy, film/FFDM styles)
    anatomy: str = "coarse"
    #: structured only: how much of the coarse gland field and of the fine lumps make up the gland
    gland_coarse_weight: float = 0.5
    lump_weight: float = 0.5
    texture_mm: float = 1.5  # sd of the 2D fine texture, mm of gland, where the path is all gland
    texture_beta: float = 3.0
    #: structured only: share of the fine structures the two breasts have in common (mirror images)
    fine_shared: float = 0.7
    #: "basic": v1/v2's margins (round, oval, irregular, spiculated); "extended": + lobulated, microlobulated,
    #: ill-defined (``lesions.vary_margin``)
    mass_margins: str = "basic"
    #: structured only: (style, weight) drawn per study; see mommi.data.phantom.styles
    styles: tuple[tuple[str, float], ...] = (("film", 0.7), ("ffdm-ge", 0.15), ("ffdm-hologic", 0.15))
    #: structured only: the detector's pixel (mm) where it is finer than the size's. The anatomy is rendered on
    #: the size's grid, the acquisition (system blur, quantum noise, screen mottle, grain, display) on the
    #: detector's: a 0.5 mm lite image has no texture at all between 1 and 2.5 cycles/mm, where every real film
    #: has its noise, and a discriminator at 0.2 mm tells it apart by that alone. None: the size's pixel.
    detector_mm: float | None = None

    def image_size(self, size: ImageSize) -> ImageSize:
        """The size of the images this phantom writes for ``size``: the same field, on the detector's pixel."""
        if self.detector_mm is None or self.anatomy != "structured" or self.detector_mm >= size.pixel_mm:
            return size
        factor = size.pixel_mm / self.detector_mm
        return ImageSize(size.name, self.detector_mm, int(round(size.rows * factor)), int(round(size.cols * factor)))


#: Named phantom versions. A model is reproducible only with the phantom it was trained on, so the
#: zoo's build script names its version and the default stays the one the shipped zoo learned (v1)
#: until the zoo is retrained. v2: masses matched to the mini-MIAS films as the realism report measured
#: them (median diameter 19.6 mm; contrast inside / ring - 1 median 0.12 against v1's 13.3 mm and 0.31):
#: log-normal diameters around 18 mm within 4-40 mm, and a lower attenuation excess, so most masses are
#: subtle.
PHANTOMS: dict[str, PhantomConfig] = {
    "v1": PhantomConfig(),
    "v2": PhantomConfig(
        mass_diameter_mm=(4.0, 40.0),
        mass_diameter_median_mm=18.0,
        mass_contrast=(0.55, 0.85),
        mass_displaces_tissue=True,
    ),
    "v3": PhantomConfig(
        mass_diameter_mm=(4.0, 40.0),
        mass_diameter_median_mm=18.0,
        mass_contrast=(0.65, 1.0),
        mass_displaces_tissue=True,
        anatomy="structured",
        mass_margins="extended",
        detector_mm=0.2,
    ),
}
DEFAULT_PHANTOM = "v1"
#: what `mommi synth` (and its realism report) draw unless told otherwise: the most realistic phantom, the one new
#: training data should come from. The library's default above stays the shipped zoo's, on which the demo study
#: and every recorded reference output depend.
SYNTH_DEFAULT_PHANTOM = "v3"
