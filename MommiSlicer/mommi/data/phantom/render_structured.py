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


def render_structured_view(
    breast: Breast,
    anatomy: FineAnatomy,
    projection: str,
    size: ImageSize,
    config: PhantomConfig,
    style: StyleParams,
    rng: np.random.Generator,
    shared_texture_seed: int,
) -> ViewRender:
    """One view; ``shared_texture_seed`` draws the part of the fine texture both breasts have in common."""
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
    image = display(attenuation, thickness, full, style, size.pixel_mm, rng)
    if style.style is Style.FILM:
        image = burn_in_markers(image, outline, breast.laterality, projection, size.pixel_mm, rng)
    result.image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return result
