"""The hinge objective (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, with spectral norm).

D minimises E relu(1 - D(x)) + E relu(1 + D(G(z))); G minimises -E D(G(z)).
Defaults: Adam, lr 2e-4, betas (0, 0.9), 5 D steps per G step (Miyato et al. 2018, the ResNet
setting for CIFAR-10 used with spectral normalisation).
"""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "hinge")
class Hinge(Objective):
    """Hinge loss for D, -E D(G(z)) for G (Lim & Ye 2017; Miyato et al. 2018)."""

    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5,
    }

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return F.relu(1 - out_real).mean() + F.relu(1 + out_fake).mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return -out_fake.mean()
