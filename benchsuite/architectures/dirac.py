"""The Dirac-GAN's networks (Mescheder, Geiger & Nowozin 2018, section 2.2): G(z) = theta, D(x) = psi . x.

The generator ignores its noise and puts all its mass on theta; the discriminator is linear without
bias. Both start at the options ``theta0`` and ``psi0`` (every coordinate; the paper's figures start
near (1, 1)), so the game's state is two numbers in the paper's one dimension and the only
equilibrium is theta = psi = 0. Any vector data shape (dim,) is supported, so the contract sweep can
run it on the 2-D mixtures too.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite.components import Architecture
from benchsuite.errors import ConfigError
from benchsuite.registry import register


class PointGenerator(nn.Module):
    """z -> theta for every sample: a generator whose distribution is a point mass at theta."""

    def __init__(self, dim: int, theta0: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.full((dim,), float(theta0)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], -1)


@register("architecture", "dirac")
class DiracNetworks(Architecture):
    """Dirac-GAN: G(z) = theta, D(x) = psi . x, no bias (Mescheder et al. 2018)."""

    options: ClassVar[dict[str, Any]] = {"theta0": 1.0, "psi0": 1.0}

    def check_shape(self) -> None:
        if len(self.data_shape) != 1:
            raise ConfigError(f"architecture 'dirac' takes vector data of shape (dim,), "
                              f"not {'x'.join(map(str, self.data_shape))}")

    def generator(self) -> nn.Module:
        return PointGenerator(self.data_shape[0], self.settings["theta0"])

    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        return nn.Identity(), self.data_shape[0]

    def discriminator_head(self, in_features: int) -> nn.Module:
        head = nn.Linear(in_features, 1, bias=False)
        nn.init.constant_(head.weight, self.settings["psi0"])
        return head
