"""Findings a reader rejected weigh more in the mass-map loss (issue #23: feedback must move the models)."""

from __future__ import annotations

import numpy as np
import pytest

from mommi.data.manifest import Finding, Record
from mommi.data.records import rejected_on_grid
from mommi.study.geometry import GridTransform

torch = pytest.importorskip("torch", reason="PyTorch is in the train extra; training tests need it")

from mommi.preprocess.model_input import InputSpec  # noqa: E402
from mommi.train.augment import augment_views, augment_weighted  # noqa: E402
from mommi.train.datasets import HARD_NEGATIVE_WEIGHT, CachedView, ViewDataset  # noqa: E402
from mommi.train.losses import pixel_focal_loss  # noqa: E402


def _record(findings: list[Finding]) -> Record:
    return Record("p1", "s1", "i1", "MLO", "L", "x.pgm", "test", findings=findings)


def _identity(shape: tuple[int, int]) -> GridTransform:
    return GridTransform(shape)


def test_rejected_boxes_land_on_the_grid_and_only_there() -> None:
    shape = (40, 30)
    record = _record([Finding("rejected", [5, 10, 15, 20]), Finding("mass", [20, 20, 25, 28])])
    grid = rejected_on_grid(record, _identity(shape), shape)
    assert grid is not None and grid.shape == shape
    assert grid[10:20, 5:15].all() and grid.sum() == 100
    assert rejected_on_grid(_record([Finding("mass", [1, 1, 5, 5])]), _identity(shape), shape) is None


def _cached(rejected: np.ndarray | None, target: np.ndarray) -> CachedView:
    shape = target.shape
    return CachedView(
        manifest=None,  # type: ignore[arg-type]  # not read by the dataset
        record=_record([]),
        pixels=np.full(shape, 0.4, np.float16),
        mask=np.ones(shape, bool),
        target=target.astype(np.float16),
        nipple=None,
        transform=_identity(shape),
        rejected=rejected,
    )


def test_loss_weight_is_raised_on_rejected_pixels_but_never_on_a_mass() -> None:
    target = np.zeros((32, 32), np.float32)
    target[0:8, 0:8] = 1.0
    rejected = np.zeros((32, 32), bool)
    rejected[4:16, 4:16] = True  # overlaps the mass: the mass keeps its ordinary weight
    weight = _cached(rejected, target).loss_weight()
    assert weight[10, 10] == HARD_NEGATIVE_WEIGHT
    assert weight[5, 5] == 1.0 and weight[30, 30] == 1.0
    assert np.all(_cached(None, target).loss_weight() == 1.0)


def test_the_dataset_serves_the_weight_moved_with_the_image() -> None:
    spec = InputSpec(height=32, width=32)
    target = np.zeros((32, 32), np.float32)
    rejected = np.zeros((32, 32), bool)
    rejected[10:20, 10:20] = True
    items = [_cached(rejected, target)]
    plain = ViewDataset(items, "single", spec, augment=False)[0]
    assert len(plain) == 3 and plain[2].shape == (1, 32, 32)
    assert float(plain[2].max()) == HARD_NEGATIVE_WEIGHT and float(plain[2].min()) == 1.0
    for seed in range(5):
        _, _, weight = ViewDataset(items, "single", spec, augment=True, seed=seed)[0]
        assert float(weight.min()) >= 1.0 - 1e-5  # warping never makes a pixel count less than ordinary
        assert float(weight.max()) > 1.0  # the box moved, it did not vanish


def test_the_weighted_augmentation_draws_what_the_plain_one_draws() -> None:
    main = np.random.default_rng(0).random((24, 20)).astype(np.float32)
    target = (main > 0.8).astype(np.float32)
    weight = np.ones_like(main)
    plain = augment_views(main, target, None, np.random.default_rng(5))
    weighted = augment_weighted(main, target, None, weight, np.random.default_rng(5))
    assert np.array_equal(plain[0], weighted[0]) and np.array_equal(plain[1], weighted[1])
    assert weighted[3] is not None and np.allclose(weighted[3], 1.0)


def test_a_false_mark_on_a_rejected_box_costs_more() -> None:
    target = torch.zeros(1, 1, 16, 16)
    logits = torch.full((1, 1, 16, 16), -4.0)
    logits[..., 4:8, 4:8] = 3.0  # the model is sure of a mass that is not there
    weight = torch.ones_like(target)
    weight[..., 4:8, 4:8] = HARD_NEGATIVE_WEIGHT
    assert float(pixel_focal_loss(logits, target, weight=weight)) > 2.0 * float(pixel_focal_loss(logits, target))
    assert torch.isclose(
        pixel_focal_loss(logits, target, weight=torch.ones_like(target)), pixel_focal_loss(logits, target)
    )


def test_the_fusion_samples_carry_the_weight_too() -> None:
    from mommi.train.fusion_data import FusionDataset, FusionSample

    shape = (32, 32)
    rejected = np.zeros(shape, bool)
    rejected[2:6, 2:6] = True
    zeros = np.zeros(shape, np.float16)
    sample = FusionSample(_record([]), zeros, zeros, zeros, zeros, _identity(shape), rejected)
    image, ipsi, bi, target, weight = FusionDataset([sample], InputSpec(height=32, width=32), augment=False)[0]
    assert float(weight[0, 3, 3]) == HARD_NEGATIVE_WEIGHT and float(weight[0, 20, 20]) == 1.0
    flipped = FusionDataset([sample], InputSpec(height=32, width=32), augment=True, seed=1)
    for _ in range(4):  # the vertical flip moves the weight with the target
        *_, weight = flipped[0]
        assert float(weight.max()) == HARD_NEGATIVE_WEIGHT and int((weight > 1).sum()) == 16
