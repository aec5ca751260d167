"""Orientation normalisation: the model grid has the chest wall on its LEFT edge.

The original file is never changed; what is decided here is a ``GridTransform``
(flips only, at load time) that the models use and that maps every result back.
Horizontal: PatientOrientation (0020,0020) says on which side the chest wall is
("A" along the rows means anterior, the nipple, to the right), and the image
itself is checked: the breast is widest at the chest wall and tapers toward the
nipple. When the two disagree clearly, the image wins and a warning says so,
because software that flips pixels often forgets to update the tag.
Vertical: the lateral side (CC) or the axilla (MLO) is put at the top, as in a
standard display, when PatientOrientation says it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydicom.dataset import Dataset

from mommi.study.geometry import GridTransform
from mommi.study.model import Laterality

#: how much wider (relative) the breast must be at one end to trust the image
CONTENT_CONFIDENCE = 0.25


@dataclass(frozen=True)
class ChestWallEstimate:
    side: str  # "left" or "right"
    confidence: float  # 0 (no idea) .. 1 (certain)


def breast_mask(pixels: np.ndarray) -> np.ndarray:
    """Largest connected region above the background (labels and markers dropped).

    The threshold is the lower of Otsu's and the triangle method's. Otsu alone
    splits dense tissue from fat when the breast is dense, and then cuts off the
    thin, dark periphery with the skin line and the nipple; the triangle method is
    made for one dominant (background) peak and finds the foot of that peak.
    The triangle histogram leaves exact zeros out: digitised film is often padded
    with them (mini-MIAS), and the background to find is the film's, not the
    padding's. Where the film's own unexposed border is the dominant peak the
    triangle threshold lands high, and Otsu's (the minimum) decides.
    """
    as_u8: np.ndarray = np.clip(pixels * 255.0, 0, 255).astype(np.uint8)
    as_u8 = cv2.GaussianBlur(as_u8, (5, 5), 0)
    otsu, _ = cv2.threshold(as_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    values = as_u8[as_u8 > 0][None]
    triangle = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_TRIANGLE)[0] if values.size else otsu
    binary: np.ndarray = (as_u8 > min(otsu, triangle)).astype(np.uint8)
    # an opening cuts thin film edges and label strips that touch the breast
    size = max(3, int(0.01 * max(pixels.shape)) | 1)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return np.zeros(pixels.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def chest_wall_from_content(pixels: np.ndarray) -> ChestWallEstimate | None:
    """Which side the breast is widest on, i.e. where the chest wall is."""
    scale = min(1.0, 512.0 / max(pixels.shape))
    if scale < 1.0:
        pixels = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    mask = breast_mask(pixels)
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size < 8:
        return None
    heights = mask[:, columns[0] : columns[-1] + 1].sum(axis=0).astype(np.float64)
    band = max(2, heights.size // 10)
    left, right = heights[:band].mean(), heights[-band:].mean()
    if max(left, right) <= 0:
        return None
    confidence = abs(left - right) / max(left, right)
    return ChestWallEstimate("left" if left > right else "right", float(confidence))


def _chest_wall_from_tag(ds: Dataset | None) -> str | None:
    value = ds.get("PatientOrientation") if ds is not None else None
    if not value or len(value) != 2:
        return None
    row_direction = str(value[0]).upper()
    if "A" in row_direction:
        return "left"  # moving right goes toward the nipple
    if "P" in row_direction:
        return "right"
    return None


def _needs_vertical_flip(ds: Dataset | None, laterality: Laterality, view_position: str) -> bool:
    value = ds.get("PatientOrientation") if ds is not None else None
    if not value or len(value) != 2:
        return False
    column_direction = str(value[1]).upper()
    if "H" in column_direction:
        return True  # moving down goes toward the head: axilla at the bottom
    if view_position == "CC" and "F" not in column_direction:
        medial = "R" if laterality is Laterality.LEFT else "L"
        lateral = "L" if laterality is Laterality.LEFT else "R"
        return lateral in column_direction and medial not in column_direction
    return False


def orientation_transform(
    pixels: np.ndarray | None,
    shape: tuple[int, int],
    laterality: Laterality,
    view_position: str,
    ds: Dataset | None = None,
    declared_chest_wall: str | None = None,
) -> tuple[GridTransform, str, list[str]]:
    """Decide the flips to the model grid; return (transform, how it was decided, warnings).

    ``declared_chest_wall`` comes from a research sidecar ("left"/"right") and
    plays the role of PatientOrientation.
    """
    warnings: list[str] = []
    declared = declared_chest_wall or _chest_wall_from_tag(ds)
    declared_by = "sidecar" if declared_chest_wall else "PatientOrientation"
    content = chest_wall_from_content(pixels) if pixels is not None else None
    confident = content is not None and content.confidence >= CONTENT_CONFIDENCE

    if declared and content is not None and content.side != declared and confident:
        side, source = content.side, "image content"
        warnings.append(
            f"{declared_by} puts the chest wall on the {declared} but the image shows it on "
            f"the {content.side}; the image was trusted"
        )
    elif declared:
        agree = content is not None and content.side == declared
        side, source = declared, declared_by + (" (confirmed by the image)" if agree else "")
    elif confident:
        assert content is not None
        side, source = content.side, "image content"
    else:
        # Nothing reliable: assume the standard display, where a right breast has its
        # chest wall on the right of the image (nipple pointing left).
        side = "right" if laterality is Laterality.RIGHT else "left"
        source = "assumed from laterality (standard display)"
        why = "the breast is about as wide at both ends" if content is not None else "no pixels"
        warnings.append(f"chest wall side could not be seen in the image ({why}); standard display assumed")

    transform = GridTransform(
        shape=shape,
        flip_horizontal=(side == "right"),
        flip_vertical=_needs_vertical_flip(ds, laterality, view_position),
    )
    return transform, source, warnings
