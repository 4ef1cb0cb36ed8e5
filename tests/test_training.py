"""The trainer's promises: reproducible, resumable, diverged runs recorded, finished runs kept."""

from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from benchsuite import io as atomic
from benchsuite import provenance, registry
from benchsuite.cli import main
from benchsuite.config import resolve
from benchsuite.diagnostics import lipschitz_upper_bound
from benchsuite.errors import ConfigError
from benchsuite.evaluate import evaluate
from benchsuite.train import RunDirectory, build, configure_numerics, load_checkpoint, train

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


# Runs whose numbers turn non-finite during training, with the diagnostics on (the default): the
# Lipschitz bound's SVD of NaN weights used to raise before the divergence check ran.
DIVERGING = {
    "learning rates of 100": ["--set", "lr_d=100", "--set", "lr_g=100"],
    "r1 with gamma nan": ["--regulariser", "r1", "--set", "regulariser.r1.gamma=nan"],
    "data with std nan": ["--set", "dataset.std=nan"],
}


@pytest.mark.parametrize("seeds", [["--seed", "0"], ["--seeds", "0-1"]], ids=["seed", "seeds"])
@pytest.mark.parametrize("settings", DIVERGING.values(), ids=DIVERGING.keys())
def test_a_run_that_diverges_with_diagnostics_on_is_recorded(tmp_path, capsys, settings, seeds):
    out = tmp_path / "out"
    code = main(["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "lsgan", "--steps", "300",
                 *settings, *seeds, "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    runs = [out] if seeds[0] == "--seed" else sorted(out.iterdir())
    assert len(runs) == (1 if seeds[0] == "--seed" else 2)
    assert capsys.readouterr().out.count(": diverged at step") == len(runs)
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "diverged" and "non-finite" in status["reason"]
        # The diverged step's losses are logged, its diagnostics are not.
        assert "nan" in (run / "log.csv").read_text().splitlines()[-1]


registry.load_builtins()


@pytest.mark.parametrize("regulariser", registry.names("regulariser"))
@pytest.mark.parametrize("objective", registry.names("objective"))
def test_non_finite_data_is_a_diverged_run_for_every_method(tmp_path, objective, regulariser):
    try:
        config = tiny_config(objective=objective, regulariser=regulariser, dataset_options={"std": math.nan})
        build(config, torch.device("cpu"))
    except ConfigError as refused:  # a combination the components refuse (ebgan's autoencoder D cannot be packed)
        pytest.skip(str(refused))
    assert train(config, tmp_path / "run", device="cpu", progress=False) == {
        "status": "diverged", "step": 1, "reason": "non-finite discriminator loss at step 1"}


def test_diagnostics_never_change_how_a_diverging_run_ends(tmp_path):
    settings = {"dataset": "ring8", "architecture": "mlp", "objective": "lsgan", "lr_d": 100.0, "lr_g": 100.0,
                "steps": 40, "log_every": 1, "checkpoint_every": 1}
    statuses = {on: train(resolve(settings | {"diagnostics": on}), tmp_path / str(on), device="cpu", progress=False)
                for on in (True, False)}
    assert statuses[True] == statuses[False] and statuses[True]["status"] == "diverged"
    logs = {on: (tmp_path / str(on) / "log.csv").read_text().splitlines() for on in (True, False)}
    columns = logs[False][0].split(",")
    assert set(columns) < set(logs[True][0].split(","))
    for on_row, off_row in zip(csv_rows(logs[True]), csv_rows(logs[False]), strict=True):
        assert {key: on_row[key] for key in columns} == off_row
    # The last row is the diverged step's: the diagnostics were not asked for weights they cannot measure.
    assert all(csv_rows(logs[True])[-1][key] == "" for key in ("lipschitz_bound", "grad_x_d_real"))
    on, off = load_checkpoint(tmp_path / "True" / "checkpoint.pt"), load_checkpoint(tmp_path / "False" / "checkpoint.pt")
    for key in ("generator", "discriminator", "optimizers"):
        assert_same_state(on[key], off[key], key)


def csv_rows(lines):
    return list(csv.DictReader(lines))


def test_the_lipschitz_bound_of_non_finite_weights_is_nan_not_an_error():
    discriminator = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    assert lipschitz_upper_bound(discriminator) > 0
    with torch.no_grad():
        discriminator[2].weight[0, 1] = math.nan
    assert math.isnan(lipschitz_upper_bound(discriminator))


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


# --- The GPU switches, as far as a CPU can see them ----------------------------------------------


def test_numerics_are_off_by_default_and_recorded(tmp_path):
    config = tiny_config(steps=1)
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
        configure_numerics(tiny_config(), torch.device("cuda"))
        applied = provenance.numerics()
        assert applied["deterministic_algorithms"] is True and applied["cudnn_deterministic"] is True
        assert applied["tf32_matmul"] is False and applied["tf32_cudnn"] is False
        assert applied["cudnn_benchmark"] is False and applied["cublas_workspace_config"] == ":4096:8"
        configure_numerics(tiny_config(deterministic=False, tf32=True), torch.device("cuda"))
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
    base = tiny_config()
    assert tiny_config(precision="bf16").run_id != base.run_id
    assert tiny_config(tf32=True).run_id != base.run_id
    with pytest.raises(ConfigError, match="precision"):
        tiny_config(precision="fp8")


def test_bf16_autocast_and_channels_last_do_what_they_say_on_a_cpu(tmp_path):
    fp32, bf16 = tiny_config(steps=2), tiny_config(steps=2, precision="bf16")
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
    assert build(tiny_config(channels_last=True), cpu).memory_format == torch.preserve_format  # 2-D data: nothing


@pytest.mark.slow
def test_compiled_training_runs_when_inductor_works_here(tmp_path):
    try:
        probe = torch.nn.Linear(2, 2)
        probe.compile()
        probe(torch.zeros(1, 2))
    except Exception as error:  # no C++ compiler or an unsupported platform: the option is optional
        pytest.skip(f"torch.compile does not work on this machine: {type(error).__name__}")
    config = tiny_config(steps=2, compile=True)
    assert train(config, tmp_path / "run", device="cpu", progress=False)["status"] == "completed"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["compile"] is True
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert "0.0.weight" in state["generator"]  # the checkpoint keeps the plain module's names


def test_provenance_names_the_cpu_model(tmp_path):
    # Bit-identity holds on one machine, not across CPU models: the provenance says which CPU ran.
    train(tiny_config(), tmp_path, device="cpu", progress=False)
    recorded = json.loads((tmp_path / "provenance.json").read_text())
    assert recorded["cpu"] == provenance.cpu_model() and recorded["cpu"] not in ("", None)
