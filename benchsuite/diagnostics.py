"""Gradient-norm and Lipschitz diagnostics, computed every ``log_every`` steps.

They are measurements, not part of training: they run with D in eval mode (no power-iteration or
bottleneck-sampling side effects), draw their randomness from their own generator, and take
gradients with respect to inputs only, so turning them on or off never changes a trained weight.

``LOGGED`` declares what the columns every run logs mean (the trainer's losses and D's mean outputs,
and this module's measurements), so that the report labels and scales them without a table of its
own. The report reads it in an environment without torch; that is why torch is imported in the
functions below, not at the top.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Logged:
    """What a column of log.csv means."""

    label: str  # a panel's title in the report
    log_scale: bool = False  # spans orders of magnitude (gradient norms): drawn on a log scale
    # Shows a saturating generator: it collapses, or D's outputs on fakes run away, once D is confident.
    saturation: bool = False


LOGGED = {
    "loss_d": Logged("discriminator loss"),
    "loss_g": Logged("generator loss"),
    "d_real_mean": Logged("mean D(x), real"),
    "d_fake_mean": Logged("mean D(G(z)), fake", saturation=True),
    "grad_norm_g": Logged("||grad G params|| (generator)", log_scale=True, saturation=True),
    "grad_norm_d": Logged("||grad D params|| (discriminator)", log_scale=True),
    "grad_x_d_fake": Logged("||grad_x D|| at fakes", log_scale=True, saturation=True),
    "grad_x_d_real": Logged("||grad_x D|| at reals", log_scale=True),
    "grad_x_d_interp": Logged("||grad_x D|| at interpolates", log_scale=True),
    "lipschitz_bound": Logged("Lipschitz bound of D", log_scale=True),
}


def parameter_gradient_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    """The L2 norm of all parameters' gradients taken together (0 where none has a gradient)."""
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


@contextmanager
def measuring(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration: reading a spectrally normalised weight in training mode would
    run a power-iteration step and so change training."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def lipschitz_upper_bound(module: nn.Module) -> float:
    """Product over D's linear and conv layers of their spectral norms (activations are 1-Lipschitz).

    For a convolution the operator norm is bounded by sqrt(kernel area) times the spectral norm of
    its weight reshaped to (out, in * kernel area). Exact as a bound for chains of such layers; a
    diagnostic of trend, not a certificate, for networks with residual or normalising parts.
    """
    import torch
    from torch import nn

    bound = 1.0
    with measuring(module):
        layers = [(layer, layer.weight.detach().float()) for layer in module.modules()
                  if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    for layer, weight in layers:
        if not torch.isfinite(weight).all():
            return math.nan  # no bound to measure, and an SVD of non-finite values raises
        if isinstance(layer, nn.Linear):
            bound *= float(torch.linalg.matrix_norm(weight, ord=2))
        else:
            area = math.prod(layer.kernel_size)
            bound *= math.sqrt(area) * float(torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2))
    return bound


def input_gradient_norms(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Mean ||grad_x D|| at real points, fake points and real-fake interpolates."""
    import torch

    from benchsuite.components import input_gradient, interpolate

    with measuring(discriminator):
        results = {}
        with torch.enable_grad():
            for name, points in (
                ("real", real.detach().clone().requires_grad_(True)),
                ("fake", fake.detach().clone().requires_grad_(True)),
                ("interp", interpolate(real, fake, generator)),
            ):
                outputs = discriminator(points)
                results[f"grad_x_d_{name}"] = input_gradient(outputs, points, create_graph=False).norm(dim=1).mean()
    return results
