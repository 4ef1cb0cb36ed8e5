"""Budget curves: the best value a method reaches with k sampled settings (``budget.csv``).

A study with a ``sweep`` (``benchsuite.sweep``) trains each method at K drawn settings, each at
several seeds. A method's value at a setting is the mean over the seeds that produced one, and the
settings are the unit: with N settings that have a value, v(1) <= ... <= v(N), the expected maximum
of k settings drawn from them with replacement is, exactly,

    E[max of k] = sum_i v(i) * ((i / N)**k - ((i - 1) / N)**k)

(Dodge et al. 2019, "Show your work", expected validation performance; the curves of Lucic et al.
2018, Figs. 4-5, estimate the same by resampling). A metric declared ``better: lower`` takes the
expected minimum (the same formula on the negated values). The interval resamples the N settings
with replacement and takes percentiles of the recomputed curve; it is NaN with fewer than two
settings. A setting none of whose seeds produced a value (all diverged) is left out; ``draws``
counts the settings behind a row and ``runs`` the seeds behind them. Budgets run from 1 to the
number of settings the grid drew for the method.

``budget.csv``: one row per (dataset, study, method, metric, budget) with ``expected_best``,
``low`` and ``high``; each (method, metric)'s bootstrap draws from its own generator, seeded from
the tables' seed and the row's name, so the table is the same however often it is rebuilt.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from benchsuite import spec as regulariser_spec
from benchsuite.few_seeds import seeded_generator

METHOD_COLUMNS = ["dataset", "sweep", "architecture", "objective", "regulariser"]
COLUMNS = [*METHOD_COLUMNS, "regularisers", "method", "metric", "label", "better", "budget", "expected_best", "low",
           "high", "draws", "runs"]
DIRECTIONS = ("higher", "lower")


def label_draws(runs: pd.DataFrame, sweeps: dict[str, dict[str, dict[str, int]]] | None) -> pd.DataFrame:
    """runs.csv with ``sweep`` (the study whose sweep drew the run, empty for none) and ``setting``
    (which of its draws, from 0) after ``variant``; ``sweeps`` is what ``Grid.sweep_settings`` gives."""
    by_cell = {(method, variant): (study, setting) for study, methods in (sweeps or {}).items()
               for method, variants in methods.items() for variant, setting in variants.items()}
    found = [by_cell.get(("/".join(str(row[c]) for c in ("dataset", "architecture", "objective", "regulariser")),
                          str(row["variant"])), ("", None)) for _, row in runs.iterrows()]
    runs = runs.copy()
    at = runs.columns.get_loc("variant") + 1
    runs.insert(at, "sweep", [study for study, _ in found])
    runs.insert(at + 1, "setting", pd.array([setting for _, setting in found], dtype="Int64"))
    return runs


def expected_best(values: np.ndarray, budgets: np.ndarray, better: str) -> np.ndarray:
    """The exact expected best of k values drawn with replacement from ``values``, for each k of
    ``budgets``; ``values`` may be a matrix, one set of values per row (the bootstrap's resamples)."""
    values = np.asarray(values, dtype=float)
    sign = 1.0 if better == "higher" else -1.0
    ordered = np.sort(sign * values, axis=-1)
    n = ordered.shape[-1]
    ranks = np.arange(1, n + 1) / n
    budgets = np.asarray(budgets, dtype=float)[:, None]
    weights = ranks ** budgets - (ranks - 1 / n) ** budgets  # (budgets, n): P(the k-th best is value i)
    return sign * ordered @ weights.T


def expected_best_interval(values: np.ndarray, budgets: np.ndarray, better: str, resamples: int,
                           confidence: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of each budget's expected best, resampling the settings."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return np.full(len(budgets), math.nan), np.full(len(budgets), math.nan)
    curves = expected_best(values[rng.integers(0, len(values), size=(resamples, len(values)))], budgets, better)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(curves, [alpha, 1 - alpha], axis=0)
    return low, high


def budget_curves(runs: pd.DataFrame, summary: pd.DataFrame, resamples: int = 2000, confidence: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """budget.csv from runs.csv (with ``label_draws``' columns) and summary.csv, whose rows say
    which metrics each dataset ranks and which way (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    if "sweep" not in runs or summary.empty:
        return pd.DataFrame(rows, columns=COLUMNS)
    swept = runs[runs["sweep"].fillna("").astype(str) != ""]
    ranked = summary[summary["better"].isin(DIRECTIONS)].drop_duplicates(["dataset", "metric"])
    for key, group in swept.groupby(METHOD_COLUMNS, sort=True):
        method = dict(zip(METHOD_COLUMNS, key))
        settings = int(group["setting"].nunique())
        budgets = np.arange(1, settings + 1)
        for _, declared in ranked[ranked["dataset"] == method["dataset"]].iterrows():
            metric, better = declared["metric"], declared["better"]
            if metric not in group:
                continue
            values = pd.to_numeric(group[metric], errors="coerce")
            per_setting = values.groupby(group["setting"]).mean().dropna().to_numpy(dtype=float)
            name = "/".join(str(v) for v in key) + f"/{metric}"
            if len(per_setting):
                best = expected_best(per_setting, budgets, better)
                low, high = expected_best_interval(per_setting, budgets, better, resamples, confidence,
                                                   seeded_generator(seed, f"{name}/budget"))
            else:
                best = low = high = np.full(len(budgets), math.nan)
            for index, budget in enumerate(budgets):
                rows.append({**method, "regularisers": group["regularisers"].iloc[0],
                             "method": f"{method['objective']} × "
                                       f"{regulariser_spec.label(method['regulariser'], group['regularisers'].iloc[0])}",
                             "metric": metric, "label": declared["label"], "better": better, "budget": int(budget),
                             "expected_best": float(best[index]), "low": float(low[index]), "high": float(high[index]),
                             "draws": len(per_setting), "runs": int(values.notna().sum())})
    return pd.DataFrame(rows, columns=COLUMNS)
