"""IpsiDualNet-v2 (training code): relation geometry, relation block, detector losses and outputs."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="training code needs the [train] extra (torch)")

from mommi.train.models.ipsidual import IpsiDualNet, focal_cross_entropy  # noqa: E402
from mommi.train.models.relation import RelationBlock, embed, geometric_features  # noqa: E402

MAIN_BOXES = torch.tensor([[10.0, 10.0, 30.0, 50.0]])  # centre (20, 30), 20 x 40
AUX_BOXES = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 20.0, 80.0, 40.0]])  # centres (5, 5), (60, 30)


def test_nipple_geometry_is_log_ratios_of_distance_width_and_height() -> None:
    main_nipple, aux_nipple = torch.tensor([20.0, 0.0]), torch.tensor([5.0, 35.0])
    g = geometric_features(MAIN_BOXES, AUX_BOXES, main_nipple, aux_nipple, "nipple")
    assert g.shape == (1, 2, 3)
    # main RoI 30 px from its nipple; aux RoIs 30 and hypot(55, 5) px from theirs
    assert g[0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    assert g[0, 1, 0] == pytest.approx(math.log(30 / math.hypot(55, 5)), abs=1e-5)
    assert g[0, 0, 1] == pytest.approx(math.log(20 / 10)) and g[0, 1, 2] == pytest.approx(math.log(40 / 20))


def test_shape_geometry_ignores_nipples_and_unknown_geometry_is_refused() -> None:
    a = geometric_features(MAIN_BOXES, AUX_BOXES, torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0]), "shape")
    b = geometric_features(MAIN_BOXES, AUX_BOXES, torch.tensor([90.0, 9.0]), torch.tensor([3.0, 70.0]), "shape")
    assert a.shape == (1, 2, 4) and torch.equal(a, b)
    assert a[0, 1, 0] == pytest.approx(math.log(40 / 20))  # |20 - 60| / main width
    with pytest.raises(ValueError, match="geometry"):
        geometric_features(MAIN_BOXES, AUX_BOXES, torch.zeros(2), torch.zeros(2), "centre")


def test_embedding_is_bounded_and_distinguishes_features() -> None:
    e = embed(torch.tensor([[0.0, 0.1, 0.2]]))
    assert e.shape == (1, 48) and e.abs().max() <= 1.0
    assert not torch.allclose(e, embed(torch.tensor([[0.0, 0.1, 0.3]])))


def test_relation_block_starts_as_identity_then_uses_nipple_geometry() -> None:
    torch.manual_seed(0)
    block = RelationBlock(16, "nipple", heads=4, key_dim=8)
    main, aux = torch.randn(1, 16), torch.randn(2, 16)
    nipple = torch.tensor([20.0, 0.0])
    assert torch.equal(block(main, aux, MAIN_BOXES, AUX_BOXES, nipple, nipple), main)
    torch.nn.init.normal_(block.value.weight)
    torch.nn.init.normal_(block.geometric.weight)
    out_a = block(main, aux, MAIN_BOXES, AUX_BOXES, nipple, torch.tensor([5.0, 35.0]))
    out_b = block(main, aux, MAIN_BOXES, AUX_BOXES, nipple, torch.tensor([60.0, 90.0]))
    assert out_a.shape == main.shape and not torch.allclose(out_a, out_b)


def test_focal_loss_down_weights_easy_examples() -> None:
    easy = torch.tensor([[4.0, -4.0]])
    hard = torch.tensor([[0.2, -0.2]])
    label = torch.tensor([0])
    ce_ratio = torch.nn.functional.cross_entropy(hard, label) / torch.nn.functional.cross_entropy(easy, label)
    assert focal_cross_entropy(hard, label) / focal_cross_entropy(easy, label) > 10 * ce_ratio


@pytest.mark.parametrize("geometry", ["nipple", "dummy", "shape"])
def test_ipsidual_trains_with_normal_images_and_detects_inside_the_image(geometry: str) -> None:
    torch.manual_seed(0)
    model = IpsiDualNet("lite", geometry)
    main, aux = torch.randn(2, 1, 128, 96), torch.randn(2, 1, 128, 96)
    nipples = torch.tensor([[90.0, 64.0], [85.0, 60.0]])
    mass = {"boxes": torch.tensor([[20.0, 30.0, 44.0, 56.0]]), "labels": torch.tensor([1])}
    normal = {"boxes": torch.zeros((0, 4)), "labels": torch.zeros((0,), dtype=torch.int64)}
    model.train()
    losses = model(main, aux, nipples, nipples, [mass, normal], [mass, normal])
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_diou"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.trunk.stem[0].weight.grad is not None  # one shared backbone learns
    model.eval()
    with torch.no_grad():
        detections = model(main, aux, nipples, nipples)
    assert len(detections) == 2
    for d in detections:
        assert d["boxes"].shape[0] == d["scores"].shape[0] <= 20
        if d["boxes"].numel():
            assert d["boxes"][:, [0, 2]].max() <= 96 and d["boxes"][:, [1, 3]].max() <= 128
            assert d["boxes"].min() >= 0


def test_ipsidual_training_needs_auxiliary_targets() -> None:
    model = IpsiDualNet("lite").train()
    x = torch.randn(1, 1, 64, 64)
    with pytest.raises(ValueError, match="targets"):
        model(x, x, torch.zeros(1, 2), torch.zeros(1, 2), targets=None)


def test_fusion_net_uses_both_maps_and_keeps_the_ipsidual_encoder_frozen() -> None:
    from mommi.train.models.fusion import FusionNet

    torch.manual_seed(0)
    detector = IpsiDualNet("lite")
    fusion = FusionNet("lite", encoder=detector.backbone.trunk).train()
    main = torch.randn(2, 1, 128, 96)
    ipsi, bi = torch.rand(2, 1, 128, 96), torch.rand(2, 1, 128, 96)
    logits = fusion(main, ipsi, bi)
    assert logits.shape == (2, 1, 128, 96)
    logits.mean().backward()
    assert all(p.grad is None for p in fusion.encoder.parameters())
    assert not fusion.encoder.training  # batch-norm statistics stay IpsiDualNet's
    trunk_state = detector.backbone.trunk.state_dict()
    assert all(torch.equal(v, trunk_state[k]) for k, v in fusion.encoder.state_dict().items())
    fusion.eval()
    with torch.no_grad():
        assert not torch.allclose(fusion(main, ipsi, bi), fusion(main, ipsi, torch.zeros_like(bi)))
        assert not torch.allclose(fusion(main, ipsi, bi), fusion(main, torch.zeros_like(ipsi), bi))
