"""Variance (Arjovsky & Bottou 2017, "Towards Principled Methods for Training GANs", section 2.2.2, Fig. 3).

The experiment of ``saturation`` (a frozen generator, a discriminator trained from scratch against
it alone), but at each point the generator's gradient norm is taken on ``minibatches`` independent
minibatches of the method's batch size, and their mean and standard deviation are recorded: the
paper's Fig. 3 shows, for the -log D trick (``nonsaturating``), the mean norm growing as D improves
and the spread between minibatches growing with it ("the noise in the curves shows that the
variance of the gradients is also increasing"), which makes the generator's updates unstable.

Rows: ``x`` = discriminator steps, ``metric`` = ``grad_norm_g_mean``, ``grad_norm_g_std`` and
``grad_norm_g_cv`` (std / mean, the spread relative to the size of the update).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from benchsuite.probes._base import Measurement, Probe, Target, frozen_generator_trace, generator_gradient_norm
from benchsuite.registry import register


@register("probe", "variance")
class Variance(Probe):
    """Mean and spread over minibatches of G's gradient norm as D trains (Arjovsky & Bottou 2017, Fig. 3)."""

    options: ClassVar[dict[str, Any]] = {"pretrain_steps": 100, "d_steps": 1000, "lr_d": 1e-2, "minibatches": 16,
                                         "points": 12}
    accepts_run = True
    x_label = "discriminator steps against the frozen generator"
    log_x = True
    log_metrics = frozenset({"grad_norm_g_mean", "grad_norm_g_std"})
    source = "Arjovsky & Bottou 2017, Towards Principled Methods for Training GANs, Fig. 3"

    def measure(self, target: Target) -> list[Measurement]:
        settings = self.settings
        noise = torch.Generator(device=target.device)

        def spread(setup, step, rng):
            noise.manual_seed(target.seed + 11)
            norms = torch.tensor([
                generator_gradient_norm(setup, torch.randn(setup.config.batch_size, setup.config.z_dim,
                                                           device=target.device, generator=noise), step, rng)
                for _ in range(settings["minibatches"])], dtype=torch.float64)
            mean, std = float(norms.mean()), float(norms.std())
            return {"grad_norm_g_mean": mean, "grad_norm_g_std": std,
                    "grad_norm_g_cv": std / mean if mean > 0 else float("nan")}

        return frozen_generator_trace(self, target, spread)
