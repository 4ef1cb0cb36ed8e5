"""Several seeds in one process (``train --seeds``): the seeds run one after another through the one
training loop, each seed's run directory holds exactly what the seed's own single run writes, a
diverging seed is a result while the others go on, and a halted or killed job resumes."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchsuite.cli import main
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.grid import parse_seeds, seeds_text
from benchsuite.train import RunDirectory, load_checkpoint, seed_directory, train, train_seeds

from conftest import assert_same_state

# A fraction of a second per run.
SMALL = {"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 4, "batch_size": 32,
         "z_dim": 16, "log_every": 2, "checkpoint_every": 3, "architecture_options": {"width": 32, "depth": 2}}
SEEDS = [3, 0, 5]  # out of order: seed 0 trains after another seed, and must not notice
TEMPERED = Path(__file__).parent / "plugins" / "tempered_discriminator.py"


def small(**settings):
    return resolve(SMALL | settings)


def single_runs(config, seeds, root):
    """Each seed trained alone, as ``train --seed s`` would: {seed: run directory}."""
    dirs = {}
    for seed in seeds:
        dirs[seed] = root / f"single-{seed}"
        train(dataclasses.replace(config, seed=seed), dirs[seed], device="cpu", progress=False)
    return dirs


def assert_same_run(single, together):
    """The files a run writes agree: checkpoint tensors bit for bit, log, status, config, samples."""
    a, b = RunDirectory(single), RunDirectory(together)
    if a.checkpoint.exists() or b.checkpoint.exists():
        assert_same_state(load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint))
    assert a.log.read_text() == b.log.read_text()
    assert json.loads(a.status.read_text()) == json.loads(b.status.read_text())
    assert a.config.read_text() == b.config.read_text()
    if a.samples.exists():
        assert a.samples.read_bytes() == b.samples.read_bytes()


def batch_of(run_dir):
    return json.loads((run_dir / "provenance.json").read_text())["segments"][-1]["batch"]


# --- Naming seeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seeds", [("0-7", list(range(8))), ("0,2,5", [0, 2, 5]), ("3", [3]),
                                         ("0-2, 9", [0, 1, 2, 9]), ("0 - 2,5-6", [0, 1, 2, 5, 6])])
def test_seed_lists(text, seeds):
    assert parse_seeds(text, "--seeds") == seeds


@pytest.mark.parametrize("text, message", [("3-1", "is empty"), ("a", "a seed must be an integer"),
                                           ("1,1", "names a seed twice"), ("", "must name seeds"),
                                           ("0-99999999999", "more than 10000 seeds")])
def test_bad_seed_lists_are_one_message_naming_the_option(text, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_seeds(text, "--seeds")
    assert str(error.value).startswith("--seeds")


def test_seed_directories_are_the_single_runs_last_run_id_segment(tmp_path):
    default = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "seed": 4})
    assert seed_directory(tmp_path, default) == tmp_path / "s4"
    assert seed_directory(tmp_path, small(objective="hinge", seed=2)).name == small(objective="hinge", seed=2).run_id.split("/")[-1]
    assert seeds_text([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"


# --- Seeds together agree with separate runs ------------------------------------------------------

# Methods that draw randomness of their own (penalty points, noise, the bottleneck, the encoder), keep
# state (spectral norm's vectors, vdb's beta), take several critic steps, and an EMA.
METHODS = [
    ("wgan", "gp", {"n_critic": 3}), ("nonsaturating", "instance-noise", {}), ("nonsaturating", "vdb", {}),
    ("energy", "default", {}), ("ebgan", "default", {}), ("hinge", "sn+r1+instance-noise", {"ema": 0.5}),
]


@pytest.mark.parametrize("objective, regulariser, settings", METHODS)
def test_seeds_together_equal_separate_runs(tmp_path, objective, regulariser, settings, capsys):
    config = small(objective=objective, regulariser=regulariser, **settings)
    statuses = train_seeds(config, SEEDS, tmp_path / "together", device="cpu", progress=False)
    assert {seed: status["status"] for seed, status in statuses.items()} == {seed: "completed" for seed in SEEDS}
    assert f"seeds {seeds_text(SEEDS)} one after another in this process" in capsys.readouterr().err
    singles = single_runs(config, SEEDS, tmp_path)
    for seed in SEEDS:
        run = seed_directory(tmp_path / "together", dataclasses.replace(config, seed=seed))
        assert_same_run(singles[seed], run)
        assert batch_of(run) == {"seeds": SEEDS}


def test_a_plugin_that_wraps_d_trains_alike_under_seed_and_seeds(tmp_path, capsys):
    # A new component that wraps D needs no edit anywhere to run on either path.
    args = ["train", "--plugin", str(TEMPERED), "--dataset", "ring8", "--arch", "mlp", "--objective", "hinge",
            "--regulariser", "tempered-discriminator", "--steps", "4", "--set", "batch_size=32",
            "--set", "log_every=2", "--set", "architecture.width=32", "--quiet"]
    assert main([*args, "--seeds", "0-1", "--out", str(tmp_path / "together")]) == 0
    for seed in (0, 1):
        assert main([*args, "--seed", str(seed), "--out", str(tmp_path / f"single-{seed}")]) == 0
    capsys.readouterr()
    for seed in (0, 1):
        together = next((tmp_path / "together").glob(f"s{seed}-*"))
        assert_same_run(tmp_path / f"single-{seed}", together)
        state = load_checkpoint(together / "checkpoint.pt")
        assert "log_temperature" in state["discriminator"]  # the wrapper's own parameter was trained and saved
        assert float(state["discriminator"]["log_temperature"]) != pytest.approx(0.6931, abs=1e-6)
    # The wrapper's dropout draws from torch's global generator: two seeds must differ there too.
    logs = [next((tmp_path / "together").glob(f"s{seed}-*")).joinpath("log.csv").read_text() for seed in (0, 1)]
    assert logs[0] != logs[1]


# --- Divergence -----------------------------------------------------------------------------------

POISON = textwrap.dedent('''
    """Test plugin: turns one seed's discriminator into NaNs at one step (seed read from the run's noise)."""

    from typing import Any, ClassVar

    import torch

    from benchsuite.components import Regulariser
    from benchsuite.registry import register


    @register("regulariser", "poison-one-seed")
    class PoisonOneSeed(Regulariser):
        """NaN weights for seed ``seed`` after D's step ``step``."""

        options: ClassVar[dict[str, Any]] = {"seed": 1, "step": 2}

        @torch.no_grad()
        def after_discriminator_step(self, ctx):
            # The run's noise generator is seeded with seed + 1 (RandomState.seeded).
            if ctx.rng.initial_seed() == self.settings["seed"] + 1 and ctx.step == self.settings["step"]:
                next(ctx.discriminator.parameters()).fill_(float("nan"))
''')


@pytest.fixture(scope="module")
def poison_plugin(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "poison.py"
    path.write_text(POISON)
    return str(path)


@pytest.mark.parametrize("diagnostics", [True, False])
def test_a_diverging_seed_is_recorded_and_the_others_finish(tmp_path, poison_plugin, diagnostics):
    # The poisoned seed trains first: the seeds after it must not notice.
    config = small(regulariser="poison-one-seed", plugins=[poison_plugin], steps=6, diagnostics=diagnostics,
                   regulariser_options={"poison-one-seed": {"seed": 3, "step": 3}})
    statuses = train_seeds(config, SEEDS, tmp_path / "together", device="cpu", progress=False)
    assert statuses[3] == {"status": "diverged", "step": 3, "reason": "non-finite generator loss at step 3"}
    assert statuses[0]["status"] == statuses[5]["status"] == "completed"
    singles = single_runs(config, SEEDS, tmp_path)
    for seed in SEEDS:
        assert_same_run(singles[seed], seed_directory(tmp_path / "together", dataclasses.replace(config, seed=seed)))


# --- Resuming -------------------------------------------------------------------------------------


def test_a_halted_job_resumes_and_each_seed_resumes_alone_too(tmp_path):
    config = small(regulariser="sn+gp", steps=7)
    whole = tmp_path / "whole"
    train_seeds(config, SEEDS, whole, device="cpu", progress=False)

    # Halted after the checkpoint at step 3, then resumed by the same command.
    parts = tmp_path / "parts"
    halted = train_seeds(config, SEEDS, parts, device="cpu", progress=False, stop_after=3)
    assert all(status["status"] == "stopped" for status in halted.values())
    train_seeds(config, SEEDS, parts, device="cpu", progress=False)

    # Halted again; one seed finished alone from the job's checkpoint, the others by the job, which
    # leaves the finished one alone.
    mixed = tmp_path / "mixed"
    train_seeds(config, SEEDS, mixed, device="cpu", progress=False, stop_after=5)
    alone = dataclasses.replace(config, seed=SEEDS[0])
    train(alone, seed_directory(mixed, alone), device="cpu", progress=False)
    rest = train_seeds(config, SEEDS, mixed, device="cpu", progress=False)
    assert rest[SEEDS[0]]["already_finished"] is True

    for seed in SEEDS:
        seed_config = dataclasses.replace(config, seed=seed)
        for other in (parts, mixed):
            assert_same_run(seed_directory(whole, seed_config), seed_directory(other, seed_config))
        segments = json.loads((seed_directory(parts, seed_config) / "provenance.json").read_text())["segments"]
        assert [(s["from_step"], s["to_step"]) for s in segments] == [(0, 3), (3, 7)]


def test_a_conflicting_run_directory_stops_the_job_before_any_seed_trains(tmp_path):
    config = small(steps=2)
    out = tmp_path / "together"
    train(small(steps=3, seed=5), seed_directory(out, dataclasses.replace(config, seed=5)), device="cpu",
          progress=False)
    with pytest.raises(ConfigError, match="holds a different config"):
        train_seeds(config, SEEDS, out, device="cpu", progress=False)
    assert sorted(path.name for path in out.iterdir()) == [seed_directory(out, small(steps=3, seed=5)).name]


@pytest.mark.slow
def test_a_killed_job_resumes_to_the_same_result(tmp_path):
    settings = ["--dataset", "ring8", "--arch", "mlp", "--objective", "wgan", "--regulariser", "gp", "--steps", "200",
                "--set", "checkpoint_every=20", "--set", "log_every=10", "--set", "batch_size=64", "--quiet",
                "--seeds", "0-1"]
    command = [sys.executable, "-m", "benchsuite.cli", "train", *settings]
    subprocess.run(command + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)
    process = subprocess.Popen(command + ["--out", str(tmp_path / "killed")], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((tmp_path / "killed").glob("s1-*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list((tmp_path / "killed").glob("s1-*/status.json")), "the job finished before it could be killed"
    subprocess.run(command + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    for whole in sorted((tmp_path / "whole").iterdir()):
        killed = tmp_path / "killed" / whole.name
        assert_same_state(load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt"))
        assert (whole / "log.csv").read_text() == (killed / "log.csv").read_text()


# --- The command line -----------------------------------------------------------------------------


def test_train_seeds_from_the_command_line(tmp_path, capsys):
    args = ["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "hinge", "--steps", "2",
            "--set", "batch_size=16", "--quiet", "--out", str(tmp_path / "cell")]
    assert main([*args, "--seeds", "0-1"]) == 0
    captured = capsys.readouterr()
    assert "ring8/mlp/hinge/none: seeds 0-1 one after another in this process" in captured.err
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "hinge", "steps": 2, "batch_size": 16})
    for seed in (0, 1):
        seed_config = dataclasses.replace(config, seed=seed)
        run = seed_directory(tmp_path / "cell", seed_config)
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert f"{seed_config.run_id}: completed -> {run}" in captured.out
    assert main([*args, "--seeds", "0-1", "--record", str(tmp_path / "record.json")]) == 0
    assert "already completed" in capsys.readouterr().out
    record = json.loads((tmp_path / "record.json").read_text())
    # The record names what was trained, without where or on what: the pipeline rebuilds its job from it.
    assert record["arguments"] == ["--dataset", "ring8", "--arch", "mlp", "--objective", "hinge", "--seeds", "0-1",
                                   "--steps", "2", "--set", "batch_size=16"]
    assert {run["status"] for run in record["runs"].values()} == {"completed"}
    assert sorted(record["runs"]) == [dataclasses.replace(config, seed=s).run_id for s in (0, 1)]
    assert main([*args, "--record", str(tmp_path / "other.json")]) == 2
    assert "--record goes with --seeds" in capsys.readouterr().err
    assert main([*args, "--seeds", "0-x"]) == 2
    assert "--seeds: a seed must be an integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--seeds", "0-1", "--seed", "0"])
    assert "not allowed with argument" in capsys.readouterr().err
