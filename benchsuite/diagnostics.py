"""Gradient-norm and Lipschitz diagnostics, computed every ``log_every`` steps.

They are measurements, not part of training: they run with D in eval mode (no power-iteration or
bottleneck-sampling side effects), draw their randomness from their own generator, and take
gradients with respect to inputs only, so turning them on or off never changes a trained weight.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from benchsuite.components import input_gradient, interpolate


def parameter_gradient_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    """The L2 norm of all parameters' gradients taken together (0 where none has a gradient)."""
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
