"""Multi-layer perceptrons for vector data (toy mixtures) and flattened images."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite.components import Architecture
from benchsuite.registry import register


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        layers.append(activation())
    return nn.Sequential(*layers)


class _Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


@register("architecture", "mlp")
class MLP(Architecture):
    """Fully connected G and D (ReLU in G, LeakyReLU in D); images are flattened, G ends in tanh."""

    options: ClassVar[dict[str, Any]] = {"width": 128, "depth": 3}
    option_rules: ClassVar[dict[str, str]] = {"width": "positive", "depth": "non-negative"}

    @property
    def _data_size(self) -> int:
        return math.prod(self.data_shape)

    @property
    def _is_image(self) -> bool:
        return len(self.data_shape) > 1

    def _hidden(self) -> list[int]:
        return [self.settings["width"]] * self.settings["depth"]

    def generator(self) -> nn.Module:
        body = _mlp([self.z_dim, *self._hidden()], nn.ReLU)
        layers: list[nn.Module] = [body, nn.Linear(self._hidden()[-1], self._data_size)]
        if self._is_image:
            layers += [nn.Tanh(), _Unflatten(self.data_shape)]
        return nn.Sequential(*layers)

    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        hidden = self._hidden()
        trunk = nn.Sequential(nn.Flatten(), _mlp([self._data_size, *hidden], lambda: nn.LeakyReLU(0.2)))
        return trunk, hidden[-1]

    def decoder(self, in_features: int) -> nn.Module:
        layers: list[nn.Module] = [
            _mlp([in_features, *self._hidden()], nn.ReLU),
            nn.Linear(self._hidden()[-1], self._data_size),
        ]
        if self._is_image:
            layers += [nn.Tanh(), _Unflatten(self.data_shape)]
        return nn.Sequential(*layers)
