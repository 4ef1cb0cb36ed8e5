"""The report's figures: plain functions of small DataFrames that return a rendered PNG.

Each function receives data already chosen and labelled (the report decides which methods, metrics
and runs go into which figure) and draws it; every figure states in its title and caption how many
seeds stand behind each of its points or lines. The same data give the same bytes: no date or
software tag is written, and nothing is placed at random.
"""

from __future__ import annotations

import base64
import io
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Figure:
    """A rendered figure: inlined into the page and, when asked, written as a file."""

    slug: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10,
                         "svg.hashsalt": "benchsuite", "path.simplify": True})
    return plt


def render(figure: Any, slug: str, title: str, caption: str) -> Figure:
    """The matplotlib figure as PNG bytes (then closed), with its file name, title and caption."""
    plt = pyplot()
    buffer = io.BytesIO()
    # No date or software tag in the file: the same figure gives the same bytes.
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return Figure(file_slug(slug), title, caption, buffer.getvalue())


def file_slug(text: str) -> str:
    """A figure's name as a file name: letters, digits, '_', '.' and '-' only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def seeds_phrase(counts: list[int]) -> str:
    """How many seeds stand behind each line or point of a figure."""
    distinct = sorted(set(counts))
    if not distinct:
        return "no seeds"
    if len(distinct) == 1:
        return f"n = {distinct[0]} seed{'s' if distinct[0] != 1 else ''} each"
    return f"n = {distinct[0]} to {distinct[-1]} seeds each"


def palette(n: int) -> list[Any]:
    import seaborn as sns

    return sns.color_palette("tab10" if n <= 10 else "husl", max(n, 1))


def _error(centre: float, low: float, high: float) -> Any:
    if pd.isna(low):
        return None
    return [[max(0.0, centre - low)], [max(0.0, high - centre)]]


def precision_recall_plane(points: pd.DataFrame, dataset: str, xlabel: str, ylabel: str) -> Figure | None:
    """Fidelity against diversity: one point per method with its intervals on both axes.

    ``points``: one row per method with ``method``, ``n`` (seeds behind the point), ``x``, ``x_low``,
    ``x_high``, ``y``, ``y_low``, ``y_high`` (NaN intervals for a single seed), both axes in [0, 1].
    Rows without a mean on either axis are left out; None when no row is left.
    """
    points = points.dropna(subset=["x", "y"])
    if points.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    for colour, (_, point) in zip(palette(len(points)), points.iterrows()):
        n = int(point["n"])
        ax.errorbar(point["x"], point["y"], xerr=_error(point["x"], point["x_low"], point["x_high"]),
                    yerr=_error(point["y"], point["y_low"], point["y_high"]), fmt="o", color=colour, capsize=3,
                    label=f"{point['method']} (n={n})")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    seeds = seeds_phrase([int(n) for n in points["n"]])
    title = f"{dataset}: {ylabel.split(' (')[0]} against {xlabel.split(' (')[0]}"
    ax.set_title(f"{title}\nmean and 95 % interval over seeds; {seeds}")
    return render(fig, f"plane-{dataset}", title,
                  f"Top right is best. Points are means over the completed seeds of each method ({seeds}), bars "
                  "their bootstrap intervals.")


def seed_distributions(values: pd.DataFrame, metrics: dict[str, str], order: list[str], dataset: str) -> Figure | None:
    """Every seed's value as a dot over a box per method, one panel per metric.

    ``values``: one row per completed run, with ``method`` and a column per metric (NaN where the run
    has none); ``metrics``: the columns to draw and their axis labels; ``order``: the methods top down.
    """
    import seaborn as sns

    if not metrics or not order:
        return None
    counts = values.groupby("method").size()
    plt = pyplot()
    height = max(2.5, 0.28 * len(order) + 1.2)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 2.5, height), sharey=True, squeeze=False)
    for ax, (metric, axis_label) in zip(axes[0], metrics.items()):
        data = values[["method", metric]].dropna()
        if data.empty:
            ax.set_visible(False)
            continue
        with warnings.catch_warnings():
            # seaborn 0.13 hands matplotlib >= 3.10 the deprecated ``vert`` argument.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*vert: bool.*")
            sns.boxplot(data=data, y="method", x=metric, order=order, ax=ax, color="0.9", fliersize=0, linewidth=0.8)
        with warnings.catch_warnings():
            # A swarm places equal values side by side without random jitter, so the figure is
            # reproducible; with very many seeds some points overlap, which it warns about.
            warnings.simplefilter("ignore", category=UserWarning)
            sns.swarmplot(data=data, y="method", x=metric, order=order, ax=ax, color="tab:blue", size=4)
        ax.set_xlabel(axis_label)
        ax.set_ylabel("")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(order)))
    axes[0][0].set_yticklabels([f"{m} (n={int(counts.get(m, 0))})" for m in order])
    seeds = seeds_phrase([int(counts.get(m, 0)) for m in order])
    title = f"{dataset}: metric values of every seed"
    fig.suptitle(f"{title} (completed runs; {seeds})", y=1.0)
    return render(fig, f"distributions-{dataset}", title,
                  f"One dot per completed seed, boxes over the seeds ({seeds}; n per method in the labels). Diverged "
                  "runs have no values and are not drawn.")


def training_lines(logs: pd.DataFrame, columns: dict[str, str], log_scale: set[str], title: str, caption: str,
                   slug: str) -> Figure | None:
    """One panel per logged column, one line per group of runs: the median over its runs at each
    step, with a band from their minimum to their maximum.

    ``logs``: the runs' log.csv rows stacked, with ``line`` (the group a run belongs to), ``run`` and
    ``step`` besides the logged columns; ``columns``: the columns to draw and their panel titles;
    ``log_scale``: those drawn on a log scale (their non-positive values are left out). None when no
    run logged any of the columns.
    """
    present = [c for c in columns if c in logs and logs[c].notna().any()]
    if not present:
        return None
    counts = logs.groupby("line", sort=False)["run"].nunique()
    seeds = seeds_phrase([int(n) for n in counts])
    plt = pyplot()
    ncols = min(3, len(present))
    nrows = math.ceil(len(present) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.0 * nrows + 0.8), squeeze=False)
    colours = dict(zip(counts.index, palette(len(counts))))
    for ax, column in zip(axes.flat, present):
        for name, runs in logs.groupby("line", sort=False):
            joined = runs[["step", column]]
            joined = joined[np.isfinite(joined[column])]
            if column in log_scale:
                joined = joined[joined[column] > 0]
            if joined.empty:
                continue
            stats = joined.groupby("step")[column].agg(["median", "min", "max"])
            ax.plot(stats.index, stats["median"], color=colours[name], lw=1.2, label=f"{name} (n={counts[name]})")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=colours[name], alpha=0.15, lw=0)
        ax.set_title(columns[column])
        ax.set_xlabel("generator step")
        if column in log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(present):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        h, l = ax.get_legend_handles_labels()
        if len(l) > len(labels):
            handles, labels = h, l
    fig.legend(handles, labels, loc="lower center", ncol=min(5, max(1, len(labels))), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02 - 0.03 * math.ceil(len(labels) / 5)))
    fig.suptitle(f"{title} (median over seeds, band min to max; {seeds})")
    fig.tight_layout()
    return render(fig, slug, title, f"{caption}; {seeds}.")


def performance_profile(profiles: pd.DataFrame, tasks: dict[str, int], seeds: str, confidence: float) -> Figure | None:
    """Performance profiles: per method, the share of its runs scoring above each threshold of the
    common 0-1 scale, with its stratified bootstrap band.

    ``profiles``: ``method``, ``tau``, ``share``, ``low``, ``high`` (NaN bands where a dataset has one
    run); ``tasks``: how many datasets stand behind each method, in the legend's order; ``seeds``: the
    seeds phrase.
    """
    import seaborn as sns

    if profiles.empty:
        return None
    plt = pyplot()
    methods = list(tasks)
    # Twenty distinct colours before falling back to a continuous palette: a grid compares many methods.
    colours = sns.color_palette("tab20", len(methods)) if 10 < len(methods) <= 20 else palette(len(methods))
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for colour, method in zip(colours, methods):
        line = profiles[profiles["method"] == method]
        ax.plot(line["tau"], line["share"], color=colour, lw=1.4, drawstyle="steps-post",
                label=f"{method} ({tasks[method]} dataset{'s' if tasks[method] != 1 else ''})")
        ax.fill_between(line["tau"], line["low"], line["high"], color=colour, alpha=0.15, lw=0, step="post")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("normalised score τ (per dataset: 0 the worst run, 1 the best)")
    ax.set_ylabel("share of runs scoring above τ")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    title = "performance profiles across datasets"
    ax.set_title(f"{title}\n{confidence:.0%} stratified bootstrap bands; {seeds}")
    return render(fig, "performance-profiles", title,
                  f"A curve further up and to the right is better. Each dataset's headline metric is rescaled "
                  f"from its worst run (0) to its best (1) over all methods; each dataset weighs the same in a "
                  f"method's curve. Bands: {confidence:.0%} bootstrap intervals resampling the seeds within each "
                  f"dataset; diverged runs have no score and are left out ({seeds}).")


def budget_lines(curves: pd.DataFrame, metrics: dict[str, str], dataset: str) -> Figure | None:
    """Each method's expected best value against the number of sampled settings, one panel per metric.

    ``curves``: budget.csv's rows of one dataset, with ``method``, ``metric``, ``better``, ``budget``,
    ``expected_best``, ``low``, ``high`` and ``draws`` (the settings behind the line); ``metrics``:
    the panels and their labels. None when no row has a value.
    """
    curves = curves[curves["metric"].isin(list(metrics))].dropna(subset=["expected_best"])
    if curves.empty:
        return None
    present = [m for m in metrics if (curves["metric"] == m).any()]
    methods = list(dict.fromkeys(curves["method"]))
    colours = dict(zip(methods, palette(len(methods))))
    draws = curves.groupby("method", sort=False)["draws"].max()
    plt = pyplot()
    fig, axes = plt.subplots(1, len(present), figsize=(4.6 * len(present), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], present):
        rows = curves[curves["metric"] == metric]
        for method, line in rows.groupby("method", sort=False):
            line = line.sort_values("budget")
            ax.plot(line["budget"], line["expected_best"], color=colours[method], lw=1.4, marker="o", ms=3,
                    label=f"{method} ({int(draws[method])} settings)")
            ax.fill_between(line["budget"], line["low"], line["high"], color=colours[method], alpha=0.15, lw=0)
        better = rows["better"].iloc[0]
        ax.set_title(f"{metrics[metric]} ({'higher' if better == 'higher' else 'lower'} is better)")
        ax.set_xlabel("sampled settings (budget k)")
        ax.set_ylabel(f"expected {'best' if better == 'higher' else 'lowest'} over k")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.04 - 0.04 * math.ceil(len(labels) / 4)))
    settings = seeds_phrase([int(n) for n in draws]).replace("seed", "setting")
    title = f"{dataset}: expected best value within a budget of k sampled settings"
    fig.suptitle(f"{title} (95 % bootstrap band over settings; {settings})")
    fig.tight_layout()
    return render(fig, f"budget-{dataset}", title,
                  "Each line is a method's expected best value (the mean over seeds of a setting, the best of k "
                  "settings drawn from those the sweep trained; Dodge et al. 2019), the band its bootstrap interval "
                  f"over the settings; {settings}.")
