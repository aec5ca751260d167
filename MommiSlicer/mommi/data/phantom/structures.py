"""Fine 3D anatomy of the structured phantom (v3): what makes a breast look like a breast.

Why these objects: on real films the texture a detector must learn to ignore is made of
fat lobules bounded by Cooper's ligaments (thin curved sheets that project as arcs),
fibroglandular strands and lobules elongated toward the nipple, ducts converging on the
nipple, vessels, and lymph nodes in the axillary tail. The coarse gland field of v1/v2
(2 mm voxels) has none of that, so v1/v2 views are told from films at a glance.

Everything is defined in breast coordinates (mm) and projected per view
(``mommi.data.phantom.fine_render``), so CC and MLO see the same objects. Left and
right breasts share the placement of most structures (mirror images, jittered): the
bilateral comparison a radiologist makes works because normal anatomy is roughly
symmetric and a mass is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mommi.data.phantom.lesions import Blob3D, random_rotation

#: what a lobule's fat, a ligament, a lump, a vessel is worth, in mm of glandular path per mm of path
LIGAMENT_DENSITY = 0.7
VESSEL_DENSITY = 0.8
#: how much of each structure a breast holds
LOBULE_FILL = 0.35  # share of the breast volume in fat lobules (mean radius 5.5 mm)
LUMPS_PER_CM3 = 8.0  # of glandular tissue
STRANDS_PER_CM3 = 1.2  # of breast (3.0 filled fatty regions with a mesh of lines that films do not show)
#: heading drift per 1.5 mm step of a strand (radians, roughly): real trabeculae and ligaments curve;
#: near-straight strands (0.04) were the phantom's most visible tell in 12.8 mm patches
STRAND_WANDER = 0.08


@dataclass
class Shells:
    """Fat lobules: ellipsoids of fat whose walls (a Cooper's ligament sheet) are dense.

    ``cut_normals`` and ``second_cut_normals`` keep only the part of each wall on one side
    of up to two planes through the centre: ligaments are partial sheets, so they project
    as arcs, not rings.
    ``displaced`` is the gland fraction the lobule's fat pushes out where it sits.
    """

    centers: np.ndarray  # (N, 3)
    rotations: np.ndarray  # (N, 3, 3) columns = the lobule's axes
    radii: np.ndarray  # (N, 3)
    wall_mm: np.ndarray  # (N,)
    cut_normals: np.ndarray  # (N, 3), zero vector = no cut
    second_cut_normals: np.ndarray  # (N, 3), zero vector = no cut
    displaced: np.ndarray  # (N,)

    def __len__(self) -> int:
        return len(self.centers)


@dataclass
class Lumps:
    """Fibroglandular lumps: anisotropic 3D Gaussians of gland (peak = 1 mm of gland per mm)."""

    centers: np.ndarray  # (N, 3)
    covariances: np.ndarray  # (N, 3, 3), mm^2
    weights: np.ndarray  # (N,)

    def __len__(self) -> int:
        return len(self.centers)


@dataclass
class Tube:
    """A vessel, a duct or a fibrous strand: a 3D polyline with a half-width and its line integral.

    ``path_mm``: mm of gland-equivalent tissue a ray crosses at the tube's centre line; for a
    round vessel pi/2 times its radius, for a strand (a ligament sheet seen edge-on) several mm.
    """

    points: np.ndarray  # (K, 3)
    radius_mm: float
    kind: str  # "vessel", "duct" or "strand"
    path_mm: float = 0.0

    def __post_init__(self) -> None:
        if not self.path_mm:
            self.path_mm = VESSEL_DENSITY * np.pi / 2.0 * self.radius_mm


@dataclass
class FineAnatomy:
    shells: Shells
    lumps: Lumps
    tubes: list[Tube] = field(default_factory=list)
    nodes: list[tuple[Blob3D, Blob3D]] = field(default_factory=list)  # (node, fatty hilum)


def _inside(points: np.ndarray, axes: tuple[float, float, float], limit: float) -> np.ndarray:
    a, b, c = axes
    rho = np.sqrt((points[:, 0] / a) ** 2 + (points[:, 1] / b) ** 2 + (points[:, 2] / c) ** 2)
    return (rho <= limit) & (points[:, 0] >= 0)


def _uniform_in_breast(
    rng: np.random.Generator, axes: tuple[float, float, float], count: int, limit: float
) -> np.ndarray:
    """``count`` points uniform in the half-ellipsoid (rejection from its box)."""
    a, b, c = axes
    found: list[np.ndarray] = []
    total = 0
    while total < count:
        batch = rng.uniform([0, -b, -c], [a, b, c], size=(count * 3, 3))
        batch = batch[_inside(batch, axes, limit)]
        found.append(batch)
        total += len(batch)
    return np.concatenate(found)[:count]


def gland_at(gland: np.ndarray, points: np.ndarray, axes: tuple[float, float, float]) -> np.ndarray:
    """Gland fraction of the coarse field at breast-coordinate points."""
    a, b, c = axes
    nx, ny, nz = gland.shape
    idx = np.stack(
        [points[:, 0] / a * (nx - 1), (points[:, 1] / b + 1) * 0.5 * (ny - 1), (points[:, 2] / c + 1) * 0.5 * (nz - 1)]
    )
    return ndimage.map_coordinates(gland, idx, order=1, mode="nearest")


def _shells(rng: np.random.Generator, axes: tuple[float, float, float], gland: np.ndarray, count: int) -> Shells:
    centers = _uniform_in_breast(rng, axes, count, 0.97)
    mean_r = np.exp(rng.uniform(np.log(2.5), np.log(11.0), count))
    radii = mean_r[:, None] * rng.uniform(0.6, 1.4, (count, 3))
    rotations = np.stack([random_rotation(rng) for _ in range(count)])
    walls = rng.uniform(0.08, 0.2, count)

    def cuts(keep_whole: float) -> np.ndarray:
        normals = rng.standard_normal((count, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        normals[rng.random(count) < keep_whole] = 0.0
        return normals

    first, second = cuts(0.05), cuts(0.1)
    displaced = 0.5 * np.clip(gland_at(gland, centers, axes), 0.0, 1.0)
    return Shells(centers, rotations, radii, walls, first, second, displaced)


def _lumps(rng: np.random.Generator, axes: tuple[float, float, float], gland: np.ndarray, count: int) -> Lumps:
    """Lumps where the gland is, elongated toward the nipple, sizes log-uniform 0.8-2.5 mm.

    Finer glandular texture than this is left to the 2D texture of ``render_structured``: a
    few thousand lumps per breast is the most the speed target allows.
    """
    a, b, c = axes
    candidates = _uniform_in_breast(rng, axes, count * 4, 0.9)
    density = np.clip(gland_at(gland, candidates, axes), 0.0, None) + 1e-6
    pick = rng.choice(len(candidates), size=count, replace=False, p=density / density.sum())
    centers = candidates[pick]
    sigma = np.exp(rng.uniform(np.log(0.8), np.log(2.5), count))
    elongation = rng.uniform(1.2, 3.0, count)
    toward_nipple = np.array([a, 0.0, 0.0]) - centers
    toward_nipple /= np.linalg.norm(toward_nipple, axis=1, keepdims=True) + 1e-9
    jitter = rng.standard_normal((count, 3)) * 0.35
    major = toward_nipple + jitter
    major /= np.linalg.norm(major, axis=1, keepdims=True)
    identity = np.eye(3)[None]
    outer = major[:, :, None] * major[:, None, :]
    minor_var = sigma**2
    covariances = minor_var[:, None, None] * (identity + (elongation**2 - 1.0)[:, None, None] * outer)
    weights = rng.uniform(0.5, 1.0, count)
    return Lumps(centers, covariances, weights)


def _walk(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: np.ndarray,
    steps: int,
    step_mm: float,
    wander: float,
    axes: tuple[float, float, float],
) -> np.ndarray:
    """A smooth random walk (the heading drifts by ``wander`` per step) cut where it leaves the breast."""
    drift = np.cumsum(rng.standard_normal((steps, 3)) * wander, axis=0)
    directions = heading / np.linalg.norm(heading) + drift
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = np.vstack([start, start + np.cumsum(directions * step_mm, axis=0)])
    outside = ~_inside(points, axes, 0.96)
    stop = int(np.argmax(outside)) if outside.any() else len(points)
    return points[:stop]


def _tubes(rng: np.random.Generator, axes: tuple[float, float, float]) -> list[Tube]:
    a, b, c = axes
    tubes: list[Tube] = []
    for _ in range(int(rng.integers(2, 6))):  # vessels: from the chest wall toward the nipple, branching
        start = np.array([rng.uniform(2, 10), rng.uniform(-0.6, 0.8) * b, rng.uniform(-0.5, 0.5) * c])
        heading = np.array([1.0, rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.3)])
        radius = rng.uniform(0.5, 1.3)
        trunk = _walk(rng, start, heading, int(a / 2.0), 2.0, 0.12, axes)
        if len(trunk) > 3:
            tubes.append(Tube(trunk, radius, "vessel"))
            for _ in range(int(rng.integers(0, 3))):
                root = trunk[int(rng.integers(1, len(trunk)))]
                branch = _walk(rng, root, heading + rng.standard_normal(3) * 0.6, int(a / 4.0), 2.0, 0.15, axes)
                if len(branch) > 3:
                    tubes.append(Tube(branch, radius * 0.6, "vessel"))
    for _ in range(int(rng.integers(6, 16))):  # ducts: from behind the nipple back into the gland
        start = np.array([a - rng.uniform(4, 10), rng.normal(0, 4), rng.normal(0, 3)])
        heading = np.array([-1.0, rng.normal(0, 0.5), rng.normal(0, 0.35)])
        duct = _walk(rng, start, heading, int(rng.uniform(0.2, 0.5) * a / 1.5), 1.5, 0.1, axes)
        if len(duct) > 3:
            tubes.append(Tube(duct, rng.uniform(0.3, 0.8), "duct"))
    return tubes


def _strands(rng: np.random.Generator, axes: tuple[float, float, float], gland: np.ndarray, count: int) -> list[Tube]:
    """Fibrous strands: short curved sheets seen edge-on (trabeculae, ligaments), mostly toward the nipple.

    They are what makes a film's texture look fibrous; they sit where the gland is and at
    the gland's border with the fat.
    """
    a, b, c = axes
    candidates = _uniform_in_breast(rng, axes, count * 3, 0.93)
    weight = 0.1 + np.clip(gland_at(gland, candidates, axes), 0.0, 1.0)
    starts = candidates[rng.choice(len(candidates), size=count, replace=False, p=weight / weight.sum())]
    strands = []
    for start in starts:
        toward = np.array([a, 0.0, 0.0]) - start
        heading = toward / (np.linalg.norm(toward) + 1e-9) + rng.standard_normal(3) * 0.6
        length = float(np.exp(rng.uniform(np.log(8.0), np.log(50.0))))
        points = _walk(
            rng, start, heading * np.sign(rng.random() - 0.3), max(int(length / 1.5), 2), 1.5, STRAND_WANDER, axes
        )
        if len(points) > 2:
            strands.append(Tube(points, float(rng.uniform(0.1, 0.35)), "strand", float(rng.uniform(1.0, 3.5))))
    return strands


def _lymph_nodes(
    rng: np.random.Generator, axes: tuple[float, float, float], mlo_angle: float
) -> list[tuple[Blob3D, Blob3D]]:
    """0-3 oval nodes with a fatty hilum in the axillary tail (upper outer, near the chest wall)."""
    a, b, c = axes
    nodes = []
    for _ in range(int(rng.integers(0, 4))):
        for _attempt in range(20):
            w = rng.uniform(0.55, 0.85)  # along the axillary (MLO-up) direction, relative
            center = np.array([rng.uniform(6, 25), w * b * np.cos(mlo_angle), w * c * np.sin(mlo_angle)])
            length = rng.uniform(5.0, 14.0)
            radii = np.array([length / 2, length / 3.2, length / 3.2])
            if _inside(center[None], axes, 0.9)[0]:
                rotation = random_rotation(rng)
                node = Blob3D(center, radii, rotation, kind="lymph-node")
                hilum = Blob3D(center + rotation[:, 0] * radii[0] * 0.55, radii * 0.4, rotation, kind="hilum")
                nodes.append((node, hilum))
                break
    return nodes


def make_fine_anatomy(
    rng: np.random.Generator, axes: tuple[float, float, float], gland: np.ndarray, mlo_angle: float, share: float = 1.0
) -> FineAnatomy:
    """Draw one breast's fine anatomy (``share`` of the usual counts); ``gland`` is its coarse field."""
    a, b, c = axes
    volume = 2.0 / 3.0 * np.pi * a * b * c  # mm^3, half-ellipsoid
    mean_lobule = 4.0 / 3.0 * np.pi * 5.5**3
    gland_volume_cm3 = float(np.clip(gland.mean(), 0.02, 1.0)) * volume / 1000.0
    shells = _shells(rng, axes, gland, max(int(share * np.clip(LOBULE_FILL * volume / mean_lobule, 80, 700)), 1))
    lumps = _lumps(rng, axes, gland, max(int(share * np.clip(LUMPS_PER_CM3 * gland_volume_cm3, 100, 1500)), 1))
    strands = _strands(rng, axes, gland, max(int(share * np.clip(STRANDS_PER_CM3 * volume / 1000.0, 40, 400)), 1))
    return FineAnatomy(shells, lumps, _tubes(rng, axes) + strands, _lymph_nodes(rng, axes, mlo_angle))


def _subset(shells: Shells, keep: np.ndarray, jitter: np.ndarray) -> Shells:
    return Shells(
        shells.centers[keep] + jitter,
        shells.rotations[keep],
        shells.radii[keep],
        shells.wall_mm[keep],
        shells.cut_normals[keep],
        shells.second_cut_normals[keep],
        shells.displaced[keep],
    )


def mirrored_twin(
    rng: np.random.Generator,
    source: FineAnatomy,
    axes: tuple[float, float, float],
    gland: np.ndarray,
    mlo_angle: float,
    shared: float,
) -> FineAnatomy:
    """The other breast: a jittered copy of ``shared`` of the source's structures plus its own rest.

    Breast coordinates are defined per breast with y medial -> lateral, so the same
    coordinates in both breasts are mirror-image positions. Vessels and lymph nodes are its own.
    """
    own = make_fine_anatomy(rng, axes, gland, mlo_angle, share=1.0 - shared)
    ks = rng.random(len(source.shells)) < shared
    shells = _subset(source.shells, ks, rng.normal(0, 1.5, (int(ks.sum()), 3)))
    o = own.shells
    shells = Shells(
        *(
            np.concatenate([getattr(shells, f), getattr(o, f)])
            for f in ("centers", "rotations", "radii", "wall_mm", "cut_normals", "second_cut_normals", "displaced")
        )
    )
    kl = rng.random(len(source.lumps)) < shared
    sl, ol = source.lumps, own.lumps
    lumps = Lumps(
        np.concatenate([sl.centers[kl] + rng.normal(0, 1.0, (int(kl.sum()), 3)), ol.centers]),
        np.concatenate([sl.covariances[kl], ol.covariances]),
        np.concatenate([sl.weights[kl], ol.weights]),
    )
    strands = [
        Tube(t.points + rng.normal(0, 1.0, 3), t.radius_mm, t.kind, t.path_mm)
        for t in source.tubes
        if t.kind == "strand" and rng.random() < shared
    ]
    return FineAnatomy(shells, lumps, own.tubes + strands, own.nodes)
