"""The trainer's promises: reproducible, resumable, diverged runs recorded, finished runs kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchsuite import io as atomic
from benchsuite.evaluate import evaluate
from benchsuite.train import RunDirectory, load_checkpoint, train

from conftest import assert_same_state, tiny_config, tree_digest


def run_files(path):
    run = RunDirectory(path)
    return load_checkpoint(run.checkpoint), run.log.read_text(), json.loads(run.metrics.read_text())["values"]


def train_and_evaluate(config, path, **kwargs):
    status = train(config, path, device="cpu", progress=False, **kwargs)
    evaluate(path, samples=500, device="cpu")
    return status


def test_run_directory_holds_every_promised_file(tmp_path):
    config = tiny_config()
    assert train_and_evaluate(config, tmp_path / "run") == {"status": "completed", "step": config.steps}
    run = RunDirectory(tmp_path / "run")
    for path in (run.config, run.provenance, run.checkpoint, run.log, run.status, run.samples, run.metrics):
        assert path.exists(), path.name
    assert json.loads(run.config.read_text()) == config.to_dict()
    provenance = json.loads(run.provenance.read_text())
    assert provenance["versions"]["torch"] == torch.__version__
    assert provenance["device"] == "cpu"
    assert provenance["segments"][0]["to_step"] == config.steps
    assert provenance["wall_seconds"] > 0
    header = run.log.read_text().splitlines()[0].split(",")
    for column in ("step", "loss_d", "loss_g", "grad_x_d_real", "grad_x_d_fake", "grad_norm_g", "grad_norm_d",
                   "d_real_mean", "d_fake_mean", "lipschitz_bound"):
        assert column in header
    # The checkpoint is plain data: it loads without unpickling code.
    state = torch.load(run.checkpoint, weights_only=True)
    assert state["step"] == config.steps
    assert run.samples.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_is_bit_identical_and_another_seed_differs(tmp_path):
    config = tiny_config(regulariser="sn+r1", ema=0.9)
    train_and_evaluate(config, tmp_path / "a")
    train_and_evaluate(config, tmp_path / "b")
    train_and_evaluate(tiny_config(regulariser="sn+r1", ema=0.9, seed=1), tmp_path / "c")
    a, b, c = run_files(tmp_path / "a"), run_files(tmp_path / "b"), run_files(tmp_path / "c")
    assert_same_state(a[0], b[0])
    assert a[1] == b[1] and a[2] == b[2]
    assert not torch.equal(a[0]["generator"]["1.weight"], c[0]["generator"]["1.weight"])
    assert a[1] != c[1]


def test_diagnostics_do_not_change_training(tmp_path):
    train(tiny_config(regulariser="sn"), tmp_path / "on", progress=False)
    train(tiny_config(regulariser="sn", diagnostics=False), tmp_path / "off", progress=False)
    on = load_checkpoint(RunDirectory(tmp_path / "on").checkpoint)
    off = load_checkpoint(RunDirectory(tmp_path / "off").checkpoint)
    for key in ("generator", "discriminator", "optimizers", "rng"):
        assert_same_state(on[key], off[key], key)


@pytest.mark.parametrize("regulariser", ["none", "sn+gp", "instance-noise"])
def test_halted_and_resumed_equals_uninterrupted(tmp_path, regulariser):
    config = tiny_config(regulariser=regulariser, ema=0.5, steps=7)
    train_and_evaluate(config, tmp_path / "whole")
    assert train(config, tmp_path / "parts", progress=False, stop_after=3)["status"] == "stopped"
    assert train_and_evaluate(config, tmp_path / "parts")["status"] == "completed"
    whole, parts = run_files(tmp_path / "whole"), run_files(tmp_path / "parts")
    assert_same_state(whole[0], parts[0])
    assert whole[1] == parts[1]
    assert whole[2] == parts[2]
    segments = json.loads((tmp_path / "parts" / "provenance.json").read_text())["segments"]
    assert [(s["from_step"], s["to_step"]) for s in segments] == [(0, 3), (3, 7)]


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the trainer may catch it or clean up after it."""


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_kill_next_to_a_checkpoint_write_resumes_to_the_same_result(tmp_path, monkeypatch, moment):
    config = tiny_config(steps=9, log_every=1, checkpoint_every=2)
    train_and_evaluate(config, tmp_path / "whole")
    real_save = atomic.save_torch

    def save_then_die_at_step_4(path, state):
        if state["step"] == 4 and moment == "before":
            raise Killed
        real_save(path, state)
        if state["step"] == 4 and moment == "after":
            raise Killed

    monkeypatch.setattr(atomic, "save_torch", save_then_die_at_step_4)
    with pytest.raises(Killed):
        train(config, tmp_path / "killed", progress=False)
    monkeypatch.setattr(atomic, "save_torch", real_save)
    assert load_checkpoint(RunDirectory(tmp_path / "killed").checkpoint)["step"] == (2 if moment == "before" else 4)
    train_and_evaluate(config, tmp_path / "killed")
    whole, killed = run_files(tmp_path / "whole"), run_files(tmp_path / "killed")
    assert_same_state(whole[0], killed[0])
    assert whole[1] == killed[1]
    assert whole[2] == killed[2]


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_result(tmp_path):
    settings = ["--dataset", "ring8", "--arch", "mlp", "--objective", "nonsaturating", "--steps", "400",
                "--set", "checkpoint_every=20", "--set", "log_every=10", "--set", "batch_size=64", "--quiet"]
    command = [sys.executable, "-m", "benchsuite.cli", "train", *settings]
    subprocess.run(command + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    process = subprocess.Popen(command + ["--out", str(tmp_path / "killed")])
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "killed" / "status.json").exists(), "the run finished before it could be killed"
    subprocess.run(command + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    whole = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    resumed = load_checkpoint(checkpoint)
    assert_same_state(whole, resumed)
    assert (tmp_path / "whole" / "log.csv").read_text() == (tmp_path / "killed" / "log.csv").read_text()


def test_divergence_is_a_result(tmp_path):
    from benchsuite.cli import main

    out = tmp_path / "run"
    code = main(["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "nonsaturating", "--steps", "50",
                 "--set", "lr_d=1e9", "--set", "lr_g=1e9", "--set", "log_every=5", "--out", str(out), "--quiet"])
    assert code == 0
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "diverged"
    assert 1 <= status["step"] <= 50
    assert "non-finite" in status["reason"]
    assert main(["evaluate", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["values"] is None
    assert metrics["declarations"]["modes_covered"]["better"] == "higher"  # the tables still know the metric
    assert "diverged" in metrics["missing_reason"]


def test_finished_run_is_not_retrained_and_force_keeps_the_old_one(tmp_path):
    config = tiny_config()
    out = tmp_path / "run"
    train(config, out, progress=False)
    before = tree_digest(out)
    assert train(config, out, progress=False)["already_finished"] is True
    assert tree_digest(out) == before
    train(config, out, progress=False, force=True)
    archived = [p for p in tmp_path.iterdir() if p.name.startswith("run.replaced-")]
    assert len(archived) == 1 and tree_digest(archived[0]) == before


def test_run_directory_of_another_config_is_refused_untouched(tmp_path):
    from benchsuite.errors import ConfigError

    out = tmp_path / "run"
    train(tiny_config(), out, progress=False)
    before = tree_digest(out)
    with pytest.raises(ConfigError, match=r"different config \(lr_d"):
        train(tiny_config(lr_d=1e-3), out, progress=False)
    assert tree_digest(out) == before


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    from benchsuite.errors import CheckpointError

    config = tiny_config()
    out = tmp_path / "run"
    train(config, out, progress=False, stop_after=3)
    checkpoint = out / "checkpoint.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10,
                            "empty": b""}[damage])
    before = tree_digest(out)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        train(config, out, progress=False)
    assert tree_digest(out) == before
