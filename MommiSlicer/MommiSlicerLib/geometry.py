"""Where a mammogram's pixels lie in Slicer's RAS space, and how boxes travel between the two.

Each view becomes a one-slice volume. Its IJK -> RAS matrix does three things:

- scales by the pixel spacing, so distances measured in Slicer are millimetres;
- applies the hanging-protocol flips (``mommi.findings.overlay.hanging_flips``), so that a
  plain axial slice view (patient right on screen left, anterior up) shows the image as a
  reader hangs it: right breast chest wall on the right, left breast chest wall on the left;
- puts each view on its own plane (``z = index * PLANE_GAP_MM`` in hanging order), so an
  ROI of one view never cuts the slice view of another.

Coordinates follow the engine: ``box_px`` is ``[x0, y0, x1, y1]`` in ORIGINAL pixels with
pixel centres on integers (``mommi_reader.canvas`` says the same), which is exactly Slicer's
IJK convention, so IJK = (x, y, 0). Everything in this module is numpy only, testable and
reusable without MRML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mommi.findings.overlay import hanging_flips
from mommi.study.model import HANGING_ORDER

#: distance in mm between the planes of two views: far larger than any ROI thickness
PLANE_GAP_MM = 100.0
#: through-plane thickness of a finding's ROI (a 2-D image is a 1-slice volume of 1 mm)
ROI_THICKNESS_MM = 1.0
#: a view without a pixel spacing (digitised film without calibration) is shown at 1 mm per pixel
FALLBACK_SPACING_MM = 1.0


@dataclass(frozen=True)
class ViewGeometry:
    """The pixel grid of one view and how it hangs: enough to build its IJK -> RAS matrix."""

    view: str
    rows: int
    cols: int
    row_mm: float
    col_mm: float
    flip_h: bool  # display flips of the hanging protocol (not the model's canonical flips)
    flip_v: bool
    plane_z: float

    @classmethod
    def of(
        cls,
        view: str,
        rows: int,
        cols: int,
        spacing_mm: Sequence[float] | None,
        canonical_flip_h: bool,
        canonical_flip_v: bool,
    ) -> ViewGeometry:
        """From the engine's description of a view (``ViewResult.spacing_mm`` is (row, col))."""
        row_mm, col_mm = (
            (float(spacing_mm[0]), float(spacing_mm[1])) if spacing_mm else (FALLBACK_SPACING_MM, FALLBACK_SPACING_MM)
        )
        flip_h, flip_v = hanging_flips(view, canonical_flip_h, canonical_flip_v)
        return cls(view, int(rows), int(cols), row_mm, col_mm, flip_h, flip_v, plane_z_of(view))

    def ijk_to_ras(self) -> np.ndarray:
        """4x4 matrix: column index i -> screen right, row index j -> screen down, before hanging flips.

        In RAS, screen right of an axial view is -x (towards the patient's left) and screen down
        is -y (posterior); a display flip mirrors the axis and moves the origin so that the image
        keeps covering the same rectangle.
        """
        matrix = np.eye(4)
        matrix[0, 0], matrix[0, 3] = (
            (self.col_mm, -self.col_mm * (self.cols - 1)) if self.flip_h else (-self.col_mm, 0.0)
        )
        matrix[1, 1], matrix[1, 3] = (
            (self.row_mm, -self.row_mm * (self.rows - 1)) if self.flip_v else (-self.row_mm, 0.0)
        )
        matrix[2, 2], matrix[2, 3] = 1.0, self.plane_z
        return matrix

    def contains_ras(self, point: Sequence[float]) -> bool:
        """Whether ``point`` (RAS) lies on this view's plane (within half a gap) and inside its image."""
        point = [float(v) for v in point]  # also a VTK tuple, which does not slice
        if abs(point[2] - self.plane_z) > PLANE_GAP_MM / 2:
            return False
        i, j, _ = ras_to_ijk(np.linalg.inv(self.ijk_to_ras()), point)
        return -0.5 <= i <= self.cols - 0.5 and -0.5 <= j <= self.rows - 0.5


def plane_z_of(view: str) -> float:
    """The RAS z of a view's plane: views in hanging order, one gap apart."""
    names = [v.value for v in HANGING_ORDER]
    return PLANE_GAP_MM * names.index(view)


def ijk_to_ras_point(ijk_to_ras: np.ndarray, ijk: Sequence[float]) -> np.ndarray:
    return (np.asarray(ijk_to_ras, float) @ np.array([*(float(v) for v in list(ijk)[:3]), 1.0]))[:3]


def ras_to_ijk(ras_to_ijk_matrix: np.ndarray, ras: Sequence[float]) -> np.ndarray:
    return (np.asarray(ras_to_ijk_matrix, float) @ np.array([*(float(v) for v in list(ras)[:3]), 1.0]))[:3]


def box_to_roi(box_px: Sequence[float], ijk_to_ras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, size) in RAS of the axis-aligned ROI covering ``box_px`` on its view's plane."""
    x0, y0, x1, y1 = (float(v) for v in box_px)
    a = ijk_to_ras_point(ijk_to_ras, (x0, y0, 0.0))
    b = ijk_to_ras_point(ijk_to_ras, (x1, y1, 0.0))
    centre = (a + b) / 2
    size = np.abs(b - a)
    size[2] = ROI_THICKNESS_MM
    return centre, size


def ras_bounds_to_box(bounds: Sequence[float], ras_to_ijk_matrix: np.ndarray) -> list[float]:
    """``[x0, y0, x1, y1]`` (original pixels) of an ROI's RAS bounds ``[xmin, xmax, ymin, ymax, zmin, zmax]``.

    All four in-plane corners go through the volume's RAS -> IJK matrix, so this stays right
    whatever flips or spacing the matrix holds.
    """
    xmin, xmax, ymin, ymax, zmin, zmax = (float(v) for v in bounds)
    z = (zmin + zmax) / 2
    corners = np.array([ras_to_ijk(ras_to_ijk_matrix, (x, y, z)) for x in (xmin, xmax) for y in (ymin, ymax)])
    return [
        float(corners[:, 0].min()),
        float(corners[:, 1].min()),
        float(corners[:, 0].max()),
        float(corners[:, 1].max()),
    ]


def clamp_box(box_px: Sequence[float], rows: int, cols: int) -> list[float]:
    """The part of a box inside the image (the review store refuses boxes that leave it)."""
    x0, y0, x1, y1 = (float(v) for v in box_px)
    return [min(max(x0, 0.0), cols), min(max(y0, 0.0), rows), min(max(x1, 0.0), cols), min(max(y1, 0.0), rows)]


def same_box(a: Sequence[float], b: Sequence[float], tolerance: float = 0.01) -> bool:
    """Boxes equal within ``tolerance`` pixels (the store rounds to 0.01 px)."""
    return len(a) == len(b) == 4 and all(abs(float(p) - float(q)) <= tolerance for p, q in zip(a, b))
