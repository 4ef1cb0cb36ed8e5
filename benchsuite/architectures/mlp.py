"""Multi-layer perceptrons for vector data (toy mixtures) and flattened images.

By default G and D share ``width`` and ``depth``, G uses ReLU and D LeakyReLU(0.2), with PyTorch's
default initialisation. The options below reach the networks of the toy-mixture papers; each is off
by default, so a run that does not name them builds exactly the networks it always did:

``g_width``, ``g_depth``, ``d_width``, ``d_depth``
    G's and D's own hidden sizes (null: ``width`` and ``depth``).
``g_batch_norm``
    batch norm after each of G's hidden linear layers, then ReLU (PacGAN's generator, after ALI).
    Those linear layers then carry no bias, which the normalisation would cancel; the output layer
    keeps its own. ``bn_momentum`` is the weight of a new batch in the running statistics that
    evaluation samples with (PyTorch's 0.1; PacGAN's reference code averages with 0.05).
``d_maxout``
    pieces per maxout unit in D's hidden layers (Goodfellow et al. 2013): a layer of ``d_width``
    units is one linear map to ``d_width * d_maxout`` numbers and the max over each unit's pieces,
    with no other activation. 0 keeps LeakyReLU. Maxout is 1-Lipschitz in the linear map's output,
    so spectral normalisation of that map and D's Lipschitz bound keep their meaning.
``init_std``
    every weight drawn from N(0, init_std^2) and every bias set to 0 (PacGAN's and ALI's
    ``IsotropicGaussian(0.02)``, ``Constant(0)``); null keeps PyTorch's default initialisation.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from benchsuite.components import Architecture
from benchsuite.errors import ConfigError
from benchsuite.registry import register


def _mlp(sizes: list[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        layers.append(activation())
    return nn.Sequential(*layers)


def _normalised_mlp(sizes: list[int], momentum: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b, momentum=momentum), nn.ReLU()]
    return nn.Sequential(*layers)


def _maxout_mlp(sizes: list[int], pieces: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b * pieces), Maxout(pieces)]
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """The max over each unit's ``pieces`` consecutive inputs: (N, units * pieces) -> (N, units)."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class _Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _positive_int_or_none(owner: str, key: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{owner} option {key!r} must be an integer >= 1 or null, got {value!r}")


@register("architecture", "mlp")
class MLP(Architecture):
    """Fully connected G and D (ReLU in G, LeakyReLU or maxout in D); images are flattened, G ends in tanh."""

    options: ClassVar[dict[str, Any]] = {
        "width": 128,
        "depth": 3,
        "g_width": None,
        "g_depth": None,
        "d_width": None,
        "d_depth": None,
        "g_batch_norm": False,
        "bn_momentum": 0.1,
        "d_maxout": 0,
        "init_std": None,
    }
    option_rules: ClassVar[dict[str, str]] = {"width": "positive", "depth": "positive"}

    def __init__(self, data_shape: tuple[int, ...], z_dim: int, **overrides: Any) -> None:
        super().__init__(data_shape, z_dim, **overrides)
        owner = f"architecture {self.name!r}"
        for key in ("width", "depth", "g_width", "g_depth", "d_width", "d_depth"):
            _positive_int_or_none(owner, key, self.settings[key])
        if self.settings["d_maxout"] < 0 or self.settings["d_maxout"] == 1:
            raise ConfigError(f"{owner} option 'd_maxout' must be 0 (no maxout) or >= 2 pieces, "
                              f"got {self.settings['d_maxout']!r}")
        if not 0 < self.settings["bn_momentum"] <= 1:
            raise ConfigError(f"{owner} option 'bn_momentum' must be in (0, 1], got {self.settings['bn_momentum']!r}")
        std = self.settings["init_std"]
        if std is not None and (isinstance(std, bool) or not isinstance(std, (int, float)) or std <= 0):
            raise ConfigError(f"{owner} option 'init_std' must be a number > 0 or null, got {std!r}")

    @property
    def _data_size(self) -> int:
        return math.prod(self.data_shape)

    @property
    def _is_image(self) -> bool:
        return len(self.data_shape) > 1

    def _hidden(self, player: str) -> list[int]:
        width = self.settings[f"{player}_width"] or self.settings["width"]
        depth = self.settings[f"{player}_depth"] or self.settings["depth"]
        return [width] * depth

    def _initialised(self, module: nn.Module) -> nn.Module:
        std = self.settings["init_std"]
        if std is not None:
            with torch.no_grad():
                for layer in module.modules():
                    if isinstance(layer, nn.Linear):
                        layer.weight.normal_(0.0, float(std))
                        if layer.bias is not None:
                            layer.bias.zero_()
        return module

    def _output(self, in_features: int) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Linear(in_features, self._data_size)]
        if self._is_image:
            layers += [nn.Tanh(), _Unflatten(self.data_shape)]
        return layers

    def generator(self) -> nn.Module:
        sizes = [self.z_dim, *self._hidden("g")]
        if self.settings["g_batch_norm"]:
            body = _normalised_mlp(sizes, self.settings["bn_momentum"])
        else:
            body = _mlp(sizes, nn.ReLU)
        return self._initialised(nn.Sequential(body, *self._output(sizes[-1])))

    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        sizes = [self._data_size, *self._hidden("d")]
        if self.settings["d_maxout"]:
            body = _maxout_mlp(sizes, self.settings["d_maxout"])
        else:
            body = _mlp(sizes, lambda: nn.LeakyReLU(0.2))
        return self._initialised(nn.Sequential(nn.Flatten(), body)), sizes[-1]

    def discriminator_head(self, in_features: int) -> nn.Module:
        return self._initialised(super().discriminator_head(in_features))

    def decoder(self, in_features: int) -> nn.Module:
        sizes = [in_features, *self._hidden("g")]
        return self._initialised(nn.Sequential(_mlp(sizes, nn.ReLU), *self._output(sizes[-1])))
