"""BI-RADS normalisation, logit calibration and malignancy AUC with patient bootstrap CI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mommi.eval.malignancy import AucError, evaluate_auc, roc_auc, roc_curve
from mommi.findings.birads import (
    BIRADS_CATEGORIES,
    BIRADS_VALUES,
    FINDING_ESTIMATE_CATEGORIES,
    BiradsError,
    birads_value,
    finding_birads,
    nearest_birads,
)
from mommi.findings.calibration import (
    CalibrationError,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    plot_reliability,
    reliability_table,
)

# METHOD.md, "BI-RADS normalisation (Table 1 of the paper)", written out literally
METHOD_TABLE = {
    "1": 0.0,
    "2": 0.0926,
    "3": 0.2315,
    "4A": 0.4167,
    "4B": 0.5556,
    "4C": 0.6944,
    "5": 0.8611,
    "6": 1.0,
}


# ---------------------------------------------------------------- BI-RADS


def test_categories_and_values_match_method_table() -> None:
    assert BIRADS_CATEGORIES == ("1", "2", "3", "4A", "4B", "4C", "5", "6")
    assert list(BIRADS_VALUES) == list(METHOD_TABLE)
    for category, expected in METHOD_TABLE.items():
        assert round(BIRADS_VALUES[category], 4) == expected, category
        assert round(birads_value(category), 4) == expected, category


def test_values_strictly_increase_from_0_to_1() -> None:
    values = [BIRADS_VALUES[c] for c in BIRADS_CATEGORIES]
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0, abs=1e-15)
    assert all(b > a for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("category", list(METHOD_TABLE))
def test_nearest_birads_round_trip(category: str) -> None:
    assert nearest_birads(birads_value(category)) == category


def test_midpoints_between_neighbours_go_to_the_right_side() -> None:
    for low, high in zip(BIRADS_CATEGORIES, BIRADS_CATEGORIES[1:]):
        mid = (BIRADS_VALUES[low] + BIRADS_VALUES[high]) / 2
        assert nearest_birads(mid - 1e-6) == low
        assert nearest_birads(mid + 1e-6) == high
        assert nearest_birads(mid) == low  # exact tie goes to the lower category


def test_a_reported_finding_is_never_estimated_negative_or_biopsy_proven() -> None:
    """BI-RADS 1 ("nothing to report") on a shown mark, or 6 (biopsy-proven), cannot be an image's estimate."""
    assert finding_birads(0.0) == "2" and finding_birads(-0.3) == "2" and finding_birads(BIRADS_VALUES["1"]) == "2"
    assert finding_birads(1.0) == "5" and finding_birads(BIRADS_VALUES["6"]) == "5"
    for category in FINDING_ESTIMATE_CATEGORIES:
        assert finding_birads(birads_value(category)) == category


def test_lower_case_and_whitespace_accepted() -> None:
    assert birads_value("4a") == BIRADS_VALUES["4A"]
    assert birads_value(" 4c ") == BIRADS_VALUES["4C"]


def test_plain_4_is_mean_of_sub_categories() -> None:
    expected = (BIRADS_VALUES["4A"] + BIRADS_VALUES["4B"] + BIRADS_VALUES["4C"]) / 3
    assert birads_value("4") == pytest.approx(expected, abs=1e-12)
    assert nearest_birads(birads_value("4")) == "4B"


def test_unknown_and_incomplete_give_none() -> None:
    assert birads_value(None) is None
    assert birads_value("0") is None


@pytest.mark.parametrize("bad", ["7", "4D", "", "benign", "-1", "4AB"])
def test_invalid_category_raises_naming_value(bad: str) -> None:
    with pytest.raises(BiradsError, match=re.escape(repr(bad))):
        birads_value(bad)
    assert issubclass(BiradsError, ValueError)


def test_values_outside_unit_interval_clip() -> None:
    assert nearest_birads(-0.5) == "1"
    assert nearest_birads(1.7) == "6"
    assert nearest_birads(1e9) == "6"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_value_raises(bad: float) -> None:
    with pytest.raises(BiradsError):
        nearest_birads(bad)


# ---------------------------------------------------------------- ROC AUC


def _pairwise_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Independent O(n^2) definition: P(pos > neg) + 0.5 P(pos == neg)."""
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    equal = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * equal) / (pos.size * neg.size))


def test_auc_hand_computed_cases() -> None:
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5
    # malignant 0.9, 0.6, 0.4 vs benign 0.7, 0.4, 0.1:
    # 0.9 beats 3; 0.6 beats 2; 0.4 beats 1 and ties 1 (0.5) -> 6.5 / 9
    scores = [0.9, 0.6, 0.4, 0.7, 0.4, 0.1]
    labels = [1, 1, 1, 0, 0, 0]
    assert roc_auc(scores, labels) == pytest.approx(6.5 / 9)
    assert roc_auc(scores, labels, weights=np.ones(6)) == pytest.approx(6.5 / 9)


def test_auc_nan_when_class_missing() -> None:
    assert np.isnan(roc_auc([0.1, 0.2], [1, 1]))
    assert np.isnan(roc_auc([0.1, 0.2], [0, 0], weights=[1, 1]))
    assert np.isnan(roc_auc([0.1, 0.2], [0, 1], weights=[0, 3]))


def test_auc_matches_pairwise_definition_on_random_data() -> None:
    rng = np.random.default_rng(7)
    for n in (5, 40, 300):
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]
        scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounding creates many ties
        expected = _pairwise_auc(scores, labels)
        assert roc_auc(scores, labels) == pytest.approx(expected, abs=1e-12)
        weights = rng.integers(0, 4, n)
        repeated = np.repeat(np.arange(n), weights)
        if len(set(labels[repeated])) == 2:
            assert roc_auc(scores, labels, weights) == pytest.approx(
                _pairwise_auc(scores[repeated], labels[repeated]), abs=1e-12
            )


def test_integer_weights_equal_repeating_samples() -> None:
    scores = np.array([0.3, 0.3, 0.5, 0.1, 0.9, 0.5])
    labels = np.array([1, 0, 0, 1, 1, 0])
    weights = np.array([2, 1, 3, 0, 1, 2])
    repeated = np.repeat(np.arange(6), weights)
    assert roc_auc(scores, labels, weights) == pytest.approx(roc_auc(scores[repeated], labels[repeated]))


def test_roc_curve_area_equals_auc() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(labels, 1.0), 1)
    fpr, tpr = roc_curve(scores, labels)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert fpr[-1] == pytest.approx(1.0) and tpr[-1] == pytest.approx(1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(roc_auc(scores, labels), abs=1e-12)


def test_auc_input_errors() -> None:
    with pytest.raises(AucError, match="shape"):
        roc_auc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(AucError, match="labels"):
        roc_auc([0.1, 0.2], [0, 2])
    with pytest.raises(AucError, match="non-finite"):
        roc_auc([0.1, np.nan], [0, 1])
    with pytest.raises(AucError, match="both classes"):
        roc_curve([0.1, 0.2], [1, 1])


# ---------------------------------------------------------------- evaluate_auc


def _dataset(n_patients: int, per_patient: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n_patients * per_patient)
    scores = rng.normal(labels * 1.0, 1.0)
    groups = [f"p{i // per_patient}" for i in range(labels.size)]
    return scores, labels, groups


def test_evaluate_auc_report_and_ci_contains_estimate() -> None:
    scores, labels, groups = _dataset(150, 2, seed=1)
    report = evaluate_auc(scores, labels, groups, bootstrap=500, seed=0)
    lo, hi = report["ci95"]
    assert lo < report["auc"] < hi
    assert report["auc"] == pytest.approx(roc_auc(scores, labels))
    assert report["n"] == 300
    assert report["positives"] == int(labels.sum())
    assert report["negatives"] == 300 - int(labels.sum())
    assert report["bootstrap"] == 500
    assert report["ci"] == "95% patient bootstrap"
    # the same seed gives the same interval
    assert evaluate_auc(scores, labels, groups, bootstrap=500, seed=0)["ci95"] == [lo, hi]


def test_ci_narrower_with_more_data() -> None:
    small = evaluate_auc(*_dataset(40, 1, seed=2), bootstrap=400)
    large = evaluate_auc(*_dataset(2000, 1, seed=2), bootstrap=400)
    width_small = small["ci95"][1] - small["ci95"][0]
    width_large = large["ci95"][1] - large["ci95"][0]
    assert width_large < width_small / 3  # ~ 1/sqrt(n): sqrt(50) ~ 7


def test_groups_are_resampled_as_wholes() -> None:
    # every patient holds 6 identical samples: resampling patients gives exactly the
    # intervals of the one-sample-per-patient data (weights scale by 6), resampling
    # samples would give a much narrower interval
    scores, labels, groups = _dataset(60, 1, seed=4)
    copies = 6
    big = evaluate_auc(
        np.repeat(scores, copies), np.repeat(labels, copies), list(np.repeat(groups, copies)), bootstrap=300, seed=5
    )
    single = evaluate_auc(scores, labels, groups, bootstrap=300, seed=5)
    assert big["auc"] == pytest.approx(single["auc"])
    assert big["ci95"] == pytest.approx(single["ci95"], abs=1e-12)
    assert big["n"] == 360


def test_one_class_resamples_are_skipped() -> None:
    # two patients, one benign and one malignant: half the resamples lack a class
    report = evaluate_auc([0.2, 0.8], [0, 1], ["a", "b"], bootstrap=200, seed=0)
    assert report["auc"] == 1.0
    assert report["ci95"] == [1.0, 1.0]
    assert 50 < report["skipped"] < 150


def test_evaluate_auc_errors() -> None:
    with pytest.raises(AucError, match="group"):
        evaluate_auc([0.1, 0.2], [0, 1], ["a"])
    with pytest.raises(AucError, match="both classes"):
        evaluate_auc([0.1, 0.2], [1, 1], ["a", "b"])


# ---------------------------------------------------------------- calibration


def _overconfident(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 3.0 * z, labels


def test_temperature_recovers_overconfidence_and_lowers_ece() -> None:
    logits, labels = _overconfident()
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    before = apply_temperature(logits, 1.0)
    after = apply_temperature(logits, temperature)
    ece_before = expected_calibration_error(before, labels)
    ece_after = expected_calibration_error(after, labels)
    assert ece_after < ece_before
    assert ece_after < 0.03


def test_temperature_near_one_for_calibrated_logits() -> None:
    logits, labels = _overconfident(seed=1)
    assert fit_temperature(logits / 3.0, labels) == pytest.approx(1.0, rel=0.15)


def test_apply_temperature_is_stable_for_huge_logits() -> None:
    p = apply_temperature(np.array([-1e4, 0.0, 1e4]), 0.5)
    assert np.all(np.isfinite(p))
    assert p.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(CalibrationError):
        apply_temperature(np.zeros(2), 0.0)


def test_fit_temperature_errors() -> None:
    with pytest.raises(CalibrationError, match="both"):
        fit_temperature(np.array([0.1, 2.0, -1.0]), np.array([1, 1, 1]))
    with pytest.raises(CalibrationError, match="at least 2"):
        fit_temperature(np.array([0.1]), np.array([1]))
    with pytest.raises(CalibrationError, match="shape"):
        fit_temperature(np.array([0.1, 0.2, 0.3]), np.array([0, 1]))
    assert issubclass(CalibrationError, ValueError)


def test_ece_and_reliability_table_by_hand() -> None:
    # bin [0.1, 0.2): 0.1, 0.1 with labels 0, 1 -> confidence 0.1, frequency 0.5
    # bin [0.9, 1.0]: 0.9, 1.0 with labels 1, 1 -> confidence 0.95, frequency 1
    p = np.array([0.1, 0.1, 0.9, 1.0])
    y = np.array([0, 1, 1, 1])
    rows = reliability_table(p, y, bins=10)
    assert len(rows) == 10
    assert rows[1]["count"] == 2 and rows[1]["mean_confidence"] == pytest.approx(0.1)
    assert rows[1]["observed_frequency"] == 0.5
    assert rows[9]["count"] == 2 and rows[9]["mean_confidence"] == pytest.approx(0.95)
    assert rows[0]["count"] == 0 and rows[0]["mean_confidence"] is None and rows[0]["observed_frequency"] is None
    assert (rows[3]["lower"], rows[3]["upper"]) == pytest.approx((0.3, 0.4))
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.4 + 0.5 * 0.05)


def test_reliability_plot_writes_small_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    logits, labels = _overconfident(n=2000)
    temperature = fit_temperature(logits, labels)
    out = plot_reliability(
        apply_temperature(logits, 1.0),
        apply_temperature(logits, temperature),
        labels,
        tmp_path / "plots" / "reliability.png",
        "malignancy calibration (val)",
    )
    assert out == tmp_path / "plots" / "reliability.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert 1_000 < len(data) < 200_000
