"""Square patches around findings, the input of the malignancy classifier.

Training and the runtime cut patches with this one function, so the classifier
sees at inference exactly what it was trained on. A patch is cut from the
ORIGINAL pixels (full resolution: margins and spicules are what tell malignant
from benign), centred on the box, with context around the mass, and resized to
the network's size (OpenCV), zero-padded where the patch leaves the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from mommi.errors import MommiError


class PatchError(MommiError, ValueError):
    """A box that cannot be cut into a patch (not finite, or of no size)."""


@dataclass(frozen=True)
class PatchSpec:
    """Patch size in pixels, context around the box, and intensity normalisation (recorded in the zoo)."""

    size: int
    context: float = 0.5  # the patch side is the box's longer side times (1 + context)
    min_side: float = 32.0  # original pixels: tiny boxes still get some surrounding tissue
    mean: float = 0.5
    std: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return {
            "size": self.size,
            "context": self.context,
            "min_side": self.min_side,
            "mean": self.mean,
            "std": self.std,
        }


def patch_window(box: Sequence[float], spec: PatchSpec) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the square window a box's patch covers, in original pixels."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    if not np.all(np.isfinite([x0, y0, x1, y1])) or x1 <= x0 or y1 <= y0:
        raise PatchError(f"box {list(box[:4])} is not a finite [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
    side = max(max(x1 - x0, y1 - y0) * (1.0 + spec.context), spec.min_side)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side


def cut_patch(pixels: np.ndarray, box: Sequence[float], spec: PatchSpec) -> np.ndarray:
    """The normalised (size, size) float32 patch of ``box`` (original pixels, values in [0, 1])."""
    cx, cy, side = patch_window(box, spec)
    n = max(int(round(side)), 1)
    x0, y0 = int(round(cx - n / 2.0)), int(round(cy - n / 2.0))
    h, w = pixels.shape[:2]
    # crop what lies inside the image, zero-pad the rest, then resize: INTER_AREA (a box filter)
    # when shrinking, because plain interpolation would alias the fine spicules away
    inside = np.asarray(pixels[max(y0, 0) : min(y0 + n, h), max(x0, 0) : min(x0 + n, w)], np.float32)
    window = np.zeros((n, n), np.float32)
    if inside.size:
        window[max(-y0, 0) : max(-y0, 0) + inside.shape[0], max(-x0, 0) : max(-x0, 0) + inside.shape[1]] = inside
    interpolation = cv2.INTER_AREA if n > spec.size else cv2.INTER_LINEAR
    patch = cv2.resize(window, (spec.size, spec.size), interpolation=interpolation)
    return ((patch - spec.mean) / spec.std).astype(np.float32)


def cut_patches(pixels: np.ndarray, boxes: Sequence[Sequence[float]], spec: PatchSpec) -> np.ndarray:
    """(N, 1, size, size) patches of every box, the classifier's batch layout."""
    if len(boxes) == 0:
        return np.zeros((0, 1, spec.size, spec.size), np.float32)
    return np.stack([cut_patch(pixels, box, spec) for box in boxes])[:, None]
