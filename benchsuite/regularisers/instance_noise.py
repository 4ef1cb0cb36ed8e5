"""Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017).

Every input D sees during training, real or fake, gets N(0, sigma^2) noise added, sigma annealed
linearly from sigma0 at the first step to 0 at the last. This makes the supports of the real and
generated distributions overlap, so D's gradient carries information. Default sigma0 = 0.1 in data
units (data in [-1, 1] for images; the toy mixtures' scale for 2-D data).
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Regulariser, StepContext
from benchsuite.registry import register


@register("regulariser", "instance-noise")
class InstanceNoise(Regulariser):
    """Gaussian noise on every D input, std annealed linearly from sigma0 to 0 (Sønderby et al. 2017)."""

    options: ClassVar[dict[str, Any]] = {"sigma0": 0.1}
    option_rules: ClassVar[dict[str, str]] = {"sigma0": "non-negative"}

    def sigma(self, step: int, total_steps: int) -> float:
        return self.settings["sigma0"] * max(0.0, 1.0 - step / total_steps)

    def perturb(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        sigma = self.sigma(ctx.step, ctx.total_steps)
        ctx.log("instance-noise/sigma", sigma)
        if sigma == 0.0:
            return x
        return x + sigma * torch.randn(x.shape, generator=ctx.rng, device=x.device, dtype=x.dtype)
