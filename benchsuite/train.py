"""The trainer: one run from a config to a run directory.

The loop knows only the hooks of the components (see ``benchsuite.components``); it never asks
which objective or regulariser is in use. What it writes, every file atomically:

    config.json       the fully resolved config
    provenance.json   versions, commit, host, device, times (one segment per resume)
    checkpoint.pt     models, optimisers, EMA, component state, every RNG state, the step
    log.csv           losses and diagnostics every ``log_every`` steps
    status.json       completed, or diverged with the step and the reason
    samples.png       samples from the final generator (EMA when there is one)

Several seeds in one process (``benchsuite train --seeds 0-7``) are this one loop run once per seed
(:func:`train_seeds`), so a method, or a component that wraps D, runs the same way on every path.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchsuite import io as atomic
from benchsuite import provenance, registry
from benchsuite.components import Architecture, Dataset, ExtraNetwork, Objective, Regulariser, StepContext
from benchsuite.config import RunConfig, from_json, with_defaults
from benchsuite.device import pick_device
from benchsuite.diagnostics import input_gradient_norms, lipschitz_upper_bound, parameter_gradient_norm
from benchsuite.errors import CheckpointError, ConfigError
from benchsuite.grid import seeds_text

CHECKPOINT_FORMAT = 1
FINISHED = ("completed", "diverged")


# --- Building a run -------------------------------------------------------------------------------


def configure_numerics(config: RunConfig, device: torch.device) -> None:
    """The GPU's reproducibility switches from the config (docs/speed.md); nothing changes on a CPU.

    TF32 is off unless ``tf32`` is set, and ``deterministic`` (the default) asks for deterministic
    kernels wherever PyTorch has them (warning, not failing, where it has none), with cuDNN's
    autotuner off and cuBLAS given the fixed workspace it needs for deterministic results.
    """
    if device.type != "cuda":
        return
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cuda.matmul.allow_tf32 = config.tf32
    torch.backends.cudnn.allow_tf32 = config.tf32
    torch.backends.cudnn.benchmark = not config.deterministic
    torch.backends.cudnn.deterministic = config.deterministic
    torch.use_deterministic_algorithms(config.deterministic, warn_only=True)


def autocast(setup: Setup) -> contextlib.AbstractContextManager:
    """bf16 autocast of the forward passes when the config asks for it, else nothing at all."""
    if setup.config.precision == "bf16":
        return torch.autocast(setup.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class Setup:
    """Everything a run is made of, built from its config."""

    config: RunConfig
    device: torch.device
    dataset: Dataset
    architecture: Architecture
    objective: Objective
    regularisers: list[Regulariser]
    generator: nn.Module
    discriminator: nn.Module
    extras: dict[str, ExtraNetwork]
    ema: nn.Module | None

    def player_parameters(self, player: str) -> list[nn.Parameter]:
        main = self.generator if player == "g" else self.discriminator
        params = list(main.parameters())
        for extra in self.extras.values():
            if extra.player == player:
                params += list(extra.module.parameters())
        return params

    @property
    def extra_modules(self) -> dict[str, nn.Module]:
        return {name: extra.module for name, extra in self.extras.items()}

    @property
    def input_gradients(self) -> frozenset[str]:
        """Which of D's inputs some regulariser differentiates with respect to."""
        return frozenset().union(*(r.input_gradients for r in self.regularisers))

    def components(self) -> dict[str, Any]:
        return {"objective": self.objective, **{f"regulariser/{r.name}": r for r in self.regularisers}}

    @property
    def memory_format(self) -> torch.memory_format:
        """channels_last for image batches when the config asks for it, else the tensors' own layout."""
        if self.config.channels_last and len(self.dataset.shape) == 3:
            return torch.channels_last
        return torch.preserve_format


def build(config: RunConfig, device: torch.device, data_root: str | None = None) -> Setup:
    """Instantiate dataset, networks and methods; weights initialised from the run's seed."""
    torch.manual_seed(config.seed)
    dataset = registry.get("dataset", config.dataset)(root=data_root, **config.dataset_options)
    architecture = registry.get("architecture", config.architecture)(
        dataset.shape, config.z_dim, **config.architecture_options
    )
    objective = registry.get("objective", config.objective)(**config.objective_options)
    regularisers = [
        registry.get("regulariser", name)(**config.regulariser_options.get(name, {})) for name in config.regularisers
    ]
    generator = architecture.generator()
    discriminator: nn.Module = architecture.discriminator()
    extras: dict[str, ExtraNetwork] = {}
    for method in (objective, *regularisers):
        discriminator = method.wrap_discriminator(discriminator, architecture)
        for name, extra in method.extra_networks(architecture).items():
            if name in extras:
                raise ConfigError(f"two methods of this run both declare an extra network named {name!r}")
            extras[name] = extra
    generator.to(device)
    discriminator.to(device)
    for extra in extras.values():
        extra.module.to(device)
    if config.channels_last and len(dataset.shape) == 3:
        for module in (generator, discriminator, *(extra.module for extra in extras.values())):
            module.to(memory_format=torch.channels_last)
    ema = None
    if config.ema > 0:
        ema = copy.deepcopy(generator).requires_grad_(False)
    return Setup(config, device, dataset, architecture, objective, regularisers, generator, discriminator, extras, ema)


def make_optimizer(config: RunConfig, parameters: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2))
    return torch.optim.RMSprop(parameters, lr=lr)


# --- The run directory ----------------------------------------------------------------------------


RETRAIN = "retrain the run with --force, which moves the old one aside"


class RunDirectory:
    """Names of the files of one run."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.provenance = self.path / "provenance.json"
        self.checkpoint = self.path / "checkpoint.pt"
        self.log = self.path / "log.csv"
        self.status = self.path / "status.json"
        self.samples = self.path / "samples.png"
        self.metrics = self.path / "metrics.json"
        self.snapshots = self.path / "snapshots"

    def snapshot(self, step: int) -> Path:
        return self.snapshots / f"step-{step:08d}.pt"

    def snapshot_steps(self) -> list[int]:
        """Steps of the generator snapshots kept for metrics over training, in order."""
        if not self.snapshots.is_dir():
            return []
        return sorted(int(path.stem.removeprefix("step-")) for path in self.snapshots.glob("step-*.pt")
                      if path.stem.removeprefix("step-").isdigit())

    def read_status(self) -> dict[str, Any] | None:
        if not self.status.exists():
            return None
        try:
            status = atomic.read_json(self.status)
        except (OSError, ValueError) as error:
            raise ConfigError(f"{self.status} is unreadable ({error}); {RETRAIN}") from None
        if not isinstance(status, dict):
            raise ConfigError(f"{self.status} holds no status record; {RETRAIN}")
        return status

    def read_config(self) -> RunConfig:
        if not self.config.exists():
            raise ConfigError(f"{self.path} is not a run directory: it has no config.json")
        try:
            text = self.config.read_text()
        except (OSError, ValueError) as error:
            raise ConfigError(f"{self.config} is unreadable ({error}); {RETRAIN}") from None
        return from_json(text, source=str(self.config))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts[:6]) + (" ..." if len(parts) > 6 else "")


def archive(path: Path) -> Path:
    """Move a run directory aside (never delete results); returns where it went."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    shutil.move(str(path), str(target))
    return target


def prepare(run: RunDirectory, config: RunConfig, force: bool) -> str:
    """"fresh", "resume" or "finished"; refuses a directory that holds another run's config."""
    mode = inspect_run_directory(run, config, force)
    if mode == "replace":
        moved = archive(run.path)
        print(f"moved the previous contents to {moved}", file=sys.stderr)
        return "fresh"
    return mode


def inspect_run_directory(run: RunDirectory, config: RunConfig, force: bool) -> str:
    """What ``prepare`` will do: "fresh", "resume", "finished" or, with ``force``, "replace".

    Changes nothing, so that several runs can all be checked before any of them is touched.
    """
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"{run.path} is a file, not a run directory; use another --out")
    if run.config.exists():
        if force:
            return "replace"
        try:
            old = json.loads(run.config.read_text())
        except (ValueError, OSError) as error:
            raise ConfigError(f"{run.config} is unreadable ({error}); move the directory away or use --force") from None
        old = with_defaults(old) if isinstance(old, dict) else old
        if old != config.to_dict():
            raise ConfigError(
                f"run directory {run.path} holds a different config ({_differences(old, config.to_dict())}). "
                "Nothing was changed. Use another --out, or --force to move the old run aside and start over."
            )
        status = run.read_status()
        if status and status.get("status") in FINISHED:
            return "finished"
        return "resume" if run.checkpoint.exists() else "fresh"
    if run.path.exists() and any(run.path.iterdir()):
        if force:
            return "replace"
        raise ConfigError(
            f"{run.path} exists, is not empty and holds no run config; use another --out or --force"
        )
    return "fresh"


# --- Checkpoints ----------------------------------------------------------------------------------


@dataclass
class RandomState:
    data: torch.Generator  # draws real batches (CPU)
    noise: torch.Generator  # draws z and the methods' randomness (on the device)

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> RandomState:
        data = torch.Generator().manual_seed(seed)
        noise = torch.Generator(device=device).manual_seed(seed + 1)
        return cls(data, noise)

    def state_dict(self) -> dict[str, Any]:
        state = {"torch": torch.get_rng_state(), "data": self.data.get_state(), "noise": self.noise.get_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        self.data.set_state(state["data"])
        self.noise.set_state(state["noise"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_state(setup: Setup, optimizers: dict[str, torch.optim.Optimizer], rng: RandomState, step: int) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "config": setup.config.to_dict(),
        "generator": setup.generator.state_dict(),
        "discriminator": setup.discriminator.state_dict(),
        "ema": setup.ema.state_dict() if setup.ema is not None else None,
        "extras": {name: extra.module.state_dict() for name, extra in setup.extras.items()},
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "components": {name: component.state_dict() for name, component in setup.components().items()},
        "rng": rng.state_dict(),
    }


def snapshot_state(setup: Setup, step: int) -> dict[str, Any]:
    """What evaluation needs of the generator at ``step``: its weights and its EMA's."""
    return {
        "format": CHECKPOINT_FORMAT,
        "config": setup.config.to_dict(),
        "step": step,
        "generator": setup.generator.state_dict(),
        "ema": setup.ema.state_dict() if setup.ema is not None else None,
    }


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint dict, loaded without unpickling code; a damaged file is one clear error."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except Exception as error:  # torch raises several types for damaged zip and pickle data
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({type(error).__name__}: {str(error)[:200]}). "
            "Delete it to retrain this run from the start, or restore it from a backup."
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a benchsuite checkpoint of format {CHECKPOINT_FORMAT}")
    return state


def restore(setup: Setup, optimizers: dict[str, torch.optim.Optimizer], rng: RandomState, state: dict) -> int:
    if with_defaults(state["config"]) != setup.config.to_dict():
        raise CheckpointError("the checkpoint was written by a different config; use --force to start over")
    setup.generator.load_state_dict(state["generator"])
    setup.discriminator.load_state_dict(state["discriminator"])
    if setup.ema is not None:
        setup.ema.load_state_dict(state["ema"])
    for name, extra in setup.extras.items():
        extra.module.load_state_dict(state["extras"][name])
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    for name, component in setup.components().items():
        component.load_state_dict(state["components"].get(name, {}))
    rng.load_state_dict(state["rng"])
    return int(state["step"])


# --- The log --------------------------------------------------------------------------------------


def read_log(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    """Rows of an existing log.csv up to a step (a resumed run drops rows past its checkpoint)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if int(row["step"]) <= up_to_step]


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def _number(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def _format(value: float) -> str:
    return repr(float(value))


class RunRecord:
    """The files a run writes while it trains: its log rows, provenance segments and final status.

    One per run directory. ``batch`` says which seeds the process trained one after another with it.
    """

    def __init__(self, run: RunDirectory, config: RunConfig, start: int, base_provenance: dict[str, Any],
                 batch: dict[str, Any] | None = None) -> None:
        self.run, self.config, self.start = run, config, start
        if start == 0:
            run.path.mkdir(parents=True, exist_ok=True)
            atomic.write_text(run.config, config.to_json() + "\n")
        self.rows = read_log(run.log, start)
        self.history = atomic.read_json(run.provenance).get("segments", []) if run.provenance.exists() and start else []
        self.segment: dict[str, Any] = {"started": provenance.now(), "from_step": start}
        if batch is not None:
            self.segment["batch"] = batch
        self.base_provenance = base_provenance

    def save_provenance(self, steps_done: int, seconds: float) -> None:
        self.segment.update(ended=provenance.now(), to_step=steps_done, wall_seconds=round(seconds, 3),
                            steps_per_second=round((steps_done - self.start) / seconds, 3) if seconds > 0 else None)
        segments = self.history + [self.segment]
        atomic.write_json(self.run.provenance, self.base_provenance | {
            "run_id": self.config.run_id,
            "segments": segments,
            "wall_seconds": round(sum(s.get("wall_seconds", 0.0) for s in segments), 3),
        })

    def checkpoint(self, state: dict[str, Any], step: int, seconds: float) -> None:
        # The log and provenance go first: a kill between these writes must never leave a checkpoint
        # newer than the log, since a resume keeps only the log rows up to the checkpoint's step.
        # Rows past an older checkpoint are dropped on resume; a provenance segment that reaches past
        # it truthfully records steps that were computed, lost and computed again.
        write_log(self.run.log, self.rows)
        self.save_provenance(step, seconds)
        atomic.save_torch(self.run.checkpoint, state)

    def finish(self, status: dict[str, Any], steps_done: int, seconds: float) -> dict[str, Any]:
        write_log(self.run.log, self.rows)
        self.save_provenance(steps_done, seconds)
        atomic.write_json(self.run.status, status)
        return status


def log_row(setup: Setup, step: int, loss_d: torch.Tensor, loss_g: torch.Tensor, d_ctx: StepContext,
            ctx: StepContext, diagnostics_rng: torch.Generator, diagnose: bool = True) -> dict[str, Any]:
    """One row of log.csv: losses, D's mean outputs, the diagnostics (when the config and ``diagnose``
    ask for them) and every scalar the methods logged."""
    config = setup.config
    row: dict[str, Any] = {
        "step": step,
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real_mean": d_ctx.out_real.detach().mean(),
        "d_fake_mean": d_ctx.out_fake.detach().mean(),
    }
    if config.diagnostics and diagnose:
        diagnostics_rng.manual_seed(config.seed * 1_000_003 + step)
        # In float32 (a no-op unless bf16 autocast made the fakes bf16), as D's weights are.
        row |= input_gradient_norms(setup.discriminator, d_ctx.real_input.float(), d_ctx.fake_input.float(),
                                    diagnostics_rng)
        row["lipschitz_bound"] = lipschitz_upper_bound(setup.discriminator)
    row |= d_ctx.scalars | ctx.scalars
    return {key: value if key == "step" else _format(_number(value)) for key, value in row.items()}


# --- Training -------------------------------------------------------------------------------------


@torch.no_grad()
def update_ema(ema: nn.Module, generator: nn.Module, decay: float) -> None:
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, list(generator.parameters()), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), generator.buffers()):
        ema_buffer.copy_(buffer)


def _perturb(setup: Setup, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    for regulariser in setup.regularisers:
        x = regulariser.perturb(x, ctx)
    return x


def _all_finite(modules: list[nn.Module]) -> bool:
    return all(bool(torch.isfinite(p).all()) for module in modules for p in module.parameters())


def train(
    config: RunConfig,
    out: str | Path,
    device: str | torch.device | None = None,
    force: bool = False,
    data_root: str | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
    batch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one run into ``out``; returns its status dict. ``stop_after`` halts early (for tests);
    ``batch`` (recorded in the provenance) says which seeds this process trained with it."""
    run = RunDirectory(out)
    device = pick_device(device)
    mode = prepare(run, config, force)
    if mode == "finished":
        return run.read_status() | {"already_finished": True}

    # Build the networks and the optimisers.
    configure_numerics(config, device)
    setup = build(config, device, data_root)
    optimizers = make_optimizers(setup)
    rng = RandomState.seeded(config.seed, device)

    # Resume from the checkpoint, or start the run directory.
    start = 0
    if mode == "resume":
        start = restore(setup, optimizers, rng, load_checkpoint(run.checkpoint, device))
    if config.compile:
        for module in (setup.generator, setup.discriminator):
            module.compile()
    record = RunRecord(run, config, start, provenance.collect(device), batch)
    diagnostics_rng = torch.Generator(device=device)

    bad_d = torch.full((), -1, dtype=torch.long, device=device)  # first step with a non-finite loss
    bad_g = torch.full((), -1, dtype=torch.long, device=device)
    bar = _progress_bar(config, start, progress)
    began = time.perf_counter()
    setup.generator.train()
    setup.discriminator.train()
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    for step in range(start + 1, end + 1):
        logging = step % config.log_every == 0 or step == 1

        # Discriminator steps.
        for critic_step in range(config.n_critic):
            measure = logging and critic_step == config.n_critic - 1
            loss_d, d_ctx = discriminator_step(setup, optimizers["d"], rng, step, measure_gradient=measure)
            bad_d = torch.where((bad_d < 0) & ~torch.isfinite(loss_d.detach()), step, bad_d)

        # Generator step.
        loss_g, ctx = generator_step(setup, optimizers["g"], rng, step, measure_gradient=logging)
        bad_g = torch.where((bad_g < 0) & ~torch.isfinite(loss_g.detach()), step, bad_g)

        # Check for divergence before anything reads the weights: the diagnostics of non-finite
        # weights would fail (an SVD of NaNs raises), and must never decide how a run ends.
        checkpointing = step % config.checkpoint_every == 0 or step == end
        diverged = divergence_status(int(bad_d), int(bad_g), setup, step) if logging or checkpointing else None

        # Log losses and diagnostics (losses alone for a diverged step).
        if logging:
            record.rows.append(log_row(setup, step, loss_d, loss_g, d_ctx, ctx, diagnostics_rng,
                                       diagnose=diverged is None))

        # Stop a diverged run; it is a result, not a crash.
        if diverged is not None:
            bar.close()
            return record.finish(diverged, step, time.perf_counter() - began)

        # Keep a snapshot of the generator for metrics over training (the final one is the checkpoint).
        if config.eval_every and step % config.eval_every == 0 and step < config.steps:
            atomic.save_torch(run.snapshot(step), snapshot_state(setup, step))

        # Save a checkpoint.
        if checkpointing:
            record.checkpoint(checkpoint_state(setup, optimizers, rng, step), step, time.perf_counter() - began)
        bar.update(1)

    bar.close()
    seconds = time.perf_counter() - began
    if end < config.steps:
        return {"status": "stopped", "step": end}
    setup.dataset.save_samples(sample(setup, 1000, seed=config.seed), run.samples)
    return record.finish({"status": "completed", "step": config.steps}, config.steps, seconds)


def seed_directory(out: str | Path, config: RunConfig) -> Path:
    """Where seed ``config.seed`` of several goes: the last segment of its run id under ``out``
    (``s0``, or ``s0-1a2b3c4d`` when settings differ from the method's defaults)."""
    return Path(out) / config.run_id.rsplit("/", 1)[-1]


def train_seeds(
    config: RunConfig,
    seeds: list[int],
    out: str | Path,
    device: str | torch.device | None = None,
    force: bool = False,
    data_root: str | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
) -> dict[int, dict[str, Any]]:
    """Train ``config`` for every seed in ``seeds``, one after another through :func:`train` in this
    process, each into ``seed_directory(out, ...)``; returns each seed's status.

    Each run directory ends exactly as ``train`` alone would leave it (a seed's numbers depend only
    on its own config and checkpoint), so a killed job resumes with the same command and any of its
    runs resumes alone. A diverged seed is a result like any other and the next seed goes on.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must name each seed once, got {seeds}")
    device = pick_device(device)
    configs = {seed: replace(config, seed=seed) for seed in seeds}
    runs = {seed: RunDirectory(seed_directory(out, configs[seed])) for seed in seeds}

    # Check every run directory before any seed trains.
    modes = {seed: prepare(runs[seed], configs[seed], force) for seed in seeds}
    statuses = {seed: runs[seed].read_status() | {"already_finished": True}
                for seed in seeds if modes[seed] == "finished"}
    pending = [seed for seed in seeds if modes[seed] != "finished"]
    if pending:
        print(f"{config.run_id.rsplit('/', 1)[0]}: seeds {seeds_text(pending)} one after another in this process",
              file=sys.stderr)
    for seed in pending:
        statuses[seed] = train(configs[seed], runs[seed].path, device=device, data_root=data_root,
                               progress=progress, stop_after=stop_after, batch={"seeds": pending})
    return {seed: statuses[seed] for seed in seeds}


def make_optimizers(setup: Setup) -> dict[str, torch.optim.Optimizer]:
    """The two players' optimisers: "d" (D and the extra networks D owns) and "g" (likewise)."""
    config = setup.config
    return {
        "g": make_optimizer(config, setup.player_parameters("g"), config.lr_g),
        "d": make_optimizer(config, setup.player_parameters("d"), config.lr_d),
    }


def discriminator_step(setup: Setup, optimizer: torch.optim.Optimizer, rng: RandomState, step: int,
                       measure_gradient: bool = False) -> tuple[torch.Tensor, StepContext]:
    """One update of D (and of the extra networks D's player owns) on a fresh real and fake batch."""
    config, device = setup.config, setup.device
    setup.discriminator.requires_grad_(True)
    real = setup.dataset.sample(config.batch_size, rng.data).to(device, non_blocking=True,
                                                                memory_format=setup.memory_format)
    z = torch.randn(config.batch_size, config.z_dim, device=device, generator=rng.noise)
    with autocast(setup):
        with torch.no_grad():
            fake = setup.generator(z)
        ctx = StepContext(step, config.steps, "d", setup.generator, setup.discriminator, z, fake, real=real,
                          networks=setup.extra_modules, rng=rng.noise)
        discriminator_inputs(setup, ctx)
        ctx.out_real = setup.discriminator(ctx.real_input)
        ctx.out_fake = setup.discriminator(ctx.fake_input)
        loss = discriminator_loss(setup, ctx)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if measure_gradient:
        ctx.log("grad_norm_d", parameter_gradient_norm(setup.player_parameters("d")))
    optimizer.step()
    for regulariser in setup.regularisers:
        regulariser.after_discriminator_step(ctx)
    return loss, ctx


def generator_step(setup: Setup, optimizer: torch.optim.Optimizer, rng: RandomState, step: int,
                   measure_gradient: bool = False) -> tuple[torch.Tensor, StepContext]:
    """One update of G (and of the extra networks G's player owns); D is held fixed."""
    config, device = setup.config, setup.device
    # D takes no parameter gradients here: G's loss only needs gradients through D to its input.
    setup.discriminator.requires_grad_(False)
    z = torch.randn(config.batch_size, config.z_dim, device=device, generator=rng.noise)
    with autocast(setup):
        fake = setup.generator(z)
        ctx = StepContext(step, config.steps, "g", setup.generator, setup.discriminator, z, fake,
                          networks=setup.extra_modules, rng=rng.noise)
        generator_inputs(setup, ctx)
        ctx.out_fake = setup.discriminator(ctx.fake_input)
        loss = generator_loss(setup, ctx)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if measure_gradient:
        ctx.log("grad_norm_g", parameter_gradient_norm(setup.player_parameters("g")))
    optimizer.step()
    if setup.ema is not None:
        update_ema(setup.ema, setup.generator, config.ema)
    return loss, ctx


# The parts of a step between the networks' passes.


def discriminator_inputs(setup: Setup, ctx: StepContext) -> None:
    """Start D's phase and set what D will see: the batches perturbed, marked for input gradients."""
    for regulariser in setup.regularisers:
        regulariser.begin_phase(ctx)
    ctx.real_input = _perturb(setup, ctx.real, ctx)
    ctx.fake_input = _perturb(setup, ctx.fake, ctx)
    if "real" in setup.input_gradients:
        ctx.real_input = ctx.real_input.detach().requires_grad_(True)
    if "fake" in setup.input_gradients:
        ctx.fake_input = ctx.fake_input.detach().requires_grad_(True)


def discriminator_loss(setup: Setup, ctx: StepContext) -> torch.Tensor:
    """The objective's D loss on ``ctx.out_real`` and ``ctx.out_fake`` plus every D penalty."""
    loss = setup.objective.discriminator_loss(ctx.out_real, ctx.out_fake, ctx)
    for regulariser in setup.regularisers:
        penalty = regulariser.discriminator_penalty(ctx)
        if penalty is not None:
            loss = loss + penalty
    return loss


def generator_inputs(setup: Setup, ctx: StepContext) -> None:
    """Start G's phase and set what D will see of the fakes."""
    for regulariser in setup.regularisers:
        regulariser.begin_phase(ctx)
    ctx.fake_input = _perturb(setup, ctx.fake, ctx)


def generator_loss(setup: Setup, ctx: StepContext) -> torch.Tensor:
    """The objective's G loss on ``ctx.out_fake`` plus every G penalty."""
    loss = setup.objective.generator_loss(ctx.out_fake, ctx)
    for regulariser in setup.regularisers:
        penalty = regulariser.generator_penalty(ctx)
        if penalty is not None:
            loss = loss + penalty
    return loss


def divergence_status(bad_d: int, bad_g: int, setup: Setup, step: int) -> dict[str, Any] | None:
    """The status of a run found diverged at ``step`` (checked every log and checkpoint step), else None."""
    reason = _divergence(bad_d, bad_g, setup)
    if reason is None:
        return None
    first = min(s for s in (bad_d, bad_g) if s > 0) if reason[0] else step
    return {"status": "diverged", "step": first, "reason": reason[1]}


def _divergence(bad_d: int, bad_g: int, setup: Setup) -> tuple[bool, str] | None:
    """(whether a loss went bad, the reason) or None while everything is finite."""
    if bad_d > 0 and (bad_g < 0 or bad_d <= bad_g):
        return True, f"non-finite discriminator loss at step {bad_d}"
    if bad_g > 0:
        return True, f"non-finite generator loss at step {bad_g}"
    modules = [setup.generator, setup.discriminator] + [e.module for e in setup.extras.values()]
    if not _all_finite(modules):
        return False, "non-finite weights"
    return None


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(config: RunConfig, start: int, enabled: bool | None) -> Any:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=config.steps, initial=start, desc=config.run_id, unit="step", dynamic_ncols=True)


# --- Sampling -------------------------------------------------------------------------------------


@torch.no_grad()
def sample(setup: Setup, n: int, seed: int, batch_size: int = 1000) -> torch.Tensor:
    """``n`` samples from the EMA generator when there is one, else the generator; deterministic in seed."""
    generator = setup.ema if setup.ema is not None else setup.generator
    was_training = generator.training
    generator.eval()
    noise = torch.Generator(device=setup.device).manual_seed(10_000_019 + seed)
    chunks = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        z = torch.randn(count, setup.config.z_dim, device=setup.device, generator=noise)
        chunks.append(generator(z).float().cpu())
    generator.train(was_training)
    return torch.cat(chunks)


def load_for_evaluation(run_dir: str | Path, device: torch.device, data_root: str | None = None) -> Setup:
    """The run's networks with the weights of its final checkpoint."""
    run = RunDirectory(run_dir)
    config = run.read_config()
    setup = build(config, device, data_root)
    state = load_checkpoint(run.checkpoint, device)
    if not isinstance(state.get("config"), dict) or with_defaults(state["config"]) != config.to_dict():
        raise CheckpointError(f"checkpoint {run.checkpoint} was written by a different config than "
                              f"{run.config}; it does not belong to this run: {RETRAIN}")
    load_generator(setup, state)
    return setup


def load_generator(setup: Setup, state: dict[str, Any]) -> None:
    """Put a checkpoint's or a snapshot's generator (and EMA) weights into ``setup``."""
    setup.generator.load_state_dict(state["generator"])
    if setup.ema is not None:
        setup.ema.load_state_dict(state["ema"])

