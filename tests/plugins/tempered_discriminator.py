"""A component that wraps the discriminator, written as a user writes a plugin: one file outside the
package, loaded with ``--plugin``. D sees its input through dropout and its output is divided by a
learned temperature, so the wrapper brings a parameter of its own (trained, checkpointed, restored)
and draws from torch's global generator (dropout), as a user's wrapper may.

tests/test_seeds.py trains it under ``--seed`` and ``--seeds`` with no edit anywhere else.
"""

import math
from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite.components import Architecture, Regulariser
from benchsuite.registry import register


class TemperedDiscriminator(nn.Module):
    def __init__(self, discriminator: nn.Module, temperature: float, dropout: float) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.dropout = nn.Dropout(dropout)
        self.log_temperature = nn.Parameter(torch.full((), math.log(temperature)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(self.dropout(x)) * torch.exp(-self.log_temperature)


@register("regulariser", "tempered-discriminator")
class Tempered(Regulariser):
    """D behind input dropout, its output divided by a learned temperature."""

    options: ClassVar[dict[str, Any]] = {"temperature": 2.0, "dropout": 0.1}

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        return TemperedDiscriminator(discriminator, self.settings["temperature"], self.settings["dropout"])
