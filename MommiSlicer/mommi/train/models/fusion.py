"""Integrated fusion network (v2): main image + Ipsi-prob map + Bi-prob map -> final mass map.

U-Net style, as in the paper: the encoder is IpsiDualNet's HRNet trunk, copied
and frozen, reading the main image; its four branches (strides 4, 8, 16, 32) are
the skip connections of a trainable decoder. The two probability maps cannot
enter a frozen single-channel encoder, so a small trainable map encoder brings
them to the same strides, where they are concatenated with the image features;
at full resolution the maps are concatenated once more, so the decoder can keep
a confident branch's answer as it is.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from mommi.train.models.hrnet import HRNetTrunk

MAP_WIDTHS = {"lite": (8, 16, 16, 16), "full": (32, 64, 64, 64)}
DECODER_WIDTHS = {"lite": 32, "full": 128}


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MapEncoder(nn.Module):
    """The two probability maps at strides 4, 8, 16 and 32."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(2, widths[0], 2), _conv(widths[0], widths[0], 2))  # stride 4
        self.down = nn.ModuleList(_conv(widths[i], widths[i + 1], 2) for i in range(len(widths) - 1))

    def forward(self, maps: torch.Tensor) -> list[torch.Tensor]:
        out = [self.stem(maps)]
        for layer in self.down:
            out.append(layer(out[-1]))
        return out


class FusionNet(nn.Module):
    def __init__(self, config: str = "lite", encoder: HRNetTrunk | None = None) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(encoder) if encoder is not None else HRNetTrunk(config)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.maps = MapEncoder(MAP_WIDTHS[config])
        image_ch, map_ch, width = self.encoder.channels[3], MAP_WIDTHS[config], DECODER_WIDTHS[config]
        self.bottom = _conv(image_ch[3] + map_ch[3], width)
        self.up = nn.ModuleList(_conv(width + image_ch[i] + map_ch[i], width) for i in (2, 1, 0))
        self.full = nn.Sequential(_conv(width + 2, width // 2), nn.Conv2d(width // 2, 1, 1))

    def train(self, mode: bool = True) -> FusionNet:
        super().train(mode)
        self.encoder.eval()  # frozen: its batch-norm statistics stay those of IpsiDualNet
        return self

    def forward(self, main: torch.Tensor, ipsi_map: torch.Tensor, bi_map: torch.Tensor) -> torch.Tensor:
        """main (N, 1, H, W) normalised image; maps (N, 1, H, W) probabilities -> (N, 1, H, W) logits."""
        with torch.no_grad():
            image = self.encoder.run(main, 1, 4)
        maps = torch.cat([ipsi_map, bi_map], dim=1)
        encoded = self.maps(maps)
        x = self.bottom(torch.cat([image[3], encoded[3]], dim=1))
        for layer, level in zip(self.up, (2, 1, 0)):
            x = F.interpolate(x, size=image[level].shape[-2:], mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, image[level], encoded[level]], dim=1))
        x = F.interpolate(x, size=main.shape[-2:], mode="bilinear", align_corners=False)
        return self.full(torch.cat([x, maps], dim=1))
