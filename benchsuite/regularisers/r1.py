"""R1 penalty (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?").

Adds gamma/2 * E_real ||grad_x D(x)||^2 to D's loss. Convention: the paper's gamma/2 (the authors'
code omits the 1/2, so their gamma = 10 equals gamma = 20 here). Default gamma = 10.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Regulariser, StepContext, input_gradient
from benchsuite.registry import register


@register("regulariser", "r1")
class R1(Regulariser):
    """gamma/2 * E ||grad_x D(x)||^2 on real data (Mescheder et al. 2018; the paper's 1/2 kept)."""

    options: ClassVar[dict[str, Any]] = {"gamma": 10.0}
    option_rules: ClassVar[dict[str, str]] = {"gamma": "non-negative"}
    input_gradients = frozenset({"real"})
    side = "real"

    def discriminator_penalty(self, ctx: StepContext) -> torch.Tensor:
        inputs, outputs = (ctx.real_input, ctx.out_real) if self.side == "real" else (ctx.fake_input, ctx.out_fake)
        squared = input_gradient(outputs, inputs).pow(2).sum(dim=1)
        ctx.log(f"{self.name}/grad_norm_sq", squared.mean())
        return self.settings["gamma"] / 2 * squared.mean()
