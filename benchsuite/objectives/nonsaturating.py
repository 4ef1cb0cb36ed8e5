"""The non-saturating GAN objective (Goodfellow et al. 2014, section 3).

D is trained as in ``minimax``; G maximises log sigmoid(D(G(z))) instead, i.e. minimises
softplus(-D(G(z))), whose gradient stays alive when D rejects fakes confidently.
Defaults: Adam, lr 2e-4, betas (0.5, 0.999).
"""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite.components import StepContext
from benchsuite.objectives.minimax import Minimax
from benchsuite.registry import register


@register("objective", "nonsaturating")
class NonSaturating(Minimax):
    """Non-saturating GAN: G minimises -log sigmoid(D(G(z))) (Goodfellow et al. 2014)."""

    training_defaults: ClassVar[dict[str, Any]] = dict(Minimax.training_defaults)

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return F.softplus(-out_fake).mean()
