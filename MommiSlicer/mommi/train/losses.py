"""Losses: pixel-wise focal loss (torchvision's) and a heatmap loss for keypoints."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import sigmoid_focal_loss


def pixel_focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pixel-wise focal loss (PWFL of BiDualNet-v2), plus (ours) a mass-weighted BCE term.

    Focal loss alone, normalised by the few mass pixels, settled in our first CPU run on
    a flat map; the BCE term with positive weight 20 gets the rare mass pixels learned
    early, the focal term keeps the hard negatives in focus afterwards. ``weight`` (per
    pixel, 1 = ordinary) lets regions a reader rejected count more in both terms.
    """
    focal = sigmoid_focal_loss(logits, target, alpha=alpha, gamma=gamma, reduction="none")
    focal = (focal if weight is None else focal * weight).mean() * 100.0
    bce = nn.functional.binary_cross_entropy_with_logits(
        logits, target, weight=weight, pos_weight=torch.tensor(20.0, device=logits.device)
    )
    return focal + bce


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss against a Gaussian heatmap, normalised by the number of keypoints."""
    return sigmoid_focal_loss(logits, target, alpha=0.9, gamma=2.0, reduction="sum") / target.shape[0]


LOSS_WEIGHTINGS = ("learned", "fixed", "binary")


def malignancy_loss(
    logit: torch.Tensor,
    birads: torch.Tensor,
    malignant_target: torch.Tensor,
    birads_target: torch.Tensor,
    weighting: str,
    log_variances: torch.Tensor,
    classification_weight: float = 0.7,
) -> torch.Tensor:
    """Binary cross-entropy (benign/malignant) and squared error (normalised BI-RADS), combined.

    NaN targets are unknown labels and leave their term out (a MIAS mass has no BI-RADS).
    ``learned``: Kendall et al. (2018) as METHOD.md writes it, L1/s1^2 + L2/(2 s2^2) + log(s1 s2),
    with ``log_variances`` = (log s1^2, log s2^2) learned; ``fixed``: w L1 + (1 - w) L2;
    ``binary``: L1 alone.
    """
    known_m, known_b = ~torch.isnan(malignant_target), ~torch.isnan(birads_target)
    zero = logit.sum() * 0.0  # keeps the graph when a batch has no label of one kind
    l1 = (
        nn.functional.binary_cross_entropy_with_logits(logit[known_m], malignant_target[known_m])
        if known_m.any()
        else zero
    )
    l2 = nn.functional.mse_loss(birads[known_b], birads_target[known_b]) if known_b.any() else zero
    if weighting == "binary":
        return l1
    if weighting == "fixed":
        return classification_weight * l1 + (1.0 - classification_weight) * l2
    if weighting == "learned":
        s1, s2 = log_variances[0], log_variances[1]
        return torch.exp(-s1) * l1 + 0.5 * torch.exp(-s2) * l2 + 0.5 * (s1 + s2)
    raise ValueError(f"unknown loss weighting {weighting!r}; choose from {', '.join(LOSS_WEIGHTINGS)}")
