"""The energy view: ``ebgan``, ``energy`` and the ``entropy`` regulariser, by their definitions."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch import nn

from benchsuite import registry
from benchsuite.components import Discriminator, StepContext
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.objectives.ebgan import AutoencoderDiscriminator, pulling_away, reconstruction_energy
from benchsuite.regularisers.entropy import ENCODER
from benchsuite.train import RunDirectory, build, train

ARCHITECTURES = ["mlp", "dcgan", "resnet"]
IMAGE_SHAPES = [(1, 16, 16), (3, 16, 16), (1, 32, 32), (3, 32, 32), (1, 28, 28), (3, 64, 64)]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks on shared cores train far faster on one intra-op thread than on contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def architecture_or_skip(name: str, z_dim: int = 8):
    """An instance of a registered architecture for some data shape it supports."""
    if name not in registry.names("architecture"):
        pytest.skip(f"architecture {name!r} is not registered")
    cls = registry.get("architecture", name)
    for shape in ([(2,)] + IMAGE_SHAPES) if name == "mlp" else IMAGE_SHAPES:
        try:
            return cls(shape, z_dim)
        except ConfigError:
            continue
    pytest.skip(f"architecture {name!r} supports none of the shapes tried")


class Shift(nn.Module):
    """x + c: a decoder whose reconstruction is off by c in every coordinate."""

    def __init__(self, by: float) -> None:
        super().__init__()
        self.by = by

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.by


def g_context(discriminator, fake, z=None):
    return StepContext(step=1, total_steps=10, phase="g", generator=nn.Identity(), discriminator=discriminator,
                       z=fake if z is None else z, fake=fake, fake_input=fake, out_fake=discriminator(fake))


# --- ebgan ----------------------------------------------------------------------------------------


def test_energy_of_a_perfect_reconstruction_is_zero():
    x = torch.randn(5, 3, 4, 4)
    autoencoder = AutoencoderDiscriminator(nn.Identity(), nn.Identity())
    torch.testing.assert_close(autoencoder(x), torch.zeros(5))
    # And otherwise the per-sample mean of squared errors: a reconstruction off by c everywhere gives c^2.
    shifted = AutoencoderDiscriminator(nn.Identity(), Shift(0.5))
    torch.testing.assert_close(shifted(x), torch.full((5,), 0.25))
    torch.testing.assert_close(reconstruction_energy(x, torch.zeros_like(x)), x.pow(2).reshape(5, -1).mean(1))


def test_margin_term_is_zero_for_fakes_at_or_beyond_the_margin():
    ebgan = registry.get("objective", "ebgan")(margin=0.5)
    real = torch.tensor([0.2, 0.4])
    beyond = torch.tensor([0.5, 0.9, 7.0], requires_grad=True)
    loss = ebgan.discriminator_loss(real, beyond, None)
    assert loss.item() == pytest.approx(0.3)
    loss.backward()
    torch.testing.assert_close(beyond.grad, torch.zeros(3))
    # Fakes inside the margin are pushed up by m - U.
    inside = torch.tensor([0.1, 0.4])
    assert float(ebgan.discriminator_loss(real, inside, None)) == pytest.approx(0.3 + (0.4 + 0.1) / 2)


def test_default_margin_is_the_papers_scaled_to_a_per_coordinate_energy():
    ebgan = registry.get("objective", "ebgan")()
    # m = 20 on the L2 norm over 64x64x3 images is an RMS error of 20/sqrt(12288) per coordinate.
    assert ebgan.settings["margin"] == pytest.approx((20 / math.sqrt(64 * 64 * 3)) ** 2)
    assert ebgan.settings["pt_weight"] == pytest.approx(0.1)


def test_pulling_away_term_is_zero_for_orthogonal_codes():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    codes = torch.arange(1.0, 7.0, dtype=torch.float64)[:, None] * q  # orthogonal rows of different lengths
    torch.testing.assert_close(pulling_away(codes), torch.zeros((), dtype=torch.float64))
    torch.testing.assert_close(pulling_away(torch.ones(4, 3)), torch.ones(()))
    # Two codes at 60 degrees: cos^2 = 1/4 for each ordered pair.
    at_sixty = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    torch.testing.assert_close(pulling_away(at_sixty), torch.tensor(0.25))


def test_generator_loss_adds_the_weighted_pulling_away_term_on_encoder_codes():
    ebgan = registry.get("objective", "ebgan")(pt_weight=0.1)
    autoencoder = AutoencoderDiscriminator(nn.Identity(), Shift(1.0))  # codes = inputs, energy = 1
    orthogonal = torch.eye(3)
    ctx = g_context(autoencoder, orthogonal)
    assert float(ebgan.generator_loss(ctx.out_fake, ctx)) == pytest.approx(1.0)
    parallel = torch.ones(3, 3)
    ctx = g_context(autoencoder, parallel)
    assert float(ebgan.generator_loss(ctx.out_fake, ctx)) == pytest.approx(1.0 + 0.1)
    assert float(ctx.scalars["ebgan/pulling_away"]) == pytest.approx(1.0)
    plain = registry.get("objective", "ebgan")(pt_weight=0.0)
    assert float(plain.generator_loss(ctx.out_fake, ctx)) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_ebgan_discriminator_is_an_autoencoder_of_each_architecture(name):
    architecture = architecture_or_skip(name)
    torch.manual_seed(0)
    try:
        discriminator = registry.get("objective", "ebgan")().wrap_discriminator(architecture.discriminator(),
                                                                                architecture)
    except ConfigError as error:
        pytest.skip(f"{name} builds no decoder: {error}")
    x = torch.randn(4, *architecture.data_shape)
    energy = discriminator(x)
    assert energy.shape == (4,)
    torch.testing.assert_close(energy, reconstruction_energy(x, discriminator.head(discriminator.trunk(x))))
    assert bool((energy >= 0).all())
    energy.mean().backward()
    for part in (discriminator.trunk, discriminator.head):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


# --- energy ---------------------------------------------------------------------------------------


def test_energy_objective_is_the_potential_difference():
    energy = registry.get("objective", "energy")()
    out_real, out_fake = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0])
    assert float(energy.discriminator_loss(out_real, out_fake, None)) == pytest.approx(1.5 - 4.0)
    assert float(energy.generator_loss(out_fake, None)) == pytest.approx(4.0)


@pytest.mark.parametrize("objective, expected", [
    ("energy", ["entropy", "r1"]), ("wgan", ["clip"]), ("nonsaturating", []), ("ebgan", []),
])
def test_default_regularisers_are_named_by_each_objective(objective, expected):
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": objective, "regulariser": "default"})
    assert config.regularisers == expected
    assert f"/{objective}/default/" in config.run_id


# --- entropy --------------------------------------------------------------------------------------


def test_entropy_gradients_reach_the_generator_and_encoder_but_not_the_discriminator():
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating",
                      "regulariser": "entropy", "batch_size": 16, "z_dim": 4,
                      "architecture_options": {"width": 16, "depth": 2}})
    setup = build(config, torch.device("cpu"))
    encoder = setup.extras[ENCODER]
    assert encoder.player == "g"
    g_params = {id(p) for p in setup.player_parameters("g")}
    assert all(id(p) in g_params for p in encoder.module.parameters())
    assert not {id(p) for p in setup.player_parameters("d")} & {id(p) for p in encoder.module.parameters()}

    z = torch.randn(16, 4)
    fake = setup.generator(z)
    ctx = StepContext(step=1, total_steps=10, phase="g", generator=setup.generator,
                      discriminator=setup.discriminator, z=z, fake=fake, fake_input=fake,
                      networks=setup.extra_modules)
    penalty = setup.regularisers[0].generator_penalty(ctx)
    penalty.backward()
    for module in (setup.generator, encoder.module):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters() if p.dim() > 1)
    assert all(p.grad is None for p in setup.discriminator.parameters())


def test_an_encoder_that_inverts_the_generator_exactly_gives_zero_penalty():
    torch.manual_seed(0)
    generator = nn.Linear(4, 4).double()
    encoder = nn.Linear(4, 4).double()
    with torch.no_grad():
        generator.weight.copy_(torch.randn(4, 4, dtype=torch.float64) + 3 * torch.eye(4, dtype=torch.float64))
        inverse = torch.linalg.inv(generator.weight)
        encoder.weight.copy_(inverse)
        encoder.bias.copy_(-inverse @ generator.bias)
    entropy = registry.get("regulariser", "entropy")()
    z = torch.randn(32, 4, dtype=torch.float64)
    fake = generator(z)

    def penalty(module):
        ctx = StepContext(step=1, total_steps=10, phase="g", generator=generator, discriminator=nn.Identity(),
                          z=z, fake=fake, fake_input=fake, networks={ENCODER: module})
        return entropy.generator_penalty(ctx)

    torch.testing.assert_close(penalty(encoder), torch.zeros((), dtype=torch.float64))
    # An encoder that knows nothing (E = 0) pays lambda2 * E||z||^2, lambda2 = 0.5 by default.
    blind = nn.Linear(4, 4).double()
    nn.init.zeros_(blind.weight)
    nn.init.zeros_(blind.bias)
    torch.testing.assert_close(penalty(blind), 0.5 * z.pow(2).sum(1).mean())


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_entropy_encoder_maps_samples_of_each_architecture_to_z(name):
    architecture = architecture_or_skip(name, z_dim=8)
    (extra,) = registry.get("regulariser", "entropy")().extra_networks(architecture).values()
    assert extra.module(torch.randn(3, *architecture.data_shape)).shape == (3, 8)


# --- training with the published defaults ---------------------------------------------------------


@pytest.mark.parametrize("objective, regulariser, columns", [
    ("ebgan", "default", ["ebgan/pulling_away"]),
    ("energy", "default", ["r1/grad_norm_sq", "entropy/code_error"]),
    ("nonsaturating", "entropy", ["entropy/code_error"]),
])
def test_trains_on_ring8_with_published_defaults_without_diverging(tmp_path, objective, regulariser, columns):
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": objective,
                      "regulariser": regulariser, "steps": 300, "batch_size": 64, "log_every": 50,
                      "checkpoint_every": 300})
    assert train(config, tmp_path / "run", device="cpu", progress=False) == {"status": "completed", "step": 300}
    with open(RunDirectory(tmp_path / "run").log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 50, 100, 150, 200, 250, 300]
    for column in ["loss_d", "loss_g", *columns]:
        assert all(math.isfinite(float(r[column])) for r in rows), column
