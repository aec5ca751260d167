"""Nipple keypoint detector: HRNet trunk with a heatmap head (one Gaussian peak)."""

from __future__ import annotations

import torch
from torch import nn

from mommi.train.models.hrnet import HRNetTrunk, ProbabilityHead


class NippleNet(nn.Module):
    """(N, 1, H, W) image -> (N, 1, H/4, W/4) heatmap logits; the peak is the nipple."""

    def __init__(self, config: str = "lite") -> None:
        super().__init__()
        self.trunk = HRNetTrunk(config)
        self.head = ProbabilityHead(self.trunk.channels[3])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.run(image, 1, 4))
