"""A metric declares its direction and label in its own file; evaluation writes the declarations into
metrics.json, and the tables and the report take them from there, so a new metric is ranked and
labelled with no edit anywhere else (shown with a metric from a file outside the package)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchsuite import registry
from benchsuite.aggregate import collect, find_run_dirs, read_tables, write_tables
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.evaluate import evaluate
from benchsuite.metrics.fidelity import Fidelity
from benchsuite.metrics.stacked import StackedModes
from benchsuite.metrics.toy import ModeCoverage
from benchsuite.report import Report, build
from benchsuite.train import train
from conftest import tiny_config
from synthetic_runs import write_run

PLUGIN = Path(__file__).resolve().parent / "plugins" / "spread_metric.py"
LOW = [0.10, 0.12, 0.11]  # nonsaturating x r1: the smaller error, so the best under "lower"
HIGH = [0.80, 0.85, 0.90]  # nonsaturating x none


@pytest.fixture
def spread_metric(monkeypatch):
    """The plugin metric registered for one test only; the registry is restored afterwards."""
    registry.load_builtins()
    monkeypatch.setattr(registry, "_entries", {kind: dict(names) for kind, names in registry._entries.items()})
    monkeypatch.setattr(registry, "_loaded_plugin_files", set())
    registry.load_plugins([PLUGIN])
    return registry.get("metric", "spread-error")


@pytest.fixture
def plugin_study(tmp_path, spread_metric) -> Path:
    """Two cells, three seeds each, scored by the toy mixtures' metric and the plugin."""
    declarations = ModeCoverage.declarations() | spread_metric.declarations()
    root = tmp_path / "runs"
    for seed in range(3):
        for regulariser, spread, undeclared in (("none", HIGH, 5.0), ("r1", LOW, 0.5)):
            write_run(root, "nonsaturating", regulariser, seed,
                      {"modes_covered": 4 + seed % 2, "modes_total": 8, "high_quality": 0.5, "mode_kl": 0.2,
                       "mode_kl_max": 2.08, "spread_error": spread[seed], "spread_of_data": 1.0,
                       "spread_undeclared": undeclared + 0.1 * seed},
                      declarations=declarations)
    return root


def summary_row(summary: pd.DataFrame, regulariser: str, metric: str) -> pd.Series:
    rows = summary[(summary["regulariser"] == regulariser) & (summary["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_evaluation_writes_what_every_metric_declares(tmp_path, spread_metric):
    run_dir = tmp_path / "run"
    train(tiny_config(plugins=[str(PLUGIN)]), run_dir, progress=False)
    record = evaluate(run_dir, samples=200)
    declared = json.loads((run_dir / "metrics.json").read_text())["declarations"]
    assert declared == record["declarations"]
    assert declared["modes_covered"] == {"label": "modes covered", "better": "higher", "headline": 1,
                                         "summarised": True}
    assert declared["modes_total"]["summarised"] is False
    assert declared["spread_error"] == {"label": "error in spread (plugin)", "better": "lower", "headline": 0,
                                        "summarised": True}
    # A value its metric does not declare is still recorded, with no declaration.
    assert "spread_undeclared" in record["values"] and "spread_undeclared" not in declared


def test_a_plugin_metric_declared_lower_is_better_is_ranked_that_way(plugin_study, tmp_path):
    _, summary_path = write_tables(find_run_dirs(plugin_study), tmp_path / "tables", resamples=300)
    summary = pd.read_csv(summary_path)
    low, high = summary_row(summary, "r1", "spread_error"), summary_row(summary, "none", "spread_error")
    assert (low["better"], low["label"], low["headline"]) == ("lower", "error in spread (plugin)", 0)
    assert bool(low["best"]) and not high["best"] and not high["tied_with_best"]
    # Declared not summarised: in runs.csv, not in the statistics.
    assert "spread_of_data" not in set(summary["metric"]) and "mode_kl_max" not in set(summary["metric"])
    # Undeclared: summarised under its name, never ranked.
    undeclared = summary_row(summary, "r1", "spread_undeclared")
    assert pd.isna(undeclared["better"]) and undeclared["label"] == "spread undeclared"
    assert not summary.loc[summary["metric"] == "spread_undeclared", "tied_with_best"].any()


def test_the_leaderboard_leads_with_the_plugin_metric_under_its_label(plugin_study, tmp_path):
    tables = tmp_path / "tables"
    write_tables(find_run_dirs(plugin_study), tables, resamples=300)
    page = build(tables, tmp_path / "report.html").read_text()
    board = page.split('<section id="leaderboards">')[1].split("</section>")[0]
    headers = board.split("<th>failures</th>")[1].split("</tr>")[0]
    assert headers.strip().startswith("<th>error in spread (plugin) (↓)</th>")
    rows = board.split("<tr><td>")[1:]
    assert rows[0].startswith("nonsaturating × r1") and 'class="badge best">best<' in rows[0]
    assert "nonsaturating × r1 is best on error in spread (plugin)" in board
    distributions = page.split('<section id="distributions">')[1].split("</section>")[0]
    assert "<figure>" in distributions


def test_the_pipeline_s_better_option_overrides_a_declared_direction_and_ranks_an_undeclared_value(
        plugin_study, tmp_path):
    assert main(["aggregate", "--runs", str(plugin_study), "--out", str(tmp_path / "t"), "--bootstrap", "300",
                 "--better", "spread_error=higher", "--better", "spread_undeclared=lower"]) == 0
    _, summary = read_tables(tmp_path / "t")
    assert summary_row(summary, "none", "spread_error")["best"]
    assert summary_row(summary, "none", "spread_error")["better"] == "higher"
    assert summary_row(summary, "r1", "spread_undeclared")["best"]


def test_metrics_written_without_declarations_are_refused_with_the_fix(plugin_study, tmp_path, capsys):
    run_dir = plugin_study / "ring8/mlp/nonsaturating/r1/s0"
    record = json.loads((run_dir / "metrics.json").read_text())
    del record["declarations"]
    (run_dir / "metrics.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="no metric declarations") as raised:
        collect(find_run_dirs(plugin_study))
    assert f"benchsuite evaluate {run_dir}" in str(raised.value)
    assert main(["aggregate", "--runs", str(plugin_study), "--out", str(tmp_path / "t")]) == 2
    assert not (tmp_path / "t").exists()


def test_the_newest_evaluation_speaks_for_a_value_declared_differently(plugin_study, tmp_path):
    run_dir = plugin_study / "ring8/mlp/nonsaturating/none/s2"
    record = json.loads((run_dir / "metrics.json").read_text())
    record["declarations"]["spread_error"]["label"] = "spread error, relabelled"
    record["evaluated_at"] = "2030-01-01T00:00:00+00:00"
    (run_dir / "metrics.json").write_text(json.dumps(record))
    _, declarations = collect(find_run_dirs(plugin_study))
    assert declarations["spread_error"]["label"] == "spread error, relabelled"


def test_the_report_refuses_tables_aggregated_before_metrics_declared_themselves(plugin_study, tmp_path):
    tables = tmp_path / "tables"
    write_tables(find_run_dirs(plugin_study), tables, resamples=100)
    summary = pd.read_csv(tables / "summary.csv").drop(columns=["label", "headline"])
    summary.to_csv(tables / "summary.csv", index=False)
    with pytest.raises(ConfigError, match="run `benchsuite aggregate` again"):
        build(tables, tmp_path / "report.html")


def test_the_suite_s_image_metrics_head_the_leaderboard_in_their_declared_order(tmp_path):
    values = {"fid": 20.0, "is_mean": 2.0, "is_std": 0.1, "kid_mean": 0.01, "kid_std": 0.001, "precision": 0.7,
              "recall": 0.4, "density": 0.9, "coverage": 0.6, "classifier_accuracy": 0.97, "reference_samples": 1438}
    for seed in range(2):
        write_run(tmp_path / "runs", "nonsaturating", "none", seed, values | {"fid": 20.0 + seed},
                  dataset="digits", architecture="dcgan",
                  declarations=Fidelity.declarations() | StackedModes.declarations())
    write_tables(find_run_dirs(tmp_path / "runs"), tmp_path / "tables", resamples=100)
    runs, summary = read_tables(tmp_path / "tables")
    assert Report(runs, summary).headline_metrics("digits") == ["fid", "precision", "recall", "is_mean", "kid_mean",
                                                                 "density", "coverage"]
    assert not {"is_std", "kid_std", "classifier_accuracy", "reference_samples"} & set(summary["metric"])
    assert summary.set_index("metric").at["fid", "label"] == "FID"
