"""The few-seed statistics, each against a computation by hand or an independent one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from benchsuite import few_seeds


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_interquartile_mean_cuts_a_quarter_from_each_end():
    # Eight values: the two lowest and the two highest go, the mean of 3, 4, 5, 6 stays.
    assert few_seeds.interquartile_mean(np.array([8.0, 1, 7, 2, 6, 3, 5, 4])) == pytest.approx(4.5)
    # Four values: one from each end.
    assert few_seeds.interquartile_mean(np.array([10.0, 1, 2, 3])) == pytest.approx(2.5)
    # Under four values nothing is cut: the mean.
    assert few_seeds.interquartile_mean(np.array([0.0, 0, 9])) == pytest.approx(3.0)
    low, high = few_seeds.interquartile_mean_interval(np.array([1.0, 2, 3, 4, 100]), 500, 0.95, rng())
    assert 1 <= low <= 3 <= high <= 100
    assert all(np.isnan(few_seeds.interquartile_mean_interval(np.array([1.0]), 500, 0.95, rng())))


def pairs_won(x, y) -> float:
    """P(X > Y) over every pair of seeds, ties counting half: the definition, pair by pair."""
    return np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(x, y)])


def test_probability_of_improvement_counts_the_pairs_a_method_wins():
    x, y = np.array([1.0, 3, 5]), np.array([2.0, 4])
    # 3 > 2, 5 > 2, 5 > 4: three pairs of six.
    assert few_seeds.probability_of_improvement(x, y, "higher") == pytest.approx(3 / 6)
    x, y = np.array([1.0, 2]), np.array([2.0, 3])
    assert few_seeds.probability_of_improvement(x, y, "higher") == pytest.approx(0.5 / 4)  # the tie 2 = 2 only
    assert few_seeds.probability_of_improvement(x, y, "lower") == pytest.approx(3.5 / 4)  # lower is better
    generator = np.random.default_rng(3)
    x, y = generator.normal(0.3, 1, 7), generator.normal(0, 1, 5)
    assert few_seeds.probability_of_improvement(x, y, "higher") == pytest.approx(pairs_won(x, y))
    low, high = few_seeds.probability_of_improvement_interval(x, y, "higher", 1000, 0.95, rng())
    assert 0 <= low <= pairs_won(x, y) <= high <= 1
    # Every seed of one beats every seed of the other: certain, in every resample.
    separated = few_seeds.probability_of_improvement_interval(np.array([5.0, 6, 7]), np.array([1.0, 2, 3]),
                                                              "higher", 500, 0.95, rng())
    assert separated == pytest.approx((1.0, 1.0))


def test_the_permutation_test_is_exact():
    # Pooled 1..5, X = {3, 5} against Y = {1, 2, 4}. Of the ten ways to pick X's two values, the
    # difference of means grows with X's sum, and only {3, 5} (8) and {4, 5} (9) reach the observed
    # sum of 8: one-sided p = 2/10, two-sided twice that.
    assert few_seeds.permutation_p_value(np.array([3.0, 5]), np.array([1.0, 2, 4]), rng()) == pytest.approx(0.4)
    # Three seeds against three that do not overlap: the most extreme of C(6, 3) = 20 splits, p = 2/20.
    separated = few_seeds.permutation_p_value(np.array([7.0, 8, 9]), np.array([1.0, 2, 3]), rng())
    assert separated == pytest.approx(0.1) == few_seeds.smallest_p_value(3, 3)
    assert few_seeds.smallest_p_value(4, 4) == pytest.approx(2 / 70)
    assert few_seeds.smallest_p_value(1, 1) == 1.0
    assert few_seeds.permutation_p_value(np.array([1.0, 1]), np.array([1.0, 1]), rng()) == 1.0
    assert math.isnan(few_seeds.permutation_p_value(np.array([2.0]), np.array([1.0, 1.5]), rng()))


def test_beyond_the_exact_limit_the_permutation_test_samples_splits_reproducibly():
    # Ten seeds against ten have 184,756 splits, more than the test enumerates: it draws 100,000 of them,
    # and the observed split counts once (p = 2 (1 + k) / (1 + 100,000) with k random splits as extreme).
    x, y = np.arange(10.0, 20.0), np.arange(10.0)
    p = few_seeds.permutation_p_value(x, y, few_seeds.seeded_generator(0, "ten"))
    assert 2 / 100_001 <= p < 1e-3
    assert p == few_seeds.permutation_p_value(x, y, few_seeds.seeded_generator(0, "ten"))


def test_effect_size_is_the_difference_in_pooled_standard_deviations():
    # Each side has standard deviation 1; the means differ by 2.
    assert few_seeds.effect_size(np.array([1.0, 2, 3]), np.array([3.0, 4, 5])) == pytest.approx(-2.0)
    # Variances 1 and 10 over 3 and 5 seeds, means 1 and 4: pooled sqrt((2 * 1 + 4 * 10) / 6) = sqrt(7).
    assert few_seeds.effect_size(np.array([0.0, 1, 2]), np.array([0.0, 2, 4, 6, 8])) == pytest.approx(-3 / math.sqrt(7))
    assert few_seeds.effect_size(np.array([2.0, 2]), np.array([1.0, 1])) == math.inf
    assert few_seeds.effect_size(np.array([1.0, 1]), np.array([1.0, 1])) == 0.0
    assert math.isnan(few_seeds.effect_size(np.array([1.0]), np.array([1.0, 2])))


def test_seeds_needed_at_known_effects():
    # Two-sided t-test at 0.05 with 80 % power: 64 per group at d = 0.5 and 26 at d = 0.8, as power
    # tables give (Cohen 1988, table 2.4.1); the normal approximation 2 (z_.975 + z_.8)^2 / d^2 is a
    # lower bound one or two below.
    for d, tabulated in ((0.5, 64), (0.8, 26)):
        assert few_seeds.seeds_needed(d, 0.05) == tabulated
        assert few_seeds.seeds_needed(-d, 0.05) == tabulated
        normal = 2 * (1.959964 + 0.841621) ** 2 / d ** 2
        assert normal <= tabulated <= normal + 2
    # A huge effect is limited by the permutation test: 3 seeds against 3 cannot give p below 0.1.
    assert few_seeds.seeds_needed(50.0, 0.05) == 4
    assert few_seeds.seeds_needed(math.inf, 0.05) == 4
    assert few_seeds.seeds_needed(math.inf, 0.1) == 3
    # No effect, or one too small for a thousand seeds: they cannot be separated.
    assert few_seeds.seeds_needed(0.0, 0.05) is None
    assert few_seeds.seeds_needed(0.05, 0.05) is None
    assert few_seeds.seeds_needed(math.nan, 0.05) is None


def test_performance_profiles_and_iqm_across_datasets():
    # Two datasets, two methods; "a" better on higher-is-better "easy", "b" on lower-is-better "hard".
    easy = pd.DataFrame({"method": ["a", "a", "b", "b"], "value": [10.0, 8, 0, 2]})
    hard = pd.DataFrame({"method": ["a", "a", "a", "b", "b", "b"], "value": [5.0, 4, 3, 1, 1, 5]})
    scores = few_seeds.stack_tasks([("easy", "higher", easy), ("hard", "lower", hard)])
    by_method = {m: sorted(s["score"].round(6)) for m, s in scores.groupby("method")}
    # easy: (v - 0) / 10; hard: 1 - (v - 1) / 4.
    assert by_method["a"] == [0.0, 0.25, 0.5, 0.8, 1.0]
    assert by_method["b"] == [0.0, 0.0, 0.2, 1.0, 1.0]
    summary, profiles = few_seeds.across_tasks(scores, 500, 0.95, seed=0)
    a = summary.set_index("method").loc["a"]
    assert (a["tasks"], a["runs"]) == (2, 5)
    assert a["iqm"] == pytest.approx(np.mean([0.25, 0.5, 0.8]))  # five pooled runs: one cut from each end
    assert a["iqm_ci_low"] <= a["iqm"] <= a["iqm_ci_high"]
    at = profiles[np.isclose(profiles["tau"], 0.3)].set_index("method")["share"]
    # Above 0.3: a has both runs on easy (1, 0.8) and one of three on hard (0.5); b none on easy and two
    # of three on hard (1, 1). Each dataset weighs the same.
    assert at["a"] == pytest.approx((1 + 1 / 3) / 2)
    assert at["b"] == pytest.approx((0 + 2 / 3) / 2)
    assert (profiles["low"] <= profiles["share"] + 1e-12).all() and (profiles["share"] <= profiles["high"] + 1e-12).all()
    # Every run the same on a dataset: it tells nothing apart and is left out.
    assert few_seeds.stack_tasks([("flat", "higher", pd.DataFrame({"method": ["a", "b"], "value": [1.0, 1.0]}))]).empty


def test_the_statistics_are_deterministic_for_a_seed():
    x, y = np.array([0.1, 0.4, 0.35, 0.2]), np.array([0.3, 0.5, 0.45])
    first = few_seeds.probability_of_improvement_interval(x, y, "higher", 300, 0.9, few_seeds.seeded_generator(1, "a"))
    again = few_seeds.probability_of_improvement_interval(x, y, "higher", 300, 0.9, few_seeds.seeded_generator(1, "a"))
    assert first == again


def test_bootstrap_intervals_of_the_mean_and_of_a_difference_of_means():
    rng = np.random.default_rng(0)
    assert few_seeds.mean_interval(np.array([3.0, 3.0, 3.0]), 200, 0.95, rng) == pytest.approx((3.0, 3.0))
    assert all(np.isnan(few_seeds.mean_interval(np.array([1.0]), 200, 0.95, rng)))
    low, high = few_seeds.mean_interval(rng.normal(10, 1, size=400), 1000, 0.95, rng)
    assert low < 10 < high and high - low < 0.4  # about 4 standard errors of 0.05
    # Every resample of {5, 6, 7} minus one of {1, 2, 3} lies in [2, 6]; the middle 95 % holds 4.
    low, high = few_seeds.difference_of_means_interval(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0]), 500,
                                                       0.95, rng)
    assert 2 <= low < 4 < high <= 6
    assert all(np.isnan(few_seeds.difference_of_means_interval(np.array([1.0]), np.array([1.0, 2.0]), 500, 0.95, rng)))
    # The same generator state gives the same interval: the tables are reproducible.
    values = np.array([0.1, 0.4, 0.35, 0.8])
    assert (few_seeds.mean_interval(values, 300, 0.9, np.random.default_rng(7))
            == few_seeds.mean_interval(values, 300, 0.9, np.random.default_rng(7)))
