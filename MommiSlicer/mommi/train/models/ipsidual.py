"""IpsiDualNet-v2: Faster R-CNN on a Siamese HRNet + FPN, with relation blocks to the ipsilateral view.

Built from torchvision's detection parts (FeaturePyramidNetwork, AnchorGenerator,
RegionProposalNetwork, MultiScaleRoIAlign, RoIHeads for sampling, box coding and
post-processing). What the paper adds, and is added here:

- main and ipsilateral auxiliary view (CC <-> MLO of the same breast) run through
  ONE backbone and ONE RPN (shared weights, one batch of 2N images);
- the RoI head is fc6 -> relation -> fc7 -> relation -> predictor: after each fully
  connected layer every main RoI attends to the top auxiliary RoIs
  (``mommi.train.models.relation``);
- focal loss for RoI classification and Distance-IoU loss for the boxes
  (torchvision.ops); normal images take part as pure negatives.

The RPN keeps torchvision's standard losses: METHOD.md names focal and DIoU losses
for the detector's head, and the proposal stage only has to be generous.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign, distance_box_iou_loss
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from mommi.train.models.hrnet import HRNetTrunk
from mommi.train.models.relation import RelationBlock


@dataclass(frozen=True)
class DetectorSizes:
    fpn_channels: int
    representation: int  # width of fc6 / fc7
    heads: int  # relation heads
    aux_rois: int  # auxiliary RoIs every main RoI attends to
    anchor_sizes: tuple[int, ...]  # one per FPN level (strides 4, 8, 16, 32, 64)


DETECTOR_SIZES = {
    "full": DetectorSizes(256, 1024, 16, 128, (32, 64, 128, 256, 512)),  # paper-scale, 1024 x 640 input
    "lite": DetectorSizes(64, 128, 4, 32, (8, 16, 32, 64, 128)),  # 256 x 160 input
}
FOCAL_GAMMA = 2.0


class HRNetFPN(nn.Module):
    """HRNet's four branches (strides 4-32) through an FPN, plus a max-pooled level (stride 64)."""

    def __init__(self, config: str, out_channels: int) -> None:
        super().__init__()
        self.trunk = HRNetTrunk(config)
        self.fpn = FeaturePyramidNetwork(self.trunk.channels[3], out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        branches = self.trunk.run(images, 1, 4)
        return self.fpn(OrderedDict((str(i), b) for i, b in enumerate(branches)))


def focal_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Softmax focal loss (Lin et al.): cross-entropy down-weighted by (1 - p_true)^gamma."""
    ce = F.cross_entropy(logits, labels, reduction="none")
    return ((1.0 - torch.exp(-ce)) ** gamma * ce).mean()


class IpsiDualNet(nn.Module):
    def __init__(self, config: str = "lite", geometry: str = "nipple") -> None:
        super().__init__()
        sizes = DETECTOR_SIZES[config]
        self.geometry, self.aux_rois = geometry, sizes.aux_rois
        self.backbone = HRNetFPN(config, sizes.fpn_channels)
        anchors = AnchorGenerator(tuple((s,) for s in sizes.anchor_sizes), ((0.5, 1.0, 2.0),) * len(sizes.anchor_sizes))
        self.rpn = RegionProposalNetwork(
            anchors,
            RPNHead(sizes.fpn_channels, anchors.num_anchors_per_location()[0]),
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=256,
            positive_fraction=0.5,
            # few masses per image: a few hundred proposals suffice and keep CPU training affordable
            pre_nms_top_n={"training": 500, "testing": 300},
            post_nms_top_n={"training": 128, "testing": 64},
            nms_thresh=0.7,
        )
        pool = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
        rep = sizes.representation
        # LayerNorm before each ReLU: without it the un-normalised FPN RoI features (std ~ 10)
        # killed every fc6 unit within the first epoch and the classifier gave one constant score
        self.fc6 = nn.Sequential(nn.Linear(sizes.fpn_channels * 7 * 7, rep), nn.LayerNorm(rep))
        self.fc7 = nn.Sequential(nn.Linear(rep, rep), nn.LayerNorm(rep))
        self.relations = nn.ModuleList(RelationBlock(rep, geometry, sizes.heads) for _ in range(2))
        # RoIHeads supplies proposal sampling, box coding and post-processing; its box head
        # is bypassed (the relation blocks sit between the fully connected layers)
        self.roi = RoIHeads(
            pool,
            nn.Identity(),
            FastRCNNPredictor(rep, 2),
            fg_iou_thresh=0.5,
            bg_iou_thresh=0.5,
            batch_size_per_image=64,
            positive_fraction=0.25,
            bbox_reg_weights=None,
            score_thresh=0.01,
            nms_thresh=0.3,
            detections_per_img=20,
        )

    def _nipples(self, nipples: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.geometry == "dummy":  # the ablation's dummy nipple: the image centre
            return torch.tensor([size[1] / 2.0, size[0] / 2.0], device=nipples.device).expand_as(nipples)
        return nipples

    def _roi_features(
        self, features: OrderedDict[str, torch.Tensor], boxes: list[torch.Tensor], sizes: list[tuple[int, int]]
    ) -> torch.Tensor:
        return self.roi.box_roi_pool(features, boxes, sizes).flatten(1)

    def _head(
        self,
        main_feat: torch.Tensor,
        aux_feat: torch.Tensor,
        main_boxes: list[torch.Tensor],
        aux_boxes: list[torch.Tensor],
        main_nipple: torch.Tensor,
        aux_nipple: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        main_counts = [b.shape[0] for b in main_boxes]
        aux_counts = [b.shape[0] for b in aux_boxes]
        x_m, x_a = main_feat, aux_feat
        for fc, relation in zip((self.fc6, self.fc7), self.relations):
            x_m, x_a = F.relu(fc(x_m)), F.relu(fc(x_a))
            if len(main_boxes) == 1:  # no split: an exported (batch 1) graph keeps its RoI count dynamic
                x_m = relation(x_m, x_a, main_boxes[0], aux_boxes[0], main_nipple[0], aux_nipple[0])
                continue
            related = [
                relation(m, a, mb, ab, mn, an)
                for m, a, mb, ab, mn, an in zip(
                    x_m.split(main_counts), x_a.split(aux_counts), main_boxes, aux_boxes, main_nipple, aux_nipple
                )
            ]
            x_m = torch.cat(related)
        return self.roi.box_predictor(x_m)

    def forward(
        self,
        main: torch.Tensor,
        aux: torch.Tensor,
        main_nipple: torch.Tensor,
        aux_nipple: torch.Tensor,
        targets: list[dict[str, torch.Tensor]] | None = None,
        aux_targets: list[dict[str, torch.Tensor]] | None = None,
    ):
        """main, aux (N, 1, H, W) on the model grid; nipples (N, 2) as (x, y) on each grid.

        Training (targets given, boxes (K, 4) and labels (K,) = 1 per image; K may be 0):
        returns the loss dict. Inference: a list of {"boxes", "scores"} per main image.
        """
        n, size = main.shape[0], (int(main.shape[-2]), int(main.shape[-1]))
        images = torch.cat([main, aux])
        features = self.backbone(images)
        image_list = ImageList(images, [size] * (2 * n))
        rpn_targets = None
        if self.training:
            if targets is None or aux_targets is None:
                raise ValueError("training needs targets for the main and the auxiliary images")
            rpn_targets = list(targets) + list(aux_targets)
        proposals, rpn_losses = self.rpn(image_list, features, rpn_targets)
        main_props, aux_props = proposals[:n], [p[: self.aux_rois] for p in proposals[n:]]  # sorted by objectness
        main_features = OrderedDict((k, v[:n]) for k, v in features.items())
        aux_features = OrderedDict((k, v[n:]) for k, v in features.items())
        if self.training:
            main_props, matched, labels, _ = self.roi.select_training_samples(main_props, targets)
        m_nip, a_nip = self._nipples(main_nipple, size), self._nipples(aux_nipple, size)
        logits, regression = self._head(
            self._roi_features(main_features, main_props, [size] * n),
            self._roi_features(aux_features, aux_props, [size] * n),
            main_props,
            aux_props,
            m_nip,
            a_nip,
        )
        if self.training:
            assert targets is not None, "training needs targets"  # forward() checked it on entry
            return rpn_losses | self._losses(logits, regression, main_props, matched, labels, targets)
        boxes, scores, _ = self.roi.postprocess_detections(logits, regression, main_props, [size] * n)
        return [{"boxes": b, "scores": s} for b, s in zip(boxes, scores)]

    def _losses(
        self,
        logits: torch.Tensor,
        regression: torch.Tensor,
        proposals: list[torch.Tensor],
        matched: list[torch.Tensor],
        labels: list[torch.Tensor],
        targets: list[dict[str, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        label = torch.cat(labels)
        loss_cls = focal_cross_entropy(logits, label)
        positive = torch.where(label > 0)[0]
        if positive.numel() == 0:  # a batch of normal images: nothing to regress
            return {"loss_classifier": loss_cls, "loss_box_diou": regression.sum() * 0.0}
        gt = torch.cat(
            [
                t["boxes"][m.clamp(min=0)] if t["boxes"].numel() else logits.new_zeros((m.numel(), 4))
                for t, m in zip(targets, matched)
            ]
        )
        predicted = self.roi.box_coder.decode_single(
            regression.view(regression.shape[0], -1, 4)[:, 1][positive], torch.cat(proposals)[positive]
        )
        return {
            "loss_classifier": loss_cls,
            "loss_box_diou": distance_box_iou_loss(predicted, gt[positive], reduction="mean"),
        }
