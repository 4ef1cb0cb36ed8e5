"""Several seeds of one configuration in one process: ``benchsuite train ... --seeds 0-7 --out DIR``.

Each seed gets the run directory that ``--seed s`` alone would write, named by the last segment of
its run id (``DIR/s0``, ``DIR/s1``, ... or ``DIR/s0-1a2b3c4d`` when settings differ from the
method's defaults), holding the same numbers: the same checkpoint tensors, the same log.csv, the same
status. The files are written by the single-seed trainer's own helpers, so their formats cannot
drift. The seeds are trained one of two ways, chosen per configuration and said in the process's
output and in each run's provenance (``segments[-1].batch``):

vectorised
    The seeds' networks become one network with stacked weights: a linear layer is one batched
    matrix product over the seeds (``torch.baddbmm``), an activation runs once over all of them, and
    one Adam or RMSprop updates the stacked weights (both are elementwise, so a stacked weight is
    exact per seed). Everything that draws randomness or reduces over a batch stays per seed: each
    seed keeps its own data and noise generators (and its own global RNG state), and the objective,
    the regularisers' hooks, the diagnostics and the divergence checks see that seed's own tensors,
    exactly as in a single run; a hook that runs a network itself (a gradient penalty, an encoder)
    runs that seed's network on views of the stacked weights. Before training, each stacked layer
    is compared bit for bit with the single run's arithmetic on this machine (forward and backward);
    a layer that differs is evaluated seed by seed, and then the whole stacked network is compared
    with the seeds' own networks. The gradients of a weight are summed in the order a single run
    sums them, because every pass reaches a stacked weight through one node, as it reaches a
    single run's weight.
sequential
    One seed after another through :func:`benchsuite.train.train`, in this process: one start-up
    and one import for all seeds. Used where a network has a part without a stacked form
    (convolutions, batch norm), where the stacked network does not reproduce the single run on this
    machine, with bf16, channels_last or torch.compile, and when asked for (``--sequential``).

A seed that diverges is recorded as diverged (status.json with step and reason) and the others go
on. Each seed checkpoints into its own run directory in the single-seed format, so a killed batch
resumes with the same command, and any one of its runs also resumes alone with ``--seed``.
docs/speed.md has the measurements behind these choices.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from benchsuite import provenance
from benchsuite.architectures.mlp import _Unflatten
from benchsuite.components import Discriminator, Regulariser, StepContext
from benchsuite.config import RunConfig
from benchsuite.diagnostics import parameter_gradient_norm
from benchsuite.errors import ConfigError
from benchsuite.grid import seeds_text
from benchsuite.objectives.ebgan import AutoencoderDiscriminator, reconstruction_energy
from benchsuite.regularisers.vdb import StochasticBottleneck
from benchsuite.train import (
    RandomState, RunDirectory, RunRecord, Setup, _progress_bar, build, checkpoint_state, configure_numerics,
    discriminator_inputs, discriminator_loss, divergence_status, generator_inputs, generator_loss,
    load_checkpoint, log_row, make_optimizer, make_optimizers, pick_device, prepare, restore, sample, train,
)


# --- Seeds and directories ------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    """ "0-7" (both ends included), "0,2,5", or a mix ("0-3,8"); each seed once."""
    seeds: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise ConfigError(f"--seeds expects seeds like '0-7' or '0,2,5', got {text!r}")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise ConfigError(f"--seeds: the range {part!r} is empty (write low-high)")
        seeds += range(low, high + 1)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds names a seed twice: {text!r}")
    return seeds


def seed_directory(out: str | Path, config: RunConfig) -> Path:
    """Where seed ``config.seed`` of a batch goes: the last segment of its run id under ``out``."""
    return Path(out) / config.run_id.rsplit("/", 1)[-1]



# --- Training several seeds -----------------------------------------------------------------------


def train_seeds(
    config: RunConfig,
    seeds: list[int],
    out: str | Path,
    device: str | torch.device | None = None,
    force: bool = False,
    data_root: str | None = None,
    progress: bool | None = None,
    stop_after: int | None = None,
    sequential: bool = False,
) -> dict[int, dict[str, Any]]:
    """Train ``config`` for every seed in ``seeds`` into ``out``/<seed segment>; returns each seed's status.

    ``sequential`` trains them one after another even where they could be vectorised.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must name each seed once, got {seeds}")
    device = device if isinstance(device, torch.device) else pick_device(device)
    configs = {seed: dataclasses.replace(config, seed=seed) for seed in seeds}
    runs = {seed: RunDirectory(seed_directory(out, configs[seed])) for seed in seeds}
    cell = config.run_id.rsplit("/", 1)[0]

    # Check every run directory before anything is trained or moved.
    modes = {seed: prepare(runs[seed], configs[seed], force) for seed in seeds}
    statuses = {seed: runs[seed].read_status() | {"already_finished": True}
                for seed in seeds if modes[seed] == "finished"}
    pending = [seed for seed in seeds if modes[seed] != "finished"]
    if not pending:
        return statuses

    reason = "asked for" if sequential else "one seed" if len(pending) == 1 else unbatchable_settings(config)
    batches: list[_Batch] = []
    if reason is None:
        configure_numerics(config, device)
        seeds_state = [_Seed.begin(configs[seed], runs[seed], modes[seed], device, data_root) for seed in pending]
        groups: dict[int, list[_Seed]] = {}
        for state in seeds_state:
            groups.setdefault(state.start, []).append(state)
        try:
            batches = [_Batch(group, device) for _, group in sorted(groups.items())]
        except Unbatchable as error:
            reason = str(error)
    if reason is not None:
        print(f"{cell}: seeds {seeds_text(pending)} one at a time in this process ({reason})", file=sys.stderr)
        batch = {"mode": "sequential", "seeds": pending, "reason": reason}
        for seed in pending:
            statuses[seed] = train(configs[seed], runs[seed].path, device=device, data_root=data_root,
                                   progress=progress, stop_after=stop_after, batch=batch)
        return statuses
    base_provenance = provenance.collect(device)
    for batch in batches:
        print(f"{cell}: seeds {seeds_text([s.config.seed for s in batch.seeds])} vectorised from step "
              f"{batch.seeds[0].start} ({batch.summary()})", file=sys.stderr)
        statuses |= batch.train(base_provenance, progress, stop_after)
    return {seed: statuses[seed] for seed in seeds}


def unbatchable_settings(config: RunConfig) -> str | None:
    """Why settings alone rule the vectorised trainer out, or None."""
    if config.precision != "fp32":
        return f"precision {config.precision}: the stacked networks run in float32"
    if config.compile:
        return "compile: the stacked networks run eagerly"
    if config.channels_last:
        return "channels_last: the stacked networks hold no image layouts"
    return None


class Unbatchable(Exception):
    """A network without a stacked form, or one whose stacked form differs from the single run here."""


# --- One seed's state -----------------------------------------------------------------------------


def _global_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_global_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclasses.dataclass
class _Seed:
    """What one seed of a batch owns: its single-run setup, generators, run directory and counters."""

    config: RunConfig
    run: RunDirectory
    setup: Setup
    optimizers: dict[str, torch.optim.Optimizer]  # the single run's optimisers: the checkpoint's format
    rng: RandomState
    start: int
    global_rng: dict[str, Any]  # torch's global generators as this seed's single run would have them
    diagnostics_rng: torch.Generator
    record: RunRecord | None = None

    @classmethod
    def begin(cls, config: RunConfig, run: RunDirectory, mode: str, device: torch.device,
              data_root: str | None) -> _Seed:
        # As train() does: build from the seed, then restore a checkpoint over it.
        setup = build(config, device, data_root)
        optimizers = make_optimizers(setup)
        rng = RandomState.seeded(config.seed, device)
        start = 0
        if mode == "resume":
            start = restore(setup, optimizers, rng, load_checkpoint(run.checkpoint, device))
        return cls(config, run, setup, optimizers, rng, start, _global_rng(), torch.Generator(device=device))

    @contextmanager
    def own_globals(self) -> Iterator[None]:
        """Run with torch's global generators in this seed's state (a method may draw from them)."""
        _set_global_rng(self.global_rng)
        try:
            yield
        finally:
            self.global_rng = _global_rng()


# --- Stacked weights ------------------------------------------------------------------------------


class _Leaves:
    """The seeds' parameters, position by position: stacked into one tensor, or kept each seed's own.

    ``per_seed[s][i]`` is seed s's i-th parameter. A stacked position's tensor holds every seed's
    values and seed s's parameter becomes a view of ``tensor[s]``, so the seeds' modules, clipping,
    diagnostics and checkpoints see the trained values. Positions in ``own`` (the originals of
    parametrized weights, which a single run's parametrization uses twice per pass) stay the seeds'
    own tensors, so their gradients add up exactly as in a single run.
    """

    def __init__(self, per_seed: list[list[nn.Parameter]], own: frozenset[int] = frozenset()) -> None:
        if any(len({id(p) for p in params}) != len(params) or len(params) != len(per_seed[0]) for params in per_seed):
            raise Unbatchable("the seeds' networks share or differ in parameters")
        self.per_seed = per_seed
        self.stacked: list[torch.Tensor | None] = []
        for column in zip(*per_seed):
            if any(p.shape != column[0].shape or p.dtype != column[0].dtype for p in column):
                raise Unbatchable("the seeds' networks differ in shape")
            if {id(p) in own for p in column} != {id(column[0]) in own}:
                raise Unbatchable("the seeds' networks are parametrized differently")
            if id(column[0]) in own:
                self.stacked.append(None)
                continue
            leaf = torch.stack([p.detach() for p in column]).requires_grad_(column[0].requires_grad)
            self.stacked.append(leaf)
            for s, parameter in enumerate(column):
                parameter.data = leaf.detach()[s]
        self.index = {id(p): (i, s) for s, params in enumerate(per_seed) for i, p in enumerate(params)}

    @property
    def tensors(self) -> list[torch.Tensor]:
        """The stacked tensors."""
        return [leaf for leaf in self.stacked if leaf is not None]

    def trained(self) -> list[torch.Tensor]:
        """What an optimiser steps: the stacked tensors, then the seeds' own ones."""
        own = [params[i] for params in self.per_seed for i, leaf in enumerate(self.stacked) if leaf is None]
        return self.tensors + own

    def gradient(self, position: int, seed: int) -> torch.Tensor | None:
        leaf = self.stacked[position]
        if leaf is None:
            return self.per_seed[seed][position].grad
        return leaf.grad[seed] if leaf.grad is not None else None

    def requires_grad_(self, flag: bool, positions: int | None = None) -> None:
        for i, leaf in enumerate(self.stacked[:positions]):
            if leaf is not None:
                leaf.requires_grad_(flag)
            else:
                for params in self.per_seed:
                    params[i].requires_grad_(flag)


def _parametrized_originals(modules: list[nn.Module]) -> frozenset[int]:
    """ids of the original tensors behind every parametrized tensor in ``modules``."""
    return frozenset(
        id(owner.parametrizations[name].original)
        for module in modules for owner in module.modules() if parametrize.is_parametrized(owner)
        for name in owner.parametrizations
    )


def _apply_chain(chain: nn.ModuleList, original: torch.Tensor) -> torch.Tensor:
    """A parametrization list evaluated on ``original`` (what ParametrizationList.forward does)."""
    x = original
    for parametrization in chain:
        x = parametrization(x)
    return x


def _base_type(module: nn.Module) -> type:
    cls = type(module)
    return cls.__bases__[0] if parametrize.is_parametrized(module) else cls


def _check_plain(modules: list[nn.Module], allow_forward_hooks: bool = False) -> None:
    for module in modules:
        if module._forward_pre_hooks or module._backward_hooks or module._backward_pre_hooks or (
                module._forward_hooks and not allow_forward_hooks) or module._forward_hooks_with_kwargs:
            raise Unbatchable(f"{type(module).__name__} has hooks")


# --- Stacked network parts ------------------------------------------------------------------------
# Each part maps x of shape (seeds, batch, ...) to (seeds, batch, ...). ``decide`` runs the part on a
# probe input and settles how it computes: stacked, or seed by seed when only that is exact here.


class _Part(ABC):
    @abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The part applied to every seed's x."""

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def modes(self) -> list[bool]:
        return []

    def set_modes(self, modes: list[bool]) -> None:
        pass

    def describe(self) -> list[str]:
        return []


class _Sequence(_Part):
    def __init__(self, parts: list[_Part]) -> None:
        self.parts = parts

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part.decide(x)
        return x

    def modes(self) -> list[bool]:
        return [mode for part in self.parts for mode in part.modes()]

    def set_modes(self, modes: list[bool]) -> None:
        for part in self.parts:
            count = len(part.modes())
            part.set_modes(modes[:count])
            modes = modes[count:]

    def describe(self) -> list[str]:
        return [line for part in self.parts for line in part.describe()]


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))


class _Linear(_Part):
    """nn.Linear of every seed as one torch.baddbmm over stacked weights. A parametrized weight
    (spectral norm) is computed per seed by the seed's own parametrization on its own original."""

    def __init__(self, layers: list[nn.Linear], leaves: _Leaves) -> None:
        self.layers = layers
        chained = parametrize.is_parametrized(layers[0], "weight")
        if any(parametrize.is_parametrized(layer, "weight") != chained for layer in layers):
            raise Unbatchable("the seeds' layers are parametrized differently")
        # Stacked weights (S, out, in), or the seeds' own originals with their parametrizations.
        self.weight: torch.Tensor | list[torch.Tensor] = (
            [layer.parametrizations.weight.original for layer in layers] if chained
            else _leaf_of(leaves, [layer.weight for layer in layers]))
        self.bias = _leaf_of(leaves, [layer.bias for layer in layers]) if layers[0].bias is not None else None
        self.chains = [layer.parametrizations.weight for layer in layers] if chained else None
        self.per_seed = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.compute(x, self.weight, self.bias, self.chains, self.per_seed)

    @staticmethod
    def compute(x: torch.Tensor, weight: torch.Tensor | list[torch.Tensor], bias: torch.Tensor | None,
                chains: list | None, per_seed: bool) -> torch.Tensor:
        if chains is None and not per_seed:
            if bias is None:
                return torch.bmm(x, weight.transpose(1, 2))
            return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        if chains is None:
            weights = weight.unbind(0)
        else:
            weights = [_apply_chain(chain, original) for chain, original in zip(chains, weight)]
        if per_seed:
            biases = bias.unbind(0) if bias is not None else [None] * len(weights)
            return torch.stack([F.linear(xs, w, b) for xs, w, b in zip(x.unbind(0), weights, biases)])
        stacked = torch.stack(weights).transpose(1, 2)
        return torch.bmm(x, stacked) if bias is None else torch.baddbmm(bias.unsqueeze(1), x, stacked)

    def _weights(self) -> list[torch.Tensor]:
        return [w.detach() for w in self.weight] if isinstance(self.weight, list) else list(self.weight.detach())

    def _matches(self, x: torch.Tensor, per_seed: bool) -> bool:
        """Outputs and every gradient of this part equal, bit for bit, the single run's nn.Linear, over
        passes on three batches with one backward (as D's real, fake and penalty passes: with
        several passes, the order in which a weight's gradients are summed shows)."""
        seeds = x.shape[0]
        noise = torch.Generator(device=x.device).manual_seed(0)
        batches = [x.detach(), x.detach().flip(1), x.detach() * 0.5]
        upstream = [torch.randn(x.shape[:-1] + (self.layers[0].out_features,), generator=noise,
                                device=x.device, dtype=x.dtype) for _ in batches]
        # The single run: every tensor its own, every seed alone.
        ref_w = [w.clone().requires_grad_(True) for w in self._weights()]
        ref_b = [self.bias[s].detach().clone().requires_grad_(True) if self.bias is not None else None
                 for s in range(seeds)]
        ref_chains = copy.deepcopy(self.chains)
        ref_x, outputs = [], []
        for s in range(seeds):
            xs = [batch[s].clone().requires_grad_(True) for batch in batches]
            outs = []
            for xi in xs:
                w = ref_w[s] if ref_chains is None else _apply_chain(ref_chains[s], ref_w[s])
                outs.append(F.linear(xi, w, ref_b[s]))
            torch.autograd.backward(outs, [u[s] for u in upstream])
            ref_x.append(xs)
            outputs.append([o.detach() for o in outs])
        # This part, on copies.
        xt = [batch.clone().requires_grad_(True) for batch in batches]
        if isinstance(self.weight, list):
            wt: torch.Tensor | list[torch.Tensor] = [w.clone().requires_grad_(True) for w in self._weights()]
        else:
            wt = self.weight.detach().clone().requires_grad_(True)
        bt = self.bias.detach().clone().requires_grad_(True) if self.bias is not None else None
        chains = copy.deepcopy(self.chains)
        outs = [self.compute(xi, wt, bt, chains, per_seed) for xi in xt]
        torch.autograd.backward(outs, upstream)
        for s in range(seeds):
            w_grad = wt[s].grad if isinstance(wt, list) else wt.grad[s]
            if not (all(_same(o[s], r) for o, r in zip(outs, outputs[s]))
                    and all(_same(xi.grad[s], r.grad) for xi, r in zip(xt, ref_x[s]))
                    and _same(w_grad, ref_w[s].grad) and (bt is None or _same(bt.grad[s], ref_b[s].grad))):
                return False
            if chains is not None and not all(
                    _same(a, b) for a, b in zip(chains[s].buffers(), ref_chains[s].buffers())):
                return False
        return True

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        if self._matches(x, per_seed=False):
            self.per_seed = False
        elif self._matches(x, per_seed=True):
            self.per_seed = True
        else:
            raise Unbatchable(f"linear layer {self.describe()[0]}: no stacked form reproduces the single run here")
        weight = self._weights() if isinstance(self.weight, list) else self.weight.detach()
        with torch.no_grad():
            return self.compute(x, weight, None if self.bias is None else self.bias.detach(),
                                copy.deepcopy(self.chains), self.per_seed)

    def modes(self) -> list[bool]:
        return [self.per_seed]

    def set_modes(self, modes: list[bool]) -> None:
        (self.per_seed,) = modes

    def describe(self) -> list[str]:
        layer = self.layers[0]
        how = "seed by seed" if self.per_seed else "stacked"
        parametrized = " parametrized" if self.chains is not None else ""
        return [f"{layer.in_features}->{layer.out_features}{parametrized} {how}"]


class _Elementwise(_Part):
    """An activation applied once to all seeds, or seed by seed where that alone matches one seed's
    result here (a vectorised loop may treat an element differently at another position)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.per_seed = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_seed:
            return torch.stack([self.module(xs) for xs in x.unbind(0)])
        return self.module(x)

    def _matches(self, x: torch.Tensor) -> bool:
        noise = torch.Generator(device=x.device).manual_seed(1)
        upstream = torch.randn(x.shape, generator=noise, device=x.device, dtype=x.dtype)
        xt = x.detach().clone().requires_grad_(True)
        out = self(xt.clone())
        out.backward(upstream)
        for s in range(x.shape[0]):
            xs = x[s].detach().clone().requires_grad_(True)
            ref = self.module(xs.clone())
            ref.backward(upstream[s])
            if not (_same(out[s], ref) and _same(xt.grad[s], xs.grad)):
                return False
        return True

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        self.per_seed = False
        if not self._matches(x):
            self.per_seed = True
            if not self._matches(x):
                raise Unbatchable(f"{type(self.module).__name__}: no stacked form reproduces one seed's result here")
        with torch.no_grad():
            return self(x)

    def modes(self) -> list[bool]:
        return [self.per_seed]

    def set_modes(self, modes: list[bool]) -> None:
        (self.per_seed,) = modes

    def describe(self) -> list[str]:
        return [f"{type(self.module).__name__} seed by seed"] if self.per_seed else []


class _View(_Part):
    """A reshape; moves no number."""

    def __init__(self, function: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.function = function

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


class _Bottleneck(_Part):
    """vdb's stochastic bottleneck: mean and scale stacked, each seed's noise from its own generator."""

    def __init__(self, modules: list[StochasticBottleneck], leaves: _Leaves) -> None:
        self.modules = modules
        self.mean = _Linear([m.mean for m in modules], leaves)
        self.scale = _Linear([m.scale for m in modules], leaves)
        self.softplus = _Elementwise(nn.Softplus())
        self.head = _part([m.head for m in modules], leaves)

    def _forward(self, x: torch.Tensor, deciding: bool) -> torch.Tensor:
        run = (lambda part, t: part.decide(t)) if deciding else (lambda part, t: part(t))
        mu = run(self.mean, x)
        sigma = run(self.softplus, run(self.scale, x))
        first = self.modules[0]
        if not (first.training and first.sampling):
            return run(self.head, mu)
        noise = [torch.randn(mu.shape[1:], generator=m.generator, device=mu.device, dtype=mu.dtype)
                 for m in self.modules]
        # gaussian_kl's arithmetic on all seeds at once, so that mu and sigma are used as often as in a
        # single run (through one view per seed, sigma's three uses would be summed in another order).
        terms = 0.5 * (mu.pow(2) + sigma.pow(2) - 2 * torch.log(sigma) - 1)
        kl = terms.reshape(mu.shape[0] * mu.shape[1], -1).sum(dim=1).reshape(mu.shape[0], mu.shape[1])
        for module, kl_s in zip(self.modules, kl.unbind(0)):
            module.kl = kl_s
        return run(self.head, mu + sigma * torch.stack(noise))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, deciding=False)

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, deciding=True).detach()

    def _parts(self) -> list[_Part]:
        return [self.mean, self.scale, self.softplus, self.head]

    def modes(self) -> list[bool]:
        return _Sequence(self._parts()).modes()

    def set_modes(self, modes: list[bool]) -> None:
        _Sequence(self._parts()).set_modes(modes)

    def describe(self) -> list[str]:
        return _Sequence(self._parts()).describe()


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Identity)


def _leaf_of(leaves: _Leaves, parameters: list[torch.Tensor]) -> torch.Tensor:
    """The stacked tensor behind the seeds' parameters at one position."""
    positions = {leaves.index.get(id(p), (None, None))[0] for p in parameters}
    seeds = [leaves.index.get(id(p), (None, None))[1] for p in parameters]
    if len(positions) != 1 or None in positions or seeds != list(range(len(parameters))):
        raise Unbatchable("a layer's weights are not trained parameters of the seeds' networks")
    leaf = leaves.stacked[positions.pop()]
    if leaf is None:
        raise Unbatchable("a layer's weight is another layer's parametrized original")
    return leaf


def _part(modules: list[nn.Module], leaves: _Leaves) -> _Part:
    """The stacked form of the seeds' modules (all of one structure), or Unbatchable."""
    first = modules[0]
    kind = _base_type(first)
    if any(_base_type(m) is not kind for m in modules):
        raise Unbatchable("the seeds' networks differ in structure")
    _check_plain(modules)
    if kind is nn.Sequential:
        if any(len(m) != len(first) for m in modules):
            raise Unbatchable("the seeds' networks differ in structure")
        return _Sequence([_part([m[i] for m in modules], leaves) for i in range(len(first))])
    if kind is nn.Linear:
        return _Linear(modules, leaves)
    if kind in _ELEMENTWISE:
        if any(m.extra_repr() != first.extra_repr() for m in modules):
            raise Unbatchable(f"the seeds' {kind.__name__} layers differ")
        return _Elementwise(first)
    if kind is nn.Flatten:
        start, end = first.start_dim, first.end_dim
        if start < 0:
            raise Unbatchable("nn.Flatten with a negative start_dim")
        return _View(lambda x: x.flatten(start + 1, end if end < 0 else end + 1))
    if kind is nn.Unflatten and isinstance(first.dim, int) and first.dim >= 0:
        dim, sizes = first.dim, first.unflattened_size
        return _View(lambda x: x.unflatten(dim + 1, sizes))
    if kind is _Unflatten:
        shape = first.shape
        return _View(lambda x: x.reshape(x.shape[0], x.shape[1], *shape))
    if kind is StochasticBottleneck:
        return _Bottleneck(modules, leaves)
    raise Unbatchable(f"{kind.__name__} has no stacked form")


class _Network:
    """The seeds' copies of one network (G or D) as one stacked network.

    Called with the seeds' inputs (a list, one tensor per seed), it returns their outputs (a list);
    forward hooks of the seeds' top modules (vdb's) are called per seed with that seed's input.
    """

    def __init__(self, modules: list[nn.Module], leaves: _Leaves) -> None:
        self.modules = modules
        kind = _base_type(modules[0])
        if any(_base_type(m) is not kind for m in modules):
            raise Unbatchable("the seeds' networks differ in structure")
        if kind in (Discriminator, AutoencoderDiscriminator):
            # Discriminator.forward: head(trunk(x)) as one score per sample; the autoencoder's: the
            # per-sample reconstruction energy, computed seed by seed on the seed's own input.
            _check_plain(modules, allow_forward_hooks=True)
            self.output = "energy" if kind is AutoencoderDiscriminator else "score"
            self.body: _Part = _Sequence([_part([m.trunk for m in modules], leaves),
                                          _part([m.head for m in modules], leaves)])
        else:
            self.output = "plain"
            self.body = _part(modules, leaves)
        if torch.nn.modules.module._global_forward_hooks or torch.nn.modules.module._global_forward_pre_hooks:
            raise Unbatchable("global module hooks are registered")

    def _finish(self, inputs: list[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        if self.output == "energy":
            outputs = [reconstruction_energy(x, r) for x, r in zip(inputs, y.unbind(0))]
        elif self.output == "score":
            outputs = list(y.reshape(y.shape[0], y.shape[1]).unbind(0))
        else:
            outputs = list(y.unbind(0))
        for s, module in enumerate(self.modules):
            for hook in list(module._forward_hooks.values()):
                result = hook(module, (inputs[s],), outputs[s])
                if result is not None:
                    outputs[s] = result
        return outputs

    def __call__(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self._finish(inputs, self.body(torch.stack(inputs)))

    def decide(self, inputs: list[torch.Tensor]) -> None:
        self.body.decide(torch.stack(inputs))

    def describe(self) -> str:
        lines = self.body.describe()
        linear = [line for line in lines if "->" in line]
        stacked = sum(line.endswith(" stacked") for line in linear)
        per_seed = [line for line in lines if line.endswith("seed by seed")]
        return f"{stacked}/{len(linear)} linear layers stacked" + (f" ({'; '.join(per_seed)})" if per_seed else "")


@contextmanager
def _fork_rng() -> Iterator[None]:
    state = _global_rng()
    try:
        yield
    finally:
        _set_global_rng(state)


def _verified_network(modules: list[nn.Module], params: list[list[nn.Parameter]], leaves: _Leaves,
                      input_shape: tuple[int, ...], batch_size: int, device: torch.device, name: str) -> _Network:
    """The stacked network over ``modules``, its layer modes chosen and the whole checked on this machine
    against the seeds' own networks, bit for bit: three passes (as D's real, fake and penalty passes)
    and one backward, comparing outputs, input and weight gradients and buffers."""
    seeds = len(modules)
    noise = torch.Generator(device=device).manual_seed(2)
    batches = [[torch.randn(batch_size, *input_shape, generator=noise, device=device) for _ in range(seeds)]
               for _ in range(3)]

    def own_noise(copied: list[nn.Module]) -> list[nn.Module]:
        # A bottleneck draws from the generator its regulariser hands it, one per seed in training.
        for s, module in enumerate(copied):
            for part in module.modules():
                if isinstance(part, StochasticBottleneck):
                    part.generator = torch.Generator(device=device).manual_seed(1000 + s)
        return copied

    def copies() -> tuple[list[nn.Module], _Leaves]:
        twins = own_noise(copy.deepcopy(modules))
        twin_params = [[dict(m.named_parameters())[n] for n, _ in _named(modules[s], params[s])]
                       for s, m in enumerate(twins)]
        for column in twin_params:
            for parameter in column:
                parameter.requires_grad_(True)
        return twins, _Leaves(twin_params, own=_parametrized_originals(twins))

    def kls(module: nn.Module) -> list[torch.Tensor]:
        # What vdb's bottleneck leaves for its penalty; taken so that the check covers its gradients too.
        found = []
        for part in module.modules():
            if isinstance(part, StochasticBottleneck) and part.kl is not None:
                found.append(part.kl)
                part.kl = None
        return found

    with _fork_rng():
        # Decide each layer's mode on throwaway copies (deciding runs parametrizations, which update state).
        probe = _Network(*copies())
        probe.decide(batches[0])
        modes = probe.body.modes()

        # The stacked network on copies against each seed's own network on other copies. Forward
        # hooks are dropped from the copies (the trainer calls them per seed on the seed's tensors).
        twins, twin_leaves = copies()
        reference = own_noise(copy.deepcopy(modules))
        for module in (*twins, *reference):
            module._forward_hooks.clear()
            module.requires_grad_(True)
        net = _Network(twins, twin_leaves)
        net.body.set_modes(modes)
        inputs = [[x.clone().requires_grad_(True) for x in batch] for batch in batches]
        stacked: list[list[torch.Tensor]] = [[] for _ in range(seeds)]
        for batch in inputs:
            for s, out in enumerate(net(batch)):
                stacked[s] += [out, *kls(twins[s])]
        upstream = [[torch.randn(t.shape, generator=noise, device=device, dtype=t.dtype) for t in tensors]
                    for tensors in stacked]
        torch.autograd.backward([t for ts in stacked for t in ts], [u for us in upstream for u in us])
        for s, module in enumerate(reference):
            xs = [batch[s].clone().requires_grad_(True) for batch in batches]
            single = []
            for x in xs:
                single += [module(x), *kls(module)]
            torch.autograd.backward(single, upstream[s])
            problems = []
            if len(single) != len(stacked[s]) or not all(_same(a.detach(), b.detach())
                                                          for a, b in zip(stacked[s], single)):
                problems.append("outputs")
            if not all(_same(i[s].grad, x.grad) for i, x in zip(inputs, xs)):
                problems.append("input gradients")
            own = [dict(module.named_parameters())[n] for n, _ in _named(modules[s], params[s])]
            if not all(_same(twin_leaves.gradient(i, s), p.grad) for i, p in enumerate(own)):
                problems.append("weight gradients")
            if not all(_same(a, b) for a, b in zip(twins[s].buffers(), module.buffers())):
                problems.append("buffers")
            if problems:
                raise Unbatchable(f"the stacked {name} differs from the single run here ({', '.join(problems)})")
    network = _Network(modules, leaves)
    network.body.set_modes(modes)
    return network


def _named(module: nn.Module, params: list[nn.Parameter]) -> list[tuple[str, nn.Parameter]]:
    """``params`` (a module's parameters in some order) with their names in ``module``."""
    names = {id(p): n for n, p in module.named_parameters()}
    if any(id(p) not in names for p in params):
        raise Unbatchable("a network's parameters are not its own")
    return [(names[id(p)], p) for p in params]


# --- A batch of seeds trained together ------------------------------------------------------------


def _own_storage(state: Any) -> Any:
    """A checkpoint's tensors copied out of the stacked storage (torch.save writes whole storages)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {key: _own_storage(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_own_storage(value) for value in state]
    if isinstance(state, tuple):
        return tuple(_own_storage(value) for value in state)
    return state


def _per_element(leaf: torch.Tensor, value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.shape == leaf.shape


def _stack_state(leaf: torch.Tensor, values: list[Any]) -> Any:
    """The seeds' optimiser state for one stacked weight: per-element tensors stacked, the rest shared."""
    first = values[0]
    if isinstance(first, torch.Tensor) and first.dim() > 0 and first.shape == leaf.shape[1:]:
        return torch.stack([v.detach() for v in values])
    if any(not (_same(v, first) if isinstance(v, torch.Tensor) else v == first) for v in values):
        raise Unbatchable("the seeds' optimisers are at different steps")
    return first.clone() if isinstance(first, torch.Tensor) else first


class _Batch:
    """Seeds that start from the same step, trained as one stacked model.

    A seed that diverges is finished as a result and stays in the stacked tensors until the batch
    ends: its slots are computed and ignored (seeds never mix, so the others are unaffected).
    """

    def __init__(self, seeds: list[_Seed], device: torch.device) -> None:
        self.seeds, self.device = seeds, device
        self.config = config = seeds[0].config
        setups = [seed.setup for seed in seeds]

        # Stack the players' parameters and the EMA; the seeds' own tensors become views.
        networks = [m for setup in setups for m in (setup.generator, setup.discriminator,
                                                    *(e.module for e in setup.extras.values()))]
        own = _parametrized_originals(networks)
        if _parametrized_originals([setup.generator for setup in setups]):
            raise Unbatchable("the generator has parametrized weights")
        self.players = {player: [setup.player_parameters(player) for setup in setups] for player in ("g", "d")}
        self.leaves = {player: _Leaves(params, own) for player, params in self.players.items()}
        self.ema = _Leaves([list(setup.ema.parameters()) for setup in setups]) if setups[0].ema is not None else None
        self.d_own = len(list(setups[0].discriminator.parameters()))  # D's tensors come first in player d

        # The stacked networks, checked on this machine before any step.
        self.generator = _verified_network(
            [setup.generator for setup in setups], [list(setup.generator.parameters()) for setup in setups],
            self.leaves["g"], (config.z_dim,), config.batch_size, device, "generator")
        self.discriminator = _verified_network(
            [setup.discriminator for setup in setups], [list(setup.discriminator.parameters()) for setup in setups],
            self.leaves["d"], tuple(setups[0].dataset.shape), config.batch_size, device, "discriminator")

        # Each seed's parameters by owning module, so that a hook's own pass can read views of the stack.
        self.slots: list[list[tuple[nn.Module, str, nn.Parameter, str, int]]] = []
        for setup in setups:
            slots = []
            for network in (setup.generator, setup.discriminator, *(e.module for e in setup.extras.values())):
                for owner in network.modules():
                    for name, parameter in owner._parameters.items():
                        if parameter is None:
                            continue
                        found = [(player, leaves.index[id(parameter)][0]) for player, leaves in self.leaves.items()
                                 if id(parameter) in leaves.index]
                        if not found:
                            raise Unbatchable("a network holds a parameter that no optimiser trains")
                        player, position = found[0]
                        if self.leaves[player].stacked[position] is not None:
                            slots.append((owner, name, parameter, player, position))
            self.slots.append(slots)

        # One optimiser per player over the stacked tensors, in the state of the seeds' own optimisers.
        self.optimizers = {
            player: make_optimizer(config, self.leaves[player].trained(), config.lr_g if player == "g" else config.lr_d)
            for player in ("g", "d")}
        for player, optimizer in self.optimizers.items():
            leaves = self.leaves[player]
            for index, leaf in enumerate(leaves.stacked):
                states = [seed.optimizers[player].state.get(leaves.per_seed[s][index]) for s, seed in enumerate(seeds)]
                if all(not state for state in states):
                    continue
                if any(not state for state in states):
                    raise Unbatchable("the seeds' optimisers are in different states")
                if leaf is None:
                    for s, state in enumerate(states):
                        optimizer.state[leaves.per_seed[s][index]] = state
                else:
                    optimizer.state[leaf] = {key: _stack_state(leaf, [state[key] for state in states])
                                             for key in states[0]}
        for seed in seeds:
            for own_optimizer in seed.optimizers.values():
                own_optimizer.state.clear()

        # Training reaches stacked tensors through views; the seeds' own parameters at stacked positions
        # are read by the diagnostics and the samples only, with gradients off as in a single run's
        # measurements (which follow the generator's step).
        for player, leaves in self.leaves.items():
            for index, leaf in enumerate(leaves.stacked):
                if leaf is not None:
                    for params in leaves.per_seed:
                        params[index].requires_grad_(False)
        self.active = [True] * len(seeds)

    def summary(self) -> str:
        regularisers = self.seeds[0].setup.regularisers
        hooks = sorted({r.name for r in regularisers
                        if type(r).discriminator_penalty is not Regulariser.discriminator_penalty
                        or type(r).generator_penalty is not Regulariser.generator_penalty})
        passes = sorted(self.seeds[0].setup.input_gradients)
        parts = [f"G: {self.generator.describe()}", f"D: {self.discriminator.describe()}"]
        if passes:
            parts.append(f"D's {' and '.join(passes)} pass seed by seed (input gradients)")
        if hooks:
            parts.append(f"penalties seed by seed: {', '.join(hooks)}")
        return "; ".join(parts)

    def _sync_optimizers(self) -> None:
        """Each seed's own optimiser given its slice of the stacked state (for its checkpoint)."""
        for player, optimizer in self.optimizers.items():
            leaves = self.leaves[player]
            for s, seed in enumerate(self.seeds):
                own = seed.optimizers[player]
                own.state.clear()
                for index, leaf in enumerate(leaves.stacked):
                    parameter = leaves.per_seed[s][index]
                    state = optimizer.state.get(parameter if leaf is None else leaf)
                    if state and leaf is None:
                        own.state[parameter] = state
                    elif state:
                        own.state[parameter] = {key: value[s] if _per_element(leaf, value) else value
                                                for key, value in state.items()}

    @contextmanager
    def views(self) -> Iterator[None]:
        """Every seed's parameters replaced by views of the stacked tensors: one unbind per tensor, so
        that this pass reaches each stacked tensor through one node, as a single run's pass does."""
        views = {player: [leaf.unbind(0) if leaf is not None else None for leaf in leaves.stacked]
                 for player, leaves in self.leaves.items()}
        try:
            for s, slots in enumerate(self.slots):
                for owner, name, _, player, index in slots:
                    owner._parameters[name] = views[player][index][s]
            yield
        finally:
            for slots in self.slots:
                for owner, name, parameter, _, _ in slots:
                    owner._parameters[name] = parameter

    def _each(self, function: Callable[[int, _Seed], Any]) -> list[Any]:
        """``function(s, seed)`` for every seed, with torch's global generators in that seed's state."""
        results = []
        for s, seed in enumerate(self.seeds):
            with seed.own_globals():
                results.append(function(s, seed))
        return results

    # --- The loop ---------------------------------------------------------------------------------

    def train(self, base_provenance: dict[str, Any], progress: bool | None,
              stop_after: int | None) -> dict[int, dict[str, Any]]:
        config, device = self.config, self.device
        start = self.seeds[0].start
        seeds = [seed.config.seed for seed in self.seeds]
        batch = {"mode": "vectorised", "seeds": seeds, "how": self.summary()}
        for seed in self.seeds:
            seed.record = RunRecord(seed.run, seed.config, start, base_provenance, batch)
            seed.setup.generator.train()
            seed.setup.discriminator.train()
        statuses: dict[int, dict[str, Any]] = {}
        bad_d = torch.full((len(self.seeds),), -1, dtype=torch.long, device=device)
        bad_g = torch.full((len(self.seeds),), -1, dtype=torch.long, device=device)
        bar = _progress_bar(config, start, progress, desc=f"{config.run_id.rsplit('/', 1)[0]} seeds {seeds_text(seeds)}")
        began = time.perf_counter()
        end = config.steps if stop_after is None else min(config.steps, stop_after)
        for step in range(start + 1, end + 1):
            logging = step % config.log_every == 0 or step == 1

            # Discriminator steps.
            for critic_step in range(config.n_critic):
                measure = logging and critic_step == config.n_critic - 1
                losses_d, d_contexts = self.discriminator_step(step, measure)
                finite = torch.isfinite(torch.stack([loss.detach() for loss in losses_d]))
                bad_d = torch.where((bad_d < 0) & ~finite, step, bad_d)

            # Generator step.
            losses_g, g_contexts = self.generator_step(step, logging)
            finite = torch.isfinite(torch.stack([loss.detach() for loss in losses_g]))
            bad_g = torch.where((bad_g < 0) & ~finite, step, bad_g)

            # Log losses and diagnostics, seed by seed.
            if logging:
                for s, seed in enumerate(self.seeds):
                    if self.active[s]:
                        with seed.own_globals():
                            seed.record.rows.append(log_row(seed.setup, step, losses_d[s], losses_g[s],
                                                            d_contexts[s], g_contexts[s], seed.diagnostics_rng))

            # A diverged seed is a result: finished here while the others go on.
            checkpointing = step % config.checkpoint_every == 0 or step == end
            if logging or checkpointing:
                for s, seed in enumerate(self.seeds):
                    diverged = self.active[s] and divergence_status(int(bad_d[s]), int(bad_g[s]), seed.setup, step)
                    if diverged:
                        statuses[seed.config.seed] = seed.record.finish(diverged, step, time.perf_counter() - began)
                        self.active[s] = False
                if not any(self.active):
                    break

            # Save each seed's checkpoint into its own run directory, in the single-run format.
            if checkpointing:
                self._sync_optimizers()
                for s, seed in enumerate(self.seeds):
                    if self.active[s]:
                        with seed.own_globals():
                            state = checkpoint_state(seed.setup, seed.optimizers, seed.rng, step)
                        seed.record.checkpoint(_own_storage(state), step, time.perf_counter() - began)
                    for own in seed.optimizers.values():
                        own.state.clear()
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - began
        for s, seed in enumerate(self.seeds):
            if not self.active[s]:
                continue
            if end < config.steps:
                statuses[seed.config.seed] = {"status": "stopped", "step": end}
                continue
            with seed.own_globals():
                seed.setup.dataset.save_samples(sample(seed.setup, 1000, seed=seed.config.seed), seed.run.samples)
            statuses[seed.config.seed] = seed.record.finish({"status": "completed", "step": config.steps},
                                                            config.steps, seconds)
        return statuses

    def _measure(self, player: str, contexts: list[StepContext]) -> None:
        """grad_norm_d / grad_norm_g per seed, by the single run's function on the seed's gradients."""
        leaves = self.leaves[player]
        for s, ctx in enumerate(contexts):
            grads = [SimpleNamespace(grad=leaves.gradient(i, s)) for i in range(len(leaves.stacked))]
            ctx.log(f"grad_norm_{player}", parameter_gradient_norm(grads))

    def _discriminator_pass(self, inputs: list[torch.Tensor], own: bool) -> list[torch.Tensor]:
        """D on every seed's batch: stacked, or (``own``) each seed's own D on views of the stacked
        tensors, when a hook will differentiate the outputs with respect to the inputs."""
        if not own:
            return self.discriminator(inputs)
        with self.views():
            return self._each(lambda s, seed: seed.setup.discriminator(inputs[s]))

    def discriminator_step(self, step: int, measure: bool) -> tuple[list[torch.Tensor], list[StepContext]]:
        config, device = self.config, self.device
        self.leaves["d"].requires_grad_(True, self.d_own)

        # Each seed's real batch and noise from its own generators; the fakes from the stacked G.
        def draw(s: int, seed: _Seed) -> tuple[torch.Tensor, torch.Tensor]:
            real = seed.setup.dataset.sample(config.batch_size, seed.rng.data).to(device, non_blocking=True)
            return real, torch.randn(config.batch_size, config.z_dim, device=device, generator=seed.rng.noise)

        reals, zs = zip(*self._each(draw))
        with torch.no_grad():
            fakes = self.generator(list(zs))

        def inputs(s: int, seed: _Seed) -> StepContext:
            setup = seed.setup
            ctx = StepContext(step, config.steps, "d", setup.generator, setup.discriminator, zs[s], fakes[s],
                              real=reals[s], networks=setup.extra_modules, rng=seed.rng.noise)
            discriminator_inputs(setup, ctx)
            return ctx

        contexts = self._each(inputs)
        gradients = self.seeds[0].setup.input_gradients
        out_real = self._discriminator_pass([c.real_input for c in contexts], "real" in gradients)
        out_fake = self._discriminator_pass([c.fake_input for c in contexts], "fake" in gradients)

        # Each seed's loss on its own outputs; penalties run that seed's networks on views.
        def loss(s: int, seed: _Seed) -> torch.Tensor:
            contexts[s].out_real, contexts[s].out_fake = out_real[s], out_fake[s]
            return discriminator_loss(seed.setup, contexts[s])

        with self.views():
            losses = self._each(loss)
        self._apply(losses, "d", contexts, measure)

        def after(s: int, seed: _Seed) -> None:
            for regulariser in seed.setup.regularisers:
                regulariser.after_discriminator_step(contexts[s])

        self._each(after)
        return losses, contexts

    def _apply(self, losses: list[torch.Tensor], player: str, contexts: list[StepContext], measure: bool) -> None:
        """One optimiser step of ``player`` on the seeds' summed losses (measured before the step)."""
        optimizer = self.optimizers[player]
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(losses)
        if measure:
            self._measure(player, contexts)
        optimizer.step()

    def generator_step(self, step: int, measure: bool) -> tuple[list[torch.Tensor], list[StepContext]]:
        config, device = self.config, self.device
        self.leaves["d"].requires_grad_(False, self.d_own)
        zs = self._each(lambda s, seed: torch.randn(config.batch_size, config.z_dim, device=device,
                                                     generator=seed.rng.noise))
        fakes = self.generator(zs)

        def inputs(s: int, seed: _Seed) -> StepContext:
            setup = seed.setup
            ctx = StepContext(step, config.steps, "g", setup.generator, setup.discriminator, zs[s], fakes[s],
                              networks=setup.extra_modules, rng=seed.rng.noise)
            generator_inputs(setup, ctx)
            return ctx

        contexts = self._each(inputs)
        out_fake = self.discriminator([c.fake_input for c in contexts])

        def loss(s: int, seed: _Seed) -> torch.Tensor:
            contexts[s].out_fake = out_fake[s]
            return generator_loss(seed.setup, contexts[s])

        with self.views():
            losses = self._each(loss)
        self._apply(losses, "g", contexts, measure)
        if self.ema is not None:
            # update_ema's arithmetic on the stacked tensors (G's come first in player g).
            generator = [leaf.detach() for leaf in self.leaves["g"].tensors[:len(self.ema.tensors)]]
            torch._foreach_lerp_(self.ema.tensors, generator, 1.0 - config.ema)
        return losses, contexts
