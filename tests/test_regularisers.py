"""Regularisers against closed forms on tiny inputs."""

import pytest
import torch
from torch import nn

from benchsuite import registry
from benchsuite.components import Discriminator, StepContext


def linear_discriminator(weight, bias=0.3):
    layer = nn.Linear(len(weight), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weight]))
        layer.bias.fill_(bias)
    return Discriminator(nn.Identity(), layer)


def context(discriminator, real, fake, step=0, total=10):
    real_in = real.clone().requires_grad_(True)
    fake_in = fake.clone().requires_grad_(True)
    return StepContext(
        step=step, total_steps=total, phase="d", generator=nn.Identity(), discriminator=discriminator,
        z=torch.zeros(len(real), 1), fake=fake, real=real, real_input=real_in, fake_input=fake_in,
        out_real=discriminator(real_in), out_fake=discriminator(fake_in), rng=torch.Generator().manual_seed(0),
    )


REAL = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])
FAKE = torch.tensor([[0.5, 0.5], [-2.0, 1.0], [1.0, 1.0]])


def test_gp_on_a_linear_critic_has_its_closed_form():
    weight = [3.0, 4.0]  # ||w|| = 5 everywhere, so the penalty is lambda * (5 - 1)^2
    gp = registry.get("regulariser", "gp")(weight=10.0)
    penalty = gp.discriminator_penalty(context(linear_discriminator(weight), REAL, FAKE))
    assert float(penalty) == pytest.approx(10.0 * 16.0)


@pytest.mark.parametrize("name", ["r1", "r2"])
def test_r1_and_r2_on_a_linear_critic(name):
    weight = [3.0, 4.0]
    penalty = registry.get("regulariser", name)(gamma=2.0).discriminator_penalty(
        context(linear_discriminator(weight), REAL, FAKE)
    )
    assert float(penalty) == pytest.approx(2.0 / 2 * 25.0)


def test_r1_uses_real_and_r2_fake_points():
    # D(x) = x0^2 so the gradient norm differs between the real and the fake batch.
    class Square(nn.Module):
        def forward(self, x):
            return x[:, 0] ** 2

    ctx = context(Square(), REAL, FAKE)
    r1 = float(registry.get("regulariser", "r1")(gamma=2.0).discriminator_penalty(ctx))
    r2 = float(registry.get("regulariser", "r2")(gamma=2.0).discriminator_penalty(ctx))
    assert r1 == pytest.approx(torch.mean((2 * REAL[:, 0]) ** 2).item())
    assert r2 == pytest.approx(torch.mean((2 * FAKE[:, 0]) ** 2).item())


def test_sn_makes_every_layer_top_singular_value_one():
    torch.manual_seed(0)
    d = Discriminator(nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16)), nn.Linear(16, 1))
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(7.0)
    d = registry.get("regulariser", "sn")().wrap_discriminator(d, None)
    for _ in range(50):  # power iteration converges over forward passes in training mode
        d(torch.randn(4, 2))
    layers = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        assert float(torch.linalg.matrix_norm(layer.weight, ord=2)) == pytest.approx(1.0, abs=1e-3)


def test_clip_bounds_every_weight():
    d = linear_discriminator([3.0, -4.0], bias=-0.5)
    ctx = context(d, REAL, FAKE)
    registry.get("regulariser", "clip")(c=0.01).after_discriminator_step(ctx)
    for parameter in d.parameters():
        assert float(parameter.abs().max()) == pytest.approx(0.01)


def test_instance_noise_anneals_to_zero():
    noise = registry.get("regulariser", "instance-noise")(sigma0=0.5)
    assert noise.sigma(0, 10) == pytest.approx(0.5)
    assert noise.sigma(5, 10) == pytest.approx(0.25)
    assert noise.sigma(10, 10) == 0.0
    x = torch.zeros(2000, 2)
    ctx = context(linear_discriminator([1.0, 1.0]), REAL, FAKE, step=5, total=10)
    assert float(noise.perturb(x, ctx).std()) == pytest.approx(0.25, rel=0.05)
    ctx.step = 10
    assert torch.equal(noise.perturb(x, ctx), x)


def test_none_changes_nothing():
    none = registry.get("regulariser", "none")()
    d = linear_discriminator([1.0, 2.0])
    ctx = context(d, REAL, FAKE)
    assert none.wrap_discriminator(d, None) is d
    assert none.discriminator_penalty(ctx) is None
    assert torch.equal(none.perturb(REAL, ctx), REAL)
