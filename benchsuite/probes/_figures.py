"""Probe figures: one panel per metric against the probe's x, one line per objective x regulariser.

The same drawing serves a single probe directory (``probe.png``) and the report's Probes section,
which overlays every probed method of one probe (the mean over seeds, the seeds' range shaded).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from benchsuite import registry
from benchsuite.errors import ConfigError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw(probe_cls: Any, table: pd.DataFrame) -> bytes:
    """A PNG of ``table`` (rows of probe.csv, one probe) with a panel per metric."""
    plt = _pyplot()
    metrics = list(dict.fromkeys(table["metric"]))
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), dpi=100, squeeze=False)
    cells = list(dict.fromkeys(zip(table["objective"], table["regulariser"])))
    colours = plt.get_cmap("tab10" if len(cells) <= 10 else "tab20")
    for panel, metric in zip(axes[0], metrics):
        for index, (objective, regulariser) in enumerate(cells):
            rows = table[(table["metric"] == metric) & (table["objective"] == objective)
                         & (table["regulariser"] == regulariser)]
            by_x = rows.groupby("x")["value"]
            mean, low, high = by_x.mean(), by_x.min(), by_x.max()
            seeds = rows["seed"].nunique()
            label = f"{objective} × {regulariser}" + (f" ({seeds} seeds)" if seeds > 1 else "")
            colour = colours(index % colours.N)
            panel.plot(mean.index, mean.values, color=colour, lw=1.3, label=label)
            if seeds > 1:
                panel.fill_between(mean.index, low.values, high.values, color=colour, alpha=0.2, lw=0)
        if probe_cls.log_x:
            panel.set_xscale("symlog", linthresh=1)
        if metric in probe_cls.log_metrics:
            panel.set_yscale("log")
        panel.set_xlabel(probe_cls.x_label)
        panel.set_title(metric.replace("_", " "))
        panel.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    # No date or software tag: the same numbers give the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def cell_figure(probe: Any, rows: list[dict[str, Any]]) -> bytes:
    return draw(type(probe), pd.DataFrame(rows))


def read_probes(root: str | Path) -> pd.DataFrame:
    """Every finished probe under ``root`` (a probe.csv beside a probe.json), as one long table."""
    frames = []
    for record in sorted(Path(root).rglob("probe.json")):
        table = record.with_name("probe.csv")
        if not table.exists():
            raise ConfigError(f"{record.parent} has probe.json but no probe.csv; rerun that probe with --force")
        frames.append(pd.read_csv(table, dtype={"objective": str, "regulariser": str, "metric": str}))
    if not frames:
        return pd.DataFrame(columns=["probe", "objective", "regulariser", "seed", "x", "metric", "value"])
    return pd.concat(frames, ignore_index=True)


def report_figures(root: str | Path) -> list[dict[str, Any]]:
    """One figure per probe under ``root``: its name, title, caption (source, seeds) and PNG bytes."""
    table = read_probes(root)
    figures = []
    for name in dict.fromkeys(table["probe"]):
        entry = registry.lookup("probe", name)
        rows = table[table["probe"] == name]
        seeds = rows.groupby(["objective", "regulariser"])["seed"].nunique()
        low, high = int(seeds.min()), int(seeds.max())
        count = f"{low} to {high} seeds" if low != high else f"{low} seed" + ("s" if low > 1 else "")
        figures.append({
            "slug": f"probe-{name}",
            "title": f"{name}: {entry.description}",
            "caption": f"{entry.target.source}. One line per objective × regulariser, the mean over its seeds "
                       f"(the band: their range), n = {count} each.",
            "png": draw(entry.target, rows),
        })
    return figures
