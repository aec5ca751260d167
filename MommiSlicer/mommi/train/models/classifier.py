"""Malignancy classifier: a DenseNet trunk shared by a benign/malignant head and a BI-RADS head.

As in the paper (MommiNet-v2, classification stage): DenseNet-121 for ``full``
(torchvision's, trained from scratch here: no pretrained weights can be fetched),
and for ``lite`` a narrow DenseNet built by the same torchvision class (growth 12,
blocks 3-6-9-6, 96-pixel patches) so that two CPU cores can train it in minutes and
classify a study's patches in milliseconds. The
trunk reads one grey channel. The BI-RADS head regresses the normalised value of
METHOD.md's table through a sigmoid, so it lives on [0, 1] like its targets.

The two log-variances of the learned loss weighting (Kendall et al. 2018) are
parameters of this module so that the shared training loop optimises and saves
them with the network; they are not part of the exported graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import DenseNet

#: (growth rate, block layers, initial features) of torchvision's DenseNet per configuration
DENSENET = {"lite": (12, (3, 6, 9, 6), 24), "full": (32, (6, 12, 24, 16), 64)}
#: patch side in pixels the network reads (the paper uses 448 with DenseNet-121)
PATCH_SIZES = {"lite": 96, "full": 448}


class MalignancyNet(nn.Module):
    def __init__(self, config: str = "lite") -> None:
        super().__init__()
        growth, blocks, features = DENSENET[config]
        densenet = DenseNet(growth_rate=growth, block_config=blocks, num_init_features=features)
        densenet.features.conv0 = nn.Conv2d(1, features, kernel_size=7, stride=2, padding=3, bias=False)
        self.features = densenet.features
        width = densenet.classifier.in_features
        self.malignancy = nn.Linear(width, 1)
        self.birads = nn.Linear(width, 1)
        #: log sigma^2 of the classification and regression losses (learned weighting only)
        self.loss_log_variances = nn.Parameter(torch.zeros(2))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """patches (N, 1, S, S) normalised -> (malignancy logit (N,), normalised BI-RADS in [0, 1] (N,))."""
        x = torch.relu(self.features(patches))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.malignancy(x)[:, 0], torch.sigmoid(self.birads(x))[:, 0]
