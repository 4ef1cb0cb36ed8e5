"""The tables and the run directories -> one self-contained HTML report (figures inlined as PNG).

Sections: what ran (studies, seeds, steps, environment and provenance, the config); against the
published numbers (when the config carries some: each beside ours, with the verdict of
``benchsuite.published``); a leaderboard per dataset (mean and bootstrap interval over seeds,
failures, the difference to the baseline, a "best" only where the intervals separate it from every
other cell), each followed by the few-seed statistics against the baseline (IQM, probability of
improvement, the permutation p-value and the lowest the seeds allow, the seeds that would separate
the two); every method across datasets (IQM and performance profiles on scores rescaled per dataset,
``benchsuite.few_seeds``); the precision-recall plane
(sample quality against mode coverage for the toy mixtures); metric distributions across seeds;
training curves and gradient-norm diagnostics per objective and per regulariser, gradients on a log
scale; a sample picture per method; the diverged runs with their reasons. Every figure names the
number of seeds behind each of its lines or points.

``Report`` prepares the template's data from the tables; the figures are drawn by the functions of
``benchsuite.figures``. What a metric is called, which way it is better and whether it heads a
leaderboard come from summary.csv (declared by each metric, see ``benchsuite.aggregate``); what a
logged column is called and how it is scaled, from ``benchsuite.diagnostics.LOGGED``. The report
names no objective or regulariser: the baseline is the one the tables mark, and the saturation
comparison sets beside it the objectives the pipeline config's ``report.saturation`` names or,
without that key, those whose generator gradients the logs show collapsing.

The page needs no network and no script: images are ``data:`` URIs and the styles are inline.
It carries no generation date: the same tables and run directories give the same page.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchsuite import few_seeds
from benchsuite import spec as regulariser_spec
from benchsuite.aggregate import DEFAULT_VARIANT, read_tables
from benchsuite.diagnostics import LOGGED
from benchsuite.errors import ConfigError
from benchsuite.figures import (Figure, budget_lines, file_slug, performance_profile, precision_recall_plane,
                                seed_distributions, seeds_phrase, training_lines)
from benchsuite.io import write_bytes, write_text
from benchsuite.published import budget_text, ours_text, published_text, reduced
from benchsuite.published import read as read_published

TEMPLATE = Path(__file__).resolve().parent.parent / "report" / "report.html.j2"

LEADERBOARD_METRICS = 4  # columns of a leaderboard; the first ranks its rows
DISTRIBUTION_METRICS = 3  # panels of a dataset's distributions figure
CURVE_METRICS = 3  # panels of a dataset's metrics-over-training figure
# An objective whose generator gradient falls at least this many times between the first and the
# last quarter of training is drawn in the saturation comparison, beside the baseline.
SATURATION_FALL = 10.0

CURVES = {column: logged.label for column, logged in LOGGED.items() if not logged.log_scale}
GRADIENTS = {column: logged.label for column, logged in LOGGED.items() if logged.log_scale}
# The gradients first: they carry the saturation figure.
SATURATION = {column: logged.label for column, logged in sorted(LOGGED.items(), key=lambda item: not item[1].log_scale)
              if logged.saturation}
LOG_SCALE = set(GRADIENTS)


# --- Methods and labels ---------------------------------------------------------------------------


def method_label(row: pd.Series | dict[str, Any], with_architecture: bool = False) -> str:
    text = f"{row['objective']} × {regulariser_spec.label(row['regulariser'], row['regularisers'])}"
    if with_architecture:
        text = f"{row['architecture']}: {text}"
    if row.get("variant", DEFAULT_VARIANT) != DEFAULT_VARIANT:
        text += f" [{row['variant']}]"
    return text


# --- Sections -------------------------------------------------------------------------------------


@dataclass
class Report:
    """The template's data, section by section, from the two tables and the run directories."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    grid_config: dict[str, Any] | None = None
    title: str = "benchsuite report"
    figures: list[Figure] = field(default_factory=list)
    curves: pd.DataFrame | None = None  # curves.csv: the runs' scored snapshots
    budget: pd.DataFrame | None = None  # budget.csv: the sweeps' budget curves

    def keep(self, figure: Figure | None) -> Figure | None:
        """Remember a drawn figure, to be written as a file beside the page."""
        if figure is not None:
            self.figures.append(figure)
        return figure

    def label(self, metric: str) -> str:
        """The metric's declared label."""
        labels = self.summary.loc[self.summary["metric"] == metric, "label"]
        return str(labels.iloc[0]) if len(labels) else metric.replace("_", " ")

    # What ran.

    def overview(self) -> dict[str, Any]:
        runs = self.runs
        statuses = runs["status"].value_counts().to_dict()
        datasets = []
        for dataset, group in runs.groupby("dataset", sort=False):
            cells = group.groupby(["architecture", "objective", "regulariser", "variant"]).ngroups
            seeds = sorted(group["seed"].unique().tolist())
            steps = sorted(group["config.steps"].unique().tolist()) if "config.steps" in group else []
            datasets.append({
                "name": dataset,
                "architectures": ", ".join(sorted(group["architecture"].unique())),
                "objectives": ", ".join(sorted(group["objective"].unique())),
                "regularisers": ", ".join(sorted(group["regulariser"].unique())),
                "cells": cells,
                "runs": len(group),
                "seeds": ", ".join(map(str, seeds)),
                "steps": ", ".join(f"{int(s):,}" for s in steps),
                "samples": ", ".join(f"{int(s):,}" for s in sorted(group["n_samples"].dropna().unique())),
                "diverged": int((group["status"] == "diverged").sum()),
                "train_minutes": _minutes(group["train_seconds"].sum()),
            })
        studies = []
        for name, study in ((self.grid_config or {}).get("studies") or {}).items():
            studies.append({"name": name, "description": (study or {}).get("description", ""),
                            **{key: _listing((study or {}).get(key, (self.grid_config or {}).get(key)))
                               for key in ("datasets", "architectures", "objectives", "regularisers", "seeds")},
                            "sweep": _sweep_phrase((study or {}).get("sweep"))})
        return {
            "runs": len(runs),
            "statuses": statuses,
            "datasets": datasets,
            "studies": studies,
            "train_minutes": _minutes(runs["train_seconds"].sum()),
            "eval_minutes": _minutes(runs["eval_seconds"].sum()),
            "environments": self.environments(),
            "config_html": _highlighted_config(self.grid_config),
        }

    def environments(self) -> list[dict[str, Any]]:
        """Distinct software and hardware the runs trained on, with how many runs each."""
        seen: dict[str, dict[str, Any]] = {}
        for run_dir in self.runs["run_dir"]:
            path = Path(run_dir) / "provenance.json"
            if not path.exists():
                continue
            record = json.loads(path.read_text())
            versions = record.get("versions") or {}
            git = record.get("git") or {}
            entry = {
                "benchsuite": versions.get("benchsuite"),
                "python": versions.get("python"),
                "torch": versions.get("torch"),
                "numpy": versions.get("numpy"),
                "device": record.get("gpu") or record.get("device"),
                "cpu": record.get("cpu") or "not recorded",
                "threads": record.get("torch_threads"),
                "platform": record.get("platform"),
                "commit": (git.get("commit") or "")[:12] + (" (with local changes)" if git.get("dirty") else ""),
            }
            key = json.dumps(entry, sort_keys=True)
            seen.setdefault(key, entry | {"runs": 0})["runs"] += 1
        return list(seen.values())

    # Leaderboards.

    def headline_metrics(self, dataset: str) -> list[str]:
        """The dataset's metrics with values, headline metrics first in their declared order, then
        the other ranked ones."""
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["n"] > 0)].drop_duplicates("metric")
        headline = rows.dropna(subset=["headline"]).sort_values("headline", kind="mergesort")["metric"].tolist()
        return headline + [m for m, better in zip(rows["metric"], rows["better"]) if m not in headline and better]

    def leaderboards(self) -> list[dict[str, Any]]:
        boards = []
        for dataset in dict.fromkeys(self.summary["dataset"]):
            rows = self.summary[self.summary["dataset"] == dataset]
            metrics = self.headline_metrics(dataset)[:LEADERBOARD_METRICS]
            if not metrics:
                metrics = list(dict.fromkeys(rows["metric"]))[:LEADERBOARD_METRICS]
            first = metrics[0] if metrics else None
            cells = []
            for key, group in rows.groupby(["architecture", "objective", "regulariser", "variant"], sort=False):
                by_metric = {r["metric"]: r for _, r in group.iterrows()}
                any_row = group.iloc[0]
                cell = {
                    "label": method_label(any_row, with_architecture=rows["architecture"].nunique() > 1),
                    "seeds": int(any_row["seeds"]),
                    "diverged": int(any_row["diverged"]),
                    "completed": int(any_row["completed"]),
                    "baseline": bool(any_row["is_baseline"]),
                    "values": [],
                    "sort": math.nan,
                }
                for metric in metrics:
                    r = by_metric.get(metric)
                    cell["values"].append(_value_cell(r))
                    if metric == first and r is not None and not pd.isna(r["mean"]):
                        cell["sort"] = -r["mean"] if r["better"] == "higher" else r["mean"]
                cells.append(cell)
            cells.sort(key=lambda c: (math.isnan(c["sort"]), c["sort"] if not math.isnan(c["sort"]) else 0))
            baseline = rows.loc[rows["is_baseline"].astype(bool)]
            best = [c for c in cells for v in c["values"][:1] if v["best"]]
            boards.append({
                "comparisons": [self.comparison(rows, metric) for metric in metrics],
                "dataset": dataset,
                "metrics": [{"name": m, "label": self.label(m),
                             "better": rows.loc[rows["metric"] == m, "better"].iloc[0] if (rows["metric"] == m).any() else ""}
                            for m in metrics],
                "cells": cells,
                "baseline": method_label(baseline.iloc[0]) if len(baseline) else None,
                "seeds": seeds_phrase([c["seeds"] for c in cells]),
                "verdict": _verdict(self.label(first) if first else None, cells, best),
            })
        return boards

    def comparison(self, rows: pd.DataFrame, metric: str) -> dict[str, Any]:
        """Each method against the baseline on one metric, in the few-seed statistics of summary.csv."""
        chosen = rows[rows["metric"] == metric]
        multi_arch = rows["architecture"].nunique() > 1
        lines = []
        for _, row in chosen.iterrows():
            if bool(row["is_baseline"]) or not row["baseline"] or pd.isna(row.get("delta", math.nan)):
                continue
            base = chosen[chosen["is_baseline"].astype(bool) & (chosen["architecture"] == row["architecture"])]
            lines.append({
                "label": method_label(row, multi_arch),
                "seeds": f"{int(row['n'])} vs {int(base['n'].iloc[0])}" if len(base) else str(int(row["n"])),
                "iqm": _estimate(row.get("iqm"), row.get("iqm_ci_low"), row.get("iqm_ci_high")),
                "improvement": _estimate(row.get("prob_improvement"), row.get("prob_improvement_ci_low"),
                                         row.get("prob_improvement_ci_high")),
                "p": "–" if pd.isna(row["p_value"]) else f"{row['p_value']:.2g} (≥ {row['p_min']:.2g})",
                "effect": _effect_text(row.get("effect_size", math.nan)),
                "seeds_needed": _seeds_needed_text(row.get("seeds_needed"), row.get("effect_size", math.nan)),
            })
        return {"metric": metric, "label": self.label(metric), "rows": lines}

    # Across datasets.

    def across_datasets(self) -> dict[str, Any] | None:
        """Each method's runs on every (dataset, architecture), scored on one scale by the dataset's
        first ranked headline metric: an IQM table and performance profiles (``benchsuite.few_seeds``).
        The intervals follow the pipeline config's ``aggregate`` settings (bootstrap, confidence, seed)."""
        settings = (self.grid_config or {}).get("aggregate") or {}
        completed = self.runs[self.runs["status"] == "completed"]
        # A method across datasets pools its variants, unless one dataset trains it under several.
        several = completed.groupby(["dataset", "architecture", "objective", "regulariser"])["variant"].nunique()
        tasks, named = [], []
        for (dataset, architecture), runs in completed.groupby(["dataset", "architecture"], sort=True):
            ranked = [m for m in self.headline_metrics(dataset)
                      if m in runs and self._better(dataset, m) in ("higher", "lower")]
            if not ranked:
                continue
            metric = ranked[0]
            values = runs.assign(value=pd.to_numeric(runs[metric], errors="coerce")).dropna(subset=["value"])
            values = values.assign(method=[method_label(r) if several[tuple(r[k] for k in several.index.names)] > 1
                                           else method_label(r.drop(labels="variant")) for _, r in values.iterrows()])
            tasks.append((f"{dataset}/{architecture}", self._better(dataset, metric), values))
            named.append(f"{dataset}/{architecture} ({self.label(metric)})")
        scores = few_seeds.stack_tasks(tasks)
        if scores.empty:
            return None
        kept = set(scores["task"])
        used = [name for (task, _, _), name in zip(tasks, named) if task in kept]
        flat = [name for (task, _, _), name in zip(tasks, named) if task not in kept]
        confidence = float(settings.get("confidence", 0.95))
        summary, profiles = few_seeds.across_tasks(scores, int(settings.get("bootstrap", 2000)), confidence,
                                                   int(settings.get("seed", 0)))
        counts = [int(n) for n in scores.groupby(["method", "task"]).size()]
        summary = summary.sort_values("iqm", ascending=False, kind="mergesort")
        figure = self.keep(performance_profile(profiles, dict(zip(summary["method"], summary["tasks"])),
                                               seeds_phrase(counts), confidence))
        return {"tasks": used, "flat": flat, "figure": figure, "seeds": seeds_phrase(counts),
                "rows": [{"method": r["method"], "tasks": int(r["tasks"]), "runs": int(r["runs"]),
                          "iqm": _estimate(r["iqm"], r["iqm_ci_low"], r["iqm_ci_high"])}
                         for _, r in summary.iterrows()]}

    def _better(self, dataset: str, metric: str) -> str:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["metric"] == metric)]
        return str(rows["better"].iloc[0]) if len(rows) else ""

    # The precision-recall plane.

    def planes(self) -> list[dict[str, Any]]:
        made = []
        for dataset in dict.fromkeys(self.summary["dataset"]):
            rows = self.summary[self.summary["dataset"] == dataset]
            metrics = set(rows["metric"])
            if {"precision", "recall"} <= metrics:
                x, y, scale, xlabel, ylabel = "recall", "precision", 1.0, "recall", "precision"
            elif {"high_quality", "modes_covered"} <= metrics:
                total = self.runs.loc[self.runs["dataset"] == dataset, "modes_total"].dropna()
                if total.empty:
                    continue
                scale = 1.0 / float(total.iloc[0])
                x, y = "modes_covered", "high_quality"
                xlabel, ylabel = "share of modes covered (recall)", "share of high-quality samples (precision)"
            else:
                continue
            multi_arch = rows["architecture"].nunique() > 1
            points = []
            for _, group in rows.groupby(["architecture", "objective", "regulariser", "variant"], sort=False):
                gx = group[group["metric"] == x].iloc[0]
                gy = group[group["metric"] == y].iloc[0]
                points.append({"method": method_label(gx, multi_arch), "n": int(min(gx["n"], gy["n"])),
                               "x": gx["mean"] * scale, "x_low": gx["ci_low"] * scale, "x_high": gx["ci_high"] * scale,
                               "y": gy["mean"], "y_low": gy["ci_low"], "y_high": gy["ci_high"]})
            figure = self.keep(precision_recall_plane(pd.DataFrame(points), dataset, xlabel, ylabel))
            if figure is not None:
                made.append({"figure": figure})
        return made

    # Distributions across seeds.

    def distributions(self) -> list[Figure]:
        made = []
        for dataset in dict.fromkeys(self.summary["dataset"]):
            metrics = self.headline_metrics(dataset)[:DISTRIBUTION_METRICS]
            runs = self.runs[(self.runs["dataset"] == dataset)].copy()
            if not metrics or runs.empty:
                continue
            multi_arch = runs["architecture"].nunique() > 1
            runs["method"] = [method_label(r, multi_arch) for _, r in runs.iterrows()]
            completed = runs.loc[runs["status"] == "completed", ["method", *metrics]]
            figure = self.keep(seed_distributions(completed, {m: self.label(m) for m in metrics},
                                                  self._order(dataset, metrics[0], runs), dataset))
            if figure is not None:
                made.append(figure)
        return made

    def _order(self, dataset: str, metric: str, runs: pd.DataFrame) -> list[str]:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["metric"] == metric)]
        multi_arch = runs["architecture"].nunique() > 1
        ordered = rows.sort_values("mean", ascending=rows["better"].iloc[0] == "lower" if len(rows) else True,
                                   na_position="last")
        labels = [method_label(r, multi_arch) for _, r in ordered.iterrows()]
        return labels + [m for m in dict.fromkeys(runs["method"]) if m not in labels]

    # Metrics over training.

    def metric_curves(self) -> list[Figure]:
        """Per dataset, its headline metrics against the generator step, one line per method."""
        if self.curves is None or self.curves.empty:
            return []
        made = []
        for dataset, curves in self.curves.groupby("dataset", sort=False):
            metrics = [m for m in self.headline_metrics(dataset) if m in set(curves["metric"])][:CURVE_METRICS]
            if not metrics:
                continue
            wide = curves[curves["metric"].isin(metrics)].pivot_table(
                index=["run_id", "step"], columns="metric", values="value", aggfunc="first").reset_index()
            runs = self.runs.set_index("run_id")
            multi_arch = runs.loc[runs["dataset"] == dataset, "architecture"].nunique() > 1
            methods = {run_id: method_label(runs.loc[run_id], multi_arch) if run_id in runs.index else run_id
                       for run_id in wide["run_id"].unique()}
            lines = wide.rename(columns={"run_id": "run"}).assign(line=lambda f: f["run"].map(methods))
            made.append(self.keep(training_lines(
                lines, {m: self.label(m) for m in metrics}, set(), f"{dataset}: metrics over training",
                "Each method's metrics at every snapshot its runs kept (eval_every), scored like the final "
                "weights with the same samples", f"curves-{dataset}")))
        return [figure for figure in made if figure is not None]

    # Budget curves of the studies that sweep hyperparameters.

    def budgets(self) -> list[dict[str, Any]]:
        """Per dataset with a sweep: its headline metrics' budget curves, and the methods ranked on the
        first by their expected best at the stated budget (config ``report.budget``; null: the largest)."""
        if self.budget is None or self.budget.empty:
            return []
        stated = ((self.grid_config or {}).get("report") or {}).get("budget")
        sections = []
        for dataset, curves in self.budget.groupby("dataset", sort=False):
            metrics = [m for m in self.headline_metrics(dataset) if m in set(curves["metric"])][:CURVE_METRICS]
            if not metrics:
                continue
            figure = self.keep(budget_lines(curves, {m: self.label(m) for m in metrics}, dataset))
            rows = curves[curves["metric"] == metrics[0]]
            budget = int(min(stated, rows["budget"].max()) if stated else rows["budget"].max())
            several = rows[["sweep", "architecture"]].drop_duplicates().shape[0] > 1
            ranked = []
            for _, line in rows.groupby(["sweep", "architecture", "objective", "regulariser"], sort=False):
                at = line[line["budget"] == min(budget, int(line["budget"].max()))].iloc[0]
                value = at["expected_best"]
                ranked.append({
                    "method": f"{at['sweep']}, {at['architecture']}: {at['method']}" if several else at["method"],
                    "text": _format(value),
                    "interval": f"[{_format(at['low'])}, {_format(at['high'])}]" if not pd.isna(at["low"]) else "",
                    "budget": int(at["budget"]), "draws": int(at["draws"]), "runs": int(at["runs"]),
                    "sort": math.inf if pd.isna(value) else (-value if at["better"] == "higher" else value),
                })
            ranked.sort(key=lambda row: row["sort"])
            sections.append({"dataset": dataset, "figure": figure, "budget": budget, "label": self.label(metrics[0]),
                             "better": str(rows["better"].iloc[0]), "ranked": ranked})
        return sections

    # Against the published numbers.

    def against_published(self, table: pd.DataFrame | None) -> list[dict[str, Any]]:
        """One row per published entry and cell of published.csv, in words; empty without one."""
        if table is None:
            return []
        rows = []
        for _, row in table.iterrows():
            cell = self.summary
            for column in ("dataset", "architecture", "objective", "regulariser", "variant"):
                cell = cell[cell[column].astype(str) == str(row[column])]
            method = method_label(cell.iloc[0]) if len(cell) else method_label({**row.to_dict(), "regularisers": row["regulariser"]})
            rows.append({
                "dataset": row["dataset"], "method": method, "metric": row["label"],
                "published": published_text(row), "source": row["source"], "note": row["note"],
                "ours": ours_text(row), "budget": budget_text(row), "reduced": reduced(row),
                "verdict": row["verdict"], "reason": row["reason"],
            })
        return rows

    # Training curves and gradient diagnostics.

    def diagnostics(self) -> list[dict[str, Any]]:
        # A preset inherits the default config's list; an objective its grid did not train is passed over.
        contrasted = ((self.grid_config or {}).get("report") or {}).get("saturation")
        sections = []
        for (dataset, architecture, variant), runs in self.runs.groupby(["dataset", "architecture", "variant"],
                                                                         sort=False):
            logs = _read_logs(runs)
            baseline = self._baseline_objective(dataset, architecture, variant)
            if variant != DEFAULT_VARIANT:
                architecture = f"{architecture} [{variant}]"
            for heading, group_runs, hue, panels in _diagnostic_groups(runs, logs, baseline, contrasted):
                lines = _lines(logs, group_runs, hue)
                if lines.empty:
                    continue
                base = f"{dataset}/{architecture}: {heading}"
                figures = [self.keep(training_lines(lines, columns, LOG_SCALE, f"{base}: {kind}", caption,
                                                    f"{kind}-{dataset}-{architecture}-{heading}"))
                           for kind, columns, caption in panels]
                sections.append({"heading": base, "figures": [f for f in figures if f is not None],
                                 "saturation": _saturation_table(lines)})
        return sections

    def _baseline_objective(self, dataset: str, architecture: str, variant: str) -> str | None:
        """The objective of the cell the tables compare this group of runs with (None without one)."""
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["architecture"] == architecture)
                            & self.summary["is_baseline"].astype(bool)]
        own = rows[rows["variant"].astype(str) == str(variant)]
        chosen = own if len(own) else rows
        return str(chosen["objective"].iloc[0]) if len(chosen) else None

    # Samples.

    def samples(self) -> list[dict[str, Any]]:
        galleries = []
        for dataset, runs in self.runs.groupby("dataset", sort=False):
            multi_arch = runs["architecture"].nunique() > 1
            cards = []
            for _, group in runs.groupby(["architecture", "objective", "regulariser", "variant"], sort=False):
                group = group.sort_values("seed")
                shown = None
                for _, run in group.iterrows():
                    picture = Path(run["run_dir"]) / "samples.png"
                    if run["status"] == "completed" and picture.exists():
                        shown = (run, picture)
                        break
                first = group.iloc[0]
                diverged = int((group["status"] == "diverged").sum())
                card = {"label": method_label(first, multi_arch), "seeds": len(group), "diverged": diverged}
                if shown is not None:
                    card |= {"seed": int(shown[0]["seed"]),
                             "uri": "data:image/png;base64," + base64.b64encode(shown[1].read_bytes()).decode("ascii")}
                cards.append(card)
            galleries.append({"dataset": dataset, "cards": cards})
        return galleries

    # Failures.

    def failures(self) -> list[dict[str, Any]]:
        failed = self.runs[self.runs["status"] != "completed"]
        return [{"run_id": r["run_id"], "status": r["status"],
                 "step": "" if pd.isna(r["diverged_step"]) else int(r["diverged_step"]),
                 "reason": "" if pd.isna(r["reason"]) else str(r["reason"])}
                for _, r in failed.iterrows()]


# --- Helpers --------------------------------------------------------------------------------------


def _snapshot_phrase(summary: pd.DataFrame) -> str:
    """Which weights the tables report each run at, as aggregate --at chose them."""
    chosen = str(summary["at"].iloc[0]) if "at" in summary and len(summary) else "last"
    return "its final weights" if chosen == "last" else f"its snapshot with the {chosen} (aggregate --at best)"


def _sweep_phrase(sweep: dict[str, Any] | None) -> str:
    """What a study's sweep draws: '8 settings of beta1, lr_d (seed 0)'; empty without one."""
    if not sweep:
        return ""
    return f"{sweep.get('samples')} settings of {', '.join(sorted(sweep.get('space') or {}))} (seed {sweep.get('seed', 0)})"


def _minutes(seconds: float) -> str:
    if pd.isna(seconds):
        return "?"
    return f"{seconds / 60:.1f}"


def _listing(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _highlighted_config(config: dict[str, Any] | None) -> str:
    if not config:
        return ""
    import yaml
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import YamlLexer

    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100)
    return highlight(text, YamlLexer(), HtmlFormatter(noclasses=True, nobackground=True))


def _format(value: float) -> str:
    if pd.isna(value):
        return "–"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e5):
        return f"{value:.2e}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"


def _value_cell(row: pd.Series | None) -> dict[str, Any]:
    if row is None or pd.isna(row["mean"]):
        return {"text": "–", "interval": "", "best": False, "tied": False, "delta": "", "p": ""}
    interval = f"[{_format(row['ci_low'])}, {_format(row['ci_high'])}]" if not pd.isna(row["ci_low"]) else "(one seed)"
    delta = ""
    if not pd.isna(row.get("delta", math.nan)):
        delta = f"{'+' if row['delta'] >= 0 else ''}{_format(row['delta'])}"
        if not pd.isna(row["delta_ci_low"]):
            delta += f" [{_format(row['delta_ci_low'])}, {_format(row['delta_ci_high'])}]"
    p = "" if pd.isna(row.get("p_value", math.nan)) else f"{row['p_value']:.2g}"
    return {"text": _format(row["mean"]), "interval": interval, "best": bool(row["best"]),
            "tied": bool(row["tied_with_best"]), "delta": delta, "p": p}


def _estimate(value: Any, low: Any, high: Any) -> str:
    """A point estimate with its interval, '–' when there is none."""
    if value is None or pd.isna(value):
        return "–"
    interval = f" [{_format(low)}, {_format(high)}]" if not pd.isna(low) else " (one seed)"
    return _format(value) + interval


def _effect_text(effect: float) -> str:
    if pd.isna(effect):
        return "–"
    if math.isinf(effect):
        return f"{'+' if effect > 0 else '−'}∞ (no spread)"
    return f"{effect:+.2f}"


def _seeds_needed_text(needed: Any, effect: float) -> str:
    if needed is not None and not pd.isna(needed):
        return f"{int(needed)} per method"
    return "–" if pd.isna(effect) else "cannot be separated"


def _verdict(metric_label: str | None, cells: list[dict[str, Any]], best: list[dict[str, Any]]) -> str:
    if metric_label is None:
        return "No metric with a known direction: nothing is ranked."
    if best:
        return (f"{best[0]['label']} is best on {metric_label}: its interval does not overlap any other "
                "method's.")
    tied = [c["label"] for c in cells if c["values"] and c["values"][0]["tied"]]
    if tied:
        return (f"No single best on {metric_label}: the intervals of {len(tied)} methods overlap the leader's "
                f"({', '.join(tied)}). More seeds would be needed to separate them.")
    return f"Too few seeds with values to rank on {metric_label} (intervals need two or more)."


def _diagnostic_groups(runs: pd.DataFrame, logs: pd.DataFrame, baseline: str | None,
                       contrasted: list[str] | None) -> list[tuple[str, pd.DataFrame, str, list]]:
    """Groups of runs drawn together: (heading, runs, the column lines are told apart by, panels).

    Saturation (alone, so that it is not lost among other lines: the baseline objective and the
    ``contrasted`` ones or, when None, those whose generator gradient falls ``SATURATION_FALL``
    times), the objectives at the regulariser spec most of them share, and the regularisers under
    each objective.
    """
    full = [("training curves", CURVES, "Losses and mean discriminator outputs per logged step (linear scale)"),
            ("gradients", GRADIENTS, "Gradient norms; a generator gradient that falls by orders of "
                                     "magnitude while D's outputs separate is saturation (gradient norms on a "
                                     "log scale)")]
    # Regulariser specs by how many objectives ran under them, most first.
    specs = runs.groupby("regulariser", sort=False)["objective"].nunique().sort_values(ascending=False,
                                                                                      kind="mergesort")
    groups = []
    for spec in specs.index if baseline is not None else []:
        chosen = runs[runs["regulariser"] == spec]
        if baseline not in set(chosen["objective"]):
            continue
        if contrasted is not None:
            collapsing = [name for name in contrasted if name != baseline and name in set(chosen["objective"])]
        else:
            falls = _generator_gradient(_lines(logs, chosen, "objective"))
            collapsing = [name for name, (early, late, _) in falls.items()
                          if name != baseline and early > 0 and late * SATURATION_FALL <= early]
        if collapsing:
            groups.append((f"saturation: {' and '.join(collapsing)} against {baseline} at regulariser {spec}",
                           chosen[chosen["objective"].isin([*collapsing, baseline])], "objective",
                           [("generator gradient and D at the fakes", SATURATION,
                             "The generator's gradient, D's input gradient at the fakes and D's mean output on "
                             "them (gradient norms on a log scale)")]))
            break
    for spec, objectives in specs.items():
        if objectives >= 3 or (objectives == 2 and not groups):
            groups.append((f"objectives at regulariser {spec}", runs[runs["regulariser"] == spec], "objective",
                           full))
            break
    for objective, chosen in runs.groupby("objective", sort=False):
        if chosen["regulariser"].nunique() >= 2:
            groups.append((f"regularisers under {objective}", chosen, "regulariser", full))
    return groups


def _read_logs(runs: pd.DataFrame) -> pd.DataFrame:
    """Every run's log.csv, numeric, stacked with its run id as ``run`` (a run without one left out)."""
    frames = []
    for _, run in runs.iterrows():
        path = Path(run["run_dir"]) / "log.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        for column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        frames.append(frame.assign(run=run["run_id"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"run": [], "step": []})


def _lines(logs: pd.DataFrame, runs: pd.DataFrame, hue: str) -> pd.DataFrame:
    """The logs of ``runs``, each row with ``line``: its run's value of the figure's hue."""
    names = {}
    for _, run in runs.iterrows():
        name = regulariser_spec.label(run[hue], run["regularisers"]) if hue == "regulariser" else str(run[hue])
        names[run["run_id"]] = name
    chosen = logs[logs["run"].isin(names)]
    return chosen.assign(line=chosen["run"].map(names))


def _generator_gradient(lines: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Per line: the generator's gradient norm early (first quarter of training) and late (last
    quarter), and D's late gap between real and fake outputs; medians over the line's runs."""
    found = {}
    if "grad_norm_g" not in lines:
        return found
    for name, runs in lines.groupby("line", sort=False):
        early, late, separation = [], [], []
        for _, frame in runs.groupby("run", sort=False):
            values = frame["grad_norm_g"].to_numpy(dtype=float)
            steps = frame["step"].to_numpy()
            finite = np.isfinite(values)
            if not finite.any():
                continue
            first_quarter = steps <= steps.max() / 4
            last_quarter = steps >= steps.max() * 3 / 4
            early.append(np.nanmedian(np.where(finite & first_quarter, values, np.nan)))
            late.append(np.nanmedian(np.where(finite & last_quarter, values, np.nan)))
            if "d_real_mean" in frame and "d_fake_mean" in frame:
                gap = (frame["d_real_mean"] - frame["d_fake_mean"]).to_numpy(dtype=float)
                separation.append(np.nanmedian(np.where(last_quarter, gap, np.nan)))
        if early:
            found[name] = (float(np.nanmedian(early)), float(np.nanmedian(late)),
                           float(np.nanmedian(separation)) if separation else math.nan)
    return found


def _saturation_table(lines: pd.DataFrame) -> list[dict[str, Any]]:
    """Per line: the generator's gradient norm early and late in training, their ratio, D's late gap."""
    counts = lines.groupby("line", sort=False)["run"].nunique()
    return [{"name": name, "n": int(counts[name]), "early": _format(e), "late": _format(l),
             "ratio": _format(l / e) if e > 0 and not math.isnan(l) else "–",
             "gap": _format(gap) if not math.isnan(gap) else "–"}
            for name, (e, l, gap) in _generator_gradient(lines).items()]


# --- The page -------------------------------------------------------------------------------------


# --- Probes (benchsuite/probes draws the figures; one figure per probe) -----------------------------


def probe_figures(report: Report, root: str | Path) -> list[Figure]:
    from benchsuite.probes._figures import report_figures

    made = [Figure(file_slug(f["slug"]), f["title"], f["caption"], f["png"]) for f in report_figures(root)]
    report.figures.extend(made)
    return made


def load_grid_config(value: str | None) -> dict[str, Any] | None:
    """The pipeline config from inline JSON or a YAML/JSON file; None when not given."""
    if not value:
        return None
    import yaml

    text = value if value.lstrip().startswith("{") else None
    if text is None:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"grid config {value!r} is neither inline JSON nor an existing file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"grid config {value!r} cannot be read as text ({error}); name a YAML file") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"grid config {value[:80]!r} is not valid YAML or JSON: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError("the grid config must be a mapping")
    return loaded


def build(tables: str | Path, out: str | Path, figures: str | Path | None = None,
          grid_config: dict[str, Any] | None = None, title: str | None = None,
          template: str | Path | None = None, probes: str | Path | None = None) -> Path:
    """Render the report from the tables in ``tables`` into ``out``; returns the path written.
    ``probes``: a directory of probe directories (benchsuite probe) for the Probes section."""
    import jinja2

    template = Path(template) if template else TEMPLATE
    if not template.exists():
        raise ConfigError(f"report template {template} not found; pass --template with the path of report.html.j2")
    runs, summary = read_tables(tables)
    curves_path = Path(tables) / "curves.csv"
    curves = pd.read_csv(curves_path) if curves_path.exists() else None
    budget_path = Path(tables) / "budget.csv"
    budget = pd.read_csv(budget_path, keep_default_na=False, na_values=[""]) if budget_path.exists() else None
    if summary.empty:
        raise ConfigError(f"{tables}/summary.csv has no rows: aggregate finished runs first")
    if not {"label", "headline"} <= set(summary.columns):
        raise ConfigError(f"{tables}/summary.csv has no declared metric labels (written by an older benchsuite "
                          "aggregate): run `benchsuite aggregate` again")
    report = Report(runs, summary, grid_config,
                    title or ((grid_config or {}).get("report") or {}).get("title") or "benchsuite report",
                    curves=curves, budget=budget)
    context = {
        "title": report.title,
        "overview": report.overview(),
        "leaderboards": report.leaderboards(),
        "across": report.across_datasets(),
        "planes": report.planes(),
        "distributions": report.distributions(),
        "curves": report.metric_curves(),
        "budgets": report.budgets(),
        "published": report.against_published(read_published(tables)),
        "at": _snapshot_phrase(summary),
        "diagnostics": report.diagnostics(),
        "samples": report.samples(),
        "failures": report.failures(),
        "probes": probe_figures(report, probes) if probes else [],
    }
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent),
                                     autoescape=jinja2.select_autoescape(["html", "j2"]),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["markup"] = lambda text: jinja2.utils.markupsafe.Markup(text)
    page = environment.get_template(template.name).render(**context)
    out = Path(out)
    write_text(out, page)
    if figures is not None:
        directory = Path(figures)
        directory.mkdir(parents=True, exist_ok=True)
        for figure in report.figures:
            write_bytes(directory / f"{figure.slug}.png", figure.png)
    return out

