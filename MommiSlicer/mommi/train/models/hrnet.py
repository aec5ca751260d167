"""HRNet trunk from timm, opened up so a Siamese network can fuse after any stage.

timm's ``HighResolutionNet`` runs all four stages in one call; MommiNet-v2 needs
to stop after stage k (1, 2 or 3), fuse the auxiliary features and go on. The
trunk below reuses timm's own modules (stem, layer1, transitions, stages) and only
re-sequences them; the classification head timm builds is dropped.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from timm.models.hrnet import HighResolutionNet, cfg_cls
from torch import nn

#: ``full`` is the paper's HRNet-48; ``lite`` keeps the topology (4 stages, 4 branches)
#: with a fraction of the width so that it trains on a 2-core CPU.
TRUNK_CONFIGS: dict[str, dict[str, Any]] = {
    "full": copy.deepcopy(cfg_cls["hrnet_w48"]),
    "lite": {
        "stem_width": 32,
        "stage1": {
            "num_modules": 1,
            "num_branches": 1,
            "block_type": "BOTTLENECK",
            "num_blocks": (1,),
            "num_channels": (16,),
            "fuse_method": "SUM",
        },
        "stage2": {
            "num_modules": 1,
            "num_branches": 2,
            "block_type": "BASIC",
            "num_blocks": (1, 1),
            "num_channels": (12, 24),
            "fuse_method": "SUM",
        },
        "stage3": {
            "num_modules": 1,
            "num_branches": 3,
            "block_type": "BASIC",
            "num_blocks": (1, 1, 1),
            "num_channels": (12, 24, 48),
            "fuse_method": "SUM",
        },
        "stage4": {
            "num_modules": 1,
            "num_branches": 4,
            "block_type": "BASIC",
            "num_blocks": (1, 1, 1, 1),
            "num_channels": (12, 24, 48, 96),
            "fuse_method": "SUM",
        },
    },
}


class HRNetTrunk(nn.Module):
    """Stem + four HRNet stages; ``run(x, first, last)`` executes stages first..last."""

    def __init__(self, config: str = "lite", in_chans: int = 1) -> None:
        super().__init__()
        net = HighResolutionNet(copy.deepcopy(TRUNK_CONFIGS[config]), in_chans=in_chans, num_classes=0)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.act1, net.conv2, net.bn2, net.act2)
        self.layer1 = net.layer1
        self.transitions = nn.ModuleList([net.transition1, net.transition2, net.transition3])
        self.stages = nn.ModuleList([net.stage2, net.stage3, net.stage4])
        cfg = TRUNK_CONFIGS[config]
        expansion = 4 if cfg["stage1"]["block_type"] == "BOTTLENECK" else 1
        self.channels: list[list[int]] = [[cfg["stage1"]["num_channels"][0] * expansion]] + [
            list(cfg[f"stage{k}"]["num_channels"]) for k in (2, 3, 4)
        ]

    def run(self, features: list[torch.Tensor] | torch.Tensor, first: int, last: int) -> list[torch.Tensor]:
        """Stage 1 takes the image; later stages take the previous stage's branch list."""
        if first == 1:
            assert isinstance(features, torch.Tensor)
            branches = [self.layer1(self.stem(features))]
            first = 2
        else:
            assert isinstance(features, list)
            branches = features
        for stage in range(first, last + 1):
            transition = cast(nn.ModuleList, self.transitions[stage - 2])
            if stage == 2:  # every new branch grows out of the single stage-1 branch
                inputs = [t(branches[0]) for t in transition]
            else:  # as timm: kept branches pass through, the new one grows from the coarsest
                inputs = [
                    branches[i] if isinstance(t, nn.Identity) else t(branches[-1]) for i, t in enumerate(transition)
                ]
            branches = list(self.stages[stage - 2](inputs))
        return branches


class ProbabilityHead(nn.Module):
    """All branches upsampled to the finest one, concatenated, one logit channel out."""

    def __init__(self, channels: list[int], hidden: int = 32) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(sum(channels), hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, branches: list[torch.Tensor]) -> torch.Tensor:
        size = branches[0].shape[-2:]
        up = [branches[0]] + [
            nn.functional.interpolate(b, size=size, mode="bilinear", align_corners=False) for b in branches[1:]
        ]
        return self.fuse(torch.cat(up, dim=1))
