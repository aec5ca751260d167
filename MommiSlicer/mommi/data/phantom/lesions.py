"""3D objects inside the breast: masses, look-alike blobs, the nipple.

A ``Blob3D`` is an ellipsoid whose radius may be modulated by a few random
harmonics of the direction (an irregular margin); spicules are thin 3D segments
from its surface. All are defined in breast coordinates (mm) so that every view
sees the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random 3D rotation (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


@dataclass
class Blob3D:
    center: np.ndarray  # (3,) mm
    radii: np.ndarray  # (3,) mm
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    # irregular margin: rows of (kx, ky, kz, frequency, amplitude, phase)
    harmonics: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))
    spicules: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)  # (start, end, width)
    kind: str = "round"
    pathology: str | None = None
    birads: str | None = None
    contrast: float = 1.0
    ident: int = 0
    margin_blur_mm: float = 0.0  # an ill-defined margin: the projected edge fades over about this width

    @property
    def bounding_radius(self) -> float:
        return float(np.max(self.radii) * (1.0 + np.abs(self.harmonics[:, 4]).sum()))

    @property
    def diameter_mm(self) -> float:
        return float(2.0 * np.mean(self.radii))

    def inside(self, points: np.ndarray) -> np.ndarray:
        """Boolean mask for (..., 3) points in breast coordinates."""
        local = (points - self.center) @ self.rotation  # into the blob's own axes
        scaled = local / self.radii
        dist = np.sqrt(np.sum(scaled**2, axis=-1))
        if len(self.harmonics):
            direction = scaled / np.maximum(dist[..., None], 1e-9)
            proj = direction @ self.harmonics[:, :3].T  # (..., H)
            rho = 1.0 + np.sum(
                self.harmonics[:, 4] * np.cos(self.harmonics[:, 3] * proj + self.harmonics[:, 5]), axis=-1
            )
            return dist <= rho
        return dist <= 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.ident,
            "kind": self.kind,
            "center_mm": [round(float(v), 3) for v in self.center],
            "radii_mm": [round(float(v), 3) for v in self.radii],
            "diameter_mm": round(self.diameter_mm, 2),
            "pathology": self.pathology,
            "birads": self.birads,
            "spicules": len(self.spicules),
            "spicule_length_mm": round(float(np.mean([np.linalg.norm(e - b) for b, e, _ in self.spicules])), 2)
            if self.spicules
            else 0.0,
        }


BENIGN_BIRADS = (("2", 0.4), ("3", 0.4), ("4A", 0.2))
MALIGNANT_BIRADS = (("4A", 0.05), ("4B", 0.2), ("4C", 0.3), ("5", 0.45))


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    names, weights = zip(*table)
    return str(rng.choice(names, p=np.array(weights) / sum(weights)))


def make_mass(
    rng: np.random.Generator, center: np.ndarray, diameter: float, malignant: bool, contrast: float
) -> Blob3D:
    """A benign (round/oval, smooth) or malignant (irregular, often spiculated) mass."""
    radius = diameter / 2.0
    rotation = random_rotation(rng)
    if not malignant:
        oval = rng.uniform(1.0, 1.6) if rng.random() < 0.5 else 1.0
        radii = radius * np.array([oval, 1.0, 1.0 / np.sqrt(oval)])
        return Blob3D(
            center,
            radii,
            rotation,
            kind="oval" if oval > 1.0 else "round",
            pathology="benign",
            birads=_choice(rng, BENIGN_BIRADS),
            contrast=contrast,
        )
    radii = radius * rng.uniform(0.8, 1.2, size=3)
    count = int(rng.integers(3, 7))
    directions = rng.standard_normal((count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    harmonics = np.column_stack(
        [
            directions,
            rng.uniform(2.0, 5.0, count),
            rng.uniform(0.05, 0.14, count),
            rng.uniform(0, 2 * np.pi, count),
        ]
    )
    blob = Blob3D(
        center,
        radii,
        rotation,
        harmonics,
        kind="irregular",
        pathology="malignant",
        birads=_choice(rng, MALIGNANT_BIRADS),
        contrast=contrast,
    )
    if rng.random() < 0.7:
        blob.kind = "spiculated"
        for _ in range(int(rng.integers(6, 16))):
            direction = rng.standard_normal(3)
            direction /= np.linalg.norm(direction)
            start = center + direction * radius * 0.8
            length = radius * rng.uniform(0.6, 1.6)
            end = start + direction * length
            blob.spicules.append((start, end, float(rng.uniform(0.4, 1.0))))
    return blob


def vary_margin(rng: np.random.Generator, mass: Blob3D) -> None:
    """The margins of the structured phantom beyond v1/v2's three (BI-RADS lexicon).

    Benign masses: a third become lobulated (a few broad lobes). Malignant masses that are
    not spiculated become microlobulated (many small undulations) or ill-defined (a margin
    that fades into the tissue). Obscured masses are not drawn as such: a mass in dense
    tissue displaces gland of almost its own density and is obscured by the physics.
    """
    if mass.pathology == "benign":
        if rng.random() < 1.0 / 3.0:
            count = int(rng.integers(2, 5))
            mass.harmonics = _harmonics(rng, count, (1.5, 3.0), (0.12, 0.22))
            mass.kind = "lobulated"
        return
    if mass.kind == "spiculated":
        return
    if rng.random() < 0.5:
        mass.harmonics = _harmonics(rng, int(rng.integers(6, 11)), (7.0, 12.0), (0.03, 0.06))
        mass.kind = "microlobulated"
    else:
        mass.margin_blur_mm = float(rng.uniform(0.15, 0.3) * np.mean(mass.radii))
        mass.kind = "ill-defined"


def _harmonics(
    rng: np.random.Generator, count: int, frequency: tuple[float, float], amplitude: tuple[float, float]
) -> np.ndarray:
    directions = rng.standard_normal((count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return np.column_stack(
        [directions, rng.uniform(*frequency, count), rng.uniform(*amplitude, count), rng.uniform(0, 2 * np.pi, count)]
    )
