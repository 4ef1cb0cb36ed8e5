"""The command line as a user meets it: one clear message and a non-zero exit for a mistake."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from benchsuite.cli import main

TRAIN = ["train", "--dataset", "ring8", "--arch", "mlp", "--steps", "4", "--set", "batch_size=16", "--quiet"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "benchsuite.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_list_shows_every_kind_with_descriptions(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for heading in ("objectives:", "regularisers:", "architectures:", "datasets:", "metrics:"):
        assert heading in out
    assert "nonsaturating" in out and "Goodfellow" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--objective", "nonsaturatng"], "Did you mean 'nonsaturating'?"),
        (["--objective", "wgan", "--regulariser", "gp+sn+clp"], "Did you mean 'clip'?"),
        (["--objective", "wgan", "--set", "lr_d=-1"], "'lr_d' must be > 0"),
        (["--objective", "wgan", "--set", "architecture.widht=3"], "unknown option 'widht'"),
        (["--objective", "wgan", "--config", "missing.yaml"], "config file 'missing.yaml' not found"),
    ],
)
def test_user_mistakes_are_one_message_without_traceback(tmp_path, args, message):
    result = run_cli(*TRAIN, *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_then_evaluate_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--objective", "hinge", "--regulariser", "sn", "--out", str(out)]) == 0
    assert json.loads((out / "status.json").read_text())["status"] == "completed"
    assert main(["evaluate", str(out), "--samples", "300", "--set", "modes.min_samples=5"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_samples"] == 300
    assert metrics["settings"]["modes"]["min_samples"] == 5
    assert set(metrics["values"]) >= {"modes_covered", "high_quality", "mode_kl"}


def test_evaluating_an_unfinished_run_is_refused(tmp_path, capsys):
    from benchsuite.config import resolve
    from benchsuite.train import train

    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 6,
                      "checkpoint_every": 2, "batch_size": 16})
    train(config, tmp_path / "run", progress=False, stop_after=2)
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "has not finished training" in capsys.readouterr().err


def test_evaluating_several_runs_scores_every_one_it_can_and_records_them_only_if_all(tmp_path, capsys):
    import dataclasses

    from benchsuite.config import resolve
    from benchsuite.train import train

    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 6,
                      "checkpoint_every": 2, "batch_size": 16})
    for seed in (0, 1):
        train(dataclasses.replace(config, seed=seed), tmp_path / f"s{seed}", progress=False)
    train(config, tmp_path / "unfinished", progress=False, stop_after=2)
    runs = [str(tmp_path / name) for name in ("s0", "unfinished", "s1")]
    record = tmp_path / "metrics-0-1.json"
    assert main(["evaluate", *runs, "--samples", "200", "--record", str(record)]) == 2
    err = capsys.readouterr().err
    assert "has not finished training" in err and "1 of 3 runs were not evaluated" in err
    assert (tmp_path / "s0" / "metrics.json").exists() and (tmp_path / "s1" / "metrics.json").exists()
    assert not record.exists()

    assert main(["evaluate", runs[0], runs[2], "--samples", "200", "--record", str(record)]) == 0
    listed = json.loads(record.read_text())["runs"]
    assert {entry["dir"] for entry in listed.values()} == {runs[0], runs[2]}
    assert {entry["status"] for entry in listed.values()} == {"completed"}


def test_default_out_is_the_run_id_under_results(tmp_path):
    result = run_cli(*TRAIN, "--objective", "lsgan", "--seed", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # batch_size differs from the method's default, so the seed segment carries the overrides' hash.
    assert len(list((tmp_path / "results/runs/ring8/mlp/lsgan/none").glob("s2-*/status.json"))) == 1


PLUGIN = textwrap.dedent('''
    """Least absolute deviations: a method that lives outside the package (test plugin)."""

    import torch

    from benchsuite.components import Objective
    from benchsuite.registry import register


    @register("objective", "absolute-test")
    class AbsoluteDeviation(Objective):
        """|D(x) - 1| + |D(G(z))| for D, |D(G(z)) - 1| for G (test plugin)."""

        training_defaults = {"optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4}

        def discriminator_loss(self, out_real, out_fake, ctx):
            return (out_real - 1).abs().mean() + out_fake.abs().mean()

        def generator_loss(self, out_fake, ctx):
            return (out_fake - 1).abs().mean()
''')


def test_plugin_objective_trains_through_a_config_file(tmp_path):
    plugins = tmp_path / "my_methods"
    plugins.mkdir()
    (plugins / "absolute.py").write_text(PLUGIN)
    config = tmp_path / "run.yaml"
    config.write_text(textwrap.dedent('''
        plugins: [my_methods/absolute.py]
        dataset: ring8
        architecture: mlp
        objective: absolute-test
        steps: 4
        batch_size: 16
    '''))
    # A fresh process: nothing of the plugin is imported beforehand.
    result = run_cli("train", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "run/config.json").read_text())
    assert saved["objective"] == "absolute-test"
    assert saved["lr_d"] == pytest.approx(1e-4)
    # Evaluation never imports a plugin because a run lists it: it names the file to pass instead.
    plugin = str((plugins / "absolute.py").resolve())
    result = run_cli("evaluate", str(tmp_path / "run"), "--samples", "200")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "objective 'absolute-test'" in result.stderr and f"--plugin {plugin}" in result.stderr
    assert not (tmp_path / "run/metrics.json").exists()
    result = run_cli("evaluate", str(tmp_path / "run"), "--samples", "200", "--plugin", plugin)
    assert result.returncode == 0, result.stderr
