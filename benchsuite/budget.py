"""A smoke-test budget for a whole grid: ``BENCHSUITE_BUDGET="steps=20,seeds=1,samples=200"``.

Before a long study (or a preset meant for GPUs) it is worth knowing that every cell of it trains,
evaluates and reaches the report. With the variable set, the pipeline caps every run at ``steps``
generator steps, keeps the first ``seeds`` seeds of every study, scores at most ``samples``
samples per run and keeps the first ``draws`` settings of every sweep; any part may be left out. The capped runs are ordinary runs (their
config.json says how many steps they trained), so point such a check at a results directory of
its own (``--config results=results/smoke``): steps are outside the run id, and a full-budget
pipeline over the same directory refuses the shortened runs rather than mixing them in.

The documentation's commands are tested this way: each runs exactly as written, with this
variable as its only change.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Mapping

from benchsuite.errors import ConfigError

VARIABLE = "BENCHSUITE_BUDGET"


@dataclass(frozen=True)
class Budget:
    """Caps on a grid's runs; None leaves that part of the grid as it is."""

    steps: int | None = None
    seeds: int | None = None
    samples: int | None = None
    draws: int | None = None

    def capped_steps(self, steps: int) -> int:
        return steps if self.steps is None else min(steps, self.steps)

    def first_seeds(self, seeds: list[int]) -> list[int]:
        return seeds if self.seeds is None else seeds[: self.seeds]

    def first_draws(self, count: int) -> int:
        """How many of a sweep's settings to train (a sweep's draws are prefix-stable)."""
        return count if self.draws is None else min(count, self.draws)

    def capped_samples(self, samples: int | None) -> int | None:
        """The sample count to evaluate with; None keeps the metric's own default."""
        if self.samples is None:
            return samples
        return self.samples if samples is None else min(samples, self.samples)

    def describe(self) -> str:
        return ", ".join(f"{part.name} <= {getattr(self, part.name)}" for part in fields(self)
                         if getattr(self, part.name) is not None)


def parse(text: str) -> Budget:
    """``"steps=20,seeds=1,samples=200"`` (commas or spaces between the parts) -> Budget."""
    names = [part.name for part in fields(Budget)]
    caps: dict[str, int] = {}
    for part in (piece for piece in re.split(r"[,\s]+", text.strip()) if piece):
        name, _, value = part.partition("=")
        if name not in names:
            raise ConfigError(f"{VARIABLE}: unknown part {name!r} in {text!r}; write e.g. "
                              f"{VARIABLE}='steps=20,seeds=1,samples=200' (parts: {', '.join(names)})")
        if name in caps:
            raise ConfigError(f"{VARIABLE}: {name!r} is given twice in {text!r}")
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{VARIABLE}: {name} must be a whole number >= 1, got {value!r}")
        caps[name] = int(value)
    if not caps:
        raise ConfigError(f"{VARIABLE} is set but empty; write e.g. {VARIABLE}='steps=20,seeds=1,samples=200' "
                          "or unset it")
    return Budget(**caps)


def from_environment(environment: Mapping[str, str] | None = None) -> Budget | None:
    """The budget ``BENCHSUITE_BUDGET`` asks for, or None when it is unset."""
    text = (os.environ if environment is None else environment).get(VARIABLE)
    return None if text is None else parse(text)
