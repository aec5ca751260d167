"""From a loaded mammogram to the fixed-size grid a network reads.

The breast (largest bright region) is cropped with the chest wall at the left
edge, the box is widened to the network's aspect ratio (zero padding where it
leaves the image, so the breast is never distorted) and resized. Everything is a
``GridTransform``, so outputs map back to the original pixels exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mommi.study.geometry import GridTransform
from mommi.study.model import MammoImage
from mommi.study.orientation import breast_mask

#: relative margin around the breast box (skin line and nipple must stay inside)
MARGIN = 0.04


@dataclass(frozen=True)
class InputSpec:
    """Network input: size and intensity normalisation (recorded in the model zoo)."""

    height: int
    width: int
    mean: float = 0.5
    std: float = 0.5

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        return ((pixels - self.mean) / self.std).astype(np.float32)


@dataclass
class PreparedView:
    pixels: np.ndarray  # (height, width) float32 in [0, 1], chest wall on the left
    mask: np.ndarray  # (height, width) bool breast mask
    transform: GridTransform  # original grid -> this grid


def breast_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) end-exclusive box of the breast, from a downscaled mask."""
    scale = min(1.0, 256.0 / max(pixels.shape))
    small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else pixels
    mask = breast_mask(small)
    if not mask.any():
        return 0, 0, pixels.shape[1], pixels.shape[0]
    ys, xs = np.nonzero(mask)
    x0, x1 = xs.min() / scale, (xs.max() + 1) / scale
    y0, y1 = ys.min() / scale, (ys.max() + 1) / scale
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def input_transform(orientation: GridTransform, oriented: np.ndarray, spec: InputSpec) -> GridTransform:
    """Crop (chest wall kept at x = 0) and scale ``oriented`` pixels to ``spec``'s grid."""
    x0, y0, x1, y1 = breast_box(oriented)
    # the chest wall is the breast's left edge: the image edge for FFDM, further in for
    # digitised film that was padded (mini-MIAS)
    left = max(int(x0 - MARGIN * (x1 - x0)), 0)
    w = (x1 - left) * (1 + MARGIN)
    h = (y1 - y0) * (1 + 2 * MARGIN)
    aspect = spec.width / spec.height
    if w / h > aspect:
        h = w / aspect
    else:
        w = h * aspect
    cy = (y0 + y1) / 2.0
    box = (left, int(round(cy - h / 2)), left + int(round(w)), int(round(cy + h / 2)))
    box = (box[0], box[1], max(box[2], 2), max(box[3], box[1] + 2))
    return orientation.with_crop(*box, allow_padding=True).with_output_size(spec.width, spec.height)


def prepare(image: MammoImage, spec: InputSpec) -> PreparedView:
    """Model-grid pixels, breast mask and transform of a loaded image (pixels needed)."""
    if image.pixels is None or image.to_model is None:
        raise ValueError(f"{image.path}: pixels were not loaded")
    oriented = image.to_model.apply(image.pixels)
    transform = input_transform(image.to_model, oriented, spec)
    pixels = transform.apply(image.pixels).astype(np.float32)
    return PreparedView(pixels, breast_mask(pixels), transform)
