"""Bootstrap intervals and McNemar's test against cases worked out by hand."""

import math

import numpy as np
import pytest

from oadn.report.stats import (
    bootstrap_intervals,
    expected_calibration_error,
    holm,
    mcnemar,
    negative_log_likelihood,
    reliability_bins,
)


def test_mcnemar_exact_when_few_discordant_pairs():
    # b = 2, c = 8: two-sided exact p = 2 * P(X <= 2 | n=10, 1/2) = 2 * (1 + 10 + 45) / 1024
    first = np.array([1, 1] + [0] * 8 + [1] * 5 + [0] * 3, dtype=bool)
    second = np.array([0, 0] + [1] * 8 + [1] * 5 + [0] * 3, dtype=bool)
    result = mcnemar(first, second)
    assert (result.only_first, result.only_second) == (2, 8)
    assert result.test == "exact binomial"
    assert result.p_value == pytest.approx(112 / 1024)


def test_mcnemar_chi_square_with_continuity_correction():
    # b = 30, c = 10: statistic (20 - 1)^2 / 40 = 9.025; chi-square(1) tail = erfc(sqrt(9.025 / 2))
    first = np.array([1] * 30 + [0] * 10 + [1] * 50, dtype=bool)
    second = np.array([0] * 30 + [1] * 10 + [1] * 50, dtype=bool)
    result = mcnemar(first, second)
    assert result.test.startswith("chi-square")
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)), rel=1e-9)


def test_mcnemar_identical_methods():
    same = np.array([1, 0, 1], dtype=bool)
    assert mcnemar(same, same).p_value == 1.0


def test_bootstrap_all_correct_is_a_point():
    labels = np.repeat(np.arange(4), 25)
    intervals = bootstrap_intervals(labels, np.ones(100))
    assert (intervals["accuracy"].low, intervals["accuracy"].high) == (1.0, 1.0)
    assert (intervals["mean_class_accuracy"].low, intervals["mean_class_accuracy"].high) == (1.0, 1.0)


def test_bootstrap_half_correct_brackets_half_with_binomial_width():
    n = 1000
    labels = np.tile(np.arange(2), n // 2)
    correct = np.tile([1, 1, 0, 0], n // 4)  # 50% overall, 50% in each class
    interval = bootstrap_intervals(labels, correct, seed=1)["accuracy"]
    half_width = 1.96 * math.sqrt(0.25 / n)  # normal approximation, ~0.031
    assert interval.low < 0.5 < interval.high
    assert interval.high - interval.low == pytest.approx(2 * half_width, rel=0.15)


def test_bootstrap_is_seeded_and_averages_seeds():
    labels = np.tile(np.arange(3), 40)
    rng = np.random.default_rng(0)
    correct = rng.random((2, 120)) < 0.7
    a = bootstrap_intervals(labels, correct, seed=3)
    b = bootstrap_intervals(labels, correct, seed=3)
    assert a == b
    assert a["accuracy"].low < correct.mean() < a["accuracy"].high


def test_expected_calibration_error_on_a_hand_computed_case():
    # bin (0.8667, 0.9333]: confidences 0.9, 0.9, 0.9, 0.9, accuracy 2/4 -> |0.5 - 0.9| = 0.4, weight 4/6
    # bin (0.2667, 0.3333]: confidences 0.3, 0.3, accuracy 1/2 -> |0.5 - 0.3| = 0.2, weight 2/6
    confidence = np.array([0.9, 0.9, 0.9, 0.9, 0.3, 0.3])
    correct = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    assert expected_calibration_error(confidence, correct) == pytest.approx(4 / 6 * 0.4 + 2 / 6 * 0.2)
    bins = reliability_bins(confidence, correct)
    assert len(bins) == 15 and bins["images"].sum() == 6
    assert bins.loc[13, "images"] == 4 and bins.loc[4, "images"] == 2  # (13/15, 14/15] and (4/15, 5/15]
    # an upper edge belongs to its own bin, not the next: 1/15 is in bin 0; 1.0 in the last one
    edges = reliability_bins(np.array([1 / 15, 1.0]), np.array([True, True]))
    assert edges.loc[0, "images"] == 1 and edges.loc[14, "images"] == 1
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == 0.0


def test_negative_log_likelihood_is_the_mean_minus_log_of_the_true_class():
    probabilities = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    labels = np.array([0, 2])
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(-(math.log(0.5) + math.log(0.1)) / 2)


def test_holm_adjusts_step_down_and_keeps_the_order():
    # sorted 0.01, 0.02, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 1 * 0.04)
    assert holm(np.array([0.04, 0.01, 0.02])) == pytest.approx([0.04, 0.03, 0.04])
    assert holm(np.array([0.6, 0.5])) == pytest.approx([1.0, 1.0])  # capped at 1
    assert len(holm(np.array([]))) == 0
