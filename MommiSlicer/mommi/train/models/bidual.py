"""BiDualNet-v2 (bilateral Siamese segmentation) and the single-view baseline.

BiDualNet: main and registered auxiliary image go through HRNet stages 1..k with
SHARED weights; after stage k (default 3, the paper's best) each branch of the
auxiliary features is concatenated to the main one and reduced back by a 1x1
convolution; the remaining stages and the probability head run on the main path.
The 1x1 convolution (and its batch norm) is added to the main features as a
residual whose batch-norm scale starts at zero, so an untrained BiDualNet is the
single-view network and the auxiliary path only has to add what helps. With a
plain (non-residual) fusion the first lite runs learned more slowly than the
single-view baseline and ended below it: the randomly initialised 1x1
convolution first scrambles the main features the later stages depend on.
The single-view baseline is the same trunk and head without the auxiliary path,
so the ablation changes nothing but the bilateral input.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from mommi.train.models.hrnet import HRNetTrunk, ProbabilityHead


class BiDualNet(nn.Module):
    def __init__(self, config: str = "lite", fuse_stage: int = 3) -> None:
        super().__init__()
        if fuse_stage not in (1, 2, 3):
            raise ValueError("fuse_stage must be 1, 2 or 3")
        self.fuse_stage = fuse_stage
        self.trunk = HRNetTrunk(config)
        channels = self.trunk.channels[fuse_stage - 1]
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c)) for c in channels
        )
        for fuse in self.fuse:
            nn.init.zeros_(
                cast(nn.BatchNorm2d, cast(nn.Sequential, fuse)[1]).weight
            )  # residual starts at zero: see the module docstring
        self.head = ProbabilityHead(self.trunk.channels[3])

    def forward(self, main: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) main and registered aux -> (N, 1, H, W) mass logits."""
        both = self.trunk.run(torch.cat([main, aux], dim=0), 1, self.fuse_stage)  # shared weights
        n = main.shape[0]
        fused = [b[:n] + f(torch.cat([b[:n], b[n:]], dim=1)) for f, b in zip(self.fuse, both)]
        out = self.trunk.run(fused, self.fuse_stage + 1, 4)
        logits = self.head(out)
        return nn.functional.interpolate(logits, size=main.shape[-2:], mode="bilinear", align_corners=False)


class SingleViewNet(nn.Module):
    def __init__(self, config: str = "lite") -> None:
        super().__init__()
        self.trunk = HRNetTrunk(config)
        self.head = ProbabilityHead(self.trunk.channels[3])

    def forward(self, main: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.trunk.run(main, 1, 4))
        return nn.functional.interpolate(logits, size=main.shape[-2:], mode="bilinear", align_corners=False)
