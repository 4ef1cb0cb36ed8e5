"""Metrics over training: snapshots every eval_every steps, scored by evaluate, curves.csv and --at."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from benchsuite.aggregate import collect, write_tables
from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.evaluate import evaluate
from benchsuite.metrics.toy import ModeCoverage
from benchsuite.train import CheckpointError, RunDirectory, load_checkpoint, train

from conftest import tiny_config
from synthetic_runs import write_run


def test_snapshots_are_kept_every_eval_every_steps_and_change_nothing_of_training(tmp_path):
    plain = train(tiny_config(steps=12), tmp_path / "plain", progress=False)
    kept = train(tiny_config(steps=12, eval_every=4), tmp_path / "kept", progress=False)
    assert plain["status"] == kept["status"] == "completed"
    assert RunDirectory(tmp_path / "plain").snapshot_steps() == []
    # The final weights are the checkpoint's, so the last snapshot is at 8, not 12.
    assert RunDirectory(tmp_path / "kept").snapshot_steps() == [4, 8]
    assert (tmp_path / "plain" / "log.csv").read_bytes() == (tmp_path / "kept" / "log.csv").read_bytes()
    for network in ("generator", "discriminator"):
        a = load_checkpoint(tmp_path / "plain" / "checkpoint.pt")[network]
        b = load_checkpoint(tmp_path / "kept" / "checkpoint.pt")[network]
        assert all(torch.equal(a[key], b[key]) for key in a)


def test_a_resumed_run_writes_the_same_snapshots(tmp_path):
    config = tiny_config(steps=12, eval_every=4, checkpoint_every=3)
    train(config, tmp_path / "whole", progress=False)
    assert train(config, tmp_path / "halted", progress=False, stop_after=6)["status"] == "stopped"
    train(config, tmp_path / "halted", progress=False)
    for step in (4, 8):
        whole = load_checkpoint(RunDirectory(tmp_path / "whole").snapshot(step))
        halted = load_checkpoint(RunDirectory(tmp_path / "halted").snapshot(step))
        assert whole["step"] == halted["step"] == step
        assert all(torch.equal(whole["generator"][k], halted["generator"][k]) for k in whole["generator"])


def test_evaluate_scores_every_snapshot_and_the_final_weights_alike(tmp_path):
    train(tiny_config(steps=12, eval_every=4, ema=0.9), tmp_path, progress=False)
    record = evaluate(tmp_path, samples=300)
    assert [point["step"] for point in record["curve"]] == [4, 8, 12]
    assert record["curve"][-1]["values"] == record["values"]
    assert set(record["curve"][0]["values"]) == set(record["values"])
    assert json.loads((tmp_path / "metrics.json").read_text())["curve"] == record["curve"]


def test_a_run_without_snapshots_has_an_empty_curve(tmp_path):
    train(tiny_config(steps=6), tmp_path, progress=False)
    assert evaluate(tmp_path, samples=300)["curve"] == []


def test_a_snapshot_of_another_config_is_refused(tmp_path):
    train(tiny_config(steps=12, eval_every=4), tmp_path / "a", progress=False)
    train(tiny_config(steps=12, eval_every=4, seed=5), tmp_path / "b", progress=False)
    foreign = RunDirectory(tmp_path / "b").snapshot(4)
    RunDirectory(tmp_path / "a").snapshot(4).write_bytes(foreign.read_bytes())
    with pytest.raises(CheckpointError, match="was not written by this run.s config"):
        evaluate(tmp_path / "a", samples=300)


def test_a_config_written_before_eval_every_existed_is_the_same_run(tmp_path):
    config = tiny_config(steps=6)
    train(config, tmp_path, progress=False)
    recorded = json.loads((tmp_path / "config.json").read_text())
    del recorded["eval_every"]
    (tmp_path / "config.json").write_text(json.dumps(recorded))
    assert train(config, tmp_path, progress=False).get("already_finished")


def synthetic_curve_run(root, seed, modes_by_step):
    """A run whose metrics.json holds a curve of modes covered (the last step is the final weights)."""
    final = max(modes_by_step)
    run_dir = write_run(root, "nonsaturating", "none", seed, {"modes_covered": modes_by_step[final], "modes_total": 8,
                                                              "high_quality": 0.5, "mode_kl": 0.1}, step=final)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["curve"] = [{"step": step, "values": {"modes_covered": modes, "modes_total": 8,
                                                  "high_quality": step / 1000, "mode_kl": 0.1}}
                        for step, modes in sorted(modes_by_step.items())]
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def test_at_best_reports_each_run_at_its_best_snapshot_and_says_so(tmp_path):
    runs = [synthetic_curve_run(tmp_path, 0, {100: 3, 200: 7, 300: 5}),
            synthetic_curve_run(tmp_path, 1, {100: 6, 200: 6, 300: 2})]
    last, _ = collect(runs, at="last")
    best, _ = collect(runs, at="best")
    assert list(last["modes_covered"]) == [5, 2] and list(last["at_step"]) == [300, 300]
    # Ties go to the earlier snapshot: the budget at which the value was first reached.
    assert list(best["modes_covered"]) == [7, 6] and list(best["at_step"]) == [200, 100]
    # Every metric is reported at the snapshot the selecting metric chose.
    assert list(best["high_quality"]) == [0.2, 0.1]
    by_quality, _ = collect(runs, at="best", select="high_quality")
    assert list(by_quality["at_step"]) == [300, 300]
    write_tables(runs, tmp_path / "tables", at="best", resamples=200)
    summary = pd.read_csv(tmp_path / "tables" / "summary.csv")
    assert set(summary["at"]) == {"best modes_covered"}


def test_curves_csv_holds_every_snapshot_of_every_run(tmp_path):
    runs = [synthetic_curve_run(tmp_path, 0, {100: 3, 200: 7}), synthetic_curve_run(tmp_path, 1, {100: 6, 200: 6})]
    write_tables(runs, tmp_path / "tables", resamples=200)
    curves = pd.read_csv(tmp_path / "tables" / "curves.csv")
    assert list(curves.columns) == ["run_id", "dataset", "architecture", "objective", "regulariser", "variant",
                                    "seed", "step", "metric", "value"]
    modes = curves[curves["metric"] == "modes_covered"]
    assert modes.set_index(["seed", "step"])["value"].to_dict() == {(0, 100): 3, (0, 200): 7, (1, 100): 6, (1, 200): 6}


def test_selecting_by_a_metric_without_a_direction_is_refused(tmp_path):
    run = synthetic_curve_run(tmp_path, 0, {100: 3, 200: 7})
    with pytest.raises(ConfigError, match="declare no direction"):
        collect([run], at="best", select="modes_total")
    assert ModeCoverage.declarations()["modes_total"]["better"] is None


def test_the_aggregate_command_takes_at_and_select(tmp_path, capsys):
    runs = [synthetic_curve_run(tmp_path / "runs", 0, {100: 3, 200: 7, 300: 5})]
    assert main(["aggregate", *map(str, runs), "--out", str(tmp_path / "t"), "--at", "best",
                 "--select", "modes_covered", "--bootstrap", "200"]) == 0
    assert pd.read_csv(tmp_path / "t" / "runs.csv")["at_step"].tolist() == [200]
