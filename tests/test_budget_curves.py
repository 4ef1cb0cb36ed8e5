"""budget.csv: the expected best of k sampled settings, against hand computations, and its way
through the aggregate command and into the report."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from benchsuite.aggregate import read_tables
from benchsuite.budget_curves import budget_curves, expected_best, expected_best_interval, label_draws
from benchsuite.cli import main
from benchsuite.report import build

from synthetic_runs import write_run


def synthetic_sweep() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One method's three settings: seeds (1, 3) -> 2, (4) and a diverged seed -> 4, (6, 6) -> 6;
    a fourth setting whose only seed diverged has no value."""
    rows = [(0, 1.0), (0, 3.0), (1, 4.0), (1, math.nan), (2, 6.0), (2, 6.0), (3, math.nan)]
    runs = pd.DataFrame([{"dataset": "ring8", "sweep": "tune", "architecture": "mlp", "objective": "wgan",
                          "regulariser": "gp", "regularisers": "gp", "setting": setting, "modes": value,
                          "kl": -value} for setting, value in rows])
    summary = pd.DataFrame([{"dataset": "ring8", "metric": "modes", "better": "higher", "label": "modes"},
                            {"dataset": "ring8", "metric": "kl", "better": "lower", "label": "KL"}])
    return runs, summary


def test_the_curve_of_a_synthetic_table_equals_the_hand_computation():
    runs, summary = synthetic_sweep()
    table = budget_curves(runs, summary, resamples=500)
    modes = table[table["metric"] == "modes"].set_index("budget")
    # The per-setting means 2, 4, 6 (the setting without a value left out); budgets 1..4, one per setting drawn.
    assert modes.index.tolist() == [1, 2, 3, 4]
    assert (modes["draws"] == 3).all() and (modes["runs"] == 5).all()
    # k = 1: the mean. k = 2: 2 (1/9) + 4 (4/9 - 1/9) + 6 (1 - 4/9) = 44/9.
    # k = 3: 2 (1/27) + 4 (8/27 - 1/27) + 6 (1 - 8/27) = 2/27 + 28/27 + 114/27 = 144/27.
    assert modes.loc[1, "expected_best"] == pytest.approx(4.0)
    assert modes.loc[2, "expected_best"] == pytest.approx(44 / 9)
    assert modes.loc[3, "expected_best"] == pytest.approx(144 / 27)
    # A metric that is better lower takes the expected minimum: of -2, -4, -6 with k = 2, -44/9.
    kl = table[table["metric"] == "kl"].set_index("budget")
    assert kl.loc[2, "expected_best"] == pytest.approx(-44 / 9)
    assert (modes["method"] == "wgan × gp").all() and (modes["sweep"] == "tune").all()
    # The interval holds the estimate and widens as no value can: at most the smallest to the largest setting.
    assert ((modes["low"] <= modes["expected_best"]) & (modes["expected_best"] <= modes["high"])).all()
    assert modes["low"].min() >= 2 - 1e-9 and modes["high"].max() <= 6 + 1e-9


def test_the_exact_curve_is_the_mean_of_every_draw_with_replacement():
    values = np.array([0.3, -1.0, 2.5, 2.5, 0.7])
    for k in (1, 2, 3):
        draws = list(itertools.product(values, repeat=k))
        assert expected_best(values, np.array([k]), "higher")[0] == pytest.approx(np.mean([max(d) for d in draws]))
        assert expected_best(values, np.array([k]), "lower")[0] == pytest.approx(np.mean([min(d) for d in draws]))


def test_one_setting_has_no_interval_and_the_bootstrap_is_seeded():
    low, high = expected_best_interval(np.array([1.0]), np.array([1, 2]), "higher", 200, 0.95,
                                       np.random.default_rng(0))
    assert np.isnan(low).all() and np.isnan(high).all()
    runs, summary = synthetic_sweep()
    pd.testing.assert_frame_equal(budget_curves(runs, summary, seed=3), budget_curves(runs, summary, seed=3))


def test_runs_are_labelled_with_their_setting_and_others_left_blank():
    runs = pd.DataFrame([{"dataset": "ring8", "architecture": "mlp", "objective": "wgan", "regulariser": "gp",
                          "variant": variant, "seed": 0} for variant in ("aaaa0000", "bbbb1111", "defaults")])
    labelled = label_draws(runs, {"tune": {"ring8/mlp/wgan/gp": {"aaaa0000": 0, "bbbb1111": 1}}})
    assert labelled.columns.tolist()[:7] == ["dataset", "architecture", "objective", "regulariser", "variant",
                                             "sweep", "setting"]
    assert labelled["sweep"].tolist() == ["tune", "tune", ""]
    assert labelled["setting"].tolist()[:2] == [0, 1] and pd.isna(labelled["setting"].iloc[2])


def test_the_aggregate_command_writes_budget_csv_and_the_report_ranks_at_the_stated_budget(tmp_path):
    runs_root = tmp_path / "runs"
    sweeps: dict = {"tune": {}}
    for objective in ("nonsaturating", "lsgan"):
        for setting, lr in enumerate((1e-4, 1e-3, 1e-2)):
            for seed in (0, 1):
                modes = {"nonsaturating": 2 + setting, "lsgan": 6 - 2 * setting}[objective] + seed
                run_dir = write_run(runs_root, objective, "none", seed, {"modes_covered": modes, "modes_total": 8, "high_quality": 0.5, "mode_kl": 0.1},
                                    settings={"lr_d": lr})
                variant = run_dir.name.partition("-")[2]
                sweeps["tune"].setdefault(f"ring8/mlp/{objective}/none", {})[variant] = setting
    tables = tmp_path / "tables"
    assert main(["aggregate", "--runs", str(runs_root), "--out", str(tables), "--bootstrap", "200",
                 "--sweeps", json.dumps(sweeps)]) == 0
    runs, _ = read_tables(tables)
    assert sorted(runs["setting"].tolist()) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    budget = pd.read_csv(tables / "budget.csv")
    rows = budget[(budget["metric"] == "modes_covered") & (budget["budget"] == 1)].set_index("objective")
    # The mean of the settings' means: nonsaturating 2.5, 3.5, 4.5 -> 3.5; lsgan 6.5, 4.5, 2.5 -> 4.5.
    assert rows.loc["nonsaturating", "expected_best"] == pytest.approx(3.5)
    assert rows.loc["lsgan", "expected_best"] == pytest.approx(4.5)
    assert set(budget["budget"]) == {1, 2, 3}

    page = tmp_path / "report.html"
    build(tables, page, grid_config={"report": {"budget": 2}, "studies": {"tune": {"sweep": {
        "samples": 3, "seed": 0, "space": {"lr_d": {"log_uniform": [1e-4, 1e-2]}}}}}})
    html = page.read_text()
    assert "Budget curves" in html and "expected best of 2 settings" in html
    assert "3 settings of lr_d (seed 0)" in html
    section = html[html.index('<section id="budget">'):]
    # At a budget of two, lsgan (best of 6.5, 4.5, 2.5) is ahead of nonsaturating (best of 2.5, 3.5, 4.5).
    assert section.index("lsgan × none") < section.index("nonsaturating × none")


def test_without_a_sweep_budget_csv_has_its_columns_and_the_report_no_section(tmp_path):
    runs_root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(runs_root, "nonsaturating", "none", seed, {"modes_covered": 3 + seed, "modes_total": 8, "high_quality": 0.5, "mode_kl": 0.1})
    tables = tmp_path / "tables"
    assert main(["aggregate", "--runs", str(runs_root), "--out", str(tables), "--bootstrap", "200"]) == 0
    budget = pd.read_csv(tables / "budget.csv")
    assert budget.empty and "expected_best" in budget.columns
    build(tables, tmp_path / "report.html")
    assert 'id="budget"' not in (tmp_path / "report.html").read_text()
