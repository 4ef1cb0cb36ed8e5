"""The DRAGAN gradient penalty (Kodali, Abernethy, Hays & Kira 2017, "On Convergence and Stability of
GANs"), as a benchsuite plugin: a regulariser in one file, outside the package.

D's loss gains weight * E (||grad_x D(x_hat)|| - 1)^2 at points x_hat near the real data, which
penalises sharp gradients around the data manifold where mode collapse begins. The perturbation is
the authors' code's: x_p = x + 0.5 * std(x) * u, u ~ U[0, 1) per coordinate, and
x_hat = x + a (x_p - x), a ~ U[0, 1) per sample. Default weight (the paper's lambda) = 10.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Regulariser, StepContext
from benchsuite.registry import register


@register("regulariser", "dragan")
class Dragan(Regulariser):
    """weight * E(||grad D(x_hat)|| - 1)^2 at perturbed real points (Kodali et al. 2017)."""

    options: ClassVar[dict[str, Any]] = {"weight": 10.0}

    def discriminator_penalty(self, ctx: StepContext) -> torch.Tensor:
        real = ctx.real_input.detach()
        noise = torch.rand(real.shape, generator=ctx.rng, device=real.device, dtype=real.dtype)
        perturbed = real + 0.5 * real.std() * noise
        shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        a = torch.rand(shape, generator=ctx.rng, device=real.device, dtype=real.dtype)
        points = (real + a * (perturbed - real)).requires_grad_(True)
        (gradient,) = torch.autograd.grad(ctx.discriminator(points).sum(), points, create_graph=True)
        norms = gradient.reshape(gradient.shape[0], -1).norm(dim=1)
        ctx.log("dragan/grad_norm", norms.mean())
        return self.settings["weight"] * ((norms - 1) ** 2).mean()
