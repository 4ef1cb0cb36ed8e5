"""Spectral normalisation (Miyato et al. 2018).

Every weight of D (linear and convolutional layers, the head included) is divided by an estimate
of its largest singular value, kept by power iteration (1 step per forward by default), so each
layer is at most 1-Lipschitz.
"""

from typing import Any, ClassVar

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from benchsuite.components import Architecture, Regulariser
from benchsuite.registry import register

_NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


@register("regulariser", "sn")
class SpectralNorm(Regulariser):
    """Spectral normalisation of every D weight by power iteration (Miyato et al. 2018)."""

    options: ClassVar[dict[str, Any]] = {"power_iterations": 1}
    option_rules: ClassVar[dict[str, str]] = {"power_iterations": "positive"}

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        for module in list(discriminator.modules()):
            if isinstance(module, _NORMALISED):
                spectral_norm(module, n_power_iterations=self.settings["power_iterations"])
        return discriminator
