"""Evaluation of a finished run: every metric registered for its dataset's modality.

Evaluation settings (sample count, metric options) are not part of the run config: re-evaluating
with other settings never touches the trained run, and ``metrics.json`` records the settings used.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from benchsuite import io as atomic
from benchsuite import provenance, registry
from benchsuite.device import pick_device
from benchsuite.errors import ConfigError
from benchsuite.config import with_defaults
from benchsuite.train import CheckpointError, RunDirectory, load_checkpoint, load_for_evaluation, load_generator, sample

# Images: 10k generated samples (the usual FID budget); the reference is capped at the split's size,
# which for the embedded digits (1,438 train images) keeps an evaluation to seconds on a CPU.
DEFAULT_SAMPLES = {"toy": 2500, "image": 10_000}


def metrics_for(modality: str) -> list[str]:
    return [entry.name for entry in registry.entries("metric") if entry.target.modality == modality]


def evaluate(
    run_dir: str | Path,
    samples: int | None = None,
    metric_options: dict[str, dict[str, Any]] | None = None,
    device: str | torch.device | None = None,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Compute the run's metrics and write ``metrics.json``; a diverged run gets missing values.

    The run's config.json is data: a plugin it lists is never imported here (it must already be
    loaded, e.g. by ``benchsuite evaluate --plugin``), and its checkpoint must hold its config.
    """
    run = RunDirectory(run_dir)
    config = run.read_config()
    status = run.read_status()
    if status is None or status.get("status") not in ("completed", "diverged"):
        raise ConfigError(f"run {run.path} has not finished training (no final status.json); train it first")
    dataset_cls = registry.get("dataset", config.dataset)
    names = metrics_for(dataset_cls.modality)
    metric_options = dict(metric_options or {})
    for name in metric_options:
        if name not in names:
            raise ConfigError(f"metric {name!r} does not apply to {config.dataset!r}; its metrics: {', '.join(names)}")
    metrics = {name: registry.get("metric", name)(**metric_options.get(name, {})) for name in names}
    n = samples if samples is not None else DEFAULT_SAMPLES.get(dataset_cls.modality, 10_000)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"the number of samples to score must be a positive integer, got {samples!r}")
    record: dict[str, Any] = {
        "run_id": config.run_id,
        "status": status["status"],
        "n_samples": n,
        "settings": {name: metric.settings for name, metric in metrics.items()},
        # Which way each value is better and how it is named, so that the tables need no list of metrics.
        "declarations": {value: declared for metric in metrics.values()
                         for value, declared in metric.declarations().items()},
        "evaluated_at": provenance.now(),
        "benchsuite": provenance.package_versions()["benchsuite"],
    }
    if status["status"] == "diverged":
        record |= {"values": None, "missing_reason": f"run diverged: {status.get('reason')}"}
        atomic.write_json(run.metrics, record)
        return record

    began = time.perf_counter()
    device = device if isinstance(device, torch.device) else pick_device(device)
    setup = load_for_evaluation(run.path, device, data_root)

    def score() -> dict[str, Any]:
        # The same noise for every snapshot, so that a curve moves only with the weights.
        generated = sample(setup, n, seed=config.seed)
        values: dict[str, Any] = {}
        for name, metric in metrics.items():
            values |= metric.compute(generated, setup.dataset, device)
        return values

    values = score()
    # Metrics over training: every snapshot the run kept (config key eval_every), then the final weights.
    curve = []
    for step in run.snapshot_steps():
        state = load_checkpoint(run.snapshot(step), device)
        if with_defaults(state["config"]) != config.to_dict() or state.get("step") != step:
            raise CheckpointError(f"snapshot {run.snapshot(step)} was not written by this run's config at step {step}; "
                                  "move it away and evaluate again")
        load_generator(setup, state)
        curve.append({"step": step, "values": score()})
    if curve:
        curve.append({"step": status.get("step", config.steps), "values": values})
    record |= {
        "values": values,
        "curve": curve,
        # Again after computing: a metric may resolve a dataset-dependent default (fidelity's extractor).
        "settings": {name: metric.settings for name, metric in metrics.items()},
        "sampled_from": "ema" if setup.ema is not None else "generator",
        "seconds": round(time.perf_counter() - began, 3),
    }
    atomic.write_json(run.metrics, record)
    return record
