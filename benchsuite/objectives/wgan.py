"""The Wasserstein GAN objective (Arjovsky, Chintala & Bottou 2017).

The critic minimises E D(G(z)) - E D(x); G minimises -E D(G(z)). The critic must be kept Lipschitz:
its default regulariser is weight ``clip`` (c = 0.01) with RMSprop, lr 5e-5, 5 critic steps per G
step (the paper's Algorithm 1). With ``gp`` it is WGAN-GP (Gulrajani et al. 2017): Adam, lr 1e-4,
betas (0, 0.9), 5 critic steps.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "wgan")
class Wasserstein(Objective):
    """Wasserstein GAN critic loss E D(G(z)) - E D(x) (Arjovsky et al. 2017; with gp: Gulrajani et al. 2017)."""

    default_regularisers: ClassVar[str] = "clip"
    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5,
    }
    gradient_penalty_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5,
    }

    def hyperparameters(self, regularisers: list[str]) -> dict[str, Any]:
        if "gp" in regularisers:
            return dict(self.gradient_penalty_defaults)
        return dict(self.training_defaults)

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return out_fake.mean() - out_real.mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return -out_fake.mean()
