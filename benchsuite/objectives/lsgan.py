"""The least-squares GAN objective (Mao et al. 2017), with the 0-1 coding a=0, b=1, c=1.

D minimises 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2; G minimises 1/2 E (D(G(z)) - 1)^2.
Defaults: Adam, lr 2e-4, betas (0.5, 0.999) (the paper uses Adam with beta1 = 0.5).
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "lsgan")
class LeastSquares(Objective):
    """Least-squares GAN with targets 1 for real and 0 for fake (Mao et al. 2017)."""

    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
    }

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return 0.5 * ((out_real - 1) ** 2).mean() + 0.5 * (out_fake**2).mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return 0.5 * ((out_fake - 1) ** 2).mean()
