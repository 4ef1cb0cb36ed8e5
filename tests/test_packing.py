"""Packing (PacGAN): D judges packs of m samples; it composes with the penalties, spectral
normalisation, the diagnostics and the several-seeds trainer, and m = 1 is no packing at all."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from benchsuite.train import seed_directory, train_seeds
from benchsuite.errors import ConfigError
from benchsuite.regularisers.gp import input_gradient
from benchsuite.regularisers.pack import PackedDiscriminator, pack
from benchsuite.train import RandomState, RunDirectory, build, discriminator_step, generator_step, load_checkpoint, \
    make_optimizer, train

from conftest import assert_same_state, tiny_config

CPU = torch.device("cpu")


def packed_config(m: int, regulariser: str = "pack", **settings):
    options = {name: {} for name in regulariser.split("+")} | {"pack": {"m": m}}
    return tiny_config(regulariser=regulariser, regulariser_options=options, batch_size=12, **settings)


def one_step(config):
    setup = build(config, CPU)
    optimizers = {p: make_optimizer(config, setup.player_parameters(p), 1e-3) for p in ("g", "d")}
    rng = RandomState.seeded(0, CPU)
    loss_d, d_ctx = discriminator_step(setup, optimizers["d"], rng, step=1, measure_gradient=True)
    loss_g, g_ctx = generator_step(setup, optimizers["g"], rng, step=1, measure_gradient=True)
    return setup, (loss_d, d_ctx), (loss_g, g_ctx)


def test_a_pack_is_consecutive_samples_concatenated():
    x = torch.arange(12.0).reshape(6, 2)
    packs = pack(x, 3)
    assert packs.shape == (2, 6)
    torch.testing.assert_close(packs[1], torch.cat([x[3], x[4], x[5]]))
    images = torch.randn(4, 1, 5, 5)
    assert torch.equal(pack(images, 2)[1], torch.cat([images[2], images[3]]))


def test_a_batch_that_m_does_not_divide_is_a_clear_error():
    with pytest.raises(ConfigError, match="m=4 needs a batch that m divides"):
        pack(torch.zeros(6, 2), 4)


@pytest.mark.parametrize("m", [2, 3])
def test_d_is_built_for_packs_and_scores_one_number_per_pack(m):
    setup, (loss_d, d_ctx), (loss_g, g_ctx) = one_step(packed_config(m))
    assert isinstance(setup.discriminator, PackedDiscriminator)
    first = next(layer for layer in setup.discriminator.modules() if isinstance(layer, nn.Linear))
    assert first.in_features == 2 * m
    assert d_ctx.real.shape == (12, 2) and d_ctx.real_input.shape == (12 // m, 2 * m)
    assert d_ctx.out_real.shape == d_ctx.out_fake.shape == (12 // m,)
    assert g_ctx.fake_input.shape == (12 // m, 2 * m) and g_ctx.out_fake.shape == (12 // m,)
    assert math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())
    # G is trained through every member of its packs.
    assert float(g_ctx.scalars["grad_norm_g"]) > 0 and float(d_ctx.scalars["grad_norm_d"]) > 0
    with pytest.raises(ValueError, match="pack the samples first"):
        setup.discriminator(torch.zeros(4, 2))


def test_packing_one_is_no_packing_bit_for_bit(tmp_path):
    plain = dataclasses.replace(tiny_config(batch_size=12), log_every=2)
    packed_one = dataclasses.replace(packed_config(1), log_every=2)
    train(plain, tmp_path / "plain", progress=False)
    train(packed_one, tmp_path / "packed", progress=False)
    a, b = RunDirectory(tmp_path / "plain"), RunDirectory(tmp_path / "packed")
    state_a, state_b = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    for key in ("generator", "discriminator", "optimizers", "rng"):
        assert_same_state(state_a[key], state_b[key], key)
    assert a.log.read_text() == b.log.read_text()


def test_packing_composes_with_spectral_norm_on_the_packed_layers():
    setup, _, _ = one_step(packed_config(2, "pack+sn"))
    linears = [layer for layer in setup.discriminator.modules() if isinstance(layer, nn.Linear)]
    assert linears[0].in_features == 4
    assert all(parametrize.is_parametrized(layer, "weight") for layer in linears)


def test_any_spelling_of_pack_and_sn_packs_first():
    # A spec has one spelling, its names sorted: "sn+pack" is the run "pack+sn", which packs D first
    # and then normalises the packed D's layers.
    config = packed_config(2, "sn+pack")
    assert config.regulariser == "pack+sn"
    assert config.run_id == packed_config(2, "pack+sn").run_id
    build(config, CPU)


def test_an_objective_that_replaces_d_cannot_be_packed():
    with pytest.raises(ConfigError, match="cannot be packed"):
        build(packed_config(2, "pack", objective="ebgan"), CPU)


def test_r1_penalises_the_gradient_with_respect_to_the_whole_pack():
    setup, (_, d_ctx), _ = one_step(packed_config(3, "pack+r1"))
    packs = d_ctx.real_input
    assert packs.shape == (4, 6)
    # Independently, on D as the step saw it (rebuilt from the seed): the squared norm of D's
    # gradient over each pack's 6 numbers.
    rebuilt = build(packed_config(3, "pack+r1"), CPU).discriminator
    points = packs.detach().clone().requires_grad_(True)
    gradient = input_gradient(rebuilt(points), points)
    assert gradient.shape == (4, 6)
    logged = float(d_ctx.scalars["r1/grad_norm_sq"])
    torch.testing.assert_close(torch.tensor(logged), gradient.pow(2).sum(dim=1).mean().detach(), rtol=1e-5, atol=0)


def test_gp_interpolates_whole_packs():
    _, (loss_d, d_ctx), _ = one_step(packed_config(2, "pack+gp"))
    assert math.isfinite(loss_d.item()) and float(d_ctx.scalars["gp/grad_norm"]) > 0


def test_the_diagnostics_measure_the_packed_discriminator(tmp_path):
    config = dataclasses.replace(packed_config(2, "pack+sn+r1"), log_every=2)
    assert train(config, tmp_path / "run", progress=False)["status"] == "completed"
    rows = RunDirectory(tmp_path / "run").log.read_text().splitlines()
    header = rows[0].split(",")
    values = dict(zip(header, rows[-1].split(",")))
    for column in ("grad_x_d_real", "grad_x_d_fake", "grad_x_d_interp", "lipschitz_bound", "r1/grad_norm_sq"):
        assert math.isfinite(float(values[column])) and float(values[column]) > 0, column


def test_packed_seeds_trained_together_equal_separate_runs(tmp_path):
    config = dataclasses.replace(packed_config(2, "pack+r1"), log_every=2)
    train_seeds(config, [0, 1], tmp_path / "batch", device="cpu", progress=False)
    for seed in (0, 1):
        single = dataclasses.replace(config, seed=seed)
        train(single, tmp_path / f"single-{seed}", progress=False)
        a, b = RunDirectory(tmp_path / f"single-{seed}"), RunDirectory(seed_directory(tmp_path / "batch", single))
        assert_same_state(load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint))
        assert a.log.read_text() == b.log.read_text()
        assert json.loads(a.status.read_text()) == json.loads(b.status.read_text())


def test_images_are_packed_along_the_channels():
    config = tiny_config(dataset="digits", architecture="dcgan", architecture_options={"width": 8},
                         regulariser="pack", batch_size=4, z_dim=8)
    setup, (_, d_ctx), (_, g_ctx) = one_step(config)
    first = next(layer for layer in setup.discriminator.modules() if isinstance(layer, nn.Conv2d))
    assert first.in_channels == 2
    assert d_ctx.real_input.shape == (2, 2, 16, 16) and d_ctx.out_real.shape == (2,)
    assert float(g_ctx.scalars["grad_norm_g"]) > 0
