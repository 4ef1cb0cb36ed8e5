"""runs.csv and summary.csv: one row per run, statistics across seeds, comparisons with the baseline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchsuite.aggregate import (
    collect,
    find_run_dirs,
    summarise,
    write_tables,
)
from benchsuite.cli import main
from synthetic_runs import write_run

BASELINE_HQ = [0.10, 0.12, 0.11, 0.13, 0.09]
R1_HQ = [0.80, 0.85, 0.82, 0.90, 0.88]
MINIMAX_HQ = [0.11, 0.14, 0.08, 0.12, 0.10]


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for seed in range(5):
        write_run(root, "nonsaturating", "none", seed, {"modes_covered": [2, 3, 2, 3, 2][seed], "modes_total": 8,
                                                         "high_quality": BASELINE_HQ[seed]})
        write_run(root, "nonsaturating", "r1", seed, {"modes_covered": [8, 8, 7, 8, 8][seed], "modes_total": 8,
                                                       "high_quality": R1_HQ[seed]})
        write_run(root, "minimax", "default", seed, {"modes_covered": [3, 2, 2, 2, 3][seed], "modes_total": 8,
                                                      "high_quality": MINIMAX_HQ[seed]})
    write_run(root, "wgan", "default", 0, {"modes_covered": 5, "modes_total": 8, "high_quality": 0.5})
    write_run(root, "wgan", "default", 1, {"modes_covered": 6, "modes_total": 8, "high_quality": 0.6})
    write_run(root, "wgan", "default", 2, None, status="diverged", reason="non-finite discriminator loss at step 40",
              step=40)
    return root


def tables(root: Path, out: Path, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs_path, summary_path = write_tables(find_run_dirs(root), out, resamples=500, **options)
    return pd.read_csv(runs_path), pd.read_csv(summary_path)


def row(summary: pd.DataFrame, objective: str, regulariser: str, metric: str) -> pd.Series:
    selected = summary[(summary["objective"] == objective) & (summary["regulariser"] == regulariser)
                       & (summary["metric"] == metric)]
    assert len(selected) == 1
    return selected.iloc[0]


def test_runs_table_has_one_row_per_run_with_coordinates_settings_metrics_and_times(runs_root, tmp_path):
    runs, _ = tables(runs_root, tmp_path / "tables")
    assert len(runs) == 18
    assert runs["run_id"].is_unique
    for column in ("dataset", "architecture", "objective", "regulariser", "regularisers", "variant", "seed", "status",
                   "diverged_step", "reason", "modes_covered", "high_quality", "config.lr_d", "config.n_critic",
                   "config.optimizer", "config.regulariser.clip.c", "eval.modes.min_samples", "train_seconds", "eval_seconds", "run_dir"):
        assert column in runs.columns, column
    wgan = runs[runs["objective"] == "wgan"].set_index("seed")
    assert (wgan["regularisers"] == "clip").all()
    assert wgan.at[2, "status"] == "diverged"
    assert wgan.at[2, "diverged_step"] == 40
    assert "non-finite discriminator loss" in wgan.at[2, "reason"]
    assert np.isnan(wgan.at[2, "modes_covered"])
    assert wgan.at[1, "train_seconds"] == pytest.approx(13.5)
    assert wgan.at[0, "config.lr_d"] == pytest.approx(5e-5)
    assert wgan.at[0, "config.regulariser.clip.c"] == pytest.approx(0.01)
    assert list(runs["seed"][:5]) == [0, 1, 2, 3, 4]


def test_summary_statistics_per_cell_and_metric(runs_root, tmp_path):
    _, summary = tables(runs_root, tmp_path / "tables")
    assert len(summary) == 4 * 2  # modes_total describes the dataset, not the run
    r1 = row(summary, "nonsaturating", "r1", "high_quality")
    assert r1["seeds"] == 5 and r1["n"] == 5 and r1["diverged"] == 0
    assert r1["mean"] == pytest.approx(np.mean(R1_HQ))
    assert r1["std"] == pytest.approx(np.std(R1_HQ, ddof=1))
    assert r1["median"] == pytest.approx(np.median(R1_HQ))
    assert min(R1_HQ) <= r1["ci_low"] <= r1["mean"] <= r1["ci_high"] <= max(R1_HQ)
    assert r1["better"] == "higher"
    wgan = row(summary, "wgan", "default", "modes_covered")
    assert (wgan["seeds"], wgan["completed"], wgan["diverged"], wgan["n"]) == (3, 2, 1, 2)
    assert wgan["mean"] == pytest.approx(5.5)
    assert wgan["regularisers"] == "clip"


def test_comparison_with_the_baseline(runs_root, tmp_path):
    _, summary = tables(runs_root, tmp_path / "tables")
    base = row(summary, "nonsaturating", "none", "high_quality")
    assert bool(base["is_baseline"])
    assert np.isnan(base["delta"]) and np.isnan(base["p_value"])
    r1 = row(summary, "nonsaturating", "r1", "high_quality")
    assert r1["baseline"] == "nonsaturating/none"
    assert r1["delta"] == pytest.approx(np.mean(R1_HQ) - np.mean(BASELINE_HQ))
    assert 0 < r1["delta_ci_low"] <= r1["delta"] <= r1["delta_ci_high"]
    # Five against five with no overlap: the exact two-sided p-value is 2 / C(10, 5).
    assert r1["p_value"] == pytest.approx(2 / 252)
    minimax = row(summary, "minimax", "default", "high_quality")
    assert minimax["delta_ci_low"] < 0 < minimax["delta_ci_high"]
    assert minimax["p_value"] > 0.3


def test_few_seed_statistics_against_the_baseline(runs_root, tmp_path):
    _, summary = tables(runs_root, tmp_path / "tables")
    r1 = row(summary, "nonsaturating", "r1", "high_quality")
    # Five seeds: the interquartile mean drops the lowest and the highest.
    assert r1["iqm"] == pytest.approx(np.mean(sorted(R1_HQ)[1:4]))
    assert r1["iqm_ci_low"] <= r1["iqm"] <= r1["iqm_ci_high"]
    # Every r1 seed beats every baseline seed; with 5 against 5 the exact test can reach 2 / C(10, 5).
    assert (r1["prob_improvement"], r1["prob_improvement_ci_low"], r1["prob_improvement_ci_high"]) == (1, 1, 1)
    assert r1["p_min"] == pytest.approx(2 / 252)
    pooled = np.sqrt((np.var(R1_HQ, ddof=1) + np.var(BASELINE_HQ, ddof=1)) / 2)
    assert r1["effect_size"] == pytest.approx((np.mean(R1_HQ) - np.mean(BASELINE_HQ)) / pooled)
    assert r1["seeds_needed"] == 4  # the effect is huge; four seeds a side is where p can reach 0.05
    minimax = row(summary, "minimax", "default", "high_quality")
    won = np.mean([(a > b) + 0.5 * (a == b) for a in MINIMAX_HQ for b in BASELINE_HQ])
    assert minimax["prob_improvement"] == pytest.approx(won)
    assert minimax["prob_improvement_ci_low"] <= won <= minimax["prob_improvement_ci_high"]
    # Both average 0.11: no effect, and no number of seeds would separate them.
    assert minimax["effect_size"] == pytest.approx(0, abs=1e-9) and pd.isna(minimax["seeds_needed"])
    base = row(summary, "nonsaturating", "none", "high_quality")
    assert bool(base["is_baseline"]) and np.isnan(base["prob_improvement"]) and pd.isna(base["seeds_needed"])
    # Where lower is better, r1's higher values never improve on the baseline; the test does not care.
    _, lower = tables(runs_root, tmp_path / "lower", better={"high_quality": "lower"})
    flipped = row(lower, "nonsaturating", "r1", "high_quality")
    assert flipped["prob_improvement"] == 0
    assert flipped["p_value"] == r1["p_value"] and flipped["seeds_needed"] == 4


def test_summary_loads_in_one_call_with_every_column_documented(runs_root, tmp_path):
    write_tables(find_run_dirs(runs_root), tmp_path / "tables", resamples=200)
    summary = pd.read_csv(tmp_path / "tables" / "summary.csv")
    for column in ("iqm", "iqm_ci_low", "iqm_ci_high", "p_value", "p_min", "prob_improvement",
                   "prob_improvement_ci_low", "prob_improvement_ci_high", "effect_size", "seeds_needed"):
        assert pd.api.types.is_numeric_dtype(summary[column]), column
    # Whole seeds are written as integers, and missing where nothing can be said.
    text = (tmp_path / "tables" / "summary.csv").read_text()
    assert ",4," in text or ",4\n" in text
    documented = (Path(__file__).resolve().parent.parent / "docs" / "pipeline.md").read_text()
    for column in summary.columns:
        assert f"`{column}`" in documented, f"summary.csv column {column} is not described in docs/pipeline.md"


def test_best_only_where_the_intervals_separate(runs_root, tmp_path):
    _, summary = tables(runs_root, tmp_path / "tables")
    quality = summary[summary["metric"] == "high_quality"].set_index(["objective", "regulariser"])
    assert bool(quality.at[("nonsaturating", "r1"), "best"])
    assert quality["best"].sum() == 1
    # Without the clearly better cell, the rest overlap: a tie, and no best.
    shutil.rmtree(runs_root / "ring8/mlp/nonsaturating/r1")
    shutil.rmtree(runs_root / "ring8/mlp/wgan")
    _, summary = tables(runs_root, tmp_path / "tables2")
    quality = summary[summary["metric"] == "high_quality"]
    assert not quality["best"].any()
    assert quality["tied_with_best"].all()


def test_tables_are_deterministic_and_a_cell_does_not_depend_on_the_others(runs_root, tmp_path):
    dirs = find_run_dirs(runs_root)
    write_tables(dirs, tmp_path / "a", resamples=500)
    write_tables(list(reversed(dirs)), tmp_path / "b", resamples=500)
    for name in ("runs.csv", "summary.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    write_run(runs_root, "lsgan", "none", 0, {"modes_covered": 4, "modes_total": 8, "high_quality": 0.4})
    write_run(runs_root, "lsgan", "none", 1, {"modes_covered": 5, "modes_total": 8, "high_quality": 0.5})
    write_tables(find_run_dirs(runs_root), tmp_path / "c", resamples=500)
    before = pd.read_csv(tmp_path / "a" / "summary.csv").drop(columns=["best", "tied_with_best"])
    after = pd.read_csv(tmp_path / "c" / "summary.csv")
    after = after[after["objective"] != "lsgan"].drop(columns=["best", "tied_with_best"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


def test_runs_with_other_settings_form_their_own_cell_and_compare_with_the_default_baseline(runs_root, tmp_path):
    for seed in range(2):
        write_run(runs_root, "nonsaturating", "r1", seed, {"modes_covered": 1, "modes_total": 8, "high_quality": 0.2},
                  settings={"lr_d": 1e-3})
    _, summary = tables(runs_root, tmp_path / "tables")
    r1 = summary[(summary["regulariser"] == "r1") & (summary["metric"] == "modes_covered")]
    assert len(r1) == 2
    variant = r1[r1["variant"] != "defaults"].iloc[0]
    assert len(variant["variant"]) == 8 and variant["seeds"] == 2
    assert variant["baseline"] == "nonsaturating/none"
    assert variant["delta"] == pytest.approx(1 - np.mean([2, 3, 2, 3, 2]))


def test_the_baseline_trained_under_the_same_settings_is_preferred(runs_root, tmp_path):
    # The baseline again at a higher learning rate with an EMA, and r1 at those settings with its own gamma:
    # r1 must be compared with the baseline that differs from it only in the regulariser.
    shared = {"lr_d": 1e-3, "lr_g": 1e-3, "ema": 0.99}
    for seed in range(2):
        write_run(runs_root, "nonsaturating", "none", seed, {"modes_covered": 7, "modes_total": 8, "high_quality": 0.5},
                  settings=shared)
        write_run(runs_root, "nonsaturating", "r1", seed, {"modes_covered": 8, "modes_total": 8, "high_quality": 0.6},
                  settings=shared | {"regulariser_options": {"r1": {"gamma": 1.0}}})
    _, summary = tables(runs_root, tmp_path / "tables")
    modes = summary[summary["metric"] == "modes_covered"]
    tuned_none = modes[(modes["regulariser"] == "none") & (modes["variant"] != "defaults")].iloc[0]
    tuned_r1 = modes[(modes["regulariser"] == "r1") & (modes["variant"] != "defaults")].iloc[0]
    assert tuned_r1["variant"] != tuned_none["variant"]  # gamma is part of r1's run identity
    assert tuned_r1["baseline"] == f"nonsaturating/none@{tuned_none['variant']}"
    assert tuned_r1["delta"] == pytest.approx(1.0)
    # The default-settings r1 still compares with the default-settings baseline, and so does a method
    # whose published settings happen to share more keys with the tuned baseline (EBGAN's lr is 1e-3).
    default_r1 = modes[(modes["regulariser"] == "r1") & (modes["variant"] == "defaults")].iloc[0]
    assert default_r1["baseline"] == "nonsaturating/none"
    for seed in range(2):
        write_run(runs_root, "ebgan", "default", seed, {"modes_covered": 3, "modes_total": 8, "high_quality": 0.3})
    _, summary = tables(runs_root, tmp_path / "tables2")
    assert set(summary.loc[summary["objective"] == "ebgan", "baseline"]) == {"nonsaturating/none"}


def test_missing_metrics_file_shows_as_not_evaluated(runs_root):
    run_dir = runs_root / "ring8/mlp/minimax/default/s0"
    (run_dir / "metrics.json").unlink()
    runs, metrics = collect([run_dir, runs_root / "ring8/mlp/minimax/default/s1"])
    assert list(runs["status"]) == ["completed (not evaluated)", "completed"]
    assert "modes_covered" in metrics


def test_cli_finds_runs_and_leaves_set_aside_copies_out(runs_root, tmp_path, capsys):
    shutil.copytree(runs_root / "ring8/mlp/wgan/default/s0", runs_root / "ring8/mlp/wgan/default/s0.replaced-2020")
    assert main(["aggregate", "--runs", str(runs_root), "--out", str(tmp_path / "t"), "--bootstrap", "200",
                 "--baseline", "minimax:default"]) == 0
    assert "18 runs" in capsys.readouterr().out
    summary = pd.read_csv(tmp_path / "t" / "summary.csv")
    assert set(summary.loc[summary["is_baseline"], "objective"]) == {"minimax"}


def test_cli_takes_runs_from_a_list_file_as_the_pipeline_passes_them(runs_root, tmp_path, capsys):
    named = sorted(str(path.parent) for path in runs_root.rglob("config.json"))[:5]
    listing = tmp_path / "runs.txt"
    listing.write_text("\n".join(named[1:]) + "\n\n")  # a blank line is no run
    assert main(["aggregate", named[0], "--run-list", str(listing), "--out", str(tmp_path / "t"),
                 "--bootstrap", "200"]) == 0
    assert "5 runs" in capsys.readouterr().out
    runs = pd.read_csv(tmp_path / "t" / "runs.csv")
    assert len(runs) == 5


def test_aggregation_and_the_report_import_without_torch():
    # They run in envs/report.yaml, which has no torch. An import of torch fails there as it does here
    # (scipy.stats looks torch up in sys.modules, so a None entry there is not the same as no torch).
    code = ("import sys, importlib.abc\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "import benchsuite.aggregate, benchsuite.report, benchsuite.cli\n"
            "assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
