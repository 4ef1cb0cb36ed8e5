"""Gradient penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Adds weight * E (||grad_x D(x_hat)||_2 - 1)^2 to D's loss, x_hat = eps x + (1 - eps) x_fake with
eps ~ U[0, 1] drawn per sample. Default weight (the paper's lambda) = 10.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Regulariser, StepContext, input_gradient, interpolate
from benchsuite.registry import register


@register("regulariser", "gp")
class GradientPenalty(Regulariser):
    """weight * E(||grad D(x_hat)|| - 1)^2 on real-fake interpolates (Gulrajani et al. 2017)."""

    options: ClassVar[dict[str, Any]] = {"weight": 10.0}
    option_rules: ClassVar[dict[str, str]] = {"weight": "non-negative"}

    def discriminator_penalty(self, ctx: StepContext) -> torch.Tensor:
        points = interpolate(ctx.real_input, ctx.fake_input, ctx.rng)
        norms = input_gradient(ctx.discriminator(points), points).norm(dim=1)
        ctx.log("gp/grad_norm", norms.mean())
        return self.settings["weight"] * ((norms - 1) ** 2).mean()
