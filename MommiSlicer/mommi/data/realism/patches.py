"""Patches of breast tissue at 0.2 mm: what both discriminators and the texture figures see.

Why 64 x 64 at 0.2 mm (12.8 mm): big enough for the tissue texture and a small
mass, small enough that many fit in one breast; the same field of view on every
source because all images were resampled first. Positions are random but seeded
per image, and spaced so patches do not repeat the same tissue.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mommi.data.realism.resample import AnalysedImage, inner_mask, pick_squares

PATCH_PX = 64
PATCHES_PER_IMAGE = 16


@dataclass
class PatchSet:
    """Patches (N, size, size) float32 in [0, 1] and the patient and image of each."""

    patches: np.ndarray
    patients: list[str]
    images: list[int]

    def __len__(self) -> int:
        return len(self.patients)

    def subset(self, index: np.ndarray) -> PatchSet:
        return PatchSet(self.patches[index], [self.patients[i] for i in index], [self.images[i] for i in index])


def sample_patches(
    images: list[AnalysedImage], seed: int, size: int = PATCH_PX, per_image: int = PATCHES_PER_IMAGE
) -> PatchSet:
    """Up to ``per_image`` patches fully inside each breast (2 mm from its edge)."""
    patches, patients, owners = [], [], []
    for index, image in enumerate(images):
        rng = np.random.default_rng([seed, index, 64])
        for r, c in pick_squares(inner_mask(image.mask), size, per_image, rng):
            patches.append(image.pixels[r : r + size, c : c + size])
            patients.append(image.patient)
            owners.append(index)
    array = np.stack(patches).astype(np.float32) if patches else np.zeros((0, size, size), np.float32)
    return PatchSet(array, patients, owners)
