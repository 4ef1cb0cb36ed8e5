"""The tables and the run directories -> one self-contained HTML report (figures inlined as PNG).

Sections: what ran (studies, seeds, steps, environment and provenance, the config); a leaderboard
per dataset (mean and bootstrap interval over seeds, failures, the difference to the baseline, a
"best" only where the intervals separate it from every other cell); the precision-recall plane
(sample quality against mode coverage for the toy mixtures); metric distributions across seeds;
training curves and gradient-norm diagnostics per objective and per regulariser, gradients on a log
scale; a sample picture per method; the diverged runs with their reasons. Every figure names the
number of seeds behind each of its lines or points.

The page needs no network and no script: images are ``data:`` URIs and the styles are inline.
It carries no generation date: the same tables and run directories give the same page.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchsuite.aggregate import DEFAULT_VARIANT, read_tables, write_atomically
from benchsuite.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parent.parent / "report" / "report.html.j2"

# Metrics in the order a leaderboard shows them (at most LEADERBOARD_METRICS); the first present
# one ranks the rows.
HEADLINE = ["fid", "modes_covered", "high_quality", "mode_kl", "precision", "recall", "is_mean", "kid_mean",
            "density", "coverage"]
LEADERBOARD_METRICS = 4
LABELS = {
    "modes_covered": "modes covered",
    "high_quality": "high-quality share",
    "mode_kl": "KL(modes || uniform)",
    "fid": "FID",
    "kid_mean": "KID",
    "is_mean": "IS",
}
CURVES = ["loss_d", "loss_g", "d_real_mean", "d_fake_mean"]
GRADIENTS = ["grad_norm_g", "grad_norm_d", "grad_x_d_fake", "grad_x_d_real", "grad_x_d_interp", "lipschitz_bound"]
SATURATION = ["grad_norm_g", "grad_x_d_fake", "d_fake_mean"]
DIAGNOSTIC_LABELS = {
    "loss_d": "discriminator loss",
    "loss_g": "generator loss",
    "d_real_mean": "mean D(x), real",
    "d_fake_mean": "mean D(G(z)), fake",
    "grad_norm_g": "||grad G params|| (generator)",
    "grad_norm_d": "||grad D params|| (discriminator)",
    "grad_x_d_fake": "||grad_x D|| at fakes",
    "grad_x_d_real": "||grad_x D|| at reals",
    "grad_x_d_interp": "||grad_x D|| at interpolates",
    "lipschitz_bound": "Lipschitz bound of D",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


# --- Figures --------------------------------------------------------------------------------------


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


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10,
                         "svg.hashsalt": "benchsuite", "path.simplify": True})
    return plt


def _render(figure: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    # No date or software tag in the file: the same figure gives the same bytes.
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts)).strip("-").lower()


def _seeds_phrase(counts: list[int]) -> str:
    """How many seeds stand behind each line or point of a figure."""
    distinct = sorted(set(counts))
    if not distinct:
        return "no seeds"
    if len(distinct) == 1:
        return f"n = {distinct[0]} seed{'s' if distinct[0] != 1 else ''} each"
    return f"n = {distinct[0]} to {distinct[-1]} seeds each"


# --- Methods and labels ---------------------------------------------------------------------------


def method_label(row: pd.Series | dict[str, Any], with_architecture: bool = False) -> str:
    regulariser = row["regulariser"]
    if regulariser == "default":
        regulariser = f"default={row['regularisers']}"
    text = f"{row['objective']} × {regulariser}"
    if with_architecture:
        text = f"{row['architecture']}: {text}"
    if row.get("variant", DEFAULT_VARIANT) != DEFAULT_VARIANT:
        text += f" [{row['variant']}]"
    return text


def _cell_key(row: pd.Series | dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[c]) for c in ("dataset", "architecture", "objective", "regulariser", "variant"))


# --- Sections -------------------------------------------------------------------------------------


@dataclass
class Report:
    runs: pd.DataFrame
    summary: pd.DataFrame
    grid_config: dict[str, Any] | None = None
    title: str = "benchsuite report"
    figures: list[Figure] = field(default_factory=list)

    def figure(self, fig: Any, slug: str, title: str, caption: str) -> Figure:
        made = Figure(_slug(slug), title, caption, _render(fig))
        self.figures.append(made)
        return made

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
                               for key in ("datasets", "architectures", "objectives", "regularisers", "seeds")}})
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
                "threads": record.get("torch_threads"),
                "platform": record.get("platform"),
                "commit": (git.get("commit") or "")[:12] + (" (with local changes)" if git.get("dirty") else ""),
            }
            key = json.dumps(entry, sort_keys=True)
            seen.setdefault(key, entry | {"runs": 0})["runs"] += 1
        return list(seen.values())

    # Leaderboards.

    def headline_metrics(self, dataset: str) -> list[str]:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["n"] > 0)]
        present = list(dict.fromkeys(rows["metric"]))
        ranked = [m for m in HEADLINE if m in present]
        return ranked + [m for m in present if m not in ranked and rows.loc[rows["metric"] == m, "better"].iloc[0]]

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
                "dataset": dataset,
                "metrics": [{"name": m, "label": label(m),
                             "better": rows.loc[rows["metric"] == m, "better"].iloc[0] if (rows["metric"] == m).any() else ""}
                            for m in metrics],
                "cells": cells,
                "baseline": method_label(baseline.iloc[0]) if len(baseline) else None,
                "seeds": _seeds_phrase([c["seeds"] for c in cells]),
                "verdict": _verdict(first, cells, best),
            })
        return boards

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
            plt = _pyplot()
            fig, ax = plt.subplots(figsize=(7.5, 5.5))
            counts = []
            colours = _palette(rows.groupby(["architecture", "objective", "regulariser", "variant"]).ngroups)
            for colour, (_, group) in zip(colours, rows.groupby(["architecture", "objective", "regulariser", "variant"],
                                                                 sort=False)):
                gx = group[group["metric"] == x].iloc[0]
                gy = group[group["metric"] == y].iloc[0]
                if pd.isna(gx["mean"]) or pd.isna(gy["mean"]):
                    continue
                n = int(min(gx["n"], gy["n"]))
                counts.append(n)
                xerr = _error(gx, scale)
                yerr = _error(gy, 1.0)
                ax.errorbar(gx["mean"] * scale, gy["mean"], xerr=xerr, yerr=yerr, fmt="o", color=colour,
                            capsize=3, label=f"{method_label(gx, rows['architecture'].nunique() > 1)} (n={n})")
            if not counts:
                plt.close(fig)
                continue
            ax.set_xlim(-0.03, 1.03)
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
            seeds = _seeds_phrase(counts)
            title = f"{dataset}: {ylabel.split(' (')[0]} against {xlabel.split(' (')[0]}"
            ax.set_title(f"{title}\nmean and 95 % interval over seeds; {seeds}")
            made.append(self.figure(fig, f"plane-{dataset}", title,
                                    f"Top right is best. Points are means over the completed seeds of each method "
                                    f"({seeds}), bars their bootstrap intervals."))
        return [{"figure": f} for f in made]

    # Distributions across seeds.

    def distributions(self) -> list[Figure]:
        import seaborn as sns

        made = []
        for dataset in dict.fromkeys(self.summary["dataset"]):
            metrics = self.headline_metrics(dataset)[:3]
            runs = self.runs[(self.runs["dataset"] == dataset)].copy()
            if not metrics or runs.empty:
                continue
            multi_arch = runs["architecture"].nunique() > 1
            runs["method"] = [method_label(r, multi_arch) for _, r in runs.iterrows()]
            order = self._order(dataset, metrics[0], runs)
            counts = runs[runs["status"] == "completed"].groupby("method").size()
            plt = _pyplot()
            height = max(2.5, 0.28 * len(order) + 1.2)
            fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 2.5, height), sharey=True,
                                     squeeze=False)
            for ax, metric in zip(axes[0], metrics):
                data = runs[["method", metric]].dropna()
                if data.empty:
                    ax.set_visible(False)
                    continue
                with warnings.catch_warnings():
                    # seaborn 0.13 hands matplotlib >= 3.10 the deprecated ``vert`` argument.
                    warnings.simplefilter("ignore", category=DeprecationWarning)
                    warnings.filterwarnings("ignore", message=".*vert: bool.*")
                    sns.boxplot(data=data, y="method", x=metric, order=order, ax=ax, color="0.9", fliersize=0,
                                linewidth=0.8)
                with warnings.catch_warnings():
                    # A swarm places equal values side by side without random jitter, so the figure is
                    # reproducible; with very many seeds some points overlap, which it warns about.
                    warnings.simplefilter("ignore", category=UserWarning)
                    sns.swarmplot(data=data, y="method", x=metric, order=order, ax=ax, color="tab:blue", size=4)
                ax.set_xlabel(label(metric))
                ax.set_ylabel("")
                ax.grid(axis="x", alpha=0.3)
            axes[0][0].set_yticks(range(len(order)))
            axes[0][0].set_yticklabels([f"{m} (n={int(counts.get(m, 0))})" for m in order])
            seeds = _seeds_phrase([int(counts.get(m, 0)) for m in order])
            title = f"{dataset}: metric values of every seed"
            fig.suptitle(f"{title} (completed runs; {seeds})", y=1.0)
            made.append(self.figure(fig, f"distributions-{dataset}", title,
                                    f"One dot per completed seed, boxes over the seeds ({seeds}; n per method in "
                                    "the labels). Diverged runs have no values and are not drawn."))
        return made

    def _order(self, dataset: str, metric: str, runs: pd.DataFrame) -> list[str]:
        rows = self.summary[(self.summary["dataset"] == dataset) & (self.summary["metric"] == metric)]
        multi_arch = runs["architecture"].nunique() > 1
        ordered = rows.sort_values("mean", ascending=rows["better"].iloc[0] == "lower" if len(rows) else True,
                                   na_position="last")
        labels = [method_label(r, multi_arch) for _, r in ordered.iterrows()]
        return labels + [m for m in dict.fromkeys(runs["method"]) if m not in labels]

    # Training curves and gradient diagnostics.

    def diagnostics(self) -> list[dict[str, Any]]:
        sections = []
        for (dataset, architecture, variant), runs in self.runs.groupby(["dataset", "architecture", "variant"],
                                                                         sort=False):
            if variant != DEFAULT_VARIANT:
                architecture = f"{architecture} [{variant}]"
            for heading, group_runs, hue, panels in self._diagnostic_groups(runs):
                logs = _logs(group_runs, hue)
                if not logs:
                    continue
                hue_counts: dict[str, int] = {}
                for name, _ in logs.values():
                    hue_counts[name] = hue_counts.get(name, 0) + 1
                seeds = _seeds_phrase(list(hue_counts.values()))
                base = f"{dataset}/{architecture}: {heading}"
                figures = []
                for kind, columns, caption in panels:
                    scale = "gradient norms on a log scale" if columns[0] in GRADIENTS else "linear scale"
                    drawn = self._lines(logs, hue_counts, columns,
                                        title=f"{base}: {kind} (median over seeds, band min to max; {seeds})")
                    if drawn is not None:
                        figures.append(self.figure(drawn, f"{kind}-{dataset}-{architecture}-{heading}",
                                                   f"{base}: {kind}", f"{caption} ({scale}); {seeds}."))
                sections.append({"heading": base, "figures": figures,
                                 "saturation": _saturation(logs, hue, hue_counts)})
        return sections

    def _diagnostic_groups(self, runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str, list]]:
        """Groups of runs drawn together: (heading, runs, the column lines are told apart by, panels).

        Saturation (minimax beside nonsaturating, alone, so it is not lost among other lines), the
        objectives at one regulariser spec, and the regularisers under each objective.
        """
        full = [("training curves", CURVES, "Losses and mean discriminator outputs per logged step"),
                ("gradients", GRADIENTS, "Gradient norms; a generator gradient that falls by orders of "
                                         "magnitude while D's outputs separate is saturation")]
        groups = []
        for spec in ("default", "none"):
            chosen = runs[runs["regulariser"] == spec]
            pair = chosen[chosen["objective"].isin(["minimax", "nonsaturating"])]
            if pair["objective"].nunique() == 2:
                groups.append((f"saturation: minimax against nonsaturating at regulariser {spec}", pair, "objective",
                               [("generator gradient and D at the fakes", SATURATION,
                                 "The generator's gradient, D's input gradient at the fakes and D's mean output on "
                                 "them")]))
                break
        for spec in ("default", "none"):
            chosen = runs[runs["regulariser"] == spec]
            if chosen["objective"].nunique() >= 3 or (chosen["objective"].nunique() == 2 and not groups):
                groups.append((f"objectives at regulariser {spec}", chosen, "objective", full))
                break
        for objective, chosen in runs.groupby("objective", sort=False):
            if chosen["regulariser"].nunique() >= 2:
                groups.append((f"regularisers under {objective}", chosen, "regulariser", full))
        return groups

    def _lines(self, logs: dict[str, tuple[str, pd.DataFrame]], counts: dict[str, int], columns: list[str],
               title: str) -> Any:
        """One panel per column, one line per name of ``counts``; gradient norms on a log scale."""
        present = [c for c in columns if any(c in frame for _, frame in logs.values())]
        if not present:
            return None
        plt = _pyplot()
        ncols = min(3, len(present))
        nrows = math.ceil(len(present) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.0 * nrows + 0.8), squeeze=False)
        names = list(counts)
        colours = dict(zip(names, _palette(len(names))))
        for ax, column in zip(axes.flat, present):
            for name in names:
                frames = [frame[["step", column]] for key, frame in logs.values() if key == name and column in frame]
                if not frames:
                    continue
                joined = pd.concat(frames)
                joined = joined[np.isfinite(joined[column])]
                log_scale = column in GRADIENTS
                if log_scale:
                    joined = joined[joined[column] > 0]
                if joined.empty:
                    continue
                stats = joined.groupby("step")[column].agg(["median", "min", "max"])
                ax.plot(stats.index, stats["median"], color=colours[name], lw=1.2, label=f"{name} (n={counts[name]})")
                ax.fill_between(stats.index, stats["min"], stats["max"], color=colours[name], alpha=0.15, lw=0)
            ax.set_title(DIAGNOSTIC_LABELS.get(column, column))
            ax.set_xlabel("generator step")
            if column in GRADIENTS:
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
        fig.suptitle(title)
        fig.tight_layout()
        return fig

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


def _verdict(metric: str | None, cells: list[dict[str, Any]], best: list[dict[str, Any]]) -> str:
    if metric is None:
        return "No metric with a known direction: nothing is ranked."
    if best:
        return (f"{best[0]['label']} is best on {label(metric)}: its interval does not overlap any other "
                "method's.")
    tied = [c["label"] for c in cells if c["values"] and c["values"][0]["tied"]]
    if tied:
        return (f"No single best on {label(metric)}: the intervals of {len(tied)} methods overlap the leader's "
                f"({', '.join(tied)}). More seeds would be needed to separate them.")
    return f"Too few seeds with values to rank on {label(metric)} (intervals need two or more)."


def _error(row: pd.Series, scale: float) -> Any:
    if pd.isna(row["ci_low"]):
        return None
    return [[max(0.0, (row["mean"] - row["ci_low"]) * scale)], [max(0.0, (row["ci_high"] - row["mean"]) * scale)]]


def _palette(n: int) -> list[Any]:
    import seaborn as sns

    return sns.color_palette("tab10" if n <= 10 else "husl", max(n, 1))


def _logs(runs: pd.DataFrame, hue: str) -> dict[str, tuple[str, pd.DataFrame]]:
    """run_id -> (the run's value of the figure's hue, its log.csv with numeric columns)."""
    found = {}
    for _, run in runs.iterrows():
        path = Path(run["run_dir"]) / "log.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        for column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        name = str(run[hue])
        if hue == "regulariser" and name == "default":
            name = f"default={run['regularisers']}"
        found[run["run_id"]] = (name, frame)
    return found


def _saturation(logs: dict[str, tuple[str, pd.DataFrame]], hue: str, counts: dict[str, int]) -> list[dict[str, Any]]:
    """Per line: the generator's gradient norm early and late in training (medians over seeds)."""
    table = []
    for name in counts:
        early, late, separation = [], [], []
        for key, frame in logs.values():
            if key != name or "grad_norm_g" not in frame or frame.empty:
                continue
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
        if not early:
            continue
        e, l = float(np.nanmedian(early)), float(np.nanmedian(late))
        table.append({"name": name, "n": counts[name], "early": _format(e), "late": _format(l),
                      "ratio": _format(l / e) if e > 0 and not math.isnan(l) else "–",
                      "gap": _format(float(np.nanmedian(separation))) if separation else "–"})
    return table


# --- The page -------------------------------------------------------------------------------------


# --- Probes (benchsuite/probes draws the figures; one figure per probe) -----------------------------


def probe_figures(report: Report, root: str | Path) -> list[Figure]:
    from benchsuite.probes._figures import report_figures

    made = [Figure(_slug(f["slug"]), f["title"], f["caption"], f["png"]) for f in report_figures(root)]
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
        if not path.exists():
            raise ConfigError(f"grid config {value!r} is neither inline JSON nor an existing file")
        text = path.read_text()
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
    if summary.empty:
        raise ConfigError(f"{tables}/summary.csv has no rows: aggregate finished runs first")
    report = Report(runs, summary, grid_config,
                    title or ((grid_config or {}).get("report") or {}).get("title") or "benchsuite report")
    context = {
        "title": report.title,
        "overview": report.overview(),
        "leaderboards": report.leaderboards(),
        "planes": report.planes(),
        "distributions": report.distributions(),
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
    write_atomically(out, page)
    if figures is not None:
        directory = Path(figures)
        directory.mkdir(parents=True, exist_ok=True)
        for figure in report.figures:
            write_atomically(directory / f"{figure.slug}.png", figure.png)
    return out

