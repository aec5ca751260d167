"""Training tensors of the malignancy classifier's patches (cut and labelled by mommi.data.patches)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from mommi.data.patches import PatchSamples


class PatchDataset(Dataset):
    """(patch, malignant, BI-RADS) tensors; training adds flips, brightness/contrast and a small affine."""

    def __init__(self, samples: PatchSamples, augment: bool, seed: int = 0) -> None:
        self.samples, self.augment = samples, augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def _augmented(self, patch: np.ndarray) -> np.ndarray:
        if self.rng.random() < 0.5:
            patch = patch[:, ::-1]
        if self.rng.random() < 0.5:
            patch = patch[::-1]
        size = patch.shape[0]
        matrix = cv2.getRotationMatrix2D(
            ((size - 1) / 2.0, (size - 1) / 2.0), self.rng.uniform(-20, 20), self.rng.uniform(0.9, 1.1)
        )
        matrix[:, 2] += self.rng.uniform(-0.05, 0.05, 2) * size
        patch = cv2.warpAffine(
            np.ascontiguousarray(patch), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        return patch * self.rng.uniform(0.85, 1.15) + self.rng.uniform(-0.1, 0.1)  # contrast, brightness

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        patch = self.samples.patches[index].astype(np.float32)
        if self.augment:
            patch = self._augmented(patch)
        return (
            torch.from_numpy(np.ascontiguousarray(patch, np.float32))[None],
            torch.tensor(self.samples.malignant[index]),
            torch.tensor(self.samples.birads[index]),
        )
