"""The original minimax GAN objective (Goodfellow et al. 2014, "Generative Adversarial Nets").

D minimises softplus(-D(x)) + softplus(D(G(z))), i.e. the binary cross-entropy of a logistic
classifier. G minimises E log(1 - sigmoid(D(G(z)))) = -softplus(D(G(z))), which saturates: once D
rejects fakes confidently, G's gradient vanishes. That is the point of keeping it in the grid.
Defaults: Adam, lr 2e-4, betas (0.5, 0.999) (Radford et al. 2016, the usual setting).
"""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "minimax")
class Minimax(Objective):
    """Saturating minimax GAN: G minimises log(1 - sigmoid(D(G(z)))) (Goodfellow et al. 2014)."""

    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
    }

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return F.softplus(-out_real).mean() + F.softplus(out_fake).mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return -F.softplus(out_fake).mean()
