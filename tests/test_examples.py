"""The worked example: methods outside the package, trained from the CLI and from a config.

The training runs happen in fresh processes, so the package under test never imports the examples,
and the package's files are fingerprinted before and after to show that nothing in it was touched.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import benchsuite
from benchsuite import registry
from benchsuite.cli import main
from benchsuite.components import Discriminator, StepContext

from conftest import tree_digest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PACKAGE = Path(benchsuite.__file__).resolve().parent
TINY = ["--steps", "12", "--set", "batch_size=32", "--set", "log_every=4", "--set", "checkpoint_every=12",
        "--set", "architecture.width=32", "--set", "architecture.depth=2", "--quiet"]


def package_digest() -> dict[str, str]:
    return {name: digest for name, digest in tree_digest(PACKAGE).items() if "__pycache__" not in name}


def benchsuite_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = os.environ | {"OMP_NUM_THREADS": "1"}  # tiny networks on shared cores
    return subprocess.run([sys.executable, "-m", "benchsuite.cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def log_rows(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_example_objective_trains_from_the_command_line(tmp_path):
    before = package_digest()
    result = benchsuite_cli("train", "--plugin", str(EXAMPLES / "ragan.py"), "--dataset", "ring8", "--arch", "mlp",
                            "--objective", "ragan", "--out", str(tmp_path / "run"), *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "status.json").read_text()) == {"status": "completed", "step": 12}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["objective"] == "ragan"
    assert config["plugins"] == [str(EXAMPLES / "ragan.py")]
    assert [row["step"] for row in log_rows(tmp_path / "run")] == ["1", "4", "8", "12"]
    assert package_digest() == before


def test_example_config_trains_both_plugins_from_any_directory(tmp_path):
    before = package_digest()
    result = benchsuite_cli("train", "--config", str(EXAMPLES / "ragan-dragan.yaml"),
                            "--out", str(tmp_path / "run"), *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "status.json").read_text()) == {"status": "completed", "step": 12}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["objective"], config["regulariser"]) == ("ragan", "dragan")
    assert config["regulariser_options"] == {"dragan": {"weight": 10.0}}
    assert "dragan/grad_norm" in log_rows(tmp_path / "run")[0]
    assert package_digest() == before


def test_the_package_itself_knows_neither_example(tmp_path, capsys):
    assert main(["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "ragan",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "unknown objective 'ragan'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert "dragan" not in registry.names("regulariser")


# --- What the example methods compute ---------------------------------------------------------------


@pytest.fixture
def examples_loaded(monkeypatch):
    """The example plugins registered for one test only; the registry is restored afterwards."""
    registry.load_builtins()
    monkeypatch.setattr(registry, "_entries", {kind: dict(names) for kind, names in registry._entries.items()})
    monkeypatch.setattr(registry, "_loaded_plugin_files", set())
    registry.load_plugins([EXAMPLES / "ragan.py", EXAMPLES / "dragan.py"])


def linear_critic(weight, bias=0.0):
    layer = nn.Linear(len(weight), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weight]))
        layer.bias.fill_(bias)
    return Discriminator(nn.Identity(), layer)


def test_relativistic_average_losses_match_a_hand_computation(examples_loaded):
    ragan = registry.get("objective", "ragan")()
    critic = linear_critic([1.0])  # C(x) = x
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[-1.0], [1.0]])
    ctx = StepContext(step=1, total_steps=2, phase="d", generator=nn.Identity(), discriminator=critic,
                      z=fake, fake=fake, real=real, real_input=real, fake_input=fake)
    softplus = torch.nn.functional.softplus
    # E C(real) = 3, E C(fake) = 0.
    expected_d = softplus(-(torch.tensor([2.0, 4.0]) - 0)).mean() + softplus(torch.tensor([-1.0, 1.0]) - 3).mean()
    torch.testing.assert_close(ragan.discriminator_loss(critic(real), critic(fake), ctx), expected_d)
    g_ctx = StepContext(step=1, total_steps=2, phase="g", generator=nn.Identity(), discriminator=critic,
                        z=fake, fake=fake, fake_input=fake)
    expected_g = softplus(-(torch.tensor([-1.0, 1.0]) - 3)).mean() + softplus(torch.tensor([2.0, 4.0]) - 0).mean()
    torch.testing.assert_close(ragan.generator_loss(critic(fake), g_ctx), expected_g)


def test_dragan_penalty_on_a_linear_critic_has_its_closed_form(examples_loaded):
    dragan = registry.get("regulariser", "dragan")()  # weight 10
    critic = linear_critic([3.0, 4.0])  # ||grad|| = 5 everywhere
    real = torch.randn(6, 2)
    ctx = StepContext(step=1, total_steps=2, phase="d", generator=nn.Identity(), discriminator=critic,
                      z=real, fake=real, real=real, real_input=real, fake_input=real,
                      rng=torch.Generator().manual_seed(0))
    assert dragan.discriminator_penalty(ctx).item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)
