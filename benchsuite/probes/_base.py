"""What every probe is and does: the contract, the trainer's steps it uses, and the files it writes.

A probe is a textbook experiment run against one objective and one regulariser: it builds the
suite's real networks and methods through :func:`benchsuite.train.build`, moves them only with the
trainer's own steps (:func:`~benchsuite.train.discriminator_step`, :func:`~benchsuite.train.generator_step`,
and :func:`~benchsuite.train.generator_inputs` / :func:`~benchsuite.train.generator_loss` for a
gradient taken without a step), and returns measurements ``(x, metric, value)``. Nothing here knows
a loss or a penalty, so a new objective or regulariser is probed the moment it is registered.

``run`` writes a probe directory, every file atomically and ``probe.json`` last, so a directory
with ``probe.json`` is a finished probe and is never overwritten (``force`` moves it aside):

    probe.csv    long format: probe, objective, regulariser, seed, x, metric, value
    probe.png    the probe's figure
    probe.json   summary, settings, source and provenance
"""

from __future__ import annotations

import csv
import io
import math
import time
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

import torch

from benchsuite import io as atomic
from benchsuite import provenance, registry
from benchsuite.components import Component, StepContext
from benchsuite.config import RunConfig, resolve
from benchsuite.device import pick_device
from benchsuite.errors import ConfigError
from benchsuite.train import (RandomState, RunDirectory, Setup, archive, build, discriminator_step, generator_inputs,
                              generator_loss, generator_step, load_checkpoint, make_optimizer, make_optimizers)

COLUMNS = ("probe", "objective", "regulariser", "seed", "x", "metric", "value")
FILES = ("probe.csv", "probe.png", "probe.json")


@dataclass(frozen=True)
class Measurement:
    x: float
    metric: str
    value: float


@dataclass(frozen=True)
class Target:
    """What a probe is run against: the method, the data, the seed, and optionally a trained run."""

    objective: str
    regulariser: str
    seed: int
    device: torch.device
    dataset: str | None = None
    from_run: Path | None = None


class Probe(Component):
    """A textbook experiment against one objective x regulariser; see the module docstring."""

    # The dataset and architecture a probe builds when none is given; None: the probe needs none.
    dataset: ClassVar[str | None] = "ring8"
    architecture: ClassVar[str] = "mlp"
    accepts_run: ClassVar[bool] = False  # whether --from RUN_DIR makes sense for this probe
    x_label: ClassVar[str] = "x"
    log_x: ClassVar[bool] = False
    # Metrics drawn on a log scale (they span orders of magnitude).
    log_metrics: ClassVar[frozenset[str]] = frozenset()
    source: ClassVar[str] = ""

    @classmethod
    def kind(cls) -> str:
        return "probe"

    @abstractmethod
    def measure(self, target: Target) -> list[Measurement]:
        ...

    def summarise(self, measurements: list[Measurement]) -> dict[str, Any]:
        """Scalars for probe.json: each metric's first, largest and last value, and last / largest."""
        summary: dict[str, Any] = {}
        for metric in dict.fromkeys(m.metric for m in measurements):
            values = [m.value for m in measurements if m.metric == metric]
            peak = max(values)
            summary[metric] = {"first": values[0], "peak": peak, "last": values[-1],
                               "last_over_peak": values[-1] / peak if peak > 0 else None}
        return summary

    # --- Shared building blocks ---------------------------------------------------------------------

    def config(self, target: Target, **settings: Any) -> RunConfig:
        """The run config of this probe's networks: the target's method and seed, the probe's
        dataset and architecture, then ``settings`` (budgets, learning rates)."""
        dataset = target.dataset or self.dataset
        return resolve({"dataset": dataset, "architecture": self.architecture, "objective": target.objective,
                        "regulariser": target.regulariser, "seed": target.seed, **settings})


def generator_gradient_norm(setup: Setup, z: torch.Tensor, step: int, rng: torch.Generator) -> float:
    """‖∇ of G's loss (objective and G penalties) w.r.t. G's parameters‖ on the noise ``z``; no step is
    taken and D is left as it was."""
    setup.discriminator.requires_grad_(False)
    fake = setup.generator(z)
    ctx = StepContext(step, setup.config.steps, "g", setup.generator, setup.discriminator, z, fake,
                      networks=setup.extra_modules, rng=rng)
    generator_inputs(setup, ctx)
    ctx.out_fake = setup.discriminator(ctx.fake_input)
    loss = generator_loss(setup, ctx)
    parameters = setup.player_parameters("g")
    gradients = torch.autograd.grad(loss, [p for p in parameters if p.requires_grad], allow_unused=True)
    norms = [torch.linalg.vector_norm(g) for g in gradients if g is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def train_pair(setup: Setup, steps: int, rng: RandomState) -> None:
    """``steps`` of the trainer's own loop: n_critic D steps, then one G step."""
    config = setup.config
    optimizers = make_optimizers(setup)
    for step in range(1, steps + 1):
        for _ in range(config.n_critic):
            discriminator_step(setup, optimizers["d"], rng, step)
        generator_step(setup, optimizers["g"], rng, step)


def trained_generator(probe: Probe, target: Target, pretrain_steps: int,
                      settings: dict[str, Any]) -> tuple[RunConfig, dict]:
    """G's weights, and the config of the networks they fit with ``settings`` applied: the final
    checkpoint of ``target.from_run`` (its data and networks, the target's method), or a generator
    trained here for ``pretrain_steps`` steps of the target method at its published settings."""
    if target.from_run is not None:
        run = RunDirectory(target.from_run)
        run_config = run.read_config()
        state = load_checkpoint(run.checkpoint, target.device)
        config = resolve({"dataset": run_config.dataset, "architecture": run_config.architecture,
                          "dataset_options": run_config.dataset_options,
                          "architecture_options": run_config.architecture_options, "z_dim": run_config.z_dim,
                          "objective": target.objective, "regulariser": target.regulariser,
                          "seed": target.seed, "plugins": list(run_config.plugins), **settings})
        return config, state["ema"] if state.get("ema") is not None else state["generator"]
    pretrain = build(probe.config(target, steps=pretrain_steps), target.device)
    train_pair(pretrain, pretrain_steps, RandomState.seeded(target.seed, target.device))
    return probe.config(target, **settings), pretrain.generator.state_dict()


# --- Running a probe into a directory --------------------------------------------------------------


def run(name: str, objective: str, regulariser: str, out: str | Path, dataset: str | None = None,
        from_run: str | Path | None = None, seed: int = 0, device: str | torch.device | None = None,
        options: dict[str, Any] | None = None, force: bool = False) -> dict[str, Any]:
    """Run probe ``name`` against ``objective`` x ``regulariser`` into ``out``; returns probe.json's content."""
    probe_cls = registry.get("probe", name)
    probe: Probe = probe_cls(**(options or {}))
    out = Path(out)
    record_path = out / "probe.json"
    if record_path.exists():
        if not force:
            return atomic.read_json(record_path) | {"already_finished": True}
        archive(out)
    if from_run is not None and not probe.accepts_run:
        raise ConfigError(f"probe {name!r} builds its own networks and takes no --from run")
    if dataset is not None:
        registry.lookup("dataset", dataset)
    device = pick_device(device)
    target = Target(objective, regulariser, seed, device, dataset, Path(from_run) if from_run else None)
    began = time.perf_counter()
    started = provenance.now()
    measurements = probe.measure(target)
    seconds = time.perf_counter() - began
    bad = [m for m in measurements if not math.isfinite(m.value)]
    rows = [{"probe": name, "objective": objective, "regulariser": regulariser, "seed": seed,
             "x": m.x, "metric": m.metric, "value": m.value} for m in measurements]
    atomic.write_text(out / "probe.csv", table_text(rows))
    from benchsuite.probes._figures import cell_figure

    atomic.save_with(out / "probe.png", lambda tmp: tmp.write_bytes(cell_figure(probe, rows)))
    record = {
        "probe": name, "objective": objective, "regulariser": regulariser, "seed": seed,
        "dataset": dataset or probe.dataset, "from": str(from_run) if from_run else None,
        "description": registry.lookup("probe", name).description, "source": probe.source,
        "settings": probe.settings, "summary": _finite(probe.summarise(measurements)),
        "non_finite": len(bad),
        "provenance": provenance.collect(device) | {"started": started, "ended": provenance.now(),
                                                    "wall_seconds": round(seconds, 3)},
    }
    atomic.write_json(record_path, record)
    return record


def table_text(rows: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row | {"x": repr(float(row["x"])), "value": repr(float(row["value"]))})
    return buffer.getvalue()


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is recorded as null."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- The frozen-generator experiment (saturation, variance) ----------------------------------------


def measurement_points(steps: int, count: int) -> list[int]:
    """About ``count`` step numbers from 1 to ``steps``, spaced evenly on a log scale. (Not 0: a
    generator loss may read the batch of the last D step, and an untrained D says nothing.)"""
    points = {1, steps}
    for index in range(count):
        points.add(int(round(steps ** (index / max(count - 1, 1)))))
    return sorted(p for p in points if 1 <= p <= steps)


def frozen_generator_trace(probe: Probe, target: Target, measure: Any) -> list[Measurement]:
    """Freeze a trained generator, train a fresh D alone against it for ``d_steps`` trainer D steps at
    ``lr_d``, and call ``measure(setup, step, rng)`` (a dict of metric -> value) at the points of
    :func:`measurement_points`."""
    settings = probe.settings
    config, weights = trained_generator(probe, target, settings["pretrain_steps"],
                                        {"lr_d": settings["lr_d"], "steps": settings["d_steps"]})
    setup = build(config, target.device)
    setup.generator.load_state_dict(weights)
    setup.generator.requires_grad_(True)
    optimizer = make_optimizer(config, setup.player_parameters("d"), config.lr_d)
    rng = RandomState.seeded(config.seed, target.device)
    points = measurement_points(settings["d_steps"], settings["points"])
    measurements: list[Measurement] = []
    for step in range(1, settings["d_steps"] + 1):
        discriminator_step(setup, optimizer, rng, step)
        if step in points:
            for metric, value in measure(setup, step, rng.noise).items():
                measurements.append(Measurement(step, metric, value))
    return measurements
