"""Measured against published: each published number beside ours, with a verdict.

A preset's ``published:`` entries reach the tables as rows (``grid.published_rows``: the cell, the
metric, the published mean, spread, kind of spread, trials, source and note, and the budget the
config plans for the cell). :func:`compare` sets beside each one the cell's row of summary.csv
(our mean over seeds, its bootstrap interval, the seeds behind it) and says whether the two agree.

The rule, at the confidence level of the tables' intervals (95 % unless ``aggregate.confidence``
says otherwise; z = 1.96 at 95 %):

- The published band. A standard error s gives mean ± z·s, the paper's own interval of its mean.
  A standard deviation s across n trials gives mean ± z·s/√n (the standard error it implies); with
  no n, mean ± z·s, as if from one trial, the widest reading. No spread (a single number, or a
  spread not transcribed) leaves the published mean alone, a point.
- Ours: the bootstrap interval of our mean over seeds (summary.csv's ``ci_low``, ``ci_high``).
- **agrees** when the two overlap (for a point: when our interval contains it); **disagrees**
  when they do not, and the reason says which side ours lies on; **cannot tell** when we have no
  interval: fewer than two seeds with a value (every run diverged, or one seed).

Agreement is only as strong as the intervals are narrow: two seeds make a wide interval that
agrees with much. A run at a reduced budget (``BENCHSUITE_BUDGET``) is compared all the same, and
the table carries the steps trained beside the steps planned so that no reader mistakes it for
the paper's protocol. Everything here reads tables only (no torch).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Iterable

import pandas as pd

from benchsuite.aggregate import COORDINATES

VERDICTS = ("agrees", "disagrees", "cannot tell")
COLUMNS = [
    *COORDINATES, "metric", "label", "entry", "source", "note",
    "published_mean", "published_spread", "spread_kind", "published_n", "published_low", "published_high",
    "seeds", "n", "mean", "ci_low", "ci_high", "at", "steps", "planned_steps", "planned_seeds",
    "verdict", "reason",
]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def published_band(mean: float, spread: float | None, kind: str, n: int | None,
                   confidence: float = 0.95) -> tuple[float, float, str]:
    """The published interval the verdict reads, and how it was formed (see the module docstring)."""
    if kind == "none" or _missing(spread):
        why = "one number" if kind == "none" else f"its {kind.replace('_', ' ')} was not transcribed"
        return mean, mean, f"the published mean ({why})"
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    if kind == "standard_error":
        half, how = z * spread, f"mean ± {z:.2f} standard errors"
    elif not _missing(n):
        half, how = z * spread / math.sqrt(n), f"mean ± {z:.2f} std/√{int(n)}"
    else:
        half, how = z * spread, f"mean ± {z:.2f} std (trials not given: read as one trial)"
    return mean - half, mean + half, how


def verdict(low: float, high: float, ci_low: float, ci_high: float, n: int) -> tuple[str, str]:
    """``agrees``, ``disagrees`` or ``cannot tell``, with the reason in words."""
    if n < 2 or _missing(ci_low) or _missing(ci_high):
        seeds = "no seed has a value" if n == 0 else f"{n} seed with a value gives no interval"
        return "cannot tell", seeds
    published = _number(low) if low == high else f"[{_number(low)}, {_number(high)}]"
    ours = f"[{_number(ci_low)}, {_number(ci_high)}]"
    if ci_high < low:
        return "disagrees", f"ours is lower: its interval {ours} lies below the published {published}"
    if ci_low > high:
        return "disagrees", f"ours is higher: its interval {ours} lies above the published {published}"
    if low == high:
        return "agrees", f"our interval {ours} contains the published {published}"
    return "agrees", f"our interval {ours} overlaps the published {published}"


def _number(value: float) -> str:
    return f"{value:.3g}"


def compare(summary: pd.DataFrame, runs: pd.DataFrame, rows: Iterable[dict[str, Any]],
            confidence: float = 0.95) -> pd.DataFrame:
    """published.csv: one row per published entry and cell (``rows``, as ``grid.published_rows``
    gives them), with our summary of that cell and metric and the verdict."""
    out = []
    indexed = summary.set_index([*COORDINATES, "metric"]) if len(summary) else None
    steps = _steps_by_cell(runs)
    for row in rows:
        key = tuple(str(row[c]) for c in COORDINATES)
        ours = None
        if indexed is not None and (*key, row["metric"]) in indexed.index:
            ours = indexed.loc[(*key, row["metric"])]
            ours = ours.iloc[0] if isinstance(ours, pd.DataFrame) else ours
        low, high, band = published_band(row["mean"], row.get("spread"), row["spread_kind"], row.get("n"), confidence)
        record = {
            **dict(zip(COORDINATES, key)),
            "metric": row["metric"],
            "label": ours["label"] if ours is not None else row["metric"].replace("_", " "),
            "entry": row.get("entry"),
            "source": row["source"],
            "note": row.get("note") or "",
            "published_mean": row["mean"],
            "published_spread": row.get("spread"),
            "spread_kind": row["spread_kind"],
            "published_n": row.get("n"),
            "published_low": low,
            "published_high": high,
            "seeds": int(ours["seeds"]) if ours is not None else int(steps.get(key, ("", 0))[1]),
            "n": int(ours["n"]) if ours is not None else 0,
            "mean": ours["mean"] if ours is not None else math.nan,
            "ci_low": ours["ci_low"] if ours is not None else math.nan,
            "ci_high": ours["ci_high"] if ours is not None else math.nan,
            "at": ours["at"] if ours is not None and "at" in ours else "",
            "steps": steps.get(key, ("", 0))[0],
            "planned_steps": row.get("planned_steps"),
            "planned_seeds": row.get("planned_seeds"),
        }
        if ours is None:
            record["verdict"], record["reason"] = "cannot tell", "no run of this cell has a value for it"
        else:
            record["verdict"], reason = verdict(low, high, record["ci_low"], record["ci_high"], record["n"])
            record["reason"] = reason if low == high or record["verdict"] == "cannot tell" else f"{reason} ({band})"
        out.append(record)
    return pd.DataFrame(out, columns=COLUMNS)


def _steps_by_cell(runs: pd.DataFrame) -> dict[tuple[str, ...], tuple[str, int]]:
    """Per cell: the steps its runs were set to train (several joined by '/'), and how many runs."""
    if runs.empty or "config.steps" not in runs:
        return {}
    found = {}
    for key, group in runs.groupby(COORDINATES, sort=False):
        values = sorted(int(v) for v in pd.to_numeric(group["config.steps"], errors="coerce").dropna().unique())
        found[tuple(str(k) for k in key)] = ("/".join(map(str, values)), len(group))
    return found


def read(directory: Any) -> pd.DataFrame | None:
    """published.csv of a tables directory; None when there is none or it has no rows."""
    from pathlib import Path

    path = Path(directory) / "published.csv"
    if not path.is_file():
        return None
    text = ("note", "at", "reason", "source", "label", "steps")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={column: str for column in text})
    if table.empty:
        return None
    for column in text:
        table[column] = table[column].fillna("")
    return table


# --- In words (the report and docs/reproductions.md) ----------------------------------------------


def _figure(value: Any) -> str:
    """A value as the tables print it: 3 significant figures, integers as integers."""
    if _missing(value):
        return "–"
    value = float(value)
    return f"{int(value):,}" if value.is_integer() and abs(value) >= 1 else f"{value:.3g}"


def published_text(row: pd.Series | dict[str, Any]) -> str:
    """'6.3 ± 0.5 (standard error, 10 trials)', '1 (one number, 5 trials)'."""
    kind = row["spread_kind"]
    if kind == "none":
        text, what = _figure(row["published_mean"]), "one number"
    elif _missing(row["published_spread"]):
        text, what = _figure(row["published_mean"]), f"{kind.replace('_', ' ')} not transcribed"
    else:
        text = f"{_figure(row['published_mean'])} ± {_figure(row['published_spread'])}"
        what = kind.replace("_", " ")
    trials = "" if _missing(row["published_n"]) else f", {int(row['published_n'])} trials"
    return f"{text} ({what}{trials})"


def ours_text(row: pd.Series | dict[str, Any]) -> str:
    """'5.67 [4.33, 7] over 3 seeds'."""
    if _missing(row["mean"]):
        return f"no value ({int(row['seeds'])} runs)"
    interval = "" if _missing(row["ci_low"]) else f" [{_figure(row['ci_low'])}, {_figure(row['ci_high'])}]"
    return f"{_figure(row['mean'])}{interval} over {int(row['n'])} seed{'s' if int(row['n']) != 1 else ''}"


def budget_text(row: pd.Series | dict[str, Any]) -> str:
    """The steps and seeds trained against those planned, e.g. '1,000 of 400,000 steps, 3 of 10 seeds'."""
    steps, planned = str(row["steps"]), str(row["planned_steps"]) if not _missing(row["planned_steps"]) else ""
    seeds, planned_seeds = int(row["seeds"]), row["planned_seeds"]

    def count(text: str) -> str:
        return "/".join(f"{int(part):,}" for part in text.split("/") if part.strip().isdigit()) or text

    steps_part = f"{count(steps)} steps" if not planned or steps == planned else f"{count(steps)} of {count(planned)} steps"
    if _missing(planned_seeds) or int(planned_seeds) == seeds:
        return f"{steps_part}, {seeds} seeds"
    return f"{steps_part}, {seeds} of {int(planned_seeds)} seeds"


def reduced(row: pd.Series | dict[str, Any]) -> bool:
    """Whether the cell ran on less than the planned budget (fewer steps or seeds)."""
    planned_steps = "" if _missing(row["planned_steps"]) else str(row["planned_steps"])
    fewer_seeds = not _missing(row["planned_seeds"]) and int(row["seeds"]) < int(row["planned_seeds"])
    return (bool(planned_steps) and str(row["steps"]) != planned_steps) or fewer_seeds
