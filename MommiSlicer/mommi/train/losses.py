"""Losses: pixel-wise focal loss (torchvision's) and a heatmap loss for keypoints."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import sigmoid_focal_loss


def pixel_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Pixel-wise focal loss (PWFL of BiDualNet-v2), plus (ours) a mass-weighted BCE term.

    Focal loss alone, normalised by the few mass pixels, settled in our first CPU run on
    a flat map; the BCE term with positive weight 20 gets the rare mass pixels learned
    early, the focal term keeps the hard negatives in focus afterwards.
    """
    focal = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="mean") * 100.0
    bce = nn.functional.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(20.0, device=logits.device))
    return focal + bce


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss against a Gaussian heatmap, normalised by the number of keypoints."""
    return sigmoid_focal_loss(logits, target, alpha=0.9, gamma=2.0, reduction="sum") / target.shape[0]
