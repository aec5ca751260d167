"""Relation block of IpsiDualNet-v2: every main-view RoI attends to all ipsilateral RoIs.

After Hu et al. 2018 ("Relation Networks for Object Detection"), with the geometry
of MommiNet-v2: the weight of auxiliary RoI j for main RoI i is

    w(i, j) = softmax_j( log(max(w_G(i, j), eps)) + w_A(i, j) ),
    w_A(i, j) = dot(W_K f_a(j), W_Q f_m(i)) / sqrt(d_k),
    w_G(i, j) = ReLU(W_G . embed(g(i, j))),

where g(i, j) is the geometric relation between the two RoIs. The views are
different projections, so box positions cannot be compared directly; the paper's
answer is the RoI-to-nipple distance, which is (roughly) preserved between CC and
MLO. ``GEOMETRIES`` holds the three choices of its ablation (Table 4). The output,
W_V-projected auxiliary features weighted by w, is added to the main feature.
torchvision has no relation module, hence this small hand-written one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: "nipple": log ratios of RoI-to-nipple distance, width and height (MommiNet-v2);
#: "dummy": the same with the image centre as a dummy nipple;
#: "shape": plain box shape and position, as Hu et al. use within one image.
GEOMETRIES = ("nipple", "dummy", "shape")
EMBED_FREQUENCIES = 8  # sin/cos pairs per geometric feature
EPS = 1e-6


def _centres_sizes(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0)
    h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
    return (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, w, h


def geometric_features(
    main_boxes: torch.Tensor,
    aux_boxes: torch.Tensor,
    main_nipple: torch.Tensor,
    aux_nipple: torch.Tensor,
    geometry: str,
) -> torch.Tensor:
    """(N_main, N_aux, F) relation features; boxes (x0, y0, x1, y1), nipples (x, y) on each view's grid."""
    mx, my, mw, mh = _centres_sizes(main_boxes)
    ax, ay, aw, ah = _centres_sizes(aux_boxes)
    log_w = torch.log(mw[:, None] / aw[None, :])
    log_h = torch.log(mh[:, None] / ah[None, :])
    if geometry == "shape":
        dx = torch.log((mx[:, None] - ax[None, :]).abs().clamp(min=1.0) / mw[:, None])
        dy = torch.log((my[:, None] - ay[None, :]).abs().clamp(min=1.0) / mh[:, None])
        return torch.stack([dx, dy, log_w, log_h], dim=-1)
    if geometry not in ("nipple", "dummy"):
        raise ValueError(f"geometry must be one of {GEOMETRIES}, not {geometry!r}")
    # sqrt of squares rather than torch.hypot, which the ONNX exporter does not know
    dm = torch.sqrt((mx - main_nipple[0]) ** 2 + (my - main_nipple[1]) ** 2).clamp(min=1.0)
    da = torch.sqrt((ax - aux_nipple[0]) ** 2 + (ay - aux_nipple[1]) ** 2).clamp(min=1.0)
    return torch.stack([torch.log(dm[:, None] / da[None, :]), log_w, log_h], dim=-1)


def feature_count(geometry: str) -> int:
    return 4 if geometry == "shape" else 3


def embed(features: torch.Tensor, frequencies: int = EMBED_FREQUENCIES) -> torch.Tensor:
    """Sinusoidal embedding of every relation feature (Hu et al.: scale 100, wave length 1000)."""
    steps = torch.arange(frequencies, dtype=features.dtype, device=features.device)
    inverse = torch.pow(torch.tensor(1000.0, dtype=features.dtype, device=features.device), -steps / frequencies)
    angles = features[..., None] * 100.0 * inverse  # (..., F, frequencies)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


class RelationBlock(nn.Module):
    """Multi-head relation from auxiliary to main RoI features; output = input + relation."""

    def __init__(self, dim: int, geometry: str = "nipple", heads: int = 4, key_dim: int = 64) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError("dim must be divisible by heads")
        self.geometry, self.heads, self.key_dim = geometry, heads, key_dim
        self.query = nn.Linear(dim, heads * key_dim)
        self.key = nn.Linear(dim, heads * key_dim)
        self.value = nn.Linear(dim, dim)
        self.geometric = nn.Linear(feature_count(geometry) * 2 * EMBED_FREQUENCIES, heads)
        nn.init.zeros_(self.value.weight)  # starts as the identity: a plain Faster R-CNN head
        nn.init.zeros_(self.value.bias)

    def forward(
        self,
        main: torch.Tensor,
        aux: torch.Tensor,
        main_boxes: torch.Tensor,
        aux_boxes: torch.Tensor,
        main_nipple: torch.Tensor,
        aux_nipple: torch.Tensor,
    ) -> torch.Tensor:
        """main (N_m, D), aux (N_a, D) RoI features of one image pair -> (N_m, D)."""
        n_main, n_aux = main.shape[0], aux.shape[0]
        q = self.query(main).view(n_main, self.heads, self.key_dim).transpose(0, 1)
        k = self.key(aux).view(n_aux, self.heads, self.key_dim).transpose(0, 1)
        appearance = q @ k.transpose(1, 2) / math.sqrt(self.key_dim)  # (H, N_m, N_a)
        relation = geometric_features(main_boxes, aux_boxes, main_nipple, aux_nipple, self.geometry)
        geometric = torch.relu(self.geometric(embed(relation))).permute(2, 0, 1)  # (H, N_m, N_a)
        weights = torch.softmax(torch.log(geometric.clamp(min=EPS)) + appearance, dim=-1)
        v = self.value(aux).view(n_aux, self.heads, -1).transpose(0, 1)  # (H, N_a, D / H)
        return main + (weights @ v).transpose(0, 1).reshape(n_main, -1)
