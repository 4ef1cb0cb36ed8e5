"""The relativistic average GAN objective, RaSGAN (Jolicoeur-Martineau 2019, "The relativistic
discriminator: a key element missing from standard GAN", ICLR), as a benchsuite plugin.

A worked example of adding a method without editing the suite: this file is the whole method. Train it
with ``benchsuite train --plugin examples/ragan.py --objective ragan ...`` or list it under
``plugins:`` in a config (see ``ragan-dragan.yaml`` next to this file).

With C the critic's raw output, the discriminator asks "is a real sample more realistic than the
average fake?" and the generator the reverse:

    D minimises  softplus(-(C(x) - E C(x_fake))) + softplus(C(x_fake) - E C(x))
    G minimises  softplus(-(C(x_fake) - E C(x))) + softplus(C(x) - E C(x_fake))

G's loss needs C on real data, which the trainer's generator step does not draw: as in the author's
code, C is re-evaluated (with D's current weights) on the real batch of the last D step.
Defaults: Adam, lr 2e-4, betas (0.5, 0.999), one D step per G step (the paper's setting).

The suite's own ``rpgan`` (R3GAN's loss) is the relativistic *pairing* variant: each real sample is
compared with one fake partner rather than with the mean of the other batch.
"""

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "ragan")
class RelativisticAverage(Objective):
    """Relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau 2019)."""

    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self._last_real: torch.Tensor | None = None

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        self._last_real = ctx.real_input.detach()
        return (F.softplus(-(out_real - out_fake.mean())).mean()
                + F.softplus(out_fake - out_real.mean()).mean())

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        if self._last_real is None:
            raise RuntimeError("ragan: the generator step needs a D step first (for its real batch)")
        out_real = ctx.discriminator(self._last_real)
        return (F.softplus(-(out_fake - out_real.mean())).mean()
                + F.softplus(out_real - out_fake.mean()).mean())
