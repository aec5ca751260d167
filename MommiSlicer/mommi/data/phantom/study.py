"""One synthetic patient: two breasts, masses and look-alikes, four rendered views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mommi.data.phantom.anatomy import Breast, gland_envelope, make_gland_fields
from mommi.data.phantom.config import ImageSize, PhantomConfig
from mommi.data.phantom.lesions import Blob3D, make_mass, vary_margin
from mommi.data.phantom.render import ViewFrame, ViewRender, render_view
from mommi.data.phantom.render_structured import render_structured_view
from mommi.data.phantom.structures import FineAnatomy, make_fine_anatomy, mirrored_twin
from mommi.data.phantom.styles import Style, StyleParams, draw_style

VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))


@dataclass
class SyntheticStudy:
    """Rendered views (chest wall at column 0, before mirroring) and the 3D truth."""

    breasts: dict[str, Breast]
    views: dict[str, ViewRender]  # "L-CC" -> render
    density: float
    normal: bool
    masses: list[Blob3D] = field(default_factory=list)
    style: StyleParams | None = None  # structured phantom only

    def masses_3d(self) -> list[dict[str, Any]]:
        rows = []
        for lat, breast in self.breasts.items():
            for mass in breast.masses:
                rows.append({**mass.to_dict(), "laterality": lat})
        return rows


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _place_mass(rng: np.random.Generator, breast: Breast, radius: float) -> np.ndarray | None:
    """A centre inside the gland cone with the whole mass inside the breast."""
    for _ in range(200):
        x = rng.uniform(0.2, 0.85) * breast.a
        allowed = max(breast.cone_slope * (breast.a - x) + 6.0 - radius * 0.5, 1.0)
        r = allowed * np.sqrt(rng.random())
        phi = rng.uniform(0, 2 * np.pi)
        y, z = r * np.cos(phi), r * np.sin(phi)
        margin = radius / min(breast.a, breast.b, breast.c)
        if breast.normalised_radius(np.array(x), np.array(y), np.array(z)) + margin < 0.92:
            return np.array([x, y, z])
    return None


def _add_masses(rng: np.random.Generator, breast: Breast, config: PhantomConfig, first_id: int) -> None:
    count = 2 if rng.random() < config.second_mass_probability else 1
    for i in range(count):
        lo, hi = config.mass_diameter_mm
        if config.mass_diameter_median_mm is None:
            diameter = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        else:
            diameter = float(
                np.clip(rng.lognormal(np.log(config.mass_diameter_median_mm), config.mass_diameter_sigma), lo, hi)
            )
        diameter = min(diameter, 1.5 * breast.c)  # a mass thicker than the compressed breast is not real
        center = _place_mass(rng, breast, diameter / 2.0)
        while center is None and diameter > lo:  # too large for this breast: shrink until it fits
            diameter = max(diameter * 0.8, lo)
            center = _place_mass(rng, breast, diameter / 2.0)
        if center is None:
            continue
        malignant = bool(rng.random() < config.malignant_fraction)
        mass = make_mass(rng, center, diameter, malignant, _uniform(rng, config.mass_contrast))
        if config.mass_margins == "extended":
            vary_margin(rng, mass)
        mass.ident = first_id + i
        breast.masses.append(mass)


def _add_lookalikes(rng: np.random.Generator, breast: Breast, config: PhantomConfig) -> None:
    """2-4 small gland blobs on one ray of one view: dense in that view only."""
    lo, hi = config.lookalikes_per_breast
    for _ in range(int(rng.integers(lo, hi + 1))):
        angle = 0.0 if rng.random() < 0.5 else breast.mlo_angle
        center = _place_mass(rng, breast, 4.0)
        if center is None:
            continue
        frame = ViewFrame(angle, None, 0.0)  # type: ignore[arg-type]  # only rotations used
        u, v, _ = frame.to_view(center)
        half = 0.6 * breast.c
        for t in rng.uniform(-half, half, size=int(rng.integers(2, 5))):
            p = frame.to_breast(np.array(u), np.array(v), np.array(t))
            radius = rng.uniform(2.5, 5.0)
            breast.lookalikes.append(Blob3D(p, np.array([radius] * 3), kind="lookalike"))


def _add_structured_lookalikes(rng: np.random.Generator, breasts: dict[str, Breast]) -> None:
    """Structured phantom: cysts (smooth, round, dense) and a focal asymmetry (one breast only).

    They are not masses in the truth: a detector has to learn to leave them alone, or
    to rank them below real masses.
    """
    for breast in breasts.values():
        if rng.random() < 0.3:
            radius = float(rng.uniform(2.5, 8.0))
            center = _place_mass(rng, breast, radius)
            if center is not None:
                breast.lookalikes.append(
                    Blob3D(center, np.array([radius] * 3), kind="cyst", contrast=float(rng.uniform(0.3, 0.6)))
                )
    if rng.random() < 0.25:
        breast = breasts["L" if rng.random() < 0.5 else "R"]
        radius = float(rng.uniform(10.0, 20.0))
        center = _place_mass(rng, breast, radius)
        if center is not None:
            radii = radius * np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.8)])
            breast.lookalikes.append(Blob3D(center, radii, kind="asymmetry", contrast=float(rng.uniform(0.15, 0.3))))


def _structured_views(
    rng: np.random.Generator, breasts: dict[str, Breast], config: PhantomConfig, size: ImageSize
) -> tuple[dict[str, ViewRender], StyleParams]:
    """Fine anatomy per breast (the right one mostly a mirror twin of the left), a style, four views."""
    left = breasts["L"]
    axes_l = (left.a, left.b, left.c)
    anatomy: dict[str, FineAnatomy] = {"L": make_fine_anatomy(rng, axes_l, left.gland, left.mlo_angle)}
    right = breasts["R"]
    anatomy["R"] = mirrored_twin(
        rng, anatomy["L"], (right.a, right.b, right.c), right.gland, right.mlo_angle, config.fine_shared
    )
    weights = tuple((Style(name), weight) for name, weight in config.styles)
    style = draw_style(rng, weights)
    # the part of the fine 2D texture both breasts share (mirror images), one per projection
    shared_texture = {proj: int(rng.integers(2**63)) for proj in ("CC", "MLO")}
    views = {
        f"{lat}-{proj}": render_structured_view(
            breasts[lat], anatomy[lat], proj, size, config, style, rng, shared_texture[proj], config.image_size(size)
        )
        for lat, proj in VIEWS
    }
    return views, style


def make_study(rng: np.random.Generator, config: PhantomConfig, size: ImageSize, normal: bool) -> SyntheticStudy:
    """Draw a patient and render the four views (on ``config.image_size(size)``: the detector may be finer)."""
    base = [_uniform(rng, r) for r in (config.depth_mm, config.half_width_mm, config.half_thickness_mm)]
    density = _uniform(rng, config.gland_fraction)
    beta = _uniform(rng, config.spectrum_beta)
    fields = make_gland_fields(rng, config, density, beta)
    breasts: dict[str, Breast] = {}
    for lat, gland in zip(("L", "R"), fields):
        jitter = config.bilateral_shape_jitter
        a, b, c = (v * rng.uniform(1.0 - jitter, 1.0 + jitter) for v in base)
        mlo_angle = np.deg2rad(_uniform(rng, config.mlo_angle_deg))
        nipple = Blob3D(np.array([a - 1.0, 0.0, 0.0]), np.array([4.0, 5.0, 5.0]), kind="nipple")
        breasts[lat] = Breast(
            lat,
            a,
            b,
            c,
            config.skin_mm,
            mlo_angle,
            gland * gland_envelope(a, b, c, config.cone_slope),
            pectoral_slope=float(rng.uniform(0.5, 1.1)),
            pectoral_offset=float(rng.uniform(0.1, 0.35) * b),
            cone_slope=config.cone_slope,
            nipple=nipple,
        )
    if config.anatomy == "structured":
        # one technologist positions both breasts alike (the same MLO angle within a few degrees), and the
        # two pectoral muscles are mirror images
        left, right = breasts["L"], breasts["R"]
        right.mlo_angle = left.mlo_angle + float(np.deg2rad(rng.normal(0.0, 1.5)))
        right.pectoral_slope = left.pectoral_slope * float(rng.uniform(0.95, 1.05))
        right.pectoral_offset = left.pectoral_offset * float(rng.uniform(0.95, 1.05))
    if not normal:
        affected = "L" if rng.random() < 0.5 else "R"
        _add_masses(rng, breasts[affected], config, first_id=1)
    for breast in breasts.values():
        _add_lookalikes(rng, breast, config)
    masses = [m for b in breasts.values() for m in b.masses]
    if config.anatomy == "structured":
        _add_structured_lookalikes(rng, breasts)
        views, style = _structured_views(rng, breasts, config, size)
        return SyntheticStudy(breasts, views, density, normal=not masses, masses=masses, style=style)
    views = {f"{lat}-{proj}": render_view(breasts[lat], proj, size, config, rng) for lat, proj in VIEWS}
    return SyntheticStudy(breasts, views, density, normal=not masses, masses=masses)
