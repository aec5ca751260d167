"""Losses: pixel-wise focal loss (torchvision's) and a heatmap loss for keypoints."""

from __future__ import annotations

import torch
from torchvision.ops import sigmoid_focal_loss


def pixel_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.75, gamma: float = 2.0) -> torch.Tensor:
    """Mean pixel-wise focal loss (PWFL of BiDualNet-v2); alpha up-weights the rare mass pixels."""
    return sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="sum") / max(
        float(target.sum()), float(target.shape[0])
    )


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss against a Gaussian heatmap, normalised by the number of keypoints."""
    return sigmoid_focal_loss(logits, target, alpha=0.9, gamma=2.0, reduction="sum") / target.shape[0]
