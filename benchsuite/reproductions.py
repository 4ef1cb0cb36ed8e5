"""docs/reproductions.md from the tables: what a preset measured against what its paper published.

``benchsuite reproductions RESULTS_DIR [RESULTS_DIR ...] > docs/reproductions.md`` renders, per
results directory (one pipeline run of a preset, its ``results`` key), in Markdown:

- the budget that ran against the one the config plans (the paper's, in a preset), per cell;
- the time it took, from the runs' provenance.json (training) and tables/runs.csv (evaluation):
  run time summed over runs, steps a second, and the wall-clock span from the first run's start
  to the last run's end; the machine: the CPU model, its cores, the device;
- the full budget extrapolated from the measured speed (run time, and wall time at the
  concurrency this run had);
- each published number beside ours with the verdict (tables/published.csv, ``benchsuite.published``);
- the published metrics over training (tables/curves.csv), when the runs kept snapshots.

Every number comes from the files; nothing is typed in. It reads tables and JSON only (no torch).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from benchsuite.aggregate import COORDINATES, read_tables
from benchsuite.errors import ConfigError
from benchsuite.published import budget_text, ours_text, published_text, reduced
from benchsuite.published import read as read_published
from benchsuite.report import method_label


def render(results: Iterable[str | Path], command: str) -> str:
    """The whole document; ``command`` is the command line that made it, quoted at the top."""
    results = [Path(path) for path in results]
    parts = [
        "# Reproductions",
        "",
        f"Generated from the pipeline's tables by `{command}`; do not edit it by hand, run the command "
        "again. Each section is one run of a preset: the budget it ran, how long it took and on what "
        "machine, each number its paper published beside ours with a verdict (agrees when our 95 % "
        "bootstrap interval over seeds overlaps the published mean ± 1.96 standard errors, or contains "
        "a published number that has no spread; the rule is in [pipeline.md](pipeline.md#the-tables)), "
        "and the published metrics over training.",
    ]
    for directory in results:
        parts += ["", *section(directory)]
    return "\n".join(parts) + "\n"


def section(directory: Path) -> list[str]:
    tables = directory / "tables"
    if not (tables / "runs.csv").is_file():
        raise ConfigError(f"{directory} has no tables/runs.csv: run the pipeline with results={directory} first")
    runs, summary = read_tables(tables)
    published = read_published(tables)
    if published is None:
        raise ConfigError(f"{tables / 'published.csv'} has no published numbers: a reproduction needs a preset "
                          "with a published: block, aggregated by this version of the suite")
    lines = [f"## {directory.name}", ""]
    sources = list(dict.fromkeys(published["source"]))
    lines += [f"Published numbers from {'; '.join(sources)}. Results directory `{directory.as_posix()}`.", ""]
    lines += budget_lines(runs, published)
    lines += time_lines(runs, published, directory)
    lines += comparison_lines(published, summary)
    lines += curve_lines(directory, runs, published, summary)
    return lines


# --- The budget -----------------------------------------------------------------------------------


def budget_lines(runs: pd.DataFrame, published: pd.DataFrame) -> list[str]:
    lines = ["### The budget", ""]
    cut = published[[reduced(row) for _, row in published.iterrows()]]
    if len(cut):
        steps = pd.to_numeric(runs["config.steps"], errors="coerce").max()
        seeds = runs.groupby(COORDINATES)["seed"].nunique().max()
        lines += [f"**A reduced budget**: at most {int(steps):,} steps and {int(seeds)} seeds a cell (as "
                  f'`BENCHSUITE_BUDGET="steps={int(steps)},seeds={int(seeds)}"` caps a grid), fewer than the '
                  "paper's protocol that the config plans. Read the verdicts as what this budget gives, not as "
                  "a reproduction of the paper.", ""]
    every = sorted(int(v) for v in pd.to_numeric(runs.get("config.eval_every", pd.Series(dtype=float)),
                                                 errors="coerce").dropna().unique() if v > 0)
    if every:
        lines += [f"Snapshots scored every {' / '.join(f'{v:,}' for v in every)} steps (`eval_every`).", ""]
    lines += ["| dataset | method | ran | planned |", "|---|---|---|---|"]
    for _, row in published.drop_duplicates(COORDINATES).iterrows():
        planned = budget_text({**row.to_dict(), "steps": row["planned_steps"], "seeds": row["planned_seeds"]})
        lines.append(f"| {row['dataset']} | {_method(row, runs)} | {budget_text(row)} | {planned} |")
    return lines + [""]


def _method(row: pd.Series, frame: pd.DataFrame) -> str:
    cell = frame
    for column in COORDINATES:
        cell = cell[cell[column].astype(str) == str(row[column])]
    return method_label(cell.iloc[0] if len(cell) else {**row.to_dict(), "regularisers": row["regulariser"]})


# --- Time and machine ------------------------------------------------------------------------------


def _provenance(directory: Path, run_id: str) -> dict[str, Any]:
    path = directory / "runs" / run_id / "provenance.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        raise ConfigError(f"{path} is unreadable; rerun the run or move it aside") from None


def time_lines(runs: pd.DataFrame, published: pd.DataFrame, directory: Path) -> list[str]:
    records = {run_id: _provenance(directory, run_id) for run_id in runs["run_id"]}
    starts, ends, machines = [], [], {}
    for record in records.values():
        for segment in record.get("segments") or []:
            if segment.get("started") and segment.get("ended"):
                starts.append(datetime.fromisoformat(segment["started"]))
                ends.append(datetime.fromisoformat(segment["ended"]))
        if record:
            cores = record.get("cpu_count")
            machine = (f"{record.get('cpu') or 'CPU not recorded'}"
                       f"{f', {cores} cores' if cores else ''}, device {record.get('gpu') or record.get('device')}, "
                       f"{record.get('torch_threads')} torch thread(s) a run")
            machines[machine] = machines.get(machine, 0) + 1
    train = pd.to_numeric(runs["train_seconds"], errors="coerce")
    evaluation = pd.to_numeric(runs["eval_seconds"], errors="coerce")
    steps = pd.to_numeric(runs.get("config.steps"), errors="coerce")
    speed = (steps / train).where(train > 0)
    span = (max(ends) - min(starts)).total_seconds() if starts else math.nan
    lines = ["### Time and machine", ""]
    lines.append(f"Training: {_duration(train.sum())} of run time summed over {train.notna().sum()} runs "
                 f"({_duration(train.median())} a run, {speed.median():.1f} steps a second, medians); "
                 f"from the first run's start to the last run's end, {_duration(span)} of wall-clock time. "
                 f"Evaluation (scoring every snapshot and the final weights): {_duration(evaluation.sum())} "
                 "summed over runs.")
    lines.append("")
    for machine, count in machines.items():
        lines.append(f"- Machine: {machine} ({count} runs).")
    lines += ["", *extrapolation_lines(runs, published, train, speed, span)]
    return lines + [""]


def extrapolation_lines(runs: pd.DataFrame, published: pd.DataFrame, train: pd.Series, speed: pd.Series,
                        span: float) -> list[str]:
    """The planned budget at the measured speed of each cell (its runs' median steps a second)."""
    planned = published.drop_duplicates(COORDINATES)
    total = 0.0
    for _, row in planned.iterrows():
        in_cell = pd.Series(True, index=runs.index)
        for column in COORDINATES:
            in_cell &= runs[column].astype(str) == str(row[column])
        cell_speed = speed[in_cell].median()
        steps = sum(int(part) for part in str(row["planned_steps"]).split("/") if part.strip().isdigit())
        if not cell_speed or math.isnan(cell_speed) or not steps:
            return ["The full budget cannot be extrapolated: a cell has no measured speed or planned steps."]
        total += steps / cell_speed * int(row["planned_seeds"])
    concurrency = train.sum() / span if span and span > 0 else math.nan
    text = (f"**The full budget, extrapolated**: the {len(planned)} cell{'s' if len(planned) != 1 else ''} with "
            f"published numbers, at each one's measured speed, {'come' if len(planned) != 1 else 'comes'} to "
            f"{_duration(total)} of training run time "
            "for their planned steps and seeds")
    if not math.isnan(concurrency):
        text += (f"; at this run's concurrency ({concurrency:.1f} runs training at once on average: summed run "
                 f"time over wall time) about {_duration(total / concurrency)} of wall-clock time")
    return [text + ". Snapshots, evaluation and start-up come on top; a busier or quieter machine moves it."]


def _duration(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- Against the published numbers ----------------------------------------------------------------


def comparison_lines(published: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    lines = ["### Against the published numbers", "",
             "| dataset | method | metric | published | ours | verdict | why |", "|---|---|---|---|---|---|---|"]
    for _, row in published.iterrows():
        lines.append(f"| {row['dataset']} | {_method(row, summary)} | {row['label']} | {published_text(row)} | "
                     f"{ours_text(row)} | **{row['verdict']}** | {row['reason']} |")
    lines.append("")
    for _, row in published[published["verdict"] == "disagrees"].iterrows():
        lines += [f"- On {row['dataset']}, {_method(row, summary)} disagrees with {row['source']} on "
                  f"{row['label']}: {row['reason']}.", ""]
    notes = [f"- {row['source']}, {row['label']}: {row['note']}." for _, row in published.iterrows() if row["note"]]
    return lines + (["Notes on the published numbers:", "", *notes, ""] if notes else [])


# --- Over training ---------------------------------------------------------------------------------


def curve_lines(directory: Path, runs: pd.DataFrame, published: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    path = directory / "tables" / "curves.csv"
    curves = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    lines = ["### Over training", ""]
    if curves.empty:
        return lines + ["The runs kept no snapshots (`eval_every`), so there is no curve.", ""]
    lines += ["Each published metric at every snapshot the runs kept: the mean over seeds, with the lowest and "
              "the highest seed in brackets (the last row is the final weights).", ""]
    cells = published.drop_duplicates(COORDINATES)
    for metric, rows in published.groupby("metric", sort=False):
        chosen = curves[curves["metric"] == metric]
        columns = []
        for _, cell in cells.iterrows():
            in_cell = pd.Series(True, index=chosen.index)
            for column in COORDINATES:
                in_cell &= chosen[column].astype(str) == str(cell[column])
            if in_cell.any():
                by_step = chosen[in_cell].groupby("step")["value"]
                columns.append((f"{cell['dataset']}: {_method(cell, summary)}", by_step.mean(), by_step.min(),
                                by_step.max()))
        if not columns:
            continue
        steps = sorted(set().union(*(set(mean.index) for _, mean, _, _ in columns)))
        lines += [f"**{rows['label'].iloc[0]}**", "", "| step | " + " | ".join(name for name, *_ in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for step in steps:
            values = [f"{mean[step]:.3g} ({low[step]:.3g}–{high[step]:.3g})" if step in mean.index else "–"
                      for _, mean, low, high in columns]
            lines.append(f"| {int(step):,} | " + " | ".join(values) + " |")
        lines.append("")
    return lines
