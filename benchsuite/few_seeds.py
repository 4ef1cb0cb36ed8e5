"""Statistics built for comparing methods from few seeds, every estimator from ``scipy.stats``.

With three seeds a mean, a percentile interval and a rank test say little, and say it quietly: a
two-sided Mann-Whitney test of 3 seeds against 3 cannot reach p < 0.1 whatever the numbers. The
few-runs literature (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice", and
its library rliable; Dodge et al. 2019, "Show your work") asks for estimators that hold up there:

- the **interquartile mean** (IQM): the mean of the middle half of the values, ``trim_mean(., 0.25)``
  (with fewer than four values nothing is trimmed and it is the mean), with a percentile bootstrap
  interval;
- the **probability of improvement** P(X better than Y): the chance that a seed of one method beats a
  seed of the other, ties counting half, i.e. the Mann-Whitney U of X against Y over n·m, with a
  bootstrap interval that resamples each method's seeds on its own (stratified by method);
- an **exact permutation test** of the difference of means: every split of the pooled values into
  groups of n and m, so the p-value is exact, and ``smallest_p_value`` says how low it can go at all
  (2 / C(n+m, n): 0.1 for 3 against 3, 0.029 for 4 against 4);
- **seeds needed**: from the observed effect size (Cohen's d, the difference of means over the
  pooled standard deviation), the fewest seeds per method at which a two-sided test at level alpha
  has 80 % power (the two-sample t-test's power, from the noncentral t distribution; the
  permutation test's power approaches it) and at which the permutation test can reach alpha at all;
- **performance profiles** and an IQM **across datasets**, on scores put on one scale per
  (dataset, architecture): min-max over all runs there, oriented so that 1 is the best run and 0 the
  worst. Intervals come from a stratified bootstrap: each dataset's runs are resampled within it.

rliable computes its IQM and probability of improvement with the same ``scipy.stats`` calls used
here; its bootstrap needs ``arch`` < 8, which does not import under pandas 3, so the suite calls
``scipy.stats.bootstrap`` (which resamples several samples independently, i.e. stratified) itself.

Every function takes its random generator: the tables stay deterministic.
"""

from __future__ import annotations

import math
import zlib
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import special, stats

PERMUTATIONS = 100_000  # exact up to 9 seeds against 9 (48,620 splits); a seeded Monte Carlo test beyond
PERMUTATION_BATCH = 10_000  # splits evaluated at once: bounds memory with many seeds
POWER = 0.8  # the power at which seeds_needed separates two methods
SEEDS_LIMIT = 1000  # beyond this many seeds per method, two methods "cannot be separated"
PROFILE_THRESHOLDS = np.linspace(0.0, 1.0, 51)


def seeded_generator(seed: int, name: str) -> np.random.Generator:
    """A generator of its own for each named statistic: a row's numbers do not depend on the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def interquartile_mean(values: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """The mean of the middle half: a quarter of the values cut from each end (none below four)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def _percentile_interval(samples: tuple[np.ndarray, ...], statistic, resamples: int, confidence: float,
                         rng: np.random.Generator) -> tuple[np.ndarray | float, np.ndarray | float]:
    """A percentile bootstrap interval; every sample is resampled on its own (stratified)."""
    result = stats.bootstrap(samples, statistic, n_resamples=resamples, confidence_level=confidence,
                             method="percentile", vectorized=True, axis=-1, rng=rng)
    return result.confidence_interval.low, result.confidence_interval.high


def mean_interval(values: np.ndarray, resamples: int, confidence: float,
                  rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; NaN for fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    low, high = _percentile_interval((values,), np.mean, resamples, confidence, rng)
    return float(low), float(high)


def difference_of_means_interval(x: np.ndarray, y: np.ndarray, resamples: int, confidence: float,
                                 rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(X) - mean(Y), each side resampled on its own; NaN under
    two values a side."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    low, high = _percentile_interval((x, y), _difference_of_means, resamples, confidence, rng)
    return float(low), float(high)


def interquartile_mean_interval(values: np.ndarray, resamples: int, confidence: float,
                                rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the IQM; NaN for fewer than two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    low, high = _percentile_interval((values,), interquartile_mean, resamples, confidence, rng)
    return float(low), float(high)


def _oriented(x: np.ndarray, better: str) -> np.ndarray:
    return np.asarray(x, dtype=float) * (1 if better == "higher" else -1)


def probability_of_improvement(x: np.ndarray, y: np.ndarray, better: str, axis: int = -1) -> np.ndarray | float:
    """P(a seed of X is better than a seed of Y), ties counting half: U(X, Y) / (n m)."""
    x, y = _oriented(x, better), _oriented(y, better)
    u = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", axis=axis).statistic
    return u / (x.shape[axis] * y.shape[axis])


def probability_of_improvement_interval(x: np.ndarray, y: np.ndarray, better: str, resamples: int,
                                        confidence: float, rng: np.random.Generator) -> tuple[float, float]:
    """Bootstrap interval of the probability of improvement, each method's seeds resampled on its own."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    low, high = _percentile_interval((x, y), lambda a, b, axis: probability_of_improvement(a, b, better, axis),
                                     resamples, confidence, rng)
    return float(low), float(high)


def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def permutation_p_value(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided permutation test of the difference of means (twice the smaller one-sided p, at
    most 1): exact over every split when there are at most ``PERMUTATIONS``; NaN under two values a
    side (one seed against three could not give p below 0.5 anyway)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return math.nan
    result = stats.permutation_test((x, y), _difference_of_means, permutation_type="independent",
                                    alternative="two-sided", n_resamples=PERMUTATIONS, vectorized=True, axis=-1,
                                    batch=PERMUTATION_BATCH, rng=rng)
    return float(result.pvalue)


def smallest_p_value(n: int | np.ndarray, m: int | np.ndarray) -> float | np.ndarray:
    """The lowest two-sided p-value an exact permutation test of n values against m can give: both
    one-sided tails hold at least the observed split, one of C(n+m, n)."""
    return np.minimum(1.0, 2.0 / special.comb(np.add(n, m), n))


def effect_size(x: np.ndarray, y: np.ndarray) -> float:
    """Cohen's d: (mean X - mean Y) over the pooled standard deviation; NaN under two values a side,
    +-inf when both sides are constant and differ."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        return math.nan
    pooled = math.sqrt(((n - 1) * x.var(ddof=1) + (m - 1) * y.var(ddof=1)) / (n + m - 2))
    difference = float(x.mean() - y.mean())
    if pooled == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    return difference / pooled


def seeds_needed(effect: float, alpha: float, power: float = POWER, limit: int = SEEDS_LIMIT) -> int | None:
    """The fewest seeds per method at which a two-sided test at level ``alpha`` separates two methods
    ``effect`` standard deviations apart with probability ``power``, and at which the exact
    permutation test can reach ``alpha`` at all; None when more than ``limit`` would be needed (the
    effect is about nil: the methods cannot be separated) or the effect is unknown."""
    if effect is None or math.isnan(effect):
        return None
    n = np.arange(2, limit + 1)
    reachable = smallest_p_value(n, n) <= alpha
    if math.isinf(effect):
        enough = reachable
    else:
        df = 2 * n - 2
        shift = abs(effect) * np.sqrt(n / 2)
        critical = stats.t.ppf(1 - alpha / 2, df)
        # The far tail (a significant result in the wrong direction) is below alpha / 2; scipy gives
        # NaN for it when the shift is large, where it is nil.
        far = np.nan_to_num(stats.nct.cdf(-critical, df, shift), nan=0.0)
        achieved = stats.nct.sf(critical, df, shift) + far
        enough = reachable & (achieved >= power)
    return int(n[enough][0]) if enough.any() else None


# --- Across datasets ------------------------------------------------------------------------------


def normalised_scores(values: pd.DataFrame, better: str) -> pd.Series:
    """One task's run values on a 0-1 scale: min-max over every run there, 1 the best run. Empty when
    every run scored the same (nothing there tells methods apart)."""
    value = values["value"].astype(float)
    low, high = value.min(), value.max()
    if not high > low:
        return pd.Series(dtype=float)
    scaled = (value - low) / (high - low)
    return scaled if better == "higher" else 1 - scaled


def _profile(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    """Share of runs scoring above each threshold, per task, averaged over tasks: (thresholds, batch...)."""
    shares = [np.mean(np.asarray(t)[None, ...] > PROFILE_THRESHOLDS.reshape((-1,) + (1,) * np.ndim(t)), axis=-1)
              for t in tasks]
    return np.mean(shares, axis=0)


def _pooled_iqm(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return interquartile_mean(np.concatenate(tasks, axis=-1), axis=-1)


def across_tasks(scores: pd.DataFrame, resamples: int, confidence: float,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per method, from ``scores`` (columns ``method``, ``task``, ``score`` in [0, 1], one row per run):

    - a summary: ``tasks``, ``runs``, ``iqm`` of the scores pooled over its tasks and its stratified
      bootstrap interval (``iqm_ci_low``, ``iqm_ci_high``);
    - a performance profile: at each threshold ``tau``, the share of its runs scoring above it
      (``share``; each task weighs the same), with a stratified bootstrap band (``low``, ``high``).

    Intervals are NaN for a method with a task of fewer than two runs.
    """
    summary, profiles = [], []
    for method, runs in scores.groupby("method", sort=False):
        tasks = tuple(group["score"].to_numpy(dtype=float) for _, group in runs.groupby("task", sort=True))
        rng = seeded_generator(seed, method)
        bounded = min(len(t) for t in tasks) >= 2
        iqm = float(_pooled_iqm(*tasks))
        share = _profile(*tasks)
        if bounded:
            iqm_low, iqm_high = _percentile_interval(tasks, _pooled_iqm, resamples, confidence, rng)
            low, high = _percentile_interval(tasks, _profile, resamples, confidence, rng)
        else:
            iqm_low = iqm_high = math.nan
            low = high = np.full_like(share, math.nan)
        summary.append({"method": method, "tasks": len(tasks), "runs": sum(len(t) for t in tasks), "iqm": iqm,
                        "iqm_ci_low": float(iqm_low), "iqm_ci_high": float(iqm_high)})
        profiles.append(pd.DataFrame({"method": method, "tau": PROFILE_THRESHOLDS, "share": share, "low": low,
                                      "high": high}))
    columns = ["method", "tau", "share", "low", "high"]
    return (pd.DataFrame(summary, columns=["method", "tasks", "runs", "iqm", "iqm_ci_low", "iqm_ci_high"]),
            pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame(columns=columns))


def stack_tasks(tasks: Iterable[tuple[str, str, pd.DataFrame]]) -> pd.DataFrame:
    """``scores`` for ``across_tasks`` from (task, direction, runs with ``method`` and ``value``)."""
    frames = []
    for task, better, runs in tasks:
        scaled = normalised_scores(runs, better)
        if len(scaled):
            frames.append(pd.DataFrame({"method": runs.loc[scaled.index, "method"], "task": task, "score": scaled}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["method", "task", "score"])
