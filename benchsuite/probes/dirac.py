"""Dirac-GAN (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?", section 2.2).

The simplest GAN with an equilibrium: real data a point mass at 0 (the ``dirac`` dataset), G(z) =
theta and D(x) = psi . x (the ``dirac`` architecture), started at theta = psi = ``start``. Its only
equilibrium is theta = psi = 0. The probe plays the game with the probed objective and regulariser
through the trainer's own D and G steps (``n_critic`` D steps per G step, as the method sets it),
with plain gradient descent at step size ``lr`` on both players as in the paper, and records the
distance sqrt(theta^2 + psi^2) to the equilibrium every ``every`` steps.

What the paper proves and shows (Fig. 1-4): unregularised GAN training is not locally convergent
(alternating gradient descent circles the equilibrium or spirals out); WGAN is not either, and
neither is WGAN-GP with a finite number of D steps (its penalty (|psi| - 1)^2 is not zero-centred:
D's slope is pulled to 1, not 0). Instance noise and the zero-centred penalties R1 and R2 make it
converge. Note that the suite's ``instance-noise`` anneals sigma to 0 by the last step, and
convergence slows with sigma^2 (the paper's Jacobian), so what the probe shows for it depends on
``sigma0``. Rows: ``x`` = generator steps, ``metric`` = ``distance``, ``theta`` and ``psi``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from benchsuite.probes._base import Measurement, Probe, Target
from benchsuite.registry import register
from benchsuite.train import RandomState, build, discriminator_step, generator_step


@register("probe", "dirac")
class DiracGAN(Probe):
    """Distance to the equilibrium of the Dirac-GAN over training steps (Mescheder et al. 2018)."""

    dataset = "dirac"
    architecture = "dirac"
    options: ClassVar[dict[str, Any]] = {"steps": 2000, "lr": 0.05, "start": 1.0, "every": 20}
    x_label = "generator steps"
    log_metrics = frozenset({"distance"})
    source = "Mescheder, Geiger & Nowozin 2018, Which Training Methods for GANs do actually Converge?, section 2.2"

    def measure(self, target: Target) -> list[Measurement]:
        settings = self.settings
        config = self.config(target, steps=settings["steps"], batch_size=1,
                             architecture_options={"theta0": settings["start"], "psi0": settings["start"]})
        setup = build(config, target.device)
        optimizers = {player: torch.optim.SGD(setup.player_parameters(player), lr=settings["lr"])
                      for player in ("g", "d")}
        rng = RandomState.seeded(config.seed, target.device)
        measurements = self._state(setup, 0)
        for step in range(1, settings["steps"] + 1):
            for _ in range(config.n_critic):
                discriminator_step(setup, optimizers["d"], rng, step)
            generator_step(setup, optimizers["g"], rng, step)
            if step % settings["every"] == 0 or step == settings["steps"]:
                measurements += self._state(setup, step)
        return measurements

    @staticmethod
    def _state(setup: Any, step: int) -> list[Measurement]:
        theta = float(setup.generator.theta.detach().flatten()[0])
        psi = float(next(p for p in setup.discriminator.parameters()).detach().flatten()[0])
        distance = math.hypot(theta, psi) if math.isfinite(theta) and math.isfinite(psi) else float("inf")
        return [Measurement(step, "distance", distance), Measurement(step, "theta", theta),
                Measurement(step, "psi", psi)]
