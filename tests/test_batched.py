"""Several seeds in one process (``train --seeds``): each seed's run directory holds exactly what the
seed's own single run writes, a diverging seed is a result, a killed batch resumes, and the GPU
switches change nothing on a CPU unless asked for."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from benchsuite import provenance
from benchsuite.batched import parse_seeds, seed_directory, train_seeds
from benchsuite.grid import seeds_text
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.train import RunDirectory, build, configure_numerics, load_checkpoint, train

from conftest import assert_same_state

# Small enough for a fraction of a second per step, shaped so that most layers stack on a CPU.
SMALL = {"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 4, "batch_size": 32, "z_dim": 16, "log_every": 2,
         "checkpoint_every": 3, "architecture_options": {"width": 32, "depth": 2}}
SEEDS = [3, 0, 5]


def small(**settings):
    return resolve(SMALL | settings)


def single_runs(config, seeds, root):
    """Each seed trained alone, as ``train --seed s`` would: {seed: run directory}."""
    dirs = {}
    for seed in seeds:
        dirs[seed] = root / f"single-{seed}"
        train(dataclasses.replace(config, seed=seed), dirs[seed], device="cpu", progress=False)
    return dirs


def assert_same_run(single, batched):
    """The files a run writes agree: checkpoint tensors bit for bit, log, status, config, samples."""
    a, b = RunDirectory(single), RunDirectory(batched)
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
                                         ("0-2, 9", [0, 1, 2, 9])])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, message", [("3-1", "is empty"), ("a", "expects seeds like"),
                                           ("1,1", "names a seed twice"), ("", "expects seeds like")])
def test_bad_seed_lists_are_one_message(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_seeds(text)


def test_seed_directories_are_the_single_runs_last_run_id_segment(tmp_path):
    default = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "seed": 4})
    assert seed_directory(tmp_path, default) == tmp_path / "s4"
    assert seed_directory(tmp_path, small(objective="hinge", seed=2)).name == small(objective="hinge", seed=2).run_id.split("/")[-1]
    assert seeds_text([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"


# --- Batched runs agree with separate runs --------------------------------------------------------

# The toy grid's objectives and regularisers (wgan's default is clip with RMSprop and 5 critic steps;
# energy's is r1+entropy; ebgan's autoencoder D), and combinations that use every hook and the EMA.
METHODS = [
    ("minimax", "none"), ("nonsaturating", "none"), ("wgan", "default"), ("wgan", "gp"), ("lsgan", "none"),
    ("hinge", "sn"), ("nonsaturating", "r1"), ("nonsaturating", "r2"), ("nonsaturating", "instance-noise"),
    ("ebgan", "default"), ("energy", "default"), ("nonsaturating", "vdb"), ("nonsaturating", "entropy"),
    ("hinge", "sn+r1+instance-noise"),
]


@pytest.mark.parametrize("objective, regulariser", METHODS)
def test_batched_seeds_equal_separate_runs(tmp_path, objective, regulariser, capsys):
    config = small(objective=objective, regulariser=regulariser, ema=0.5 if "+" in regulariser else 0.0)
    statuses = train_seeds(config, SEEDS, tmp_path / "batch", device="cpu", progress=False)
    assert {seed: status["status"] for seed, status in statuses.items()} == {seed: "completed" for seed in SEEDS}
    singles = single_runs(config, SEEDS, tmp_path)
    for seed in SEEDS:
        run = seed_directory(tmp_path / "batch", dataclasses.replace(config, seed=seed))
        assert_same_run(singles[seed], run)
        assert batch_of(run) | {"how": None} == {"mode": "vectorised", "seeds": SEEDS, "how": None}
    assert "vectorised" in capsys.readouterr().err


def test_the_ema_and_several_critic_steps_agree_too(tmp_path):
    config = small(objective="wgan", regulariser="gp", ema=0.9, n_critic=3, steps=3)
    train_seeds(config, [0, 1], tmp_path / "batch", device="cpu", progress=False)
    singles = single_runs(config, [0, 1], tmp_path)
    for seed in (0, 1):
        assert_same_run(singles[seed], seed_directory(tmp_path / "batch", dataclasses.replace(config, seed=seed)))


@pytest.mark.slow
@pytest.mark.parametrize("objective, regulariser", [("wgan", "gp"), ("hinge", "sn"), ("nonsaturating", "vdb"),
                                                    ("energy", "default")])
def test_long_runs_at_the_default_shapes_stay_bit_identical(tmp_path, objective, regulariser):
    # The comparison is exact, so a difference in one bit at any step fails it; the length is there for
    # the weights to travel far from their initialisation, into values a few-step test never produces.
    # Two seeds stack every layer as eight would (the products are batched either way) at half the cost.
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": objective, "regulariser": regulariser,
                      "steps": 200})
    seeds = [0, 1]
    train_seeds(config, seeds, tmp_path / "batch", device="cpu", progress=False)
    singles = single_runs(config, seeds, tmp_path)
    for seed in seeds:
        run = seed_directory(tmp_path / "batch", dataclasses.replace(config, seed=seed))
        assert_same_run(singles[seed], run)
        assert batch_of(run)["mode"] == "vectorised"


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


def test_a_diverging_seed_is_recorded_and_the_others_finish(tmp_path, poison_plugin):
    config = small(regulariser="poison-one-seed", plugins=[poison_plugin], steps=6,
                   regulariser_options={"poison-one-seed": {"seed": 0, "step": 3}})
    statuses = train_seeds(config, SEEDS, tmp_path / "batch", device="cpu", progress=False)
    assert statuses[0]["status"] == "diverged" and statuses[0]["step"] == 3
    assert "non-finite" in statuses[0]["reason"]
    assert statuses[3]["status"] == statuses[5]["status"] == "completed"
    singles = single_runs(config, SEEDS, tmp_path)
    for seed in SEEDS:
        assert_same_run(singles[seed], seed_directory(tmp_path / "batch", dataclasses.replace(config, seed=seed)))


# --- Resuming -------------------------------------------------------------------------------------


def test_a_halted_batch_resumes_and_each_seed_resumes_alone_too(tmp_path):
    config = small(regulariser="sn+gp", steps=7)
    whole = tmp_path / "whole"
    train_seeds(config, SEEDS, whole, device="cpu", progress=False)

    # Halted after the checkpoint at step 3, then resumed by the same command.
    parts = tmp_path / "parts"
    halted = train_seeds(config, SEEDS, parts, device="cpu", progress=False, stop_after=3)
    assert all(status["status"] == "stopped" for status in halted.values())
    train_seeds(config, SEEDS, parts, device="cpu", progress=False)

    # Halted again; one seed finished by the single-seed trainer from the batch's checkpoint, the
    # others by the batch, which now starts them from step 3 and leaves the finished one alone.
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


def test_seeds_at_different_steps_are_trained_in_groups(tmp_path, capsys):
    config = small(steps=6)
    out = tmp_path / "batch"
    train_seeds(config, [0, 1], out, device="cpu", progress=False, stop_after=3)
    train_seeds(config, [0, 1, 2, 3], out, device="cpu", progress=False)
    err = capsys.readouterr().err
    assert "seeds 2-3 vectorised from step 0" in err and "seeds 0-1 vectorised from step 3" in err
    singles = single_runs(config, [0, 1, 2, 3], tmp_path)
    for seed in range(4):
        assert_same_run(singles[seed], seed_directory(out, dataclasses.replace(config, seed=seed)))


@pytest.mark.slow
def test_a_killed_batch_process_resumes_to_the_same_result(tmp_path):
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
    assert not list((tmp_path / "killed").glob("*/status.json")), "the batch finished before it could be killed"
    subprocess.run(command + ["--out", str(tmp_path / "killed")], check=True, capture_output=True)
    for whole in sorted((tmp_path / "whole").iterdir()):
        killed = tmp_path / "killed" / whole.name
        assert_same_state(load_checkpoint(whole / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt"))
        assert (whole / "log.csv").read_text() == (killed / "log.csv").read_text()


# --- Falling back to one seed at a time -----------------------------------------------------------


def test_a_network_without_a_stacked_form_trains_seed_by_seed_and_says_so(tmp_path, capsys):
    config = resolve({"dataset": "digits", "architecture": "dcgan", "objective": "nonsaturating", "steps": 2,
                      "batch_size": 8, "architecture_options": {"width": 8}, "log_every": 1, "checkpoint_every": 2})
    statuses = train_seeds(config, [0, 1], tmp_path / "batch", device="cpu", progress=False)
    assert all(status["status"] == "completed" for status in statuses.values())
    err = capsys.readouterr().err
    assert "seeds 0-1 one at a time in this process" in err and "has no stacked form" in err
    singles = single_runs(config, [0, 1], tmp_path)
    for seed in (0, 1):
        run = seed_directory(tmp_path / "batch", dataclasses.replace(config, seed=seed))
        assert_same_run(singles[seed], run)
        batch = batch_of(run)
        assert batch["mode"] == "sequential" and "has no stacked form" in batch["reason"]


def test_sequential_on_request_and_settings_that_rule_stacking_out(tmp_path, capsys):
    config = small(steps=2)
    train_seeds(config, [0, 1], tmp_path / "asked", device="cpu", progress=False, sequential=True)
    assert batch_of(seed_directory(tmp_path / "asked", config))["reason"] == "asked for"
    bf16 = small(steps=2, precision="bf16")
    train_seeds(bf16, [0, 1], tmp_path / "bf16", device="cpu", progress=False)
    assert "precision bf16" in batch_of(seed_directory(tmp_path / "bf16", bf16))["reason"]
    assert "one at a time" in capsys.readouterr().err


# --- The command line -----------------------------------------------------------------------------


def test_train_seeds_from_the_command_line(tmp_path, capsys):
    from benchsuite.cli import main

    args = ["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "hinge", "--steps", "2",
            "--set", "batch_size=16", "--quiet", "--out", str(tmp_path / "cell")]
    assert main([*args, "--seeds", "0-1"]) == 0
    out = capsys.readouterr().out
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "hinge", "steps": 2, "batch_size": 16})
    for seed in (0, 1):
        seed_config = dataclasses.replace(config, seed=seed)
        run = seed_directory(tmp_path / "cell", seed_config)
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert f"{seed_config.run_id}: completed -> {run}" in out
    assert main([*args, "--seeds", "0-1", "--record", str(tmp_path / "record.json")]) == 0
    assert "already completed" in capsys.readouterr().out
    record = json.loads((tmp_path / "record.json").read_text())
    # The record names what was trained, without where or on what: the pipeline rebuilds its job from it.
    assert record["arguments"] == ["--dataset", "ring8", "--arch", "mlp", "--objective", "hinge", "--seeds", "0-1",
                                   "--steps", "2", "--set", "batch_size=16"]
    assert {run["status"] for run in record["runs"].values()} == {"completed"}
    assert sorted(record["runs"]) == [dataclasses.replace(config, seed=s).run_id for s in (0, 1)]
    assert main([*args, "--sequential"]) == 2
    assert "--sequential and --record go with --seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--seeds", "0-1", "--seed", "0"])
    assert "not allowed with argument" in capsys.readouterr().err


# --- The GPU switches, as far as a CPU can see them ----------------------------------------------


def test_numerics_are_off_by_default_and_recorded(tmp_path):
    config = small(steps=1)
    assert (config.precision, config.channels_last, config.compile, config.tf32, config.deterministic) == (
        "fp32", False, False, False, True)
    before = provenance.numerics()
    configure_numerics(config, torch.device("cpu"))
    assert provenance.numerics() == before  # nothing changes on a CPU
    train(config, tmp_path / "run", device="cpu", progress=False)
    recorded = json.loads((tmp_path / "run" / "provenance.json").read_text())["numerics"]
    assert recorded == before
    assert set(recorded) >= {"deterministic_algorithms", "tf32_matmul", "tf32_cudnn", "cudnn_benchmark",
                             "cublas_workspace_config"}


def test_the_gpu_settings_are_applied_as_documented(monkeypatch):
    # The switches are process-wide flags that exist without a GPU; set them for a CUDA device and put them back.
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = provenance.numerics()
    try:
        configure_numerics(small(), torch.device("cuda"))
        applied = provenance.numerics()
        assert applied["deterministic_algorithms"] is True and applied["cudnn_deterministic"] is True
        assert applied["tf32_matmul"] is False and applied["tf32_cudnn"] is False
        assert applied["cudnn_benchmark"] is False and applied["cublas_workspace_config"] == ":4096:8"
        configure_numerics(small(deterministic=False, tf32=True), torch.device("cuda"))
        fast = provenance.numerics()
        assert fast["deterministic_algorithms"] is False and fast["cudnn_benchmark"] is True
        assert fast["tf32_matmul"] is True and fast["tf32_cudnn"] is True
    finally:
        torch.use_deterministic_algorithms(saved["deterministic_algorithms"])
        torch.backends.cuda.matmul.allow_tf32 = saved["tf32_matmul"]
        torch.backends.cudnn.allow_tf32 = saved["tf32_cudnn"]
        torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
        torch.backends.cudnn.deterministic = saved["cudnn_deterministic"]


def test_non_default_numerics_name_another_experiment():
    base = small()
    assert small(precision="bf16").run_id != base.run_id
    assert small(tf32=True).run_id != base.run_id
    with pytest.raises(ConfigError, match="precision"):
        small(precision="fp8")


def test_bf16_autocast_and_channels_last_do_what_they_say_on_a_cpu(tmp_path):
    fp32, bf16 = small(steps=2), small(steps=2, precision="bf16")
    train(fp32, tmp_path / "fp32", device="cpu", progress=False)
    train(bf16, tmp_path / "bf16", device="cpu", progress=False)
    a, b = load_checkpoint(tmp_path / "fp32" / "checkpoint.pt"), load_checkpoint(tmp_path / "bf16" / "checkpoint.pt")
    assert not torch.equal(a["generator"]["0.0.weight"], b["generator"]["0.0.weight"])
    assert a["generator"]["0.0.weight"].dtype == b["generator"]["0.0.weight"].dtype == torch.float32

    images = {"dataset": "digits", "architecture": "dcgan", "objective": "nonsaturating",
              "architecture_options": {"width": 8}}
    cpu = torch.device("cpu")
    laid_out = build(resolve(images | {"channels_last": True}), cpu)
    assert laid_out.memory_format == torch.channels_last
    conv = next(m for m in laid_out.discriminator.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert build(resolve(images), cpu).memory_format == torch.preserve_format
    assert build(small(channels_last=True), cpu).memory_format == torch.preserve_format  # 2-D data: nothing


@pytest.mark.slow
def test_compiled_training_runs_when_inductor_works_here(tmp_path):
    try:
        probe = torch.nn.Linear(2, 2)
        probe.compile()
        probe(torch.zeros(1, 2))
    except Exception as error:  # no C++ compiler or an unsupported platform: the option is optional
        pytest.skip(f"torch.compile does not work on this machine: {type(error).__name__}")
    config = small(steps=2, compile=True)
    assert train(config, tmp_path / "run", device="cpu", progress=False)["status"] == "completed"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["compile"] is True
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert "0.0.weight" in state["generator"]  # the checkpoint keeps the plain module's names
