"""Weight clipping (Arjovsky, Chintala & Bottou 2017, Algorithm 1).

After every critic step each critic parameter (weights and biases, as in the authors' code) is
clamped to [-c, c], a crude way of keeping the critic K-Lipschitz. Default c = 0.01.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Regulariser, StepContext
from benchsuite.registry import register


@register("regulariser", "clip")
class WeightClipping(Regulariser):
    """Clamp every D parameter to [-c, c] after each D step (Arjovsky et al. 2017)."""

    options: ClassVar[dict[str, Any]] = {"c": 0.01}
    option_rules: ClassVar[dict[str, str]] = {"c": "positive"}

    @torch.no_grad()
    def after_discriminator_step(self, ctx: StepContext) -> None:
        c = self.settings["c"]
        for parameter in ctx.discriminator.parameters():
            parameter.clamp_(-c, c)
