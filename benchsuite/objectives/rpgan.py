"""The relativistic pairing GAN objective, RpGAN (Jolicoeur-Martineau 2019; the loss of R3GAN:
Huang, Gokaslan, Kuleshov & Tompkin 2024, "The GAN is dead; long live the GAN! A Modern GAN
Baseline", NeurIPS).

The critic C scores a real and a fake sample *as a pair*: the i-th real sample of the batch is
paired with the i-th fake, and each player scores the difference of the pair's two outputs:

    D minimises  E softplus(-(C(x_i) - C(G(z_i))))
    G minimises  E softplus(-(C(G(z_i)) - C(x_i)))

Against the non-saturating loss the landscape has no region where D wins by pushing every fake
down alone: only the gap to the paired real sample counts, which is what R3GAN's analysis of mode
dropping rests on. The relativistic *average* loss (``examples/ragan.py``, a plugin) compares each
sample with the mean output of the other batch instead of with one partner; the two coincide for a
batch of one pair.

G's loss needs C on real data, which the generator step does not draw: as in R3GAN's code, where
both players' steps of one iteration see the same real batch, G re-evaluates C (with D's current
weights) on the real batch of the last D step, as D saw it.

The paper's method is this loss with both zero-centred penalties, R1 on real and R2 on fake data,
so ``default`` means ``r1+r2`` here. The penalties use the paper's and the authors' code's
convention, (γ/2)·E‖∇ₓC‖² each (the same as this suite's ``r1`` and ``r2``; R3GAN's
``R3GAN/Trainer.py`` adds ``Gamma / 2 * (R1Penalty + R2Penalty)`` to D's loss, whereas Mescheder et
al.'s code omits the ½, see ``r1``): a γ from R3GAN's configs is used as it is. Defaults: Adam,
lr 2e-4, betas (0, 0.99) (R3GAN's optimiser; the paper tunes the learning rate per dataset), one D
step per G step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite.components import Objective, StepContext
from benchsuite.registry import register


@register("objective", "rpgan")
class RelativisticPairing(Objective):
    """Relativistic pairing GAN, RpGAN (Jolicoeur-Martineau 2019), as R3GAN uses it (Huang et al. 2024)."""

    default_regularisers: ClassVar[str] = "r1+r2"
    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.99, "n_critic": 1,
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self._paired_real: torch.Tensor | None = None

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        _check_pairs(out_real, out_fake)
        self._paired_real = ctx.real_input.detach()
        return F.softplus(-(out_real - out_fake)).mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        if self._paired_real is None:
            raise RuntimeError("rpgan: the generator step needs a discriminator step first (for its real batch)")
        out_real = ctx.discriminator(self._paired_real)
        _check_pairs(out_real, out_fake)
        return F.softplus(-(out_fake - out_real)).mean()


def _check_pairs(out_real: torch.Tensor, out_fake: torch.Tensor) -> None:
    if out_real.shape != out_fake.shape:
        raise ValueError(f"rpgan pairs real and fake samples one to one; got {tuple(out_real.shape)} real "
                         f"and {tuple(out_fake.shape)} fake outputs")
