"""Saturation (Arjovsky & Bottou 2017, "Towards Principled Methods for Training GANs", section 2.2, Fig. 2).

The experiment: take a generator (a run's final checkpoint with ``--from``, else one trained here
for ``pretrain_steps`` steps of the probed method at its published settings), freeze it, train a
discriminator from scratch against it alone, and record the norm of the generator's loss gradient
with respect to G's parameters, on one fixed batch of noise (the method's batch size), as D trains.

What it shows: with the original ``minimax`` loss, E log(1 - D(G(z))), the gradient vanishes as D
grows confident (it is sigmoid(D(G(z))) times D's input gradient, and the first factor goes to 0);
the paper's Fig. 2 shows it falling by orders of magnitude within a few thousand D iterations.
With the ``nonsaturating`` loss, -E log D(G(z)), it does not vanish (it grows: Fig. 3, the
``variance`` probe). D is trained at ``lr_d`` (default 1e-2, Adam with the method's betas) so that
it wins within ``d_steps`` steps on a CPU; the rate sets how soon, not what happens.

Rows: ``x`` = discriminator steps (from 1, roughly logarithmically spaced), ``metric`` = ``grad_norm_g``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from benchsuite.probes._base import Measurement, Probe, Target, frozen_generator_trace, generator_gradient_norm
from benchsuite.registry import register


@register("probe", "saturation")
class Saturation(Probe):
    """G's gradient norm as D alone trains against a frozen G (Arjovsky & Bottou 2017, Fig. 2)."""

    options: ClassVar[dict[str, Any]] = {"pretrain_steps": 100, "d_steps": 1000, "lr_d": 1e-2, "points": 16}
    accepts_run = True
    x_label = "discriminator steps against the frozen generator"
    log_x = True
    log_metrics = frozenset({"grad_norm_g"})
    source = "Arjovsky & Bottou 2017, Towards Principled Methods for Training GANs, Fig. 2"

    def measure(self, target: Target) -> list[Measurement]:
        noise = torch.Generator(device=target.device)

        def grad_norm_g(setup, step, rng):
            noise.manual_seed(target.seed + 7)
            z = torch.randn(setup.config.batch_size, setup.config.z_dim, device=target.device, generator=noise)
            return {"grad_norm_g": generator_gradient_norm(setup, z, step, rng)}

        return frozen_generator_trace(self, target, grad_norm_g)
