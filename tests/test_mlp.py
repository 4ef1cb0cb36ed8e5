"""The MLP's options for the toy-mixture papers' networks, and its unchanged defaults."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchsuite import registry
from benchsuite.architectures.mlp import Maxout
from benchsuite.errors import ConfigError

from conftest import assert_same_state


def mlp(z_dim: int = 4, **options):
    return registry.get("architecture", "mlp")((2,), z_dim, **options)


def linears(module: nn.Module) -> list[nn.Linear]:
    return [layer for layer in module.modules() if isinstance(layer, nn.Linear)]


def test_the_defaults_build_the_networks_they_always_built():
    # The default networks, written out: same layers, same order of initialisation, same weights.
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                                            nn.Linear(128, 128), nn.ReLU()), nn.Linear(128, 2))
    trunk = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128),
                                                      nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2)))
    head = nn.Linear(128, 1)
    torch.manual_seed(0)
    architecture = mlp()
    built_generator, built_discriminator = architecture.generator(), architecture.discriminator()
    assert_same_state(built_generator.state_dict(), generator.state_dict())
    assert_same_state(built_discriminator.trunk.state_dict(), trunk.state_dict())
    assert_same_state(built_discriminator.head.state_dict(), head.state_dict())
    assert str(built_generator) == str(generator)


def test_g_and_d_take_their_own_width_and_depth():
    architecture = mlp(width=16, depth=2, g_width=40, g_depth=4, d_width=24)
    assert [(l.in_features, l.out_features) for l in linears(architecture.generator())] == \
        [(4, 40), (40, 40), (40, 40), (40, 40), (40, 2)]
    assert [(l.in_features, l.out_features) for l in linears(architecture.discriminator())] == \
        [(2, 24), (24, 24), (24, 1)]


def test_batch_norm_in_g_comes_after_a_bias_free_linear_layer_and_before_relu():
    generator = mlp(width=8, depth=2, g_batch_norm=True, bn_momentum=0.05).generator()
    body = list(generator[0])
    assert [type(layer) for layer in body] == [nn.Linear, nn.BatchNorm1d, nn.ReLU] * 2
    assert all(layer.bias is None for layer in body if isinstance(layer, nn.Linear))
    assert generator[1].bias is not None
    assert all(layer.momentum == 0.05 for layer in body if isinstance(layer, nn.BatchNorm1d))
    # Training normalises by the batch; evaluation samples with the running statistics.
    z = torch.randn(64, 4)
    generator.train()
    hidden = generator[0][1](generator[0][0](z))
    torch.testing.assert_close(hidden.mean(dim=0), torch.zeros(8), atol=1e-5, rtol=0)
    generator.eval()
    assert not torch.equal(generator(z[:3]), generator.train()(z[:3]))


def test_maxout_units_take_the_max_of_their_pieces():
    x = torch.tensor([[1.0, 5.0, -2.0, 0.5, 0.25, 3.0]])
    torch.testing.assert_close(Maxout(3)(x), torch.tensor([[5.0, 3.0]]))
    discriminator = mlp(d_width=10, d_depth=3, d_maxout=5).discriminator()
    assert [(l.in_features, l.out_features) for l in linears(discriminator)] == \
        [(2, 50), (10, 50), (10, 50), (10, 1)]
    assert sum(isinstance(layer, Maxout) for layer in discriminator.modules()) == 3
    assert not any(isinstance(layer, nn.LeakyReLU) for layer in discriminator.modules())
    assert discriminator(torch.randn(7, 2)).shape == (7,)


def test_gaussian_initialisation_with_zero_biases_reaches_every_layer():
    torch.manual_seed(0)
    architecture = mlp(width=400, depth=2, init_std=0.02, d_maxout=5, g_batch_norm=True)
    for network in (architecture.generator(), architecture.discriminator(), architecture.decoder(3)):
        for layer in linears(network):
            if layer.weight.numel() >= 10_000:
                assert float(layer.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
                assert float(layer.weight.detach().mean()) == pytest.approx(0.0, abs=0.002)
            if layer.bias is not None:
                assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


@pytest.mark.parametrize("options, message", [
    ({"d_maxout": 1}, "'d_maxout' must be 0"),
    ({"g_depth": 0}, "'g_depth' must be an integer >= 1"),
    ({"init_std": -1.0}, "'init_std' must be a number > 0"),
    ({"bn_momentum": 0.0}, "'bn_momentum' must be in"),
])
def test_a_bad_option_is_one_clear_message(options, message):
    with pytest.raises(ConfigError, match=message):
        mlp(**options)
