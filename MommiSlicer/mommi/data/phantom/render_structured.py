"""Rendering one view of the structured phantom (v3): attenuation layers, then the study's style.

Why separate from ``render``: v1 and v2 must stay byte-identical for the models trained on
them; v3 changes the physics (a compressed breast of near-constant thickness with a
rounded edge, attenuation instead of display units, fine anatomy) and the display (film or
FFDM, ``styles``). The geometry (view frames, blob and spicule paths, mass masks) is shared.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import scipy.fft

from mommi.data.phantom.anatomy import Breast
from mommi.data.phantom.config import ImageSize, PhantomConfig
from mommi.data.phantom.fine_render import FineGrid, fine_layer, to_image
from mommi.data.phantom.render import (
    MUSCLE_MAX_MM,
    ViewFrame,
    ViewRender,
    _blob_path,
    _coarse_layers,
    _gland_fraction,
    _spicule_path,
    ellipsoid_chord,
)
from mommi.data.phantom.structures import FineAnatomy
from mommi.data.phantom.styles import MU_EXCESS, MU_FAT, Style, StyleParams, burn_in_markers, display

NIPPLE_DENSITY = 0.8
SKIN_DENSITY = 0.6
RAY_SAMPLES = 32  # along each ray through a mass or blob: 1/32 of its diameter is finer than its margin
EDGE_WIDTH = 0.35  # width of the thinning rim, in compressed thicknesses
SUMMATION_DENSITY = 0.5  # a v1 look-alike blob: half-dense gland, mass-like only where several overlap
#: where the detector is finer than the anatomy's grid (lite), the anatomy finer than that grid is drawn as
#: noise with the spectrum the same anatomy has when rendered at 0.25 mm: power ~ f^-4.5 above 0.6 cycles/mm,
#: of this sd (mm of gland) after the high-pass (measured: lite vs clinical renderings of the same patients)
SUBGRID_BETA = 4.5
SUBGRID_MM = 0.65
SUBGRID_TILE = 512


def compressed_thickness(outline: np.ndarray, full_mm: float, pixel_mm: float) -> np.ndarray:
    """Thickness of a compressed breast: flat under the paddle, with a rounded rim (``EDGE_WIDTH``).

    Why not the ellipsoid chord: under compression the breast is a slab; only its outer
    few cm thin out, which on film is the dark rim real mammograms show.
    """
    inside = cv2.distanceTransform(outline.astype(np.uint8), cv2.DIST_L2, 5) * pixel_mm
    edge = EDGE_WIDTH * full_mm
    depth = np.clip(inside / edge, 0.0, 1.0)
    return (full_mm * np.sqrt(np.clip(1.0 - (1.0 - depth) ** 2, 0.0, 1.0)) * outline).astype(np.float32)


def texture_2d(shape: tuple[int, int], beta: float, rng: np.random.Generator) -> np.ndarray:
    """2D Gaussian noise with power spectrum ~ |f|^-beta, zero mean, unit variance (float32).

    ``anatomy.power_law_field`` in 2D with a real FFT in single precision: the same field
    statistics at a third of the time, which the lite speed target needs (v1/v2 keep theirs).
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    fy = np.fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    radius[0, 0] = np.inf  # no DC component
    field = scipy.fft.irfft2(scipy.fft.rfft2(white) * radius ** np.float32(-beta / 2.0), s=shape)
    field -= field.mean()
    return (field / (field.std() + 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _shared_texture(shape: tuple[int, int], beta: float, seed: int) -> np.ndarray:
    """The texture both breasts share for one projection: drawn once, used by both views."""
    field = texture_2d(shape, beta, np.random.default_rng(seed))
    field.flags.writeable = False
    return field


def soften(
    path: np.ndarray, box: tuple[int, int, int, int], sigma_px: float, shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A blob's path map blurred by ``sigma_px``, in a window grown by 3 sigma (clipped to the image)."""
    r0, r1, c0, c1 = box
    grow = int(np.ceil(3 * sigma_px))
    nr0, nr1 = max(r0 - grow, 0), min(r1 + grow, shape[0])
    nc0, nc1 = max(c0 - grow, 0), min(c1 + grow, shape[1])
    padded = np.zeros((nr1 - nr0, nc1 - nc0), np.float32)
    padded[r0 - nr0 : r1 - nr0, c0 - nc0 : c1 - nc0] = path
    return cv2.GaussianBlur(padded, (0, 0), sigma_px), (nr0, nr1, nc0, nc1)


def skin_path(thickness: np.ndarray, full_mm: float, skin_mm: float) -> np.ndarray:
    """Path through the skin: both faces of the slab, and the tangent path through the rounded edge."""
    radius = 0.5 * full_mm
    x = np.sqrt(np.clip(radius**2 - (0.5 * thickness) ** 2, 0.0, None))  # ray's offset from the edge's centre
    inner = np.sqrt(np.clip((radius - skin_mm) ** 2 - x**2, 0.0, None))
    return (thickness - 2.0 * inner) * (thickness > 0)


def upsample(layer: np.ndarray, factor: float, shape: tuple[int, int]) -> np.ndarray:
    """A layer of the anatomy's grid on the detector's (linear).

    Why not ``cv2.resize``: it aligns pixel edges, while the truth's geometry (``col = x / pixel_mm``) puts
    pixel centres on multiples of the pitch; the affine map takes coarse pixel c to fine pixel ``factor * c``.
    """
    scale = np.array([[factor, 0.0, 0.0], [0.0, factor, 0.0]], np.float32)
    return cv2.warpAffine(
        layer.astype(np.float32), scale, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _on_detector(
    result: ViewRender, layers: list[np.ndarray], anatomy_grid: ImageSize, detector: ImageSize
) -> list[np.ndarray]:
    """``layers`` and the truth of ``result`` (masks, nipple, look-alikes) moved onto the detector's grid."""
    factor = anatomy_grid.pixel_mm / detector.pixel_mm  # detector pixels per anatomy pixel
    shape = (detector.rows, detector.cols)
    result.nipple = (result.nipple[0] * factor, result.nipple[1] * factor)
    result.nipple_row *= factor
    result.lookalike_centers = [(x * factor, y * factor) for x, y in result.lookalike_centers]
    result.mass_masks = {k: upsample(m.astype(np.float32), factor, shape) >= 0.5 for k, m in result.mass_masks.items()}
    return [upsample(layer, factor, shape) for layer in layers]


def subgrid_detail(anatomy_mm: float, detector: ImageSize, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise on the detector's grid with the anatomy's spectrum where the anatomy grid is blind.

    Why: the anatomy of a lite view is rendered at 0.5 mm and brought to the detector by linear
    interpolation, so above ~0.6 cycles/mm it has a fraction of the power the same anatomy has rendered at
    0.25 mm and none above 1 cycle/mm, where every real film still has its texture: a patch discriminator at
    0.2 mm tells the views apart by that alone. Rendering the anatomy finer would miss the lite speed target,
    so the missing band is drawn as noise: power ~ f^-SUBGRID_BETA times (1 - sinc^4), the share that
    linear interpolation from the anatomy's pitch removes. A periodic tile of ``SUBGRID_TILE`` pixels at a
    random offset: the FFT of the whole view cost a third of a lite study, and a repeat every 10 cm is
    invisible to anything that looks at a few mm.
    """
    tile = SUBGRID_TILE
    fy = np.fft.fftfreq(tile, d=detector.pixel_mm).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(tile, d=detector.pixel_mm).astype(np.float32)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    radius[0, 0] = np.inf
    kept = 1.0 - (np.sinc(fy * anatomy_mm) * np.sinc(fx * anatomy_mm)) ** 4  # separable linear interpolation
    white = rng.standard_normal((tile, tile), dtype=np.float32)
    field = scipy.fft.irfft2(scipy.fft.rfft2(white) * radius ** np.float32(-SUBGRID_BETA / 2.0) * kept, s=(tile, tile))
    field = (field / (float(field.std()) + 1e-12)).astype(np.float32)
    reps = (-(-detector.rows // tile) + 1, -(-detector.cols // tile) + 1)
    r0, c0 = (int(v) for v in rng.integers(0, tile, 2))
    return np.tile(field, reps)[r0 : r0 + detector.rows, c0 : c0 + detector.cols]


def render_structured_view(
    breast: Breast,
    anatomy: FineAnatomy,
    projection: str,
    size: ImageSize,
    config: PhantomConfig,
    style: StyleParams,
    rng: np.random.Generator,
    shared_texture_seed: int,
    detector: ImageSize | None = None,
) -> ViewRender:
    """One view; ``shared_texture_seed`` draws the part of the fine texture both breasts have in common.

    The anatomy is rendered on ``size``'s grid, the acquisition on ``detector``'s (default: the same;
    ``PhantomConfig.detector_mm`` says why a finer one).
    """
    detector = detector or size
    angle = 0.0 if projection == "CC" else breast.mlo_angle
    frame = ViewFrame(angle, size, nipple_row=size.rows * (0.5 if projection == "CC" else 0.6))
    u, v = frame.pixel_grid()
    outline = ellipsoid_chord(u, v, (breast.a, breast.b, breast.c), angle) > 0
    s = breast.skin_mm
    full = 2.0 * breast.c
    thickness = compressed_thickness(outline, full, size.pixel_mm)
    grid = FineGrid.over(angle, size.rows, size.cols, size.pixel_mm, frame.nipple_row)
    gland, muscle = _coarse_layers(breast, grid.frame(), MUSCLE_MAX_MM[projection])
    # the muscle's edge is sampled on the 2 mm grid; smooth its steps away (a real edge is a curved sheet)
    gland, muscle = to_image(gland, size), to_image(cv2.GaussianBlur(muscle, (0, 0), 1.5 / grid.pitch), size)
    # every layer below in mm of gland-equivalent path; fat is the baseline
    dense = config.gland_coarse_weight * gland + SKIN_DENSITY * skin_path(thickness, full, s) + muscle
    dense += to_image(fine_layer(anatomy, grid, config.lump_weight), size) * outline
    # glandular texture finer than the lumps: 2D power-law noise where the gland is (not 3D: a
    # volume at this scale would not fit the speed target; the eye cannot match it between views)
    own = texture_2d((grid.rows, grid.cols), config.texture_beta, rng)
    common = _shared_texture((grid.rows, grid.cols), config.texture_beta, shared_texture_seed)
    mixed = np.sqrt(config.fine_shared) * common + np.sqrt(1.0 - config.fine_shared) * own
    texture = to_image(mixed.astype(np.float32), size)
    dense += config.texture_mm * texture * np.clip(gland / full, 0.05, 1.0)
    dense = dense.astype(np.float32)

    result = ViewRender(projection, dense, frame.to_pixel(breast.a, 0.0), float(np.rad2deg(angle)), frame.nipple_row)
    nipple = _blob_path(breast.nipple, frame, RAY_SAMPLES)
    if nipple is not None:
        path, (r0, r1, c0, c1) = nipple
        dense[r0:r1, c0:c1] += NIPPLE_DENSITY * path
        outline[r0:r1, c0:c1] |= path > 0
        thickness[r0:r1, c0:c1] = np.maximum(thickness[r0:r1, c0:c1], path)
    for node, hilum in anatomy.nodes:
        for blob, sign in ((node, 1.0), (hilum, -1.0)):
            rendered = _blob_path(blob, frame, RAY_SAMPLES)
            if rendered is not None:
                path, (r0, r1, c0, c1) = rendered
                dense[r0:r1, c0:c1] += sign * path
    for blob in breast.lookalikes:
        rendered = _blob_path(blob, frame, RAY_SAMPLES)
        if rendered is not None:
            path, (r0, r1, c0, c1) = rendered
            weight = SUMMATION_DENSITY if blob.kind == "lookalike" else blob.contrast
            dense[r0:r1, c0:c1] += weight * path
    result.lookalike_centers = [frame.to_pixel(*frame.to_view(b.center)[:2]) for b in breast.lookalikes]
    for mass in breast.masses:
        rendered = _blob_path(mass, frame, RAY_SAMPLES)
        if rendered is None:
            continue
        path, (r0, r1, c0, c1) = rendered
        excess = mass.contrast - _gland_fraction(gland, thickness, (r0, r1, c0, c1), path)
        mask = np.zeros(dense.shape, bool)
        mask[r0:r1, c0:c1] = path > max(0.15 * float(path.max()), 0.5)
        if mass.margin_blur_mm > 0:  # ill-defined: the edge fades into the tissue (truth keeps the mass)
            path, (r0, r1, c0, c1) = soften(path, (r0, r1, c0, c1), mass.margin_blur_mm / size.pixel_mm, dense.shape)
        dense[r0:r1, c0:c1] += excess * path
        result.mass_masks[mass.ident] = mask
        spicules = _spicule_path(mass, frame)
        if spicules is not None:
            dense += excess * spicules * outline

    attenuation = MU_FAT * thickness + MU_EXCESS * np.maximum(dense, -thickness) * outline
    if detector != size:
        gland_share = np.clip(gland / full, 0.05, 1.0)
        attenuation, thickness, breast_area, gland_share = _on_detector(
            result, [attenuation, thickness, outline, gland_share], size, detector
        )
        outline = breast_area >= 0.5
        detail = subgrid_detail(size.pixel_mm, detector, rng)
        attenuation += MU_EXCESS * SUBGRID_MM * detail * (0.5 + 0.5 * gland_share) * outline
    image = display(attenuation, thickness, full, style, detector.pixel_mm, rng)
    if style.style is Style.FILM:
        image = burn_in_markers(image, outline, breast.laterality, projection, detector.pixel_mm, rng)
    result.image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return result
