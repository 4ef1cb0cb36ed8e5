"""The grid: a pipeline config expanded into runs, every name checked before any job starts.

A pipeline config (``config/config.yaml``, checked against ``config/schema.yaml``) names lists of
datasets, architectures, objectives, regulariser specs and seeds. Their product is the grid; named
``studies`` split it into several smaller products that fall back on the top-level lists, so a study
of objectives and a study of regularisers need not multiply. ``exclude`` rules drop meaningless
cells, ``overrides`` set run settings on the cells they match, and ``plugins`` load users' own
component files before any name is looked up. A study's ``sweep`` trains each of its methods at K
drawn settings (``benchsuite.sweep``), set over the study's settings and the overrides.

A rule matches a cell when every key it names matches: ``dataset``, ``architecture``,
``objective``, ``study`` and ``seed`` by equality with the value or one of a list of values;
``regulariser`` by the spec itself or by any regulariser that spec resolves to (``clip`` matches
``clip``, ``sn+clip`` and ``wgan`` x ``default``; ``none`` matches every spec that resolves to no
regulariser). An exclude rule with ``unless`` spares the cells that its ``unless`` part matches.

Every run is resolved with :func:`benchsuite.config.resolve` here, so a bad setting, an unknown
name or a network that cannot take a dataset's shape fails at once, naming the key, the study and
the run, instead of as the hundredth job.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from benchsuite import registry
from benchsuite import spec as regulariser_spec
from benchsuite import sweep as sweep_module
from benchsuite.budget import Budget
from benchsuite.config import RunConfig, resolve, split_regularisers
from benchsuite.device import pick_device as pick_device  # rules/common.smk picks the jobs' device here
from benchsuite.errors import ConfigError

# Grid list keys and the component kind each names.
AXES = {"datasets": "dataset", "architectures": "architecture", "objectives": "objective", "regularisers": "regulariser"}
RULE_KEYS = ("study", "dataset", "architecture", "objective", "regulariser", "seed")
DEFAULT_STUDY = "grid"


class GridError(ConfigError):
    """A pipeline config that cannot become a grid; the message names the key and the fix."""


@dataclass(frozen=True)
class Run:
    """One run of the grid: its resolved config and the settings that produce it."""

    config: RunConfig
    settings: dict[str, Any]  # what resolve() was given, coordinates included
    modality: str
    studies: tuple[str, ...] = ()
    draw: tuple[str, int] | None = None  # (study, setting) of a run a study's sweep drew

    @property
    def run_id(self) -> str:
        return self.config.run_id


@dataclass
class Grid:
    """The runs of a pipeline config, in the order the config lists them, each once."""

    runs: dict[str, Run] = field(default_factory=dict)
    excluded: int = 0
    # The cells (study and the four coordinates) that exclude rules removed: a published number of
    # one of them is set aside, not an error.
    excluded_cells: set[tuple[str, ...]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, run_id: str) -> Run:
        try:
            return self.runs[run_id]
        except KeyError:
            raise GridError(
                f"run {run_id!r} is not in the grid of this config ({len(self.runs)} runs); "
                "ask for the pipeline's targets, or add the run's names and seed to the config"
            ) from None

    def values(self, key: str) -> list[Any]:
        """Distinct values of a config field over the runs, in grid order."""
        seen: dict[Any, None] = {}
        for run in self.runs.values():
            seen.setdefault(getattr(run.config, key), None)
        return list(seen)

    def datasets_of(self, modality: str) -> list[str]:
        return [d for d in self.values("dataset") if any(
            r.modality == modality for r in self.runs.values() if r.config.dataset == d)]

    def sweep_settings(self) -> dict[str, dict[str, dict[str, int]]]:
        """Which drawn setting each swept cell is, for the tables: study -> method
        (dataset/architecture/objective/regulariser) -> variant (the run id's hash) -> setting."""
        found: dict[str, dict[str, dict[str, int]]] = {}
        for run in self.runs.values():
            if run.draw is not None:
                *method, variant = cell_of(run)
                found.setdefault(run.draw[0], {}).setdefault("/".join(method), {})[variant] = run.draw[1]
        return found


# --- Reading the config ---------------------------------------------------------------------------


MAX_SEEDS = 10_000  # in one list: a typo like "0-10000000" must not become ten million runs


def parse_seeds(value: Any, where: str = "seeds") -> list[int]:
    """A list of seeds, a single seed, or text naming them: "0-7" (both ends included), "0,2,5",
    "0 2 5", "[0, 1]" or a mix ("0-3,8", what :func:`seeds_text` writes); each seed once.

    The one reader of seeds, for the pipeline config (``where`` names the key) and ``--seeds``.
    """
    name = where if where.startswith("-") else f"config key {where!r}"
    if isinstance(value, bool):
        raise GridError(f"{name} must list seeds, got {value!r}")
    if isinstance(value, int):
        value = [value]
    if isinstance(value, str):
        text = re.sub(r"\s*-\s*", "-", value.strip().strip("[]"))
        value = [part for part in re.split(r"[,\s]+", text) if part]
    if not isinstance(value, (list, tuple)) or not value:
        raise GridError(f"{name} must name seeds as a list or like '0-7', '0,2,5' or '0-3,8', got {value!r}")
    seeds: list[int] = []
    for item in value:
        # Values given with --config or on the command line arrive as strings, ranges among them.
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item.strip()) if isinstance(item, str) else None
        if match:
            low, high = int(match.group(1)), int(match.group(2) or match.group(1))
            if high < low:
                raise GridError(f"{name}: the range {item.strip()!r} is empty (write low-high)")
            if len(seeds) + high - low >= MAX_SEEDS:
                raise GridError(f"{name} names more than {MAX_SEEDS} seeds ({item.strip()!r})")
            seeds += range(low, high + 1)
        elif isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise GridError(f"{name}: a seed must be an integer >= 0 or a range like '0-7', got {item!r}")
        else:
            seeds.append(item)
    if len(set(seeds)) != len(seeds):
        raise GridError(f"{name} names a seed twice: {seeds}")
    return seeds


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_regulariser_spec(spec: Any, where: str) -> str:
    """The canonical spelling of a spec ('none', 'default', names joined by '+'); every name registered."""
    try:
        text = regulariser_spec.canonical(spec)
    except ConfigError as error:
        raise GridError(f"config key {where!r}: {error}") from None
    for name in ([] if text == regulariser_spec.DEFAULT else regulariser_spec.names(text)):
        _check_name("regulariser", name, where)
    return text


def _check_name(kind: str, name: Any, where: str) -> None:
    try:
        registry.lookup(kind, str(name))
    except ConfigError as error:
        raise GridError(f"config key {where!r}: {error}") from None


def _check_names(kind: str, names: Iterable[Any], where: str) -> None:
    for name in names:
        if kind == "regulariser":
            check_regulariser_spec(name, where)
        else:
            _check_name(kind, name, where)


def _check_rule(rule: dict[str, Any], where: str, studies: Iterable[str], allowed: tuple[str, ...]) -> None:
    if not isinstance(rule, dict):
        raise GridError(f"config key {where!r} must be a mapping, got {rule!r}")
    for key, value in rule.items():
        if key not in allowed:
            raise GridError(f"config key {where!r}: unknown rule key {key!r}; rule keys are {', '.join(allowed)}")
        if key in ("dataset", "architecture", "objective", "regulariser"):
            _check_names(key, _as_list(value), f"{where}.{key}")
        elif key == "study":
            for name in _as_list(value):
                if name not in studies:
                    raise GridError(f"config key {where}.study names study {name!r}; the studies are {', '.join(studies)}")
        elif key == "seed":
            parse_seeds(value, f"{where}.seed")
        elif key == "unless":
            _check_rule(value, f"{where}.unless", studies, RULE_KEYS)
    if not any(key in RULE_KEYS for key in rule):
        raise GridError(f"config key {where!r} matches every cell; name at least one of {', '.join(RULE_KEYS)}")


# --- Matching rules -------------------------------------------------------------------------------


def matches(rule: dict[str, Any], cell: dict[str, Any], exact: bool = False) -> bool:
    """Whether every coordinate the rule names matches the cell (see the module docstring); with
    ``exact``, ``regulariser`` matches the cell's spec only (a published number is one method's:
    ``gp`` is WGAN-GP's, not also WGAN-GP with R1's)."""
    for key in RULE_KEYS:
        if key not in rule:
            continue
        wanted = _as_list(rule[key])
        if key == "seed":
            if cell["seed"] not in parse_seeds(rule[key], "seed"):
                return False
        elif key == "regulariser":
            resolved = [] if exact else split_regularisers(cell["regulariser"], cell["objective"])
            if not any(regulariser_spec.canonical(name) == cell["regulariser"] or name in resolved
                       or (name == regulariser_spec.NONE and not resolved and not exact) for name in wanted):
                return False
        elif cell[key] not in wanted:
            return False
    return True


def excluded(rules: list[dict[str, Any]], cell: dict[str, Any]) -> bool:
    for rule in rules:
        if matches(rule, cell) and not ("unless" in rule and matches(rule["unless"], cell)):
            return True
    return False


def merge_settings(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``; option mappings are merged key by key, everything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --- Expanding ------------------------------------------------------------------------------------


def studies_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each study with every list filled in from the top level."""
    declared = config.get("studies") or {}
    if not isinstance(declared, dict):
        raise GridError("config key 'studies' must map study names to their lists")
    if not declared:
        declared = {DEFAULT_STUDY: {}}
    studies = {}
    for name, study in declared.items():
        study = study or {}
        if not isinstance(study, dict):
            raise GridError(f"config key 'studies.{name}' must be a mapping of lists")
        filled: dict[str, Any] = {}
        for key in (*AXES, "seeds"):
            source = study if key in study else config
            if key not in source:
                raise GridError(f"config key {key!r} is missing: give it at the top level or in study {name!r}")
            filled[key] = source[key]
        filled["settings"] = merge_settings(config.get("settings") or {}, study.get("settings") or {})
        filled["sweep"] = study.get("sweep")
        studies[str(name)] = filled
    return studies


def expand(config: dict[str, Any], base: str | Path | None = None, budget: Budget | None = None) -> Grid:
    """The runs of a pipeline config; raises GridError naming the key, study or run at fault.
    A ``budget`` (a smoke test) caps every run's steps and each study's number of seeds."""
    budget = budget or Budget()
    base = Path(base) if base is not None else Path.cwd()
    plugins = [str(p) for p in _as_list(config.get("plugins") or [])]
    try:
        registry.load_plugins(plugins, base=base)
    except ConfigError as error:
        raise GridError(f"config key 'plugins': {error}") from None

    studies = studies_of(config)
    for name, study in studies.items():
        label = "" if name == DEFAULT_STUDY and not config.get("studies") else f"studies.{name}."
        for key, kind in AXES.items():
            values = _as_list(study[key])
            if not values:
                raise GridError(f"config key '{label}{key}' is empty; list at least one {kind}")
            _check_names(kind, values, f"{label}{key}")
            if kind == "regulariser":
                values = [check_regulariser_spec(value, f"{label}{key}") for value in values]
                study[key] = values
            if len(set(map(str, values))) != len(values):
                raise GridError(f"config key '{label}{key}' lists a name twice: {values}")
            _check_names(kind, values, f"{label}{key}")
        study["seeds"] = budget.first_seeds(parse_seeds(study["seeds"], f"{label}seeds"))
        if study["sweep"] is not None:
            study["sweep"] = sweep_module.parse(study["sweep"], f"studies.{name}.sweep")
            _check_names_apply(study["sweep"], name, study)
    exclude = list(config.get("exclude") or [])
    overrides = list(config.get("overrides") or [])
    for index, rule in enumerate(exclude):
        _check_rule(rule, f"exclude[{index}]", studies, (*RULE_KEYS, "unless"))
    for index, rule in enumerate(overrides):
        _check_rule(rule, f"overrides[{index}]", studies, (*RULE_KEYS, "set"))
        if not isinstance(rule.get("set"), dict) or not rule["set"]:
            raise GridError(f"config key 'overrides[{index}].set' must be a non-empty mapping of run settings")

    grid = Grid()
    shapes_checked: set[str] = set()
    for name, study in studies.items():
        sweep = study["sweep"]
        draws = sweep.draws(budget.first_draws(sweep.samples)) if sweep else [None]
        swept: dict[str, int] = {}  # run id -> setting, to refuse two draws that are one run
        space_checked: set[tuple[str, ...]] = set()
        for dataset, architecture, objective, regulariser, (index, draw), seed in itertools.product(
            *(_as_list(study[key]) for key in AXES), enumerate(draws), study["seeds"]
        ):
            cell = {"study": name, "dataset": dataset, "architecture": architecture, "objective": objective,
                    "regulariser": regulariser, "seed": seed}
            if excluded(exclude, cell):
                grid.excluded += 1
                grid.excluded_cells.add((name, dataset, architecture, objective, regulariser))
                continue
            settings = dict(study["settings"])
            for rule in overrides:
                if matches(rule, cell):
                    settings = merge_settings(settings, rule["set"])
            if sweep:
                method = (dataset, architecture, objective, regulariser)
                if method not in space_checked:
                    space_checked.add(method)
                    _check_space(sweep, settings, cell, base)
                settings = sweep_module.with_setting(settings, sweep_module.setting_of(draw, cell))
            settings = merge_settings(settings, {key: cell[key] for key in (*AXES.values(), "seed")})
            if plugins:
                settings["plugins"] = plugins
            where = f"{dataset}/{architecture}/{objective}/{regulariser}/s{seed} (study {name!r})"
            if sweep:
                where = f"{where[:-1]}, setting {index})"
            try:
                run_config = resolve(settings, base=base)
                if budget.capped_steps(run_config.steps) != run_config.steps:
                    settings["steps"] = budget.capped_steps(run_config.steps)
                    run_config = resolve(settings, base=base)
            except ConfigError as error:
                raise GridError(f"run {where}: {error}") from None
            _check_shapes(run_config, where, shapes_checked)
            modality = registry.get("dataset", dataset).modality
            if sweep:
                earlier = swept.setdefault(run_config.run_id, index)
                if earlier != index:
                    raise GridError(
                        f"config key 'studies.{name}.sweep': settings {earlier} and {index} of "
                        f"{dataset}/{architecture}/{objective}/{regulariser} are the same run; the space has too few "
                        f"distinct settings for samples: {sweep.samples} (widen it, or draw fewer)")
            _add(grid, Run(run_config, settings, modality, (name,), (name, index) if sweep else None))
    if not grid.runs:
        raise GridError("the grid is empty: the exclude rules remove every cell")
    published_by_cell(config, grid)
    return grid


def _check_shapes(config: RunConfig, where: str, checked: set[str]) -> None:
    """Build the dataset description and the architecture once per pair: a mismatch fails now."""
    key = repr((config.dataset, sorted(config.dataset_options.items()), config.architecture,
                sorted(config.architecture_options.items()), config.z_dim))
    if key in checked:
        return
    checked.add(key)
    try:
        dataset = registry.get("dataset", config.dataset)(**config.dataset_options)
        registry.get("architecture", config.architecture)(dataset.shape, config.z_dim, **config.architecture_options)
    except ConfigError as error:
        raise GridError(f"run {where}: {error}") from None


def _check_space(sweep: sweep_module.Sweep, settings: dict[str, Any], cell: dict[str, Any],
                 base: Path) -> None:
    """Every value the space allows must make a valid run of this method: each end of every range
    and every choice is resolved with the method's settings."""
    method = "{dataset}/{architecture}/{objective}/{regulariser}".format(**cell)
    for dimension in sweep.dimensions:
        for described, value in dimension.extremes():
            values = sweep_module.setting_of({dimension.name: value}, cell)
            if not values:
                continue
            trial = merge_settings(sweep_module.with_setting(settings, values),
                                   {key: cell[key] for key in (*AXES.values(), "seed")})
            try:
                resolve(trial, base=base)
            except ConfigError as error:
                raise GridError(f"config key 'studies.{cell['study']}.sweep.space.{dimension.name}': {described} "
                                f"is refused for {method}: {error}") from None


def _check_names_apply(sweep: sweep_module.Sweep, name: str, study: dict[str, Any]) -> None:
    """A name of the space that sets nothing in any run of the study is a mistake (a typo, an option
    of a component the study does not train)."""
    methods = [dict(zip(AXES.values(), values)) for values in itertools.product(*(_as_list(study[key]) for key in AXES))]
    for dimension in sweep.dimensions:
        if not any(sweep_module.default_of(dimension.name, method)[0] for method in methods):
            head, _, rest = dimension.name.partition(".")
            why = (f"no method of it uses regulariser {rest.split('.')[0]!r}" if head == "regulariser"
                   else f"no {head} of it has option {rest!r}")
            raise GridError(f"config key 'studies.{name}.sweep.space.{dimension.name}' sets nothing in any run of "
                            f"study {name!r}: {why}")


def _add(grid: Grid, run: Run) -> None:
    existing = grid.runs.get(run.run_id)
    if existing is None:
        grid.runs[run.run_id] = run
        return
    if existing.draw is not None and run.draw is not None and existing.draw != run.draw:
        raise GridError(f"run {run.run_id} is setting {existing.draw[1]} of study {existing.draw[0]!r}'s sweep and "
                        f"setting {run.draw[1]} of study {run.draw[0]!r}'s; give the studies' sweeps different seeds")
    if existing.config != run.config:
        old, new = existing.config.to_dict(), run.config.to_dict()
        differing = ", ".join(f"{k}: {old[k]!r} vs {new[k]!r}" for k in sorted(old) if old[k] != new[k])
        raise GridError(
            f"run {run.run_id} is set up differently by studies {existing.studies[0]!r} and {run.studies[0]!r} "
            f"({differing}); settings outside the run id's hash (steps, logging) must agree where studies overlap"
        )
    if run.studies[0] not in existing.studies:
        grid.runs[run.run_id] = Run(existing.config, existing.settings, existing.modality,
                                    existing.studies + run.studies, existing.draw or run.draw)


# --- Published numbers ----------------------------------------------------------------------------
#
# A preset carries the numbers its paper published (``published:``), each entry a rule naming the
# cells it applies to (as ``overrides`` do, without ``seed``) with the metric, the mean, the spread
# and what kind of spread it is, and the source. Entries are checked with the grid, before any job:
# an entry that matches no cell, or names a score that no metric of its cells' datasets computes, is
# a config error. The tables put each cell's measured value beside its entries.

SPREAD_KINDS = ("standard_error", "std", "none")
PUBLISHED_RULE_KEYS = ("study", "dataset", "architecture", "objective", "regulariser")
PUBLISHED_KEYS = (*PUBLISHED_RULE_KEYS, "metric", "mean", "spread", "spread_kind", "n", "source", "note")
# The cell coordinates of the tables (aggregate.COORDINATES); a run with its method's default
# settings has the variant aggregate.DEFAULT_VARIANT, any other the hash its run id ends with.
CELL_KEYS = ("dataset", "architecture", "objective", "regulariser", "variant")
DEFAULT_VARIANT = "defaults"


def cell_of(run: Run) -> tuple[str, str, str, str, str]:
    """The run's cell as the tables key it: (dataset, architecture, objective, regulariser, variant)."""
    c = run.config
    variant = run.run_id.rsplit("/", 1)[1].partition("-")[2] or DEFAULT_VARIANT
    return c.dataset, c.architecture, c.objective, c.regulariser, variant


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_published_entry(entry: Any, where: str, studies: Iterable[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise GridError(f"config key {where!r} must be a mapping (cells, metric, mean, spread, source)")
    unknown = [key for key in entry if key not in PUBLISHED_KEYS]
    if unknown:
        raise GridError(f"config key {where!r}: unknown key {unknown[0]!r}; an entry's keys are {', '.join(PUBLISHED_KEYS)}")
    _check_rule({k: v for k, v in entry.items() if k in PUBLISHED_RULE_KEYS}, where, studies, PUBLISHED_RULE_KEYS)
    for key in ("metric", "mean", "spread_kind", "source"):
        if key not in entry:
            raise GridError(f"config key {where!r} needs {key!r}")
    if not _is_number(entry["mean"]):
        raise GridError(f"config key '{where}.mean' must be a number, got {entry['mean']!r}")
    kind = entry["spread_kind"]
    if kind not in SPREAD_KINDS:
        raise GridError(f"config key '{where}.spread_kind' must be one of {', '.join(SPREAD_KINDS)}, got {kind!r}")
    spread = entry.get("spread")
    if kind == "none" and spread is not None:
        raise GridError(f"config key '{where}': spread_kind none takes no spread (got {spread!r})")
    # A spread of a kind the paper reports may still be left out (null) where it was not transcribed.
    if spread is not None and (not _is_number(spread) or spread < 0):
        raise GridError(f"config key '{where}.spread' must be a number >= 0 or null, got {spread!r}")
    n = entry.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise GridError(f"config key '{where}.n' (the paper's trials) must be an integer >= 1, got {n!r}")
    for key in ("metric", "source"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise GridError(f"config key '{where}.{key}' must be a non-empty string")
    return {"metric": entry["metric"], "mean": entry["mean"], "spread": spread, "spread_kind": kind, "n": n,
            "source": entry["source"], "note": entry.get("note", "")}


def _metric_values(modality: str) -> list[str]:
    names: list[str] = []
    for entry in registry.entries("metric"):
        if entry.target.modality == modality:
            # What a metric declares is what it computes (the columns of runs.csv).
            names += [value for value in entry.target.declares if value not in names]
    return names


def published_by_cell(config: dict[str, Any], grid: Grid) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Per cell of the grid (``cell_of``) with published numbers, its entries in config order, each
    with its ``entry`` index; raises GridError for an entry that is malformed, matches no cell of
    the grid, or names a score that no metric of its cells computes."""
    entries = config.get("published") or []
    if not isinstance(entries, list):
        raise GridError("config key 'published' must be a list of entries")
    studies = list(studies_of(config))
    result: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for index, entry in enumerate(entries):
        where = f"published[{index}]"
        checked = _check_published_entry(entry, where, studies) | {"entry": index}
        rule = {key: entry[key] for key in PUBLISHED_RULE_KEYS if key in entry}
        matched: dict[tuple[str, ...], Run] = {}
        for run in grid.runs.values():
            c = run.config
            for study in run.studies:
                cell = {"study": study, "dataset": c.dataset, "architecture": c.architecture,
                        "objective": c.objective, "regulariser": c.regulariser, "seed": c.seed}
                if matches(rule, cell, exact=True):
                    matched.setdefault(cell_of(run), run)
        if not matched:
            if any(matches(rule, cell, exact=True) for cell in _cells(grid.excluded_cells)):
                continue  # its cells are ones the config's exclude rules removed (a narrowed preset)
            raise GridError(f"config key {where!r} ({_describe(rule)}) matches no cell of the grid")
        for key, run in matched.items():
            known = _metric_values(run.modality)
            if checked["metric"] not in known:
                raise GridError(
                    f"config key '{where}.metric': no metric for dataset {run.config.dataset!r} computes "
                    f"{checked['metric']!r}; its scores are {', '.join(known)}"
                )
            result.setdefault(key, []).append(dict(checked))
    return result


def _cells(coordinates: Iterable[tuple[str, ...]]) -> Iterable[dict[str, Any]]:
    for study, dataset, architecture, objective, regulariser in coordinates:
        yield {"study": study, "dataset": dataset, "architecture": architecture, "objective": objective,
               "regulariser": regulariser}


def _describe(rule: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in rule.items())


def published_rows(config: dict[str, Any], grid: Grid, planned: Grid | None = None) -> list[dict[str, Any]]:
    """The published numbers as a tidy table, one row per cell and entry: the cell's coordinates
    (``CELL_KEYS``, as in summary.csv), the entry's fields, and the budget the config plans for the
    cell (``planned_steps``, ``planned_seeds``: of ``planned``, the grid expanded without a
    smoke-test budget, when ``grid`` was capped); plain JSON, to hand to the tables."""
    budget: dict[tuple[str, ...], tuple[set[int], int]] = {}
    for run in (planned or grid).runs.values():
        steps, seeds = budget.get(cell_of(run), (set(), 0))
        budget[cell_of(run)] = (steps | {run.config.steps}, seeds + 1)
    rows = []
    for cell, entries in published_by_cell(config, grid).items():
        steps, seeds = budget.get(cell, (set(), 0))
        # A cell whose studies plan different budgets (rare) lists them all.
        planned_steps = next(iter(steps)) if len(steps) == 1 else "/".join(map(str, sorted(steps)))
        plan = {"planned_steps": planned_steps, "planned_seeds": seeds}
        rows += [dict(zip(CELL_KEYS, cell)) | entry | plan for entry in entries]
    return rows


# --- From a run to a command line -----------------------------------------------------------------


def _text(value: Any) -> str:
    """A settings value as ``benchsuite train --set`` parses it back (see config.parse_value)."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def assignments(settings: dict[str, Any]) -> list[str]:
    """``key=value`` strings for ``--set`` that rebuild ``settings`` (coordinates and plugins left out)."""
    prefixes = {"dataset_options": "dataset", "architecture_options": "architecture", "objective_options": "objective"}
    result = []
    for key in sorted(settings):
        value = settings[key]
        if key in (*AXES.values(), "seed", "plugins"):
            continue
        if key in prefixes:
            result += [f"{prefixes[key]}.{option}={_text(v)}" for option, v in sorted(value.items())]
        elif key == "regulariser_options":
            for name, options in sorted(value.items()):
                result += [f"regulariser.{name}.{option}={_text(v)}" for option, v in sorted((options or {}).items())]
        else:
            result.append(f"{key}={_text(value)}")
    return result


def train_arguments(run: Run, seeds: list[int] | None = None) -> list[str]:
    """The arguments of ``benchsuite train`` that reproduce this run (without --out), or with ``seeds``
    the runs of those seeds that share its settings (``--seeds``)."""
    c = run.config
    arguments = ["--dataset", c.dataset, "--arch", c.architecture, "--objective", c.objective,
                 "--regulariser", c.regulariser]
    arguments += ["--seed", str(c.seed)] if seeds is None else ["--seeds", seeds_text(seeds)]
    for assignment in assignments(run.settings):
        arguments += ["--set", assignment]
    for plugin in run.settings.get("plugins", []):
        arguments += ["--plugin", plugin]
    return arguments


def shell_words(arguments: list[str]) -> str:
    return " ".join(shlex.quote(argument) for argument in arguments)


def seeds_text(seeds: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (what ``--seeds`` reads)."""
    parts: list[list[int]] = []
    for seed in sorted(seeds):
        if parts and seed == parts[-1][-1] + 1:
            parts[-1].append(seed)
        else:
            parts.append([seed])
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in parts)


# --- Train jobs -----------------------------------------------------------------------------------
#
# One train job trains the unfinished seeds of one configuration in one process (toy cells by
# default; see `seeds_together`), and writes a record, <cell>/seeds-<seeds>.json, that lists the
# runs it trained. The record is the job's output and every evaluation's input: a run's own files
# are never an output Snakemake could delete before a job, and a seed added later gets a job and a
# record of its own, so the finished runs' evaluations are not redone.

SEEDS_TOGETHER = ("toy", "all", "none")
RECORD_PREFIX = "seeds-"


@dataclass(frozen=True)
class TrainJob:
    """What one train job trains: ``record`` (relative to the runs directory) and its CLI arguments."""

    record: str
    arguments: tuple[str, ...]
    runs: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.runs)


def _together(run: Run, policy: str) -> bool:
    if policy not in SEEDS_TOGETHER:
        raise GridError(f"config key 'seeds_together' must be one of {', '.join(SEEDS_TOGETHER)}, got {policy!r}")
    return policy == "all" or (policy == "toy" and run.modality == "toy")


def _record_name(cell: str, runs: list[Run], prefix: str = RECORD_PREFIX) -> str:
    seeds = seeds_text(run.config.seed for run in runs).replace(",", "_")
    suffix = runs[0].run_id.rsplit("/", 1)[1].partition("-")[2]
    return f"{cell}/{prefix}{seeds}{'-' + suffix if suffix else ''}.json"


def _finished_records(runs_root: Path, cell: str, prefix: str = RECORD_PREFIX) -> list[tuple[str, dict[str, Any]]]:
    """The readable records of a cell whose names start with ``prefix``, newest first."""
    found = []
    for path in (runs_root / cell).glob(f"{prefix}*.json"):
        try:
            record = json.loads(path.read_text())
            found.append((path.stat().st_mtime, f"{cell}/{path.name}", record))
        except (OSError, ValueError):
            continue
    return [(name, record) for _, name, record in sorted(found, key=lambda item: item[0], reverse=True)]


def _covering(runs_root: Path, run_id: str, final_file: str,
              records: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]] | None:
    """The newest record that lists the run, if the run still has the file its job wrote last."""
    if not (runs_root / run_id / final_file).is_file():
        return None
    return next(((name, record) for name, record in records if run_id in record.get("runs", {})), None)


def train_jobs(grid: Grid, runs_root: str | Path, policy: str = "toy") -> tuple[dict[str, str], dict[str, TrainJob]]:
    """Which record stands for each run's training, and the jobs that write those records.

    A run whose directory has a final status and that a record lists keeps that record (and its
    job, rebuilt from the record, so a finished grid stays a no-op). The other runs of a cell that
    share their settings, seed apart, form one new job when ``policy`` puts them together
    (``toy``: the toy datasets, ``all``, ``none``), else one job each.
    """
    runs_root = Path(runs_root)
    record_of: dict[str, str] = {}
    jobs: dict[str, TrainJob] = {}
    pending: dict[tuple[str, str], list[Run]] = {}
    records: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for run in grid.runs.values():
        cell = run.run_id.rsplit("/", 1)[0]
        if cell not in records:
            records[cell] = _finished_records(runs_root, cell)
        covering = _covering(runs_root, run.run_id, "status.json", records[cell])
        if covering:
            name, record = covering
            record_of[run.run_id] = name
            jobs.setdefault(name, TrainJob(name, tuple(record["arguments"]), tuple(record["runs"])))
            continue
        settings = {key: value for key, value in run.settings.items() if key != "seed"}
        key = json.dumps(settings, sort_keys=True, default=str)
        if not _together(run, policy):
            key += f"/seed {run.config.seed}"
        pending.setdefault((cell, key), []).append(run)
    for (cell, _), runs in pending.items():
        runs.sort(key=lambda run: run.config.seed)
        name = _record_name(cell, runs)
        arguments = train_arguments(runs[0], [run.config.seed for run in runs])
        jobs[name] = TrainJob(name, tuple(arguments), tuple(run.run_id for run in runs))
        for run in runs:
            record_of[run.run_id] = name
    return record_of, jobs


# --- Evaluate jobs --------------------------------------------------------------------------------
#
# One evaluate job scores, in one process, the runs of the grid that one train job trained, and
# writes <cell>/metrics-<seeds>.json, which lists them; the tables read those records. A run keeps
# the record that lists it while its metrics.json is there; a run without one (new, or its
# metrics.json deleted to score it again) goes into a new job with the other such runs of its
# train job.

METRICS_PREFIX = "metrics-"


@dataclass(frozen=True)
class EvaluationJob:
    """What one evaluate job scores: ``record`` and ``train_records`` (relative to the runs
    directory), and the runs."""

    record: str
    train_records: tuple[str, ...]
    runs: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.runs)


def evaluation_jobs(grid: Grid, runs_root: str | Path, train_record_of: dict[str, str]) -> dict[str, EvaluationJob]:
    """The evaluate jobs of the grid, by record; ``train_record_of`` is what ``train_jobs`` returns."""
    runs_root = Path(runs_root)
    finished: dict[str, dict[str, Any]] = {}
    pending: dict[str, list[Run]] = {}
    records: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for run in grid.runs.values():
        cell = run.run_id.rsplit("/", 1)[0]
        if cell not in records:
            records[cell] = _finished_records(runs_root, cell, METRICS_PREFIX)
        covering = _covering(runs_root, run.run_id, "metrics.json", records[cell])
        if covering:
            finished[covering[0]] = covering[1]
        else:
            pending.setdefault(train_record_of[run.run_id], []).append(run)

    def job(name: str, runs: list[str]) -> EvaluationJob:
        # A run retrained since its evaluation brings its new train record along: the job runs again.
        train_records = sorted({train_record_of[run_id] for run_id in runs if run_id in train_record_of})
        return EvaluationJob(name, tuple(train_records), tuple(runs))

    # A finished job is rebuilt from its record, as the train jobs are, so that Snakemake sees the
    # same job (the same runs: its params) and leaves it alone.
    jobs = {name: job(name, [run_id for run_id in record["runs"] if (runs_root / run_id).is_dir()])
            for name, record in finished.items()}
    for train_record, runs in pending.items():
        runs.sort(key=lambda run: run.config.seed)
        name = _record_name(train_record.rsplit("/", 1)[0], runs, METRICS_PREFIX)
        previous = list(jobs[name].runs) if name in jobs else []
        jobs[name] = job(name, previous + [run.run_id for run in runs if run.run_id not in previous])
    return jobs


# --- Evaluation -----------------------------------------------------------------------------------


def _metric_options(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    options = (config.get("evaluation") or {}).get("metrics") or {}
    for name, settings in options.items():
        _check_name("metric", name, f"evaluation.metrics.{name}")
        if not isinstance(settings, dict):
            raise GridError(f"config key 'evaluation.metrics.{name}' must map option names to values")
        try:
            registry.get("metric", name)(**settings)
        except ConfigError as error:
            raise GridError(f"config key 'evaluation.metrics.{name}': {error}") from None
    return options


def evaluation_arguments(config: dict[str, Any], grid: Grid, budget: Budget | None = None) -> dict[str, str]:
    """Per dataset of the grid, the arguments of ``benchsuite evaluate`` (plugins, sample count, metric options)."""
    options = _metric_options(config)
    samples = (config.get("evaluation") or {}).get("samples") or {}
    budget = budget or Budget()
    # The pipeline config's plugins, named on evaluate's command line: evaluate never imports a
    # plugin because a run's config.json lists it.
    plugins = dict.fromkeys(plugin for run in grid.runs.values() for plugin in run.config.plugins)
    arguments = {}
    for dataset in grid.values("dataset"):
        modality = registry.get("dataset", dataset).modality
        words = [word for plugin in plugins for word in ("--plugin", plugin)]
        count = budget.capped_samples(samples.get(modality))
        if count is not None:
            words += ["--samples", str(count)]
        for name in sorted(options):
            if registry.get("metric", name).modality != modality:
                continue
            for option, value in sorted(options[name].items()):
                words += ["--set", f"{name}.{option}={_text(value)}"]
        arguments[dataset] = shell_words(words)
    return arguments


def extractor_datasets(config: dict[str, Any], grid: Grid) -> list[str]:
    """Image datasets whose metrics use the suite's own classifier: it is trained once per dataset."""
    requested = {settings.get("extractor", "auto") for name, settings in _metric_options(config).items()
                 if registry.get("metric", name).modality == "image"} - {"auto"}
    chosen = []
    for dataset in grid.datasets_of("image"):
        extractor = next(iter(requested)) if requested else getattr(registry.get("dataset", dataset),
                                                                    "default_extractor", None)
        if extractor == "classifier":
            chosen.append(dataset)
    return chosen


def extractor_arguments(grid: Grid, dataset: str) -> list[str]:
    """``benchsuite train-extractor`` arguments, one line per distinct option set of the dataset."""
    option_sets: dict[str, dict[str, Any]] = {}
    for run in grid.runs.values():
        if run.config.dataset == dataset:
            option_sets.setdefault(repr(sorted(run.config.dataset_options.items())), run.config.dataset_options)
    lines = []
    for options in option_sets.values():
        words = [dataset]
        for option, value in sorted(options.items()):
            words += ["--set", f"{option}={_text(value)}"]
        lines.append(shell_words(words))
    return lines
