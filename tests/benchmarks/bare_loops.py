"""What the speed benchmarks time: the trainer, the same training written by hand, and the cost of
one step of either.

The hand-written loop is what a careful user would write for the same networks, data, optimiser
and losses: D's gradients are switched off for the generator step (as the trainer does), so the
baseline does no work the trainer skips.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from benchsuite.config import resolve
from benchsuite.device import pick_device
from benchsuite.train import build, train


def trainer_seconds(settings: dict[str, Any], steps: int, diagnostics: bool = False,
                    log_every: int = 10**9) -> float:
    config = resolve(settings | {"steps": steps, "diagnostics": diagnostics, "log_every": log_every,
                                 "checkpoint_every": steps})
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        train(config, out, progress=False)
        return time.perf_counter() - began


def bare_loop_seconds(settings: dict[str, Any], steps: int) -> float:
    """One run of the non-saturating GAN, written the way one would by hand."""
    config = resolve(settings | {"steps": steps})
    device = pick_device()
    setup = build(config, device)
    g, d = setup.generator, setup.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    data_rng = torch.Generator().manual_seed(0)
    noise_rng = torch.Generator(device=device).manual_seed(1)
    began = time.perf_counter()
    for _ in range(steps):
        real = setup.dataset.sample(config.batch_size, data_rng).to(device)
        z = torch.randn(config.batch_size, config.z_dim, device=device, generator=noise_rng)
        with torch.no_grad():
            fake = g(z)
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        z = torch.randn(config.batch_size, config.z_dim, device=device, generator=noise_rng)
        d.requires_grad_(False)
        loss_g = F.softplus(-d(g(z))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d.requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began


def per_step(measure: Callable[[int], float], short: int, long: int, rounds: int) -> float:
    """Marginal seconds per step of ``measure(steps)``: the fastest long run minus the fastest short
    run, so that fixed costs (building networks, the final checkpoint and sample plot) cancel."""
    measure(short)  # one-time costs (imports, the plotting backend) must not land on one side
    long_runs, short_runs = [], []
    for _ in range(rounds):
        long_runs.append(measure(long))
        short_runs.append(measure(short))
    return (min(long_runs) - min(short_runs)) / (long - short)
