"""The reversible map from a file's pixel grid to the grid the models see.

Every output of the engine (box, contour, probability map, nipple) is stored in
ORIGINAL pixel coordinates so that overlays, DICOM objects and feedback line up
with the file the radiologist opened. The models, however, see images with the
chest wall on the left edge, cropped to the breast and rescaled. ``GridTransform``
records those steps exactly, so a point or an image can go to the model grid and
back without drift.

Coordinates are (x, y) = (column, row) with pixel centres on integers, the
convention of OpenCV's ``resize`` (a pixel edge lies at -0.5). The transform is an
axis-aligned affine map; it is written out here because it is three small numbers
per axis and must be serialised to JSON, which a general matrix library would
not do for us.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class GridTransform:
    """Original grid -> model grid: optional flips, then a crop, then a scale.

    ``shape`` is the original (rows, cols). ``crop`` is (x0, y0, x1, y1) in the
    flipped grid, end-exclusive. ``scale`` is (sx, sy), model pixels per cropped
    pixel.
    """

    shape: tuple[int, int]
    flip_horizontal: bool = False
    flip_vertical: bool = False
    crop: tuple[int, int, int, int] | None = None
    scale: tuple[float, float] = (1.0, 1.0)

    # ----------------------------------------------------------------- building
    @classmethod
    def identity(cls, shape: tuple[int, int]) -> GridTransform:
        return cls(shape=(int(shape[0]), int(shape[1])))

    def with_crop(self, x0: int, y0: int, x1: int, y1: int, allow_padding: bool = False) -> GridTransform:
        """Crop in the current (flipped, not yet scaled) grid; replaces any earlier crop.

        With ``allow_padding`` the box may extend past the image (the model input
        keeps the breast's aspect ratio); the outside is filled with zeros.
        """
        rows, cols = self.shape
        inside = 0 <= x0 < x1 <= cols and 0 <= y0 < y1 <= rows
        overlaps = x0 < x1 and y0 < y1 and x0 < cols and y0 < rows and x1 > 0 and y1 > 0
        if not (inside or (allow_padding and overlaps)):
            raise ValueError(f"crop {(x0, y0, x1, y1)} outside an image of {cols}x{rows}")
        return replace(self, crop=(int(x0), int(y0), int(x1), int(y1)))

    def with_output_size(self, width: int, height: int) -> GridTransform:
        """Scale the (cropped) grid to exactly ``width`` x ``height`` model pixels."""
        cw, ch = self._crop_size()
        return replace(self, scale=(width / cw, height / ch))

    # ------------------------------------------------------------------ queries
    def _crop_box(self) -> tuple[int, int, int, int]:
        rows, cols = self.shape
        return self.crop if self.crop is not None else (0, 0, cols, rows)

    def _crop_size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self._crop_box()
        return x1 - x0, y1 - y0

    @property
    def output_shape(self) -> tuple[int, int]:
        """(rows, cols) of the model grid."""
        cw, ch = self._crop_size()
        return int(round(ch * self.scale[1])), int(round(cw * self.scale[0]))

    def _axis_maps(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Per axis (a, b) with model = a * original + b."""
        rows, cols = self.shape
        x0, y0, _, _ = self._crop_box()
        sx, sy = self.scale
        # flip: f = (n - 1) - o ; crop: c = f - x0 ; scale: m = (c + 0.5) * s - 0.5
        ax = -1.0 if self.flip_horizontal else 1.0
        bx = float(cols - 1) if self.flip_horizontal else 0.0
        ay = -1.0 if self.flip_vertical else 1.0
        by = float(rows - 1) if self.flip_vertical else 0.0
        x_map = (ax * sx, (bx - x0 + 0.5) * sx - 0.5)
        y_map = (ay * sy, (by - y0 + 0.5) * sy - 0.5)
        return x_map, y_map

    # ------------------------------------------------------------------ points
    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) original (x, y) points to the model grid."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        (axx, bxx), (ayy, byy) = self._axis_maps()
        return np.stack([axx * pts[:, 0] + bxx, ayy * pts[:, 1] + byy], axis=1)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) model-grid (x, y) points back to the original grid."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        (axx, bxx), (ayy, byy) = self._axis_maps()
        return np.stack([(pts[:, 0] - bxx) / axx, (pts[:, 1] - byy) / ayy], axis=1)

    def box_to_original(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """A model-grid box (x0, y0, x1, y1) as the enclosing original-grid box."""
        corners = self.to_original(np.array([[box[0], box[1]], [box[2], box[3]]]))
        x_lo, x_hi = sorted(corners[:, 0])
        y_lo, y_hi = sorted(corners[:, 1])
        return (x_lo, y_lo, x_hi, y_hi)

    def box_to_model(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """An original-grid box (x0, y0, x1, y1) as the enclosing model-grid box."""
        corners = self.to_model(np.array([[box[0], box[1]], [box[2], box[3]]]))
        x_lo, x_hi = sorted(corners[:, 0])
        y_lo, y_hi = sorted(corners[:, 1])
        return (x_lo, y_lo, x_hi, y_hi)

    # ------------------------------------------------------------------ images
    def apply(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """Resample an original-grid image onto the model grid."""
        if image.shape[:2] != self.shape:
            raise ValueError(f"image of shape {image.shape[:2]} does not match {self.shape}")
        out = image
        if self.flip_horizontal:
            out = out[:, ::-1]
        if self.flip_vertical:
            out = out[::-1, :]
        out = _crop_with_padding(out, self._crop_box())
        rows, cols = self.output_shape
        if (rows, cols) != out.shape[:2]:
            out = cv2.resize(np.ascontiguousarray(out), (cols, rows), interpolation=interpolation)
        return np.ascontiguousarray(out)

    def invert(self, model_image: np.ndarray, fill: float = 0.0, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """Bring a model-grid image (e.g. a probability map) back to the original grid."""
        x0, y0, x1, y1 = self._crop_box()
        crop = model_image
        if crop.shape[:2] != (y1 - y0, x1 - x0):
            crop = cv2.resize(np.ascontiguousarray(crop), (x1 - x0, y1 - y0), interpolation=interpolation)
        out = np.full(self.shape + model_image.shape[2:], fill, dtype=model_image.dtype)
        rows, cols = self.shape
        ox0, oy0, ox1, oy1 = max(x0, 0), max(y0, 0), min(x1, cols), min(y1, rows)
        out[oy0:oy1, ox0:ox1] = crop[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]
        if self.flip_vertical:
            out = out[::-1, :]
        if self.flip_horizontal:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "flip_horizontal": self.flip_horizontal,
            "flip_vertical": self.flip_vertical,
            "crop": list(self.crop) if self.crop is not None else None,
            "scale": list(self.scale),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridTransform:
        return cls(
            shape=tuple(data["shape"]),
            flip_horizontal=bool(data["flip_horizontal"]),
            flip_vertical=bool(data["flip_vertical"]),
            crop=tuple(data["crop"]) if data.get("crop") is not None else None,
            scale=tuple(data["scale"]),
        )


def _crop_with_padding(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """image[y0:y1, x0:x1] where the box may reach past the image (zeros there)."""
    x0, y0, x1, y1 = box
    rows, cols = image.shape[:2]
    if 0 <= x0 and 0 <= y0 and x1 <= cols and y1 <= rows:
        return image[y0:y1, x0:x1]
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], dtype=image.dtype)
    ox0, oy0, ox1, oy1 = max(x0, 0), max(y0, 0), min(x1, cols), min(y1, rows)
    out[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0] = image[oy0:oy1, ox0:ox1]
    return out
