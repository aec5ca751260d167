"""The retraining gate weighs a set's size through paired patient-bootstrap draws (#23).

Built on real FROC matching of hand-made images, so each case's expected share can be worked out: k given women
are not all missing from a draw of n women with probability 1 - (1 - k/n)^n; for n = 18, a loss carried by one
woman is seen in 64% of the draws, by two in 88%, by three in 96%.
"""

from __future__ import annotations

import numpy as np
import pytest

from mommi.eval.froc import ImageResult, match, patient_draws
from mommi.eval.gate import POOLED, SetResult, decide
from mommi.eval.paired import (
    auc_differences,
    froc_differences,
    harm_share,
    pooled,
    recall_at_fppi,
    sensitivity_at,
)

WOMEN = 18
BOX = [10, 10, 40, 40]
ELSEWHERE = [200, 200, 230, 230]


def _images(lost_by: int) -> tuple[list[ImageResult], list[ImageResult]]:
    """One mass per woman; the base finds every mass, the candidate misses the first ``lost_by`` women's (and
    marks a false region there instead)."""
    base, candidate = [], []
    for woman in range(WOMEN):
        truth = [BOX]
        base.append(ImageResult(f"w{woman}", f"w{woman:02d}", truth, [(BOX, 0.9)]))
        found = [(ELSEWHERE, 0.1)] if woman < lost_by else [(BOX, 0.9)]
        candidate.append(ImageResult(f"w{woman}", f"w{woman:02d}", truth, found))
    return base, candidate


def _set(name: str, lost_by: int, seed: int = 0) -> SetResult:
    base, candidate = (match(images) for images in _images(lost_by))
    draws = patient_draws(WOMEN, 2000, seed)
    differences = froc_differences(base, candidate, recall_at_fppi(1.0), draws)
    return SetResult(name, "", f"{WOMEN} masses", 1.0, 1 - lost_by / WOMEN, weight=WOMEN, differences=differences)


def test_draws_resample_every_patient_with_replacement() -> None:
    draws = patient_draws(5, 300, seed=3)
    assert draws.shape == (300, 5) and np.all(draws.sum(axis=1) == 5)
    assert np.array_equal(draws, patient_draws(5, 300, seed=3)) and not np.array_equal(draws, patient_draws(5, 300, 4))


@pytest.mark.parametrize("lost_by", [1, 2, 3])
def test_a_loss_counts_in_the_draws_that_hold_the_women_who_carry_it(lost_by: int) -> None:
    share = harm_share(_set("films", lost_by).differences, tolerance=0.02)  # type: ignore[arg-type]
    assert share == pytest.approx(1 - (1 - lost_by / WOMEN) ** WOMEN, abs=0.035)  # 2000 draws: 3.5 sd


def test_a_measured_loss_refuses_and_the_draws_add_refusals_never_excuses() -> None:
    one = [_set("synthetic", 1)]
    refused = decide("recall at 1 FPPI", one, 0.02)
    assert not refused.promoted and "synthetic: 0.944 vs base 1.000" in refused.reason
    assert "of 2000 paired resamples" in refused.reason and refused.summary()["confidence"] == 0.5
    # the draws see one woman's lost mass in only 64% of them; a laxer confidence does not excuse it
    assert not decide("recall at 1 FPPI", one, 0.02, confidence=0.9).promoted
    # a tiny set: measured 0.625 -> 0.500, worse in only 22% of the draws (as on 3 women): still refused
    tiny = SetResult("tiny", "", "", 0.625, 0.5, differences=np.array([0.0] * 78 + [-0.125] * 22))
    assert not decide("recall at 1 FPPI", [tiny], 0.02).promoted
    # within the tolerance as measured, but most draws see a loss beyond it: refused by the draws
    edge = SetResult("edge", "", "", 0.70, 0.69, differences=np.array([0.0] * 40 + [-0.05] * 60))
    verdict = decide("recall at 1 FPPI", [edge], 0.02)
    assert not verdict.promoted and "worse by more than 0.02 in 60% of 100 paired resamples" in verdict.reason
    assert decide("recall at 1 FPPI", [edge], 0.02, confidence=0.7).promoted
    level = SetResult("level", "", "", 0.70, 0.70, differences=np.array([0.0] * 70 + [-0.05] * 30))
    kept = decide("recall at 1 FPPI", [level], 0.02)
    assert kept.promoted and "nor in 50% or more of the paired resamples (the most" in kept.reason
    with pytest.raises(ValueError, match="confidence"):
        decide("recall at 1 FPPI", one, 0.02, confidence=0.0)


def test_small_losses_on_every_set_add_up_when_the_sets_are_pooled() -> None:
    """One mass of 18 lost on each of two sets is within a tolerance of 0.06 on each, and so pooled as measured,
    but the pooled draws see a loss beyond it more often than either set's draws do."""
    sets = [_set("films", 1, seed=0), _set("synthetic", 1, seed=1)]
    result = decide("recall at 1 FPPI", sets, 0.06, confidence=0.5)
    checks = {c["name"]: c for c in result.summary()["comparisons"] if c["statistic"] == "recall at 1 FPPI"}
    assert checks[POOLED]["difference"] == pytest.approx(-1 / WOMEN, abs=1e-3)
    assert checks[POOLED]["worse_share"] > max(checks["films"]["worse_share"], checks["synthetic"]["worse_share"])
    level = [_set("films", 1, seed=0), _set("synthetic", 0, seed=1)]
    level_checks = decide("recall at 1 FPPI", level, 0.02).summary()["comparisons"]
    pooled_level = next(c for c in level_checks if c["name"] == POOLED and c["statistic"] == "recall at 1 FPPI")
    assert pooled_level["difference"] == pytest.approx(-0.5 / WOMEN, abs=1e-3)


def test_the_pooled_difference_weighs_each_set_by_its_size() -> None:
    big, small = np.array([0.0, -0.1]), np.array([-1.0, np.nan])
    assert np.allclose(pooled([big, small], [9, 1]), [-0.1, -0.1])


def test_paired_differences_are_zero_for_the_same_model_and_refuse_unmatched_sets() -> None:
    base, _ = (match(images) for images in _images(0))
    draws = patient_draws(WOMEN, 50, 0)
    assert np.all(froc_differences(base, base, sensitivity_at(0.5), draws) == 0)
    other = match([ImageResult("x", "someone else", [BOX], [])])
    with pytest.raises(ValueError, match="different patients"):
        froc_differences(base, other, sensitivity_at(0.5), draws)


def test_paired_auc_differences_follow_the_candidate() -> None:
    labels = np.array([1, 0, 1, 0, 1, 0], dtype=float)
    groups = ["a", "a", "b", "b", "c", "c"]
    base = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])  # perfect
    worse = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.3])  # woman a's patches swapped
    draws = patient_draws(3, 400, 0)
    differences = auc_differences(base, worse, labels, groups, draws)
    assert np.all(differences[np.isfinite(differences)] <= 0) and np.nanmin(differences) < 0
    assert np.all(auc_differences(base, base, labels, groups, draws)[np.isfinite(differences)] == 0)
