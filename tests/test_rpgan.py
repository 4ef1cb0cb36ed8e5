"""RpGAN, the relativistic pairing loss of R3GAN, against hand computation, and trained with r1+r2."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from benchsuite import registry
from benchsuite.config import resolve, split_regularisers
from benchsuite.train import train

from conftest import TINY

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([0.5, -3.0, 1.5])


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


class ScoreFromTable(torch.nn.Module):
    """A critic that scores a sample by looking it up: sample i of REAL gets REAL[i]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


def test_losses_pair_each_real_sample_with_its_fake():
    objective = registry.get("objective", "rpgan")()
    d_ctx = SimpleNamespace(real_input=REAL[:, None])
    d_loss = float(objective.discriminator_loss(REAL, FAKE, d_ctx))
    expected_d = sum(softplus(-(r - f)) for r, f in zip(REAL.tolist(), FAKE.tolist())) / 3
    assert d_loss == pytest.approx(expected_d, rel=1e-6)
    # G re-scores the real batch of the D step with the critic it is given.
    g_loss = float(objective.generator_loss(FAKE, SimpleNamespace(discriminator=ScoreFromTable())))
    expected_g = sum(softplus(-(f - r)) for r, f in zip(REAL.tolist(), FAKE.tolist())) / 3
    assert g_loss == pytest.approx(expected_g, rel=1e-6)


def test_pairing_is_not_the_relativistic_average():
    # Against each pair's partner, not the other batch's mean: swapping two fakes changes the loss.
    objective = registry.get("objective", "rpgan")()
    ctx = SimpleNamespace(real_input=REAL[:, None])
    paired = float(objective.discriminator_loss(REAL, FAKE, ctx))
    swapped = float(objective.discriminator_loss(REAL, FAKE[[1, 0, 2]], ctx))
    assert paired != pytest.approx(swapped, rel=1e-3)


def test_the_generator_gradient_is_the_pair_gap_through_softplus():
    objective = registry.get("objective", "rpgan")()
    objective.discriminator_loss(REAL, FAKE, SimpleNamespace(real_input=REAL[:, None]))
    fake = FAKE.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(objective.generator_loss(fake, SimpleNamespace(discriminator=ScoreFromTable())),
                                      fake)
    sigmoid = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    expected = [-sigmoid(-(f - r)) / 3 for r, f in zip(REAL.tolist(), FAKE.tolist())]
    torch.testing.assert_close(gradient, torch.tensor(expected))


def test_unpaired_batches_and_a_generator_step_first_are_refused():
    objective = registry.get("objective", "rpgan")()
    with pytest.raises(RuntimeError, match="discriminator step first"):
        objective.generator_loss(FAKE, SimpleNamespace(discriminator=ScoreFromTable()))
    with pytest.raises(ValueError, match="one to one"):
        objective.discriminator_loss(REAL, FAKE[:2], SimpleNamespace(real_input=REAL[:, None]))


def test_default_is_r3gans_r1_plus_r2_with_its_optimiser():
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "rpgan", "regulariser": "default"})
    assert split_regularisers(config.regulariser, "rpgan") == ["r1", "r2"]
    assert (config.optimizer, config.beta1, config.beta2, config.n_critic) == ("adam", 0.0, 0.99, 1)


def test_rpgan_with_r1_and_r2_trains_and_reruns_bit_identically(tmp_path):
    settings = {"dataset": "ring8", "architecture": "mlp", "objective": "rpgan", "regulariser": "default", **TINY,
                "architecture_options": {"width": 32, "depth": 2}, "z_dim": 4}
    first = train(resolve(settings), tmp_path / "a", progress=False)
    second = train(resolve(settings), tmp_path / "b", progress=False)
    assert first["status"] == "completed"
    assert (tmp_path / "a" / "log.csv").read_bytes() == (tmp_path / "b" / "log.csv").read_bytes()
    log = (tmp_path / "a" / "log.csv").read_text()
    assert "r1" in log and "r2" in log
    assert second["status"] == "completed"
