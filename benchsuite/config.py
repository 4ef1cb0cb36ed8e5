"""The run config: typed, frozen, validated, with a stable run id.

Resolution order, later wins: the suite's defaults, the dataset's, the architecture's, the
objective's published settings (which may depend on the regularisers), the regularisers', and
finally the user's overrides. Every component option is resolved and recorded, so ``config.json``
says exactly what ran.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchsuite import registry
from benchsuite import spec as regulariser_spec
from benchsuite.components import coerce, resolve_options
from benchsuite.errors import ConfigError

# Keys that change only bookkeeping or the budget, not which experiment a run is; they stay out of
# the run id's hash (a change still conflicts with an existing run directory).
_NOT_HASHED = frozenset(
    {"dataset", "architecture", "objective", "regulariser", "seed", "steps", "log_every",
     "checkpoint_every", "eval_every", "diagnostics", "plugins"}
)

OPTIMIZERS = ("adam", "rmsprop")
MAX_SEED = 2**31 - 1
# Far beyond any study, and small enough that a typo (1e11) fails here instead of as an
# allocation of terabytes or a run that never ends.
UPPER_BOUNDS = {"steps": 10**9, "batch_size": 65_536, "z_dim": 65_536, "n_critic": 1_000}
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``steps`` counts generator updates; each follows ``n_critic`` D updates."""

    dataset: str
    architecture: str
    objective: str
    regulariser: str = "none"  # "none", "default", one name, or names joined by "+"
    seed: int = 0
    steps: int = 2000
    batch_size: int = 64
    z_dim: int = 64
    optimizer: str = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1
    ema: float = 0.0  # decay of the generator's exponential moving average; 0 turns it off
    # How the arithmetic runs (docs/speed.md). The defaults are exact and change nothing on a CPU;
    # a non-default value is part of the run id's hash, since it changes the numbers on a GPU.
    precision: str = "fp32"  # "bf16": bf16 autocast of the forward passes
    channels_last: bool = False  # channels_last memory format for image networks and batches
    compile: bool = False  # torch.compile G and D
    tf32: bool = False  # allow TF32 matrix products and convolutions on a GPU
    deterministic: bool = True  # deterministic GPU kernels where they exist, cuDNN autotuning off
    log_every: int = 50
    checkpoint_every: int = 500
    # Steps between the generator snapshots that evaluation scores for metrics over training (curves);
    # 0 keeps only the final weights.
    eval_every: int = 0
    diagnostics: bool = True
    dataset_options: dict[str, Any] = field(default_factory=dict)
    architecture_options: dict[str, Any] = field(default_factory=dict)
    objective_options: dict[str, Any] = field(default_factory=dict)
    regulariser_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()

    @property
    def regularisers(self) -> list[str]:
        return split_regularisers(self.regulariser, self.objective)

    @property
    def run_id(self) -> str:
        seed = f"s{self.seed}"
        digest = overrides_hash(self)
        if digest:
            seed += f"-{digest}"
        return "/".join([self.dataset, self.architecture, self.objective, self.regulariser, seed])

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["plugins"] = list(self.plugins)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
_COMPONENT_FIELDS = {
    "dataset": "dataset_options",
    "architecture": "architecture_options",
    "objective": "objective_options",
    "regulariser": "regulariser_options",
}
_BASE_DEFAULTS = {
    name: f.default for name, f in _FIELDS.items() if f.default is not dataclasses.MISSING
}


def split_regularisers(spec: str, objective: str | None = None) -> list[str]:
    """"sn+r1" -> ["r1", "sn"]; "default" -> the objective's default; "none" alone -> [].

    The spec is read by ``benchsuite.spec`` (the one parser); every name must be registered.
    """
    if regulariser_spec.canonical(spec) == regulariser_spec.DEFAULT:
        if objective is None:
            raise ConfigError("regulariser 'default' needs an objective to resolve it")
        spec = registry.get("objective", objective).default_regularisers
    names = regulariser_spec.names(spec)
    for name in names:
        registry.lookup("regulariser", name)
    return names


def overrides_hash(config: RunConfig) -> str:
    """Eight hex digits over the settings that differ from this method's defaults, '' if none."""
    defaults = resolve({k: getattr(config, k) for k in ("dataset", "architecture", "objective", "regulariser")})
    default_values = defaults.to_dict()
    differing = {
        key: value
        for key, value in config.to_dict().items()
        if key not in _NOT_HASHED and value != default_values[key]
    }
    if not differing:
        return ""
    canonical = json.dumps(differing, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def resolve(user: dict[str, Any], base: Path | None = None) -> RunConfig:
    """A validated RunConfig from user settings (a config file's keys plus CLI overrides)."""
    user = dict(user)
    plugins = user.get("plugins", [])
    if isinstance(plugins, str):
        plugins = [plugins]
    if not isinstance(plugins, (list, tuple)) or not all(isinstance(p, str) and p for p in plugins):
        raise ConfigError(f"config key 'plugins' must list plugin file paths, got {plugins!r}")
    registry.load_plugins(plugins, base=base)
    user["plugins"] = [str((base / p).resolve()) if base and not Path(p).is_absolute() else str(p) for p in plugins]

    for key in user:
        if key not in _FIELDS:
            raise ConfigError(f"unknown config key {key!r}; valid keys are: {', '.join(_FIELDS)}")
    for key in ("dataset", "architecture", "objective"):
        if not user.get(key):
            raise ConfigError(f"config key {key!r} is required")
        if not isinstance(user[key], str):
            raise ConfigError(f"config key {key!r} must be one {key} name (a string), got {user[key]!r}")
        registry.lookup(key, user[key])

    objective_cls = registry.get("objective", user["objective"])
    spec = regulariser_spec.canonical(user.get("regulariser", regulariser_spec.NONE))
    regulariser_names = split_regularisers(spec, user["objective"])

    # Suggested hyperparameters, later sources winning.
    resolved: dict[str, Any] = dict(_BASE_DEFAULTS)
    resolved.update(registry.get("dataset", user["dataset"]).training_defaults)
    resolved.update(registry.get("architecture", user["architecture"]).training_defaults)
    resolved.update(objective_cls(**_options(user, "objective_options")).hyperparameters(regulariser_names))
    regulariser_options = user.get("regulariser_options") or {}
    if not isinstance(regulariser_options, dict):
        raise ConfigError("config key 'regulariser_options' must map regulariser names to option dicts")
    for name in regulariser_options:
        if name not in regulariser_names:
            raise ConfigError(
                f"regulariser_options names {name!r}, which this run does not use "
                f"(its regularisers: {', '.join(regulariser_names) or 'none'})"
            )
    for name in regulariser_names:
        regulariser_cls = registry.get("regulariser", name)
        resolved.update(regulariser_cls(**(regulariser_options.get(name) or {})).hyperparameters(user["objective"]))

    for key, value in user.items():
        if key in ("plugins",) or key.endswith("_options"):
            continue
        resolved[key] = coerce(f"config key {key!r}", _BASE_DEFAULTS.get(key, ""), value)
    resolved["regulariser"] = spec
    resolved["plugins"] = tuple(user.get("plugins", ()))

    # Every component option, resolved against the component's own defaults.
    for kind in ("dataset", "architecture", "objective"):
        cls = registry.get(kind, resolved[kind])
        resolved[_COMPONENT_FIELDS[kind]] = resolve_options(
            f"{kind} {resolved[kind]!r}", cls.options, _options(user, _COMPONENT_FIELDS[kind]), cls.option_rules
        )
    resolved["regulariser_options"] = {
        name: resolve_options(
            f"regulariser {name!r}", (cls := registry.get("regulariser", name)).options,
            regulariser_options.get(name) or {}, cls.option_rules,
        )
        for name in regulariser_names
    }
    config = RunConfig(**resolved)
    validate(config)
    return config


def _options(user: dict[str, Any], key: str) -> dict[str, Any]:
    value = user.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"config key {key!r} must be a mapping of option names to values")
    return value


def validate(config: RunConfig) -> None:
    def require(condition: bool, key: str, rule: str) -> None:
        if not condition:
            raise ConfigError(f"config key {key!r} {rule}, got {getattr(config, key)!r}")

    require(0 <= config.seed <= MAX_SEED, "seed", f"must be an integer from 0 to {MAX_SEED}")
    for key in ("log_every", "checkpoint_every"):
        require(getattr(config, key) > 0, key, "must be > 0")
    require(config.eval_every >= 0, "eval_every", "must be >= 0 (0 keeps no snapshots)")
    for key, most in UPPER_BOUNDS.items():
        require(0 < getattr(config, key) <= most, key, f"must be from 1 to {most:,}")
    for key in ("lr_g", "lr_d"):
        require(getattr(config, key) > 0, key, "must be > 0")
    for key in ("beta1", "beta2"):
        require(0 <= getattr(config, key) < 1, key, "must be in [0, 1)")
    require(0 <= config.ema < 1, "ema", "must be in [0, 1) (0 turns the EMA off)")
    require(config.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
    require(config.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")


def parse_value(text: str) -> Any:
    """A ``--set`` value: a number, true/false, null, a JSON list or object, or else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none") and text.strip() != "none":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.strip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"cannot parse {text!r} as JSON: {error}") from error
    return text


def apply_assignment(user: dict[str, Any], assignment: str) -> None:
    """Apply ``key=value``: ``lr_d=1e-4``, ``dataset.radius=2``, ``regulariser.r1.weight=5``."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    key, text = assignment.split("=", 1)
    assign(user, key.strip(), parse_value(text))


def assign(user: dict[str, Any], key: str, value: Any, what: str = "--set") -> None:
    """Set one setting named as ``--set`` names it (``lr_d``, ``dataset.radius``,
    ``regulariser.r1.gamma``) to ``value``; ``what`` names the source in an error."""
    path = key.split(".")
    written = "=value" if what == "--set" else ""
    if len(path) == 1:
        user[path[0]] = value
        return
    head, rest = path[0], path[1:]
    if head not in _COMPONENT_FIELDS:
        raise ConfigError(
            f"{what} {key!r}: a dotted key starts with one of {', '.join(_COMPONENT_FIELDS)}"
        )
    target = _mapping(user, _COMPONENT_FIELDS[head], key, what)
    if head == "regulariser":
        if len(rest) != 2:
            raise ConfigError(f"{what} {key!r}: write regulariser.NAME.OPTION{written}")
        target = _mapping(target, rest[0], key, what)
        rest = rest[1:]
    elif len(rest) != 1:
        raise ConfigError(f"{what} {key!r}: write {head}.OPTION{written}")
    target[rest[0]] = value


def _mapping(within: dict[str, Any], name: str, key: str, what: str) -> dict[str, Any]:
    """The options mapping ``within[name]``, created when missing; an earlier non-mapping is an error."""
    target = within.setdefault(name, {})
    if not isinstance(target, dict):
        raise ConfigError(f"{what} {key!r}: {name!r} was set to {target!r} before; it must map options to values")
    return target


def load_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) config file as a dict; errors name the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory; name a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not text (binary data?); name a YAML file") from None
    except OSError as error:
        raise ConfigError(f"config file {str(path)!r} cannot be read ({error.strerror}); name a readable YAML file") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or " ".join(str(error).split())
        raise ConfigError(f"config file {str(path)!r} is not valid YAML{where}: {problem}; fix that line") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return data


def with_defaults(recorded: dict[str, Any]) -> dict[str, Any]:
    """A config.json's keys, with the default of every key the suite gained after it was written
    (a run written before ``eval_every`` existed is the same run with ``eval_every: 0``)."""
    return {name: value for name, value in _BASE_DEFAULTS.items() if name not in recorded} | recorded


def from_json(text: str, source: str = "config.json") -> RunConfig:
    """A run's config as written by training. Plugins it lists are not imported: a run directory
    may come from anyone, and importing a file runs its code. A component that only a plugin
    registers is an error naming the plugin file to pass on the command line instead."""
    try:
        data = json.loads(text)
        data["plugins"] = tuple(data.get("plugins", ()))
        config = RunConfig(**data)
    except (ValueError, TypeError, AttributeError) as error:
        raise ConfigError(f"{source} is not a run config ({type(error).__name__}: {str(error)[:200]}); "
                          "retrain the run (train --force moves it aside)") from None
    missing = [(kind, getattr(config, kind)) for kind in ("dataset", "architecture", "objective")
               if getattr(config, kind) not in registry.names(kind)]
    missing += [("regulariser", name) for name in config.regulariser_options if name not in registry.names("regulariser")]
    if missing:
        named = ", ".join(f"{kind} {name!r}" for kind, name in missing)
        needs = " ".join(f"--plugin {p}" for p in config.plugins) or "--plugin FILE (the file that registers it)"
        raise ConfigError(
            f"{source} uses {named}, which no loaded component registers; the run was trained with "
            f"plugins {list(config.plugins)}. Code in a run directory is never imported on its own: "
            f"if you trust that code, pass {needs}"
        )
    return config
