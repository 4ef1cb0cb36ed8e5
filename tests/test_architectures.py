"""Convolutional architectures: shapes and ranges at every supported size, one training step each,
and every registered regulariser on top of them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from benchsuite import registry
from benchsuite.architectures.resnet import DownBlock, UpBlock
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.train import RandomState, build, discriminator_step, generator_step, make_optimizer

# Narrow networks keep a CPU step quick; the structure does not depend on the width.
SMALL = {"dcgan": {"width": 8}, "resnet": {"g_width": 8, "d_width": 8}, "mlp": {"width": 16, "depth": 2}}
IMAGE_SHAPES = [
    (name, shape)
    for name in ("dcgan", "resnet")
    for shape in registry.get("architecture", name).supported_shapes
] + [("mlp", (1, 16, 16)), ("mlp", (3, 32, 32))]
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)


def architecture(name: str, shape: tuple[int, ...], z_dim: int = 8, **options):
    return registry.get("architecture", name)(shape, z_dim, **(SMALL[name] | options))


def image_config(name: str, shape: tuple[int, ...], **settings):
    """A run on embedded data of ``shape``: digits for one channel, stacked digits for three."""
    dataset = "digits" if shape[0] == 1 else "stacked-digits"
    return resolve({"dataset": dataset, "dataset_options": {"size": shape[-1]}, "architecture": name,
                    "architecture_options": SMALL[name], "objective": "nonsaturating", "batch_size": 4,
                    "z_dim": 8, "steps": 10, **settings})


def one_step_each(config) -> None:
    setup = build(config, torch.device("cpu"))
    optimizers = {p: make_optimizer(config, setup.player_parameters(p), 1e-4) for p in ("g", "d")}
    rng = RandomState.seeded(0, torch.device("cpu"))
    loss_d, d_ctx = discriminator_step(setup, optimizers["d"], rng, step=1, measure_gradient=True)
    loss_g, g_ctx = generator_step(setup, optimizers["g"], rng, step=1, measure_gradient=True)
    assert math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())
    assert float(d_ctx.scalars["grad_norm_d"]) > 0 and float(g_ctx.scalars["grad_norm_g"]) > 0
    assert all(torch.isfinite(p).all() for p in setup.player_parameters("g") + setup.player_parameters("d"))


@pytest.mark.parametrize("name, shape", IMAGE_SHAPES, ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else v)
def test_shapes_and_range_at_every_supported_size(name, shape):
    torch.manual_seed(0)
    arch = architecture(name, shape)
    generator, discriminator = arch.generator(), arch.discriminator()
    images = generator(torch.randn(5, 8))
    assert images.shape == (5, *shape)
    assert float(images.detach().abs().max()) <= 1.0  # tanh output
    assert discriminator(images).shape == (5,)
    trunk, width = arch.discriminator_trunk()
    assert trunk(images).shape == (5, width)
    assert arch.decoder(12)(torch.randn(5, 12)).shape == (5, *shape)
    assert arch.encoder(7)(images).shape == (5, 7)


@pytest.mark.parametrize("name, shape", [case for case in IMAGE_SHAPES if case[0] != "mlp"],
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else v)
def test_one_training_step_at_every_supported_size(name, shape):
    one_step_each(image_config(name, shape))


@pytest.mark.parametrize("regulariser", registry.names("regulariser"))
@pytest.mark.parametrize("name", ["dcgan", "resnet"])
def test_every_regulariser_trains_on_the_convolutional_architectures(name, regulariser):
    one_step_each(image_config(name, (1, 16, 16), regulariser=regulariser))


@pytest.mark.parametrize("name", ["dcgan", "resnet"])
def test_no_normalisation_in_the_discriminator_by_default(name):
    arch = architecture(name, (3, 32, 32))
    parts = [arch.discriminator(), arch.decoder(16), arch.encoder(4)]
    assert not any(isinstance(m, NORMS) for part in parts for m in part.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in arch.generator().modules())


def test_dcgan_discriminator_batch_norm_is_an_option():
    arch = architecture("dcgan", (1, 32, 32), d_batchnorm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in arch.discriminator().modules()) == 2


def test_dcgan_layout_and_initialisation_follow_the_paper():
    torch.manual_seed(0)
    arch = registry.get("architecture", "dcgan")((3, 64, 64), 100)  # the paper's setting, width 64
    generator = arch.generator()
    transposed = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in transposed] == [256, 128, 64, 3]
    assert generator[0].out_features == 512 * 4 * 4
    convs = [m for m in arch.discriminator().modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512]
    weights = torch.cat([m.weight.detach().flatten() for m in transposed + convs])
    assert float(weights.std()) == pytest.approx(0.02, rel=0.05)
    assert float(weights.mean()) == pytest.approx(0.0, abs=1e-3)


def test_resnet_has_three_generator_and_four_discriminator_blocks():
    arch = architecture("resnet", (3, 32, 32))
    assert sum(isinstance(m, UpBlock) for m in arch.generator().modules()) == 3
    blocks = [m for m in arch.discriminator().modules() if isinstance(m, DownBlock)]
    assert [b.downsample for b in blocks] == [True, True, False, False]


@pytest.mark.parametrize("name", ["dcgan", "resnet"])
def test_unsupported_size_is_a_clear_error(name):
    with pytest.raises(ConfigError, match=r"does not support data of shape 1x20x20; it supports .*1x16x16"):
        architecture(name, (1, 20, 20))


@pytest.mark.parametrize("name", ["dcgan", "resnet"])
def test_spectral_norm_reaches_every_layer_of_the_discriminator(name):
    arch = architecture(name, (1, 16, 16))
    discriminator = registry.get("regulariser", "sn")().wrap_discriminator(arch.discriminator(), arch)
    layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
