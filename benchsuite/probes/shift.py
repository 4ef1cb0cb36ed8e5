"""Shift (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", Example 1 and Fig. 1-2: parallel lines).

Real data on the segment {0} x [0, 1] (the ``segment`` dataset); a generator whose samples are
(theta, u), u ~ U[0, 1], the same segment shifted sideways by theta. For each theta of ``thetas`` a
fresh discriminator of the probed method (objective, regulariser, the suite's MLP of ``depth``
layers of ``width``) is trained with the trainer's D step for ``d_steps`` steps at ``lr_d``, batches
of 64, against that generator, then two numbers are
read on ``batch`` fresh samples:

``divergence``
    minus D's objective loss (penalties left out): the divergence the trained D estimates, up to
    the objective's constants. For ``minimax`` / ``nonsaturating`` it is 2 JS - log 4 at the optimal
    D, so -log 4 at theta = 0 and 0 once the supports are told apart; for ``wgan`` it is the
    critic's estimate of the Wasserstein distance |theta| (times the critic's Lipschitz constant:
    ``gp`` holds it near 1, ``clip`` at some small constant).
``grad_norm_theta``
    |d(generator loss)/d theta| through the trained D: what the generator would learn from it.

What the paper shows: the JS divergence is constant (log 2) for every theta != 0, so a JS-type
estimate is flat and tells the generator nothing about where the data is; the Wasserstein
distance grows linearly in |theta| and its gradient does not vanish. With a finite D the JS-type
estimate is flat only once D separates the segments; how large the generator's gradient stays
depends on the generator loss (it vanishes for ``minimax``, see ``saturation``).

Rows: ``x`` = theta, ``metric`` = ``divergence`` and ``grad_norm_theta``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from benchsuite.components import StepContext
from benchsuite.probes._base import Measurement, Probe, Target, generator_gradient_norm
from benchsuite.registry import register
from benchsuite.train import RandomState, build, discriminator_inputs, discriminator_step, make_optimizer


class ShiftedSegment(nn.Module):
    """z -> (theta, Phi(z_0)): the data's segment moved sideways by the parameter theta."""

    def __init__(self, theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(float(theta)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        heights = 0.5 * (1 + torch.erf(z[:, 0] / 2 ** 0.5))
        return torch.stack([self.theta.expand(z.shape[0]), heights], dim=1)


@register("probe", "shift")
class Shift(Probe):
    """Estimated divergence and G's gradient against a shift theta of the support (WGAN, Example 1)."""

    dataset = "segment"
    options: ClassVar[dict[str, Any]] = {
        "thetas": [-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0], "d_steps": 300, "lr_d": 1e-3, "batch": 1024,
        "width": 64, "depth": 2,
    }
    x_label = "theta (shift of the generated segment)"
    source = "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN, Example 1 (parallel lines)"

    def measure(self, target: Target) -> list[Measurement]:
        settings = self.settings
        config = self.config(target, steps=settings["d_steps"], lr_d=settings["lr_d"], batch_size=64,
                             architecture_options={"width": settings["width"], "depth": settings["depth"]})
        measurements = []
        for theta in settings["thetas"]:
            setup = build(config, target.device)
            setup.generator = ShiftedSegment(theta).to(target.device)
            optimizer = make_optimizer(config, setup.player_parameters("d"), config.lr_d)
            rng = RandomState.seeded(config.seed, target.device)
            for step in range(1, settings["d_steps"] + 1):
                discriminator_step(setup, optimizer, rng, step)
            z = torch.randn(settings["batch"], config.z_dim, device=target.device, generator=rng.noise)
            measurements.append(Measurement(theta, "divergence", self._divergence(setup, z, rng)))
            measurements.append(Measurement(theta, "grad_norm_theta",
                                            generator_gradient_norm(setup, z, config.steps, rng.noise)))
        return measurements

    @staticmethod
    def _divergence(setup: Any, z: torch.Tensor, rng: RandomState) -> float:
        """-(D's objective loss) on fresh real and fake batches, as the trained D sees them."""
        real = setup.dataset.sample(z.shape[0], rng.data).to(z.device)
        with torch.no_grad():
            fake = setup.generator(z)
        ctx = StepContext(setup.config.steps, setup.config.steps, "d", setup.generator, setup.discriminator, z, fake,
                          real=real, networks=setup.extra_modules, rng=rng.noise)
        discriminator_inputs(setup, ctx)
        ctx.out_real = setup.discriminator(ctx.real_input)
        ctx.out_fake = setup.discriminator(ctx.fake_input)
        return -float(setup.objective.discriminator_loss(ctx.out_real, ctx.out_fake, ctx).detach())
