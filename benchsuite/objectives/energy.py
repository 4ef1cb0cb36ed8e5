"""The energy objective: the potential difference of the energy view of GANs ("dig a pit, jump in").

D is an energy U (its raw output, low on real data) and minimises E U(x) - E U(G(z)): it digs pits at
the real samples and raises the ground under the fakes. G minimises E U(G(z)) - H(G(z)): it rolls
the fakes downhill while the entropy term H keeps them from all rolling into one pit.

Alone the potential difference is unbounded, so the method is defined with two penalties, which are
its ``default`` regularisers (``energy`` x ``default`` in a grid means ``r1+entropy``):
  * ``r1``: a real-data gradient penalty on U, which flattens the pit bottoms and keeps D finite;
  * ``entropy``: -H(G(z)) replaced by its mutual-information bound lambda2 E ||z - E(G(z))||^2 with
    an encoder E trained with G.

Sources: J. Su, "GAN from the energy perspective" (kexue.fm blog series, 2019), following Kumar,
Ozair, Goyal, Courville & Bengio 2019, "Maximum Entropy Generators for Energy-Based Models".
Defaults: Adam, lr 2e-4, betas (0.5, 0.999), one D step per G step (the DCGAN settings; the
derivation prescribes no optimiser).
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "energy")
class Energy(Objective):
    """Potential difference E U(x) - E U(G(z)); defaults to r1+entropy (energy view of GANs, Su 2019)."""

    default_regularisers: ClassVar[str] = "r1+entropy"
    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
    }

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return out_real.mean() - out_fake.mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return out_fake.mean()
