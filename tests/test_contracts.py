"""Every registered objective x regulariser x architecture does one D step and one G step.

The grid is read from the registry at collection time, so a newly registered component is swept
without editing this file.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch

from benchsuite import registry
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.train import RandomState, build, discriminator_step, generator_step, make_optimizer

registry.load_builtins()
OBJECTIVES = registry.names("objective")
REGULARISERS = registry.names("regulariser")
ARCHITECTURES = registry.names("architecture")
# Datasets tried in order for each architecture: the first whose shape it supports is used.
CANDIDATE_DATASETS = ["ring8", "digits", "stacked-digits"]


@functools.cache
def dataset_for(architecture: str) -> str:
    for dataset in CANDIDATE_DATASETS:
        if dataset not in registry.names("dataset"):
            continue
        try:
            resolve({"dataset": dataset, "architecture": architecture, "objective": "nonsaturating"})
            setup = build(resolve({"dataset": dataset, "architecture": architecture, "objective": "nonsaturating",
                                   "batch_size": 2, "z_dim": 4}), torch.device("cpu"))
        except ConfigError:
            continue
        del setup
        return dataset
    pytest.fail(f"no offline dataset fits architecture {architecture!r}; add one to CANDIDATE_DATASETS")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("regulariser", REGULARISERS)
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_one_discriminator_and_one_generator_step(objective, regulariser, architecture):
    dataset = dataset_for(architecture)
    try:
        config = resolve({"dataset": dataset, "architecture": architecture, "objective": objective,
                          "regulariser": regulariser, "batch_size": 4, "z_dim": 8, "steps": 10})
        setup = build(config, torch.device("cpu"))
    except ConfigError as error:
        # A method may refuse a combination it cannot support, but only with a clear message.
        assert str(error)
        pytest.skip(f"declared incompatible: {error}")
    optimizers = {p: make_optimizer(config, setup.player_parameters(p), 1e-4) for p in ("g", "d")}
    rng = RandomState.seeded(0, torch.device("cpu"))

    loss_d, d_ctx = discriminator_step(setup, optimizers["d"], rng, step=1, measure_gradient=True)
    loss_g, g_ctx = generator_step(setup, optimizers["g"], rng, step=1, measure_gradient=True)

    assert math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())
    assert float(d_ctx.scalars["grad_norm_d"]) > 0, "D received no gradient"
    assert float(g_ctx.scalars["grad_norm_g"]) > 0, "G received no gradient"
    assert all(math.isfinite(float(v)) for v in (d_ctx.scalars | g_ctx.scalars).values())
    for parameter in setup.player_parameters("g") + setup.player_parameters("d"):
        assert torch.isfinite(parameter).all()
