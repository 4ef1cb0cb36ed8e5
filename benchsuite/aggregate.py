"""Run directories -> two tidy tables: one row per run, and statistics across seeds per method.

``runs.csv``: one row per run with its grid coordinates, the regularisers its spec resolved to, its
status (and the step and reason of a divergence), every metric under its own name, every resolved
hyperparameter under ``config.`` (``config.lr_d``; component options as ``config.dataset.radius``,
``config.regulariser.r1.gamma``), the evaluation settings (``eval.<metric>.<option>``) and wall
times in seconds. ``sweep`` and ``setting`` say which drawn setting of which study's sweep a run is
(empty for a run no sweep drew); ``budget.csv`` turns the settings into budget curves
(``benchsuite.budget_curves``).

``summary.csv``: one row per (dataset, architecture, objective, regulariser, variant) and metric.
``variant`` is the hash a run id carries when its settings differ from the method's defaults
(``defaults`` when they do not), so cells set up differently are never pooled. Per row: the number of seeds, how many completed and how
many diverged; over the seeds that produced a value, n, the mean, the standard deviation (n - 1),
the median, a percentile bootstrap confidence interval of the mean, and the interquartile mean with
its own interval; and, against the dataset's baseline cell of the same architecture
(``nonsaturating`` x ``none`` unless told otherwise), the difference of means with a bootstrap
interval, an exact permutation p-value and the lowest p-value the seeds allow, the probability of
improvement with its interval, Cohen's d and the seeds per method that would separate the two
(``benchsuite.few_seeds``; docs/pipeline.md describes every column). A diverged run has no metric
values; it counts in ``diverged``, never as a number.

Each metric's direction (``better``), ``label`` and ``headline`` place come from the declarations
its metric wrote into ``metrics.json`` beside the values (``benchsuite.metrics._base.Declaration``);
the pipeline config's ``aggregate.better`` (``--better``) overrides a direction or gives one to a
value no metric declares. A value declared ``summarised: false`` (a mode total, an extractor's
accuracy) stays in runs.csv and out of the statistics; a value no metric declares is summarised,
labelled by its name and ranked only when ``aggregate.better`` names its direction. A
``metrics.json`` without declarations (written before metrics declared themselves) is an error that
says how to score the run again.

``best`` marks, per dataset and metric with a known direction, the cell with the best mean when its
interval does not overlap the interval of any other cell; ``tied_with_best`` marks the cells whose
intervals overlap the leader's (the leader included), i.e. those the seeds cannot tell apart.

``published.csv`` sets the config's published numbers beside ours, with a verdict
(``benchsuite.published``).

Everything here reads JSON and CSV only (no torch), and each resampling statistic of each row draws
from its own generator, seeded from the configured seed and the row's name: the tables are identical however
often, in whatever order and with whatever other cells they are rebuilt.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from benchsuite import few_seeds
from benchsuite import spec as regulariser_spec
from benchsuite.errors import ConfigError
from benchsuite.few_seeds import seeded_generator
from benchsuite.io import write_text

COORDINATES = ["dataset", "architecture", "objective", "regulariser", "variant"]
CELL_COLUMNS = ["dataset", "architecture", "objective", "regulariser", "regularisers", "variant"]
TIMING_COLUMNS = ["train_seconds", "eval_seconds"]
DEFAULT_VARIANT = "defaults"  # the variant of runs with their method's default settings (no hash)

DIRECTIONS = ("higher", "lower")
SNAPSHOTS = ("last", "best")  # which weights of a run its row reports (aggregate --at)
CURVE_COLUMNS = ["run_id", "dataset", "architecture", "objective", "regulariser", "variant", "seed", "step",
                 "metric", "value"]


def _flatten(prefix: str, value: Any, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], into)
    elif isinstance(value, (list, tuple)):
        into[prefix] = json.dumps(value)
    else:
        into[prefix] = value


def _read_json(path: Path) -> Any | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is unreadable ({error}); rerun the job that writes it") from None


def split_run_id(run_id: str) -> dict[str, Any]:
    """Coordinates of ``dataset/architecture/objective/regulariser/s<seed>[-<hash8>]``."""
    parts = run_id.split("/")
    if len(parts) != 5 or not parts[4].startswith("s"):
        raise ConfigError(f"{run_id!r} is not a run id (dataset/architecture/objective/regulariser/s<seed>)")
    seed, _, variant = parts[4][1:].partition("-")
    return {"dataset": parts[0], "architecture": parts[1], "objective": parts[2], "regulariser": parts[3],
            "seed": int(seed), "variant": variant or DEFAULT_VARIANT}


def resolved_regularisers(config: dict[str, Any]) -> str:
    """The regularisers a run used, as a canonical spec ('none' for none)."""
    # A run that used no regulariser has no options for one; "default" resolved to what it used.
    return regulariser_spec.canonical("+".join(config.get("regulariser_options") or {}) or regulariser_spec.NONE)


def pick_snapshot(metrics: dict[str, Any], at: str, select: str | None) -> tuple[int | None, dict[str, Any]]:
    """The step and values a run's row reports: its final weights (``at="last"``), or the snapshot of
    its curve where ``select`` (default: its first headline metric) is best (``at="best"``)."""
    final = (metrics.get("curve") or [{}])[-1].get("step")
    if at == "last" or not metrics.get("curve"):
        return final, metrics.get("values") or {}
    declarations = metrics.get("declarations") or {}
    if select is None:
        headlines = sorted((d["headline"], name) for name, d in declarations.items() if d.get("headline") is not None)
        if not headlines:
            raise ConfigError("--at best needs a metric to select the snapshot by and the runs declare no headline "
                              "metric; name one with --select")
        select = headlines[0][1]
    direction = (declarations.get(select) or {}).get("better")
    if direction not in DIRECTIONS:
        raise ConfigError(f"--select {select!r}: the runs declare no direction for it; choose a metric with one "
                          f"({', '.join(sorted(n for n, d in declarations.items() if d.get('better')))})")
    scored = [point for point in metrics["curve"] if isinstance((point.get("values") or {}).get(select), (int, float))
              and math.isfinite(point["values"][select])]
    if not scored:
        return final, metrics.get("values") or {}
    sign = 1 if direction == "higher" else -1
    # The earliest of equally good snapshots: the budget at which the value was reached.
    best = max(scored, key=lambda point: (sign * point["values"][select], -point["step"]))
    return best["step"], best["values"]


def read_run(run_dir: str | Path, at: str = "last", select: str | None = None) -> dict[str, Any]:
    """One row of runs.csv from a run directory, at its final weights or its best snapshot (``pick_snapshot``)."""
    run_dir = Path(run_dir)
    config = _read_json(run_dir / "config.json")
    if config is None:
        raise ConfigError(f"{run_dir} is not a run directory: it has no config.json")
    status = _read_json(run_dir / "status.json") or {"status": "unfinished"}
    metrics = _read_json(run_dir / "metrics.json")
    if metrics is not None and not isinstance(metrics.get("declarations"), dict):
        raise ConfigError(
            f"{run_dir / 'metrics.json'} has no metric declarations: it was written before each metric declared "
            f"its direction and label. Score the run again with `benchsuite evaluate {run_dir}` (in the pipeline: "
            "`snakemake --forcerun evaluate`), which writes metrics.json anew with them")
    provenance = _read_json(run_dir / "provenance.json") or {}
    run_id = (metrics or {}).get("run_id") or provenance.get("run_id")
    if not run_id:
        raise ConfigError(f"{run_dir} has neither metrics.json nor provenance.json naming its run id")

    row: dict[str, Any] = {"run_id": run_id, **split_run_id(run_id)}
    row["regularisers"] = resolved_regularisers(config)
    row["status"] = status.get("status")
    if metrics is None and row["status"] in ("completed", "diverged"):
        row["status"] = f"{row['status']} (not evaluated)"
    row["diverged_step"] = status.get("step") if status.get("status") == "diverged" else None
    row["reason"] = status.get("reason")
    values: dict[str, Any] = {}
    row["at_step"], reported = pick_snapshot(metrics, at, select) if metrics else (None, {})
    _flatten("", reported, values)
    row.update(values)
    row["missing_reason"] = (metrics or {}).get("missing_reason")
    row["n_samples"] = (metrics or {}).get("n_samples")
    settings: dict[str, Any] = {}
    _flatten("eval", (metrics or {}).get("settings") or {}, settings)
    row.update(settings)
    for key in sorted(config):
        if key in ("dataset", "architecture", "objective", "regulariser", "seed", "plugins"):
            continue
        if key.endswith("_options"):
            _flatten(f"config.{key[: -len('_options')]}", config[key], row)
        else:
            row[f"config.{key}"] = config[key]
    row["train_seconds"] = provenance.get("wall_seconds")
    row["eval_seconds"] = (metrics or {}).get("seconds")
    row["run_dir"] = str(run_dir)
    row["_metrics"] = list(values)
    row["_declared"] = ((metrics or {}).get("evaluated_at") or "", (metrics or {}).get("declarations") or {})
    return row


def undeclared(name: str) -> dict[str, Any]:
    """How a value no metric declares is treated: labelled by its name, summarised, never ranked."""
    return {"label": name.replace("_", " "), "better": None, "headline": None, "summarised": True}


def _declarations(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, dict[str, Any]]:
    """Each metric column's declaration. Where runs declare a value differently (scored by versions
    of the suite between which a label changed), the most recent evaluation speaks for all."""
    found: dict[str, dict[str, Any]] = {}
    for _, declared in sorted((row.pop("_declared") for row in rows), key=lambda pair: pair[0]):
        found |= declared
    merged = {}
    for name in metrics:
        declaration = undeclared(name) | found.get(name, {})
        if declaration["better"] not in (None, *DIRECTIONS):
            raise ConfigError(f"metric value {name!r} is declared better {declaration['better']!r}; "
                              f"it must be one of {', '.join(DIRECTIONS)} or null")
        merged[name] = declaration
    return merged


def collect(run_dirs: Iterable[str | Path], at: str = "last",
            select: str | None = None) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """runs.csv as a data frame, sorted by cell and seed, and its metric columns with their declarations
    (label, better, headline, summarised), in the order the runs report them."""
    if at not in SNAPSHOTS:
        raise ConfigError(f"--at must be one of {', '.join(SNAPSHOTS)}, got {at!r}")
    rows = [read_run(path, at, select) for path in run_dirs]
    if not rows:
        raise ConfigError("no run directories to aggregate")
    seen: dict[str, str] = {}
    for row in rows:
        if row["run_id"] in seen:
            raise ConfigError(f"run {row['run_id']} appears twice: {seen[row['run_id']]} and {row['run_dir']}")
        seen[row["run_id"]] = row["run_dir"]
    metrics: list[str] = []
    for row in rows:
        metrics += [name for name in row.pop("_metrics") if name not in metrics]
    clashes = set(metrics) & {"run_id", "seed", "status", "diverged_step", "reason", "regularisers", "missing_reason",
                              "n_samples", "run_dir", "at_step", *COORDINATES, *TIMING_COLUMNS}
    if clashes:
        raise ConfigError(f"metric names {sorted(clashes)} clash with columns of runs.csv; rename the metrics")
    declarations = _declarations(rows, metrics)
    frame = pd.DataFrame(rows)
    lead = ["run_id", "dataset", "architecture", "objective", "regulariser", "regularisers", "variant", "seed",
            "status", "diverged_step", "reason", "at_step", *metrics, "missing_reason", "n_samples"]
    tail = [*TIMING_COLUMNS, "run_dir"]
    middle = sorted(c for c in frame.columns if c not in lead and c not in tail)
    frame = frame[lead + middle + tail]
    frame = frame.sort_values(["dataset", "architecture", "objective", "regulariser", "variant", "seed"],
                              kind="mergesort").reset_index(drop=True)
    return frame, declarations


# --- Statistics -----------------------------------------------------------------------------------


COMPARISON_COLUMNS = ["delta", "delta_ci_low", "delta_ci_high", "p_value", "p_min", "prob_improvement",
                      "prob_improvement_ci_low", "prob_improvement_ci_high", "effect_size", "seeds_needed"]


def compare_with_baseline(values: np.ndarray, reference: np.ndarray | None, better: str | None, resamples: int,
                          confidence: float, seed: int, name: str) -> dict[str, Any]:
    """A cell's comparison columns against its baseline's values (all missing without a baseline):
    the difference of means with its bootstrap interval, the exact permutation p-value and the
    lowest one these seeds allow, the probability of improvement with its interval (for a metric
    with a direction), Cohen's d and the seeds per method that would separate the two."""
    compared = dict.fromkeys(COMPARISON_COLUMNS, math.nan)
    compared["seeds_needed"] = None
    if reference is None:
        return compared
    both = len(values) > 0 and len(reference) > 0
    compared["delta"] = float(values.mean() - reference.mean()) if both else math.nan
    compared["delta_ci_low"], compared["delta_ci_high"] = few_seeds.difference_of_means_interval(
        values, reference, resamples, confidence, seeded_generator(seed, f"{name}/difference"))
    compared["p_value"] = few_seeds.permutation_p_value(values, reference, seeded_generator(seed, f"{name}/permutation"))
    compared["p_min"] = float(few_seeds.smallest_p_value(len(values), len(reference))) if both else math.nan
    if better in DIRECTIONS and both:
        compared["prob_improvement"] = float(few_seeds.probability_of_improvement(values, reference, better))
        compared["prob_improvement_ci_low"], compared["prob_improvement_ci_high"] = (
            few_seeds.probability_of_improvement_interval(values, reference, better, resamples, confidence,
                                                          seeded_generator(seed, f"{name}/improvement")))
    compared["effect_size"] = few_seeds.effect_size(values, reference)
    compared["seeds_needed"] = few_seeds.seeds_needed(compared["effect_size"], 1 - confidence)
    return compared


def summarise(
    runs: pd.DataFrame,
    metrics: dict[str, dict[str, Any]],
    baseline: dict[str, str] | None = None,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    better: dict[str, str] | None = None,
) -> pd.DataFrame:
    """summary.csv from runs.csv and its metrics' declarations (as ``collect`` returns them; see the
    module docstring); ``better`` overrides declared directions."""
    baseline = {"objective": "nonsaturating", "regulariser": "none", **(baseline or {})}
    declarations = {name: undeclared(name) | declared for name, declared in metrics.items()}
    for name, direction in (better or {}).items():
        if direction not in DIRECTIONS:
            raise ConfigError(f"metric {name!r}: better must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        declarations.setdefault(name, undeclared(name))["better"] = direction
    metrics = [m for m, declared in declarations.items() if m in runs.columns and declared["summarised"]
               and pd.api.types.is_numeric_dtype(runs[m].dropna())]
    # A metric belongs to the datasets where some run has a value for it (FID to images, modes to
    # mixtures); a cell whose seeds all diverged still gets its dataset's rows, with n = 0.
    applies = {dataset: [m for m in metrics if group[m].notna().any()]
               for dataset, group in runs.groupby("dataset", sort=True)}
    cells = runs.groupby(COORDINATES, sort=True, dropna=False)
    bases = _baselines(runs, baseline)
    rows = []
    for key, group in cells:
        cell = dict(zip(COORDINATES, key))
        name = "/".join(str(v) for v in key)
        base_key = bases.get(key)
        base_group = cells.get_group(base_key) if base_key is not None else None
        is_baseline = base_key == key
        for metric in applies[cell["dataset"]]:
            values = pd.to_numeric(group[metric], errors="coerce").dropna().to_numpy(dtype=float)
            rng = seeded_generator(seed, f"{name}/{metric}")
            low, high = few_seeds.mean_interval(values, resamples, confidence, rng)
            iqm_low, iqm_high = few_seeds.interquartile_mean_interval(values, resamples, confidence,
                                                                      seeded_generator(seed, f"{name}/{metric}/iqm"))
            row = {
                **{c: cell[c] for c in ("dataset", "architecture", "objective", "regulariser")},
                "regularisers": group["regularisers"].iloc[0],
                "variant": cell["variant"],
                "seeds": len(group),
                "completed": int((group["status"] == "completed").sum()),
                "diverged": int((group["status"] == "diverged").sum()),
                "metric": metric,
                "better": declarations[metric]["better"] or "",
                "label": declarations[metric]["label"],
                "headline": declarations[metric]["headline"],
                "n": len(values),
                "mean": float(values.mean()) if len(values) else math.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                "median": float(np.median(values)) if len(values) else math.nan,
                "ci_low": low,
                "ci_high": high,
                "iqm": float(few_seeds.interquartile_mean(values)) if len(values) else math.nan,
                "iqm_ci_low": iqm_low,
                "iqm_ci_high": iqm_high,
                "baseline": _cell_name(base_key) if base_key is not None else "",
                "is_baseline": is_baseline,
            }
            reference = None
            if base_group is not None and not is_baseline:
                reference = pd.to_numeric(base_group[metric], errors="coerce").dropna().to_numpy(dtype=float)
            row |= compare_with_baseline(values, reference, declarations[metric]["better"], resamples, confidence,
                                         seed, f"{name}/{metric}")
            rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    # Whole seeds, written without a decimal point; empty where the methods cannot be separated.
    summary["seeds_needed"] = summary["seeds_needed"].astype("Int64")
    return mark_best(summary)


def _cell_name(key: tuple) -> str:
    """objective/regulariser, with the variant when it is not the method's defaults."""
    name = f"{key[2]}/{key[3]}"
    return name if key[4] == DEFAULT_VARIANT else f"{name}@{key[4]}"


# Settings that say how a run is bookkept, not what it trains.
_BOOKKEEPING = {"config.log_every", "config.checkpoint_every", "config.diagnostics"}


def _shared_settings(runs: pd.DataFrame) -> dict[tuple, dict[str, str]]:
    """Each cell's training settings apart from its regularisers' own options."""
    columns = [column for column in runs.columns if column.startswith("config.")
               and not column.startswith("config.regulariser.") and column not in _BOOKKEEPING]
    first = runs.drop_duplicates(COORDINATES).set_index(COORDINATES)[columns]
    return {key: {column: str(value) for column, value in row.items()} for key, row in first.iterrows()}


def _baselines(runs: pd.DataFrame, baseline: dict[str, str]) -> dict[tuple, tuple]:
    """Each cell's baseline cell: same dataset and architecture, the baseline objective, and the
    regulariser spec named (or a spec resolving to the same regularisers). Of several such cells
    (a grid that trains the baseline under several settings): for a cell at its method's published
    settings, the baseline at its own; otherwise the one whose training settings, regularisers'
    options aside, differ from the cell's in the fewest keys, so that a comparison holds everything
    but the method equal where the grid allows it. Ties go to the spec named exactly, then to the
    default settings."""
    wanted = baseline["regulariser"]
    cells = runs.drop_duplicates(COORDINATES).set_index(COORDINATES)["regularisers"]
    settings = _shared_settings(runs)
    candidates: dict[tuple, list[tuple]] = {}
    for key, resolved in cells.items():
        dataset, architecture, objective, regulariser, variant = key
        if objective == baseline["objective"] and (regulariser == wanted or resolved == wanted):
            candidates.setdefault((dataset, architecture), []).append(key)
    chosen = {}
    for key in cells.index:
        options = candidates.get((key[0], key[1]))
        if not options:
            continue

        def distance(option: tuple) -> tuple[bool, int, bool, bool]:
            published = key[4] == DEFAULT_VARIANT and option[4] == DEFAULT_VARIANT
            differing = sum(settings[option].get(column) != value for column, value in settings[key].items())
            return not published, differing, option[3] != wanted, option[4] != DEFAULT_VARIANT

        chosen[key] = min(options, key=distance)
    return chosen


def mark_best(summary: pd.DataFrame) -> pd.DataFrame:
    """The ``best`` and ``tied_with_best`` columns, per dataset and metric (see the module docstring)."""
    summary = summary.copy()
    summary["best"] = False
    summary["tied_with_best"] = False
    for (_, metric), rows in summary.groupby(["dataset", "metric"], sort=False):
        direction = rows["better"].iloc[0]
        ranked = rows[(rows["n"] >= 2) & rows["ci_low"].notna()]
        if direction not in ("higher", "lower") or len(ranked) < 2:
            continue
        leader = ranked["mean"].idxmax() if direction == "higher" else ranked["mean"].idxmin()
        low, high = ranked.at[leader, "ci_low"], ranked.at[leader, "ci_high"]
        overlaps = (ranked["ci_high"] >= low) & (ranked["ci_low"] <= high)
        summary.loc[ranked.index[overlaps], "tied_with_best"] = True
        summary.at[leader, "tied_with_best"] = True
        summary.at[leader, "best"] = bool(overlaps.sum() == 1)
    return summary


# --- Writing --------------------------------------------------------------------------------------


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory under ``root`` (set-aside ``*.replaced-*`` copies left out)."""
    return sorted(path.parent for path in Path(root).rglob("config.json") if ".replaced-" not in str(path.parent))


def collect_curves(run_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """curves.csv: every scored snapshot of every run, one row per (run, step, metric)."""
    rows = []
    for run_dir in run_dirs:
        metrics = _read_json(Path(run_dir) / "metrics.json") or {}
        if not metrics.get("curve"):
            continue
        cell = {"run_id": metrics["run_id"], **split_run_id(metrics["run_id"])}
        for point in metrics["curve"]:
            flat: dict[str, Any] = {}
            _flatten("", point.get("values") or {}, flat)
            rows += [{**cell, "step": point["step"], "metric": name, "value": value}
                     for name, value in flat.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
    curves = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    return curves.sort_values(["dataset", "architecture", "objective", "regulariser", "variant", "seed", "metric",
                               "step"], kind="mergesort").reset_index(drop=True)


def write_tables(run_dirs: Iterable[str | Path], out: str | Path, at: str = "last", select: str | None = None,
                 sweeps: dict[str, Any] | None = None, published: Iterable[dict[str, Any]] = (),
                 **options: Any) -> tuple[Path, Path]:
    """Write ``runs.csv``, ``summary.csv``, ``curves.csv``, ``budget.csv`` and ``published.csv`` into
    ``out``; returns the first two paths. ``at`` and ``select``: which snapshot a run's row reports
    (``pick_snapshot``), said in summary.csv; ``sweeps``: which setting of which study's sweep each
    swept cell is (``Grid.sweep_settings``), for runs.csv's ``sweep`` and ``setting`` and for
    budget.csv; ``published``: the config's published numbers (``grid.published_rows``), set beside
    ours in published.csv (``benchsuite.published``; only its header when there are none)."""
    from benchsuite.budget_curves import budget_curves, label_draws
    from benchsuite.published import compare

    run_dirs = list(run_dirs)
    runs, metrics = collect(run_dirs, at, select)
    runs = label_draws(runs, sweeps)
    summary = summarise(runs, metrics, **options)
    if at == "best" and select is None:
        headlines = sorted((d["headline"], name) for name, d in metrics.items() if d.get("headline") is not None)
        select = headlines[0][1] if headlines else None
    summary.insert(summary.columns.get_loc("metric") + 1 if "metric" in summary else len(summary.columns),
                   "at", "last" if at == "last" else f"best {select}")
    out = Path(out)
    runs_path, summary_path = out / "runs.csv", out / "summary.csv"
    write_text(runs_path, runs.to_csv(index=False, lineterminator="\n"))
    write_text(summary_path, summary.to_csv(index=False, lineterminator="\n"))
    write_text(out / "curves.csv", collect_curves(run_dirs).to_csv(index=False, lineterminator="\n"))
    budget = budget_curves(runs, summary, **{k: v for k, v in options.items() if k in ("resamples", "confidence", "seed")})
    write_text(out / "budget.csv", budget.to_csv(index=False, lineterminator="\n"))
    against = compare(summary, runs, published, confidence=options.get("confidence", 0.95))
    write_text(out / "published.csv", against.to_csv(index=False, lineterminator="\n"))
    return runs_path, summary_path


def read_tables(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """runs.csv and summary.csv as written (empty strings read back as empty, not NaN)."""
    directory = Path(directory)
    runs = pd.read_csv(directory / "runs.csv", keep_default_na=False, na_values=[""])
    summary = pd.read_csv(directory / "summary.csv", keep_default_na=False, na_values=[""])
    for frame in (runs, summary):
        for column in ("baseline", "better", "label"):
            if column in frame:
                frame[column] = frame[column].fillna("").astype(str)
    return runs, summary
