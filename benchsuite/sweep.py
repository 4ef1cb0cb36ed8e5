"""Hyperparameter sweeps: a study's ``sweep:`` drawn into K settings per method (Lucic et al. 2018).

A study that carries

    sweep:
      samples: 8            # K settings per method
      seed: 0               # the draws are a function of this seed and the space, nothing else
      space:
        lr_d: {log_uniform: [1.0e-5, 1.0e-2]}
        beta1: {choice: [0.0, 0.5, 0.9]}
        regulariser.gp.weight: {log_uniform: [0.1, 100]}

trains every method of the study (dataset x architecture x objective x regulariser) at K settings,
each at every seed of the study. Setting i is point i of a scrambled Sobol sequence with one
dimension per name of the space (names in sorted order), scrambled from ``seed``: quasi-random, so
K points cover the space more evenly than K independent draws, and the first K points do not depend
on K, so raising ``samples`` keeps every setting already trained and adds new ones. Every method
gets the same points, which pairs the methods' comparisons draw by draw. A coordinate u in [0, 1)
becomes ``low + u (high - low)`` (``uniform``), ``exp`` of that on the logarithms (``log_uniform``),
both rounded to four significant digits, or choice number ``floor(u n)`` of n (``choice``); a
setting whose default is a whole number takes a range's draw rounded to the nearest one.

A name is a run setting (``lr_d``, ``beta1``, ``n_critic``, ...) or a component option written as
``--set`` writes it: ``dataset.OPTION``, ``architecture.OPTION``, ``objective.OPTION`` or
``regulariser.NAME.OPTION``. A component option applies to the runs whose component has it (a
regulariser's, to the runs that use that regulariser) and is left out of the others' settings; a
name that applies to no run of the study, a setting outside the run id (``steps``, logging), a bad
range, or a value of the space that some method refuses (each end of a range and every choice is
resolved against every method) is a config error before any job.

A drawn setting is part of the run's config, so each draw has its own run id hash; the grid records
which draw of which study a run is, and the tables carry it (``sweep``, ``setting``).
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchsuite import registry
from benchsuite.config import _BASE_DEFAULTS, _NOT_HASHED, assign, split_regularisers
from benchsuite.errors import ConfigError

DISTRIBUTIONS = ("uniform", "log_uniform", "choice")
KEYS = ("samples", "seed", "space")
MAX_SAMPLES = 10_000  # Sobol points are exact up to 2**30; this guards against a typo's millions of runs
COMPONENTS = ("dataset", "architecture", "objective", "regulariser")
SIGNIFICANT_DIGITS = 4


@dataclass(frozen=True)
class Dimension:
    """One name of the space and how a coordinate in [0, 1) becomes its value."""

    name: str
    distribution: str
    values: tuple[Any, ...]  # (low, high) of a range, or the choices

    def at(self, u: float) -> Any:
        if self.distribution == "choice":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        low, high = self.values
        if self.distribution == "log_uniform":
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            value = low + u * (high - low)
        # Four significant digits: a setting reads as one would write it, and its run id does not
        # hang on the last bits of a machine's logarithm.
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")

    def extremes(self) -> list[tuple[str, Any]]:
        """The values every method must accept, with how to name each in an error."""
        if self.distribution == "choice":
            return [(f"the choice {value!r}", value) for value in self.values]
        return [(f"the range's low end {self.values[0]!r}", self.values[0]),
                (f"the range's high end {self.values[1]!r}", self.values[1])]


@dataclass(frozen=True)
class Sweep:
    """A study's sweep: ``samples`` settings drawn from ``dimensions`` (sorted by name) with ``seed``."""

    samples: int
    seed: int
    dimensions: tuple[Dimension, ...]

    def points(self, count: int | None = None) -> np.ndarray:
        """The first ``count`` (default ``samples``) points of the scrambled Sobol sequence."""
        from scipy.stats import qmc

        count = self.samples if count is None else count
        engine = qmc.Sobol(len(self.dimensions), scramble=True, rng=np.random.default_rng(self.seed))
        with warnings.catch_warnings():
            # Sobol's balance holds for 2**m points; the sweep wants any K, and a prefix of the sequence.
            warnings.simplefilter("ignore", UserWarning)
            return engine.random(count)

    def draws(self, count: int | None = None) -> list[dict[str, Any]]:
        """Each setting's value of every name, before a method's rounding or choice of names."""
        return [{d.name: d.at(float(u)) for d, u in zip(self.dimensions, point)} for point in self.points(count)]


def parse(value: Any, where: str) -> Sweep:
    """A sweep from the config's mapping; ConfigError naming the key (``where`` and below) and the fix."""
    if not isinstance(value, dict):
        raise ConfigError(f"config key {where!r} must be a mapping with samples, seed and space")
    unknown = [key for key in value if key not in KEYS]
    if unknown:
        raise ConfigError(f"config key {where!r}: unknown key {unknown[0]!r}; a sweep's keys are {', '.join(KEYS)}")
    samples, seed, space = value.get("samples"), value.get("seed", 0), value.get("space")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ConfigError(f"config key '{where}.samples' must be a whole number from 1 to {MAX_SAMPLES:,} "
                          f"(settings drawn per method), got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"config key '{where}.seed' must be a whole number >= 0, got {seed!r}")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"config key '{where}.space' must map setting names to distributions, e.g. "
                          "{lr_d: {log_uniform: [1.0e-5, 1.0e-2]}, beta1: {choice: [0.0, 0.5]}}")
    dimensions = [_dimension(str(name), space[name], f"{where}.space.{name}") for name in sorted(space, key=str)]
    return Sweep(samples, seed, tuple(dimensions))


def _number(value: Any) -> Any:
    """A number YAML read as text (it reads ``1e-5``, without a dot, as a string) as the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _dimension(name: str, spec: Any, where: str) -> Dimension:
    _check_name(name, where)
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"config key {where!r} must be one of {{uniform: [low, high]}}, {{log_uniform: [low, high]}} "
                          f"or {{choice: [a, b, ...]}}, got {spec!r}")
    distribution, values = next(iter(spec.items()))
    if distribution == "choice":
        if not isinstance(values, list) or not values:
            raise ConfigError(f"config key '{where}.choice' must list at least one value, got {values!r}")
        values = [_number(v) for v in values]
        if any(isinstance(v, (dict, list)) or v is None for v in values):
            raise ConfigError(f"config key '{where}.choice' must list plain values (numbers, text, true/false)")
        if len({repr(v) for v in values}) != len(values):
            raise ConfigError(f"config key '{where}.choice' names a value twice: {values}")
        return Dimension(name, distribution, tuple(values))
    bounds = [_number(v) for v in values] if isinstance(values, list) else values
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bounds)):
        raise ConfigError(f"config key '{where}.{distribution}' must be [low, high], two finite numbers, got {values!r}")
    low, high = (float(v) for v in bounds)
    if not low < high:
        raise ConfigError(f"config key '{where}.{distribution}': low must be below high, got [{low}, {high}]")
    if distribution == "log_uniform" and low <= 0:
        raise ConfigError(f"config key '{where}.log_uniform': both ends must be > 0 (it draws on a log scale), "
                          f"got [{low}, {high}]; use uniform for a range from 0")
    return Dimension(name, distribution, (low, high))


def _check_name(name: str, where: str) -> None:
    """A name of the space is a hashed run setting or a component option (``--set``'s spelling)."""
    head, _, rest = name.partition(".")
    if not rest:
        settable = [key for key in _BASE_DEFAULTS if key not in _NOT_HASHED]
        if name in _NOT_HASHED:
            raise ConfigError(f"config key {where!r}: {name!r} cannot be swept: it is outside the run id, so draws "
                              "that differ only in it would be one run; sweep a setting of the training itself")
        if name not in _BASE_DEFAULTS:
            raise ConfigError(f"config key {where!r}: unknown setting {name!r}; a sweep's names are run settings "
                              f"({', '.join(settable)}) or component options such as regulariser.gp.weight")
        return
    if head not in COMPONENTS or not all(rest.split(".")) or rest.count(".") != (head == "regulariser"):
        raise ConfigError(f"config key {where!r}: a dotted name is dataset.OPTION, architecture.OPTION, "
                          f"objective.OPTION or regulariser.NAME.OPTION, got {name!r}")
    if head == "regulariser":
        regulariser, option = rest.split(".")
        try:
            options = registry.lookup("regulariser", regulariser).target.options
        except ConfigError as error:
            raise ConfigError(f"config key {where!r}: {error}") from None
        if option not in options:
            raise ConfigError(f"config key {where!r}: regulariser {regulariser!r} has no option {option!r}; "
                              f"its options are {', '.join(options) or 'none'}")


def default_of(name: str, cell: dict[str, Any]) -> tuple[bool, Any]:
    """Whether ``name`` applies to the run ``cell`` (its dataset, architecture, objective and
    regulariser spec) and, if so, the default value of what it sets."""
    head, _, rest = name.partition(".")
    if not rest:
        return True, _BASE_DEFAULTS[name]
    if head == "regulariser":
        regulariser, option = rest.split(".")
        if regulariser not in split_regularisers(cell["regulariser"], cell["objective"]):
            return False, None
        return True, registry.get("regulariser", regulariser).options[option]
    options = registry.get(head, cell[head]).options
    return (rest in options), options.get(rest)


def setting_of(draw: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    """The values of one draw that apply to the run ``cell``, a whole-number setting's rounded."""
    values = {}
    for name, value in draw.items():
        applies, default = default_of(name, cell)
        if not applies:
            continue
        whole = isinstance(default, int) and not isinstance(default, bool)
        values[name] = int(round(value)) if whole and isinstance(value, float) else value
    return values


def with_setting(settings: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with each value assigned by its name (dotted names into the options mappings)."""
    settings = copy.deepcopy(settings)
    for name, value in values.items():
        assign(settings, name, value, what="sweep name")
    return settings
