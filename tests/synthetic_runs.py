"""Run directories with chosen metric values, written as the trainer and the evaluator write them.

They let the aggregation and report tests check statistics against numbers known in advance, in
milliseconds, without training anything.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from PIL import Image

from benchsuite.aggregate import find_run_dirs, write_tables
from benchsuite.config import resolve
from benchsuite.metrics.toy import ModeCoverage


def write_run(root: Path, objective: str, regulariser: str, seed: int, values: dict[str, Any] | None,
              dataset: str = "ring8", architecture: str = "mlp", status: str = "completed",
              reason: str | None = None, step: int = 100, grad_norm_g: tuple[float, float] = (1.0, 1.0),
              settings: dict[str, Any] | None = None, declarations: dict[str, Any] | None = None) -> Path:
    """One run directory under ``root`` (laid out by run id); ``values`` None means no metric values.

    ``declarations`` defaults to what the toy mixtures' metric declares, as ``benchsuite evaluate`` writes it.
    """
    config = resolve({"dataset": dataset, "architecture": architecture, "objective": objective,
                      "regulariser": regulariser, "seed": seed, "steps": step, "log_every": 10,
                      **(settings or {})})
    run_dir = root / config.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json() + "\n")
    status_record = {"status": status, "step": step}
    if reason:
        status_record["reason"] = reason
    (run_dir / "status.json").write_text(json.dumps(status_record))
    metrics: dict[str, Any] = {
        "run_id": config.run_id, "status": status, "n_samples": 2500,
        "settings": {"modes": {"min_samples": 20, "sigmas": 3.0}}, "seconds": 0.5,
        "declarations": ModeCoverage.declarations() if declarations is None else declarations,
        "evaluated_at": "2020-01-01T00:00:00+00:00",
    }
    metrics |= {"values": values} if values is not None else {"values": None, "missing_reason": f"run diverged: {reason}"}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (run_dir / "provenance.json").write_text(json.dumps({
        "run_id": config.run_id, "wall_seconds": 12.5 + seed, "device": "cpu", "torch_threads": 1,
        "platform": "test-platform", "versions": {"benchsuite": "0.1.0", "python": "3.11", "torch": "2.x", "numpy": "2.x"},
        "git": {"commit": "0123456789abcdef", "dirty": False},
    }))
    last = step if status == "completed" else max(10, step // 2)
    with open(run_dir / "log.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        columns = ["step", "loss_d", "loss_g", "d_real_mean", "d_fake_mean", "grad_norm_d", "grad_norm_g",
                   "grad_x_d_real", "grad_x_d_fake", "grad_x_d_interp", "lipschitz_bound"]
        writer.writerow(columns)
        for logged in range(0, last + 1, 10):
            fraction = logged / step
            # The generator's gradient norm moves geometrically from its first to its last value.
            g = grad_norm_g[0] * (grad_norm_g[1] / grad_norm_g[0]) ** fraction
            writer.writerow([max(logged, 1), 1.3 - 0.2 * fraction, 0.7 + 0.1 * fraction, 2 * fraction, -2 * fraction,
                             0.5, g, 0.1 + fraction, 0.2 * (1 - fraction) + 1e-3, 0.15, 3.0 + math.sin(seed)])
    if status == "completed":
        Image.new("RGB", (40, 40), (30 + 20 * seed, 120, 200)).save(run_dir / "samples.png")
    return run_dir


def write_study(root: Path) -> Path:
    """A small study with known outcomes; returns the directory of its tables.

    nonsaturating x r1 covers every mode and is clearly best; minimax's generator gradient collapses
    by four orders of magnitude while nonsaturating's stays; one of two wgan seeds diverges.
    """
    for seed in range(3):
        write_run(root, "minimax", "default", seed, {"modes_covered": 2 + seed % 2, "modes_total": 8,
                                                      "high_quality": 0.2 + 0.01 * seed, "mode_kl": 1.2},
                  grad_norm_g=(1.0, 1e-4))
        write_run(root, "nonsaturating", "default", seed, {"modes_covered": 4 + seed % 2, "modes_total": 8,
                                                            "high_quality": 0.4 + 0.01 * seed, "mode_kl": 0.6},
                  grad_norm_g=(1.0, 0.8))
        for regulariser, modes in (("r1", 8), ("sn", 6)):
            write_run(root, "nonsaturating", regulariser, seed,
                      {"modes_covered": modes, "modes_total": 8, "high_quality": 0.9 + 0.01 * seed, "mode_kl": 0.01})
    write_run(root, "wgan", "default", 0, None, status="diverged", reason="non-finite discriminator loss at step 50",
              step=50)
    write_run(root, "wgan", "default", 1, {"modes_covered": 5, "modes_total": 8, "high_quality": 0.5, "mode_kl": 0.3})
    out = root / "tables"
    write_tables(find_run_dirs(root), out, resamples=300)
    return out
