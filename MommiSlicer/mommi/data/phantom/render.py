"""Projecting a 3D breast into a CC or MLO image by line integrals.

View frame: u = x (chest wall -> nipple, image columns), v = y cos(t) + z sin(t)
(up in the image: lateral for CC, axilla for MLO), ray direction
(0, -sin t, cos t); t = 0 for CC and the MLO angle for MLO. The image is built
with the chest wall at column 0 and the nipple line at row ``nipple_row``; right
breasts are mirrored when written, as a standard display shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from mommi.data.phantom.anatomy import Breast, power_law_field
from mommi.data.phantom.config import ImageSize, PhantomConfig
from mommi.data.phantom.lesions import Blob3D

#: attenuation excess over fat per mm, in display units (image = sum of these)
BASE_LEVEL = 0.20  # fat-only breast
THICKNESS_WEIGHT = 0.06
GLAND_PER_MM = 0.0125
SKIN_PER_MM = 0.006
MUSCLE_PER_MM = 0.012
#: the pectoral muscle is a slab a few cm thick, not the whole chord; in CC the detector
#: edge cuts most of it off, leaving the thin sliver real CC images sometimes show
MUSCLE_MAX_MM = {"CC": 6.0, "MLO": 30.0}
LOOKALIKE_PER_MM = 0.5 * GLAND_PER_MM  # faint alone, mass-like where several overlap
NIPPLE_PER_MM = 0.02
BACKGROUND = 0.015
COARSE_STEP_MM = 2.0


@dataclass
class ViewRender:
    """A rendered view (chest wall at column 0) and its ground truth in pixels."""

    projection: str  # "CC" or "MLO"
    image: np.ndarray  # float32 display values in [0, 1]
    nipple: tuple[float, float]  # (x, y) pixels
    angle_deg: float  # rotation of the ray about the chest-wall-to-nipple axis
    nipple_row: float  # image row of v = 0
    mass_masks: dict[int, np.ndarray] = field(default_factory=dict)  # id -> bool mask
    lookalike_centers: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ViewFrame:
    angle: float  # radians; 0 for CC
    size: ImageSize
    nipple_row: float

    def to_breast(self, u: np.ndarray, v: np.ndarray, t: np.ndarray) -> np.ndarray:
        """(u, v, t) view coordinates -> (..., 3) breast coordinates."""
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        return np.stack(np.broadcast_arrays(u, v * ca - t * sa, v * sa + t * ca), axis=-1)

    def to_view(self, p: np.ndarray) -> tuple[float, float, float]:
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        return float(p[0]), float(p[1] * ca + p[2] * sa), float(-p[1] * sa + p[2] * ca)

    def to_pixel(self, u: float, v: float) -> tuple[float, float]:
        return u / self.size.pixel_mm, self.nipple_row - v / self.size.pixel_mm

    def pixel_grid(self) -> tuple[np.ndarray, np.ndarray]:
        px = self.size.pixel_mm
        u = np.arange(self.size.cols) * px
        v = (self.nipple_row - np.arange(self.size.rows)) * px
        return u[None, :], v[:, None]


def ellipsoid_chord(u: np.ndarray, v: np.ndarray, axes: tuple[float, float, float], angle: float) -> np.ndarray:
    """Length of the ray through (u, v) inside the ellipsoid with semi-axes (a, b, c)."""
    a, b, c = axes
    ca, sa = np.cos(angle), np.sin(angle)
    qa = sa**2 / b**2 + ca**2 / c**2
    qb = 2.0 * v * ca * sa * (1.0 / c**2 - 1.0 / b**2)
    qc = v**2 * (ca**2 / b**2 + sa**2 / c**2) + u**2 / a**2 - 1.0
    disc = qb**2 - 4.0 * qa * qc
    return np.where((disc > 0) & (u >= 0), np.sqrt(np.maximum(disc, 0.0)) / qa, 0.0)


def _coarse_layers(breast: Breast, frame: ViewFrame, muscle_max_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Gland and muscle path lengths on a 2 mm grid, integrated along the rays."""
    size = frame.size
    extent_u = size.cols * size.pixel_mm
    extent_v = size.rows * size.pixel_mm
    u = np.arange(0.0, min(extent_u, breast.a) + COARSE_STEP_MM, COARSE_STEP_MM)
    v_top = frame.nipple_row * size.pixel_mm
    v = np.arange(v_top, v_top - extent_v - COARSE_STEP_MM, -COARSE_STEP_MM)
    half = np.sqrt((breast.b * np.sin(frame.angle)) ** 2 + (breast.c * np.cos(frame.angle)) ** 2)
    t = np.arange(-half, half + COARSE_STEP_MM, COARSE_STEP_MM)
    uu, vv, tt = np.meshgrid(u, v, t, indexing="xy")  # (len v, len u, len t)
    p = frame.to_breast(uu, vv, tt)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    inside = breast.normalised_radius(x, y, z) <= 1.0
    gland = ndimage.map_coordinates(breast.gland, breast.field_indices(x, y, z), order=1, mode="constant")
    gland_path = (gland * inside).sum(axis=-1) * COARSE_STEP_MM
    muscle_path = np.minimum((breast.muscle(x, y, z) & inside).sum(axis=-1) * COARSE_STEP_MM, muscle_max_mm)
    return _to_pixels(gland_path, u, v, frame), _to_pixels(muscle_path, u, v, frame)


def _to_pixels(coarse: np.ndarray, u: np.ndarray, v: np.ndarray, frame: ViewFrame) -> np.ndarray:
    """Resample a coarse (v, u) map at the centre of every image pixel."""
    pu, pv = frame.pixel_grid()
    cols = (pu - u[0]) / (u[1] - u[0])
    rows = (pv - v[0]) / (v[1] - v[0])
    rr, cc = np.broadcast_arrays(rows, cols)
    return ndimage.map_coordinates(coarse, [rr, cc], order=1, mode="constant").astype(np.float32)


def _blob_path(blob: Blob3D, frame: ViewFrame, n_t: int = 48) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Path length through a blob at the pixels of its bounding square; (map, (r0, r1, c0, c1)).

    ``n_t`` samples along each ray (48 in v1/v2, whose bytes must not change).
    """
    size = frame.size
    px = size.pixel_mm
    uc, vc, tc = frame.to_view(blob.center)
    radius = blob.bounding_radius
    col_c, row_c = frame.to_pixel(uc, vc)
    c0, c1 = max(int(np.floor(col_c - radius / px)), 0), min(int(np.ceil(col_c + radius / px)) + 1, size.cols)
    r0, r1 = max(int(np.floor(row_c - radius / px)), 0), min(int(np.ceil(row_c + radius / px)) + 1, size.rows)
    if c0 >= c1 or r0 >= r1:
        return None
    step = max(px, 2.0 * radius / 96.0)
    lu = np.arange(uc - radius, uc + radius + step, step)
    lv = np.arange(vc + radius, vc - radius - step, -step)
    lt = tc + np.linspace(-radius, radius, n_t)
    uu, vv, tt = np.meshgrid(lu, lv, lt, indexing="xy")
    local = blob.inside(frame.to_breast(uu, vv, tt)).sum(axis=-1) * (2.0 * radius / (n_t - 1))
    # resample at the image pixel centres of the bounding square
    cols = np.arange(c0, c1) * px
    rows = (frame.nipple_row - np.arange(r0, r1)) * px
    ci = (cols[None, :] - lu[0]) / step
    ri = (lv[0] - rows[:, None]) / step
    rr, cc = np.broadcast_arrays(ri, ci)
    path = ndimage.map_coordinates(local.astype(np.float32), [rr, cc], order=1, mode="constant")
    return path, (r0, r1, c0, c1)


def _spicule_path(blob: Blob3D, frame: ViewFrame) -> np.ndarray | None:
    """Spicules drawn as anti-aliased lines between their projected 3D end points."""
    if not blob.spicules:
        return None
    canvas = np.zeros((frame.size.rows, frame.size.cols), np.uint8)
    px = frame.size.pixel_mm
    scale = 16  # sub-pixel precision for cv2.line
    for start, end, width in blob.spicules:
        p0 = frame.to_pixel(*frame.to_view(start)[:2])
        p1 = frame.to_pixel(*frame.to_view(end)[:2])
        pts = [tuple(int(round(c * scale)) for c in p) for p in (p0, p1)]
        cv2.line(canvas, pts[0], pts[1], 255, max(1, int(round(width / px))), cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0 * float(np.mean([w for _, _, w in blob.spicules])) * 2.0


def _gland_fraction(
    gland: np.ndarray, thickness: np.ndarray, box: tuple[int, int, int, int], path: np.ndarray
) -> float:
    """The share of glandular tissue along the rays through a mass: the tissue the mass displaces.

    A mass replaces what was there, so it stands out by its attenuation minus that tissue's: bright in
    fat, nearly invisible ("obscured") in dense gland, as on real films.
    """
    r0, r1, c0, c1 = box
    inside = path > 0
    if not inside.any():
        return 0.0
    share = gland[r0:r1, c0:c1][inside] / np.maximum(thickness[r0:r1, c0:c1][inside], 1e-6)
    return float(np.clip(share.mean(), 0.0, 1.0))


def render_view(
    breast: Breast, projection: str, size: ImageSize, config: PhantomConfig, rng: np.random.Generator
) -> ViewRender:
    angle = 0.0 if projection == "CC" else breast.mlo_angle
    frame = ViewFrame(angle, size, nipple_row=size.rows * (0.5 if projection == "CC" else 0.6))
    u, v = frame.pixel_grid()
    thickness = ellipsoid_chord(u, v, (breast.a, breast.b, breast.c), angle)
    s = breast.skin_mm
    inner = ellipsoid_chord(u, v, (breast.a - s, breast.b - s, breast.c - s), angle)
    breast_region = thickness > 0
    gland, muscle = _coarse_layers(breast, frame, MUSCLE_MAX_MM[projection])

    signal = (
        BASE_LEVEL
        + THICKNESS_WEIGHT * thickness / (2.0 * breast.c)
        + SKIN_PER_MM * (thickness - inner)
        + GLAND_PER_MM * gland
        + MUSCLE_PER_MM * muscle
    ).astype(np.float32)

    result = ViewRender(projection, signal, frame.to_pixel(breast.a, 0.0), float(np.rad2deg(angle)), frame.nipple_row)
    nipple = _blob_path(breast.nipple, frame)
    if nipple is not None:
        path, (r0, r1, c0, c1) = nipple
        signal[r0:r1, c0:c1] += NIPPLE_PER_MM * path
        breast_region[r0:r1, c0:c1] |= path > 0
    for blob in breast.lookalikes:
        rendered = _blob_path(blob, frame)
        if rendered is not None:
            path, (r0, r1, c0, c1) = rendered
            signal[r0:r1, c0:c1] += LOOKALIKE_PER_MM * path
    result.lookalike_centers = [frame.to_pixel(*frame.to_view(b.center)[:2]) for b in breast.lookalikes]
    for mass in breast.masses:
        rendered = _blob_path(mass, frame)
        if rendered is None:
            continue
        path, (r0, r1, c0, c1) = rendered
        excess = mass.contrast - (
            _gland_fraction(gland, thickness, (r0, r1, c0, c1), path) if config.mass_displaces_tissue else 0.0
        )
        signal[r0:r1, c0:c1] += GLAND_PER_MM * excess * path
        mask = np.zeros(signal.shape, bool)
        mask[r0:r1, c0:c1] = path > max(0.15 * float(path.max()), 0.5)
        result.mass_masks[mass.ident] = mask
        spicules = _spicule_path(mass, frame)
        if spicules is not None:
            signal += GLAND_PER_MM * excess * spicules * breast_region

    texture = power_law_field(signal.shape, 3.0, rng).astype(np.float32)
    signal += config.fine_texture * texture * np.clip(gland / (2.0 * breast.c), 0.1, 1.0)
    signal = np.where(breast_region, signal, BACKGROUND)
    noise_sd = config.noise_quantum * np.sqrt(np.clip(signal, 0, None)) + config.noise_electronic
    signal = signal + rng.standard_normal(signal.shape).astype(np.float32) * noise_sd
    result.image = np.clip(signal, 0.0, 1.0).astype(np.float32)
    return result
