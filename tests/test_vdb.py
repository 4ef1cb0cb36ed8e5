"""The variational discriminator bottleneck: the KL, the dual update of beta, phases and resumes."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from benchsuite import registry
from benchsuite.components import Discriminator, StepContext
from benchsuite.config import resolve
from benchsuite.diagnostics import input_gradient_norms
from benchsuite.errors import CheckpointError, ConfigError
from benchsuite.regularisers.vdb import StochasticBottleneck, gaussian_kl
from benchsuite.train import RunDirectory, load_checkpoint, train

from conftest import assert_same_state, tiny_config
from test_energy_methods import ARCHITECTURES, architecture_or_skip, one_thread  # noqa: F401 (autouse fixture)


def test_published_defaults():
    vdb = registry.get("regulariser", "vdb")()
    assert vdb.settings == {"i_c": 0.1, "beta0": 0.1, "alpha_beta": 1e-5, "size": 256}
    assert vdb.beta.item() == pytest.approx(0.1)


def test_kl_closed_form_agrees_with_a_monte_carlo_estimate():
    generator = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.0, 0.5, -1.0], [2.0, 0.1, 0.3]], dtype=torch.float64)
    sigma = torch.tensor([[1.0, 0.5, 2.0], [0.3, 1.2, 0.8]], dtype=torch.float64)
    samples = 200_000
    z = mu + sigma * torch.randn(samples, *mu.shape, generator=generator, dtype=torch.float64)
    log_q = torch.distributions.Normal(mu, sigma).log_prob(z).sum(-1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    estimate = (log_q - log_p).mean(0)
    standard_error = (log_q - log_p).std(0) / math.sqrt(samples)
    torch.testing.assert_close(gaussian_kl(mu, sigma), estimate, rtol=0, atol=float(4 * standard_error.max()))
    torch.testing.assert_close(gaussian_kl(torch.zeros(2, 5), torch.ones(2, 5)), torch.zeros(2))


# --- A controlled encoder: mu = the input in every code dimension, sigma fixed ------------------------


def controlled(size=3, sigma=1.0, **options):
    """vdb around a D whose features are its 1-D input; mu_j = x and sigma_j = sigma for every j."""
    vdb = registry.get("regulariser", "vdb")(size=size, **options)
    architecture = registry.get("architecture", "mlp")((1,), 4)
    discriminator = vdb.wrap_discriminator(Discriminator(nn.Identity(), nn.Linear(1, 1)), architecture)
    bottleneck = discriminator.head
    with torch.no_grad():
        bottleneck.mean.weight.fill_(1.0)
        bottleneck.mean.bias.zero_()
        bottleneck.scale.weight.zero_()
        bottleneck.scale.bias.fill_(math.log(math.expm1(sigma)))  # softplus^-1(sigma)
    return vdb, discriminator


def d_step(vdb, discriminator, real, fake, rng):
    ctx = StepContext(step=1, total_steps=10, phase="d", generator=nn.Identity(), discriminator=discriminator,
                      z=torch.zeros(len(fake), 1), fake=fake, real=real, rng=rng)
    vdb.begin_phase(ctx)
    ctx.real_input, ctx.fake_input = real, fake
    ctx.out_real, ctx.out_fake = discriminator(real), discriminator(fake)
    penalty = vdb.discriminator_penalty(ctx)
    vdb.after_discriminator_step(ctx)
    return penalty, ctx


def test_kl_is_averaged_over_the_real_and_the_fake_half():
    vdb, discriminator = controlled(size=4)
    rng = torch.Generator().manual_seed(0)
    # Real at mu = 1 (KL = 0.5 * 4 * 1 = 2 per sample), fake at mu = 0 (KL = 0): the average is 1.
    penalty, ctx = d_step(vdb, discriminator, torch.ones(5, 1), torch.zeros(5, 1), rng)
    assert float(ctx.scalars["vdb/kl"]) == pytest.approx(1.0)
    assert float(ctx.scalars["vdb/beta"]) == pytest.approx(0.1)
    assert penalty.item() == pytest.approx(0.1 * (1.0 - 0.1))


def test_beta_rises_while_kl_exceeds_the_constraint_and_decays_to_zero_below_it():
    alpha, i_c = 0.1, 0.15
    vdb, discriminator = controlled(size=3, alpha_beta=alpha, i_c=i_c)
    rng = torch.Generator().manual_seed(0)
    high, low = torch.ones(8, 1), torch.zeros(8, 1)
    kl_high = 0.5 * 3 * 1.0  # mu = 1, sigma = 1 in 3 dimensions; mu = 0 gives KL = 0
    expected, history = 0.1, []
    for _ in range(5):
        d_step(vdb, discriminator, high, high, rng)
        expected += alpha * (kl_high - i_c)
        assert vdb.beta.item() == pytest.approx(expected)
        history.append(vdb.beta.item())
    assert history == sorted(history) and len(set(history)) == 5
    # Below the constraint beta falls by alpha * I_c per step, then is held at exactly 0.
    trajectory = []
    for _ in range(60):
        d_step(vdb, discriminator, low, low, rng)
        expected = max(0.0, expected - alpha * i_c)
        assert vdb.beta.item() == pytest.approx(expected, abs=1e-9)
        trajectory.append(vdb.beta.item())
    assert trajectory == sorted(trajectory, reverse=True)
    assert trajectory[-5:] == [0.0] * 5


def test_published_step_size_moves_beta_slowly():
    vdb, discriminator = controlled(size=3)
    d_step(vdb, discriminator, torch.ones(4, 1), torch.ones(4, 1), torch.Generator().manual_seed(0))
    assert vdb.beta.item() == pytest.approx(0.1 + 1e-5 * (1.5 - 0.1), rel=1e-12)


def test_generator_step_and_evaluation_use_the_mean_and_draw_nothing():
    vdb, discriminator = controlled(size=3, sigma=2.0)
    bottleneck = discriminator.head
    x = torch.randn(6, 1)
    at_mean = bottleneck.head(bottleneck.mean(x)).reshape(6)
    rng = torch.Generator().manual_seed(0)

    # D's step samples: two calls differ and the run's noise generator advances.
    ctx = StepContext(step=1, total_steps=10, phase="d", generator=nn.Identity(), discriminator=discriminator,
                      z=x, fake=x, rng=rng)
    vdb.begin_phase(ctx)
    before = rng.get_state()
    assert not torch.equal(discriminator(x), discriminator(x))
    assert not torch.equal(rng.get_state(), before)

    # G's step uses mu: deterministic, equal to the head at the mean, no random draw.
    vdb.begin_phase(StepContext(step=1, total_steps=10, phase="g", generator=nn.Identity(),
                                discriminator=discriminator, z=x, fake=x, rng=rng))
    before, global_before = rng.get_state(), torch.get_rng_state()
    torch.testing.assert_close(discriminator(x), at_mean)
    assert torch.equal(rng.get_state(), before) and torch.equal(torch.get_rng_state(), global_before)

    # Eval mode (diagnostics, evaluation) even right after a D phase: the mean, nothing drawn.
    vdb.begin_phase(ctx)
    discriminator.eval()
    torch.testing.assert_close(discriminator(x), at_mean)
    discriminator.train()
    before, global_before = rng.get_state(), torch.get_rng_state()
    input_gradient_norms(discriminator, x, x + 1, torch.Generator().manual_seed(1))
    assert discriminator.training
    assert torch.equal(rng.get_state(), before) and torch.equal(torch.get_rng_state(), global_before)


def test_missing_beta_in_a_checkpoint_is_a_clear_error():
    with pytest.raises(CheckpointError, match="beta"):
        registry.get("regulariser", "vdb")().load_state_dict({})


# --- Every architecture, and ebgan's autoencoder ---------------------------------------------------


@pytest.mark.parametrize("objective", ["nonsaturating", "ebgan"])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_bottleneck_replaces_the_head_of_each_architecture(name, objective):
    architecture = architecture_or_skip(name)
    torch.manual_seed(0)
    method = registry.get("objective", objective)()
    try:
        discriminator = method.wrap_discriminator(architecture.discriminator(), architecture)
    except ConfigError as error:  # an architecture without a decoder refuses ebgan
        pytest.skip(f"{objective} on {name}: {error}")
    vdb = registry.get("regulariser", "vdb")(size=16)
    discriminator = vdb.wrap_discriminator(discriminator, architecture)
    assert isinstance(discriminator.head, StochasticBottleneck)
    real, fake = torch.randn(4, *architecture.data_shape), torch.randn(4, *architecture.data_shape)
    penalty, ctx = d_step(vdb, discriminator, real, fake, torch.Generator().manual_seed(0))
    assert ctx.out_real.shape == (4,) and ctx.out_fake.shape == (4,)
    assert math.isfinite(penalty.item())
    (ctx.out_real.mean() + penalty).backward()
    assert discriminator.head.scale.weight.grad.abs().sum() > 0  # sigma learns through the KL


# --- In the trainer ---------------------------------------------------------------------------------


def test_beta_survives_a_resume_bit_identically(tmp_path):
    config = tiny_config(regulariser="vdb", steps=8, regulariser_options={"vdb": {"alpha_beta": 0.05, "size": 8}})
    train(config, tmp_path / "whole", device="cpu", progress=False)
    assert train(config, tmp_path / "parts", device="cpu", progress=False, stop_after=5)["status"] == "stopped"
    halted = load_checkpoint(RunDirectory(tmp_path / "parts").checkpoint)["components"]["regulariser/vdb"]["beta"]
    assert train(config, tmp_path / "parts", device="cpu", progress=False)["status"] == "completed"

    whole = load_checkpoint(RunDirectory(tmp_path / "whole").checkpoint)
    parts = load_checkpoint(RunDirectory(tmp_path / "parts").checkpoint)
    beta = whole["components"]["regulariser/vdb"]["beta"]
    assert beta.dtype == torch.float64
    assert not torch.equal(beta, torch.tensor(0.1, dtype=torch.float64))
    assert not torch.equal(beta, halted)
    assert_same_state(whole, parts)
    assert RunDirectory(tmp_path / "whole").log.read_text() == RunDirectory(tmp_path / "parts").log.read_text()


def test_trains_on_ring8_with_published_defaults_and_logs_beta_and_kl(tmp_path):
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating",
                      "regulariser": "vdb", "steps": 300, "batch_size": 64, "log_every": 50,
                      "checkpoint_every": 300})
    assert train(config, tmp_path / "run", device="cpu", progress=False)["status"] == "completed"
    with open(RunDirectory(tmp_path / "run").log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [1, 50, 100, 150, 200, 250, 300]
    for column in ("loss_d", "loss_g", "vdb/kl", "vdb/beta", "grad_x_d_real"):
        assert all(math.isfinite(float(row[column])) for row in rows), column
    assert float(rows[0]["vdb/beta"]) == pytest.approx(0.1)
