"""The pipeline's probe jobs: every probe named in the config's ``probes:`` list, run against every
objective x regulariser pair of the grid, at every seed of the config's top-level ``seeds``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchsuite import registry
from benchsuite.budget import Budget
from benchsuite.errors import ConfigError
from benchsuite.grid import Grid, GridError, parse_seeds


@dataclass(frozen=True)
class ProbeJob:
    probe: str
    objective: str
    regulariser: str
    seed: int
    plugins: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The job's place under the probes directory: probe/objective/regulariser/s<seed>."""
        return f"{self.probe}/{self.objective}/{self.regulariser}/s{self.seed}"

    @property
    def arguments(self) -> list[str]:
        words = [self.probe, "--objective", self.objective, "--regulariser", self.regulariser, "--seed", str(self.seed)]
        for plugin in self.plugins:
            words += ["--plugin", plugin]
        return words


def probe_jobs(config: dict[str, Any], grid: Grid, budget: Budget | None = None) -> dict[str, ProbeJob]:
    """The probe jobs of a pipeline config by name; an unknown probe fails naming the key."""
    names = list(config.get("probes") or [])
    for index, name in enumerate(names):
        try:
            registry.lookup("probe", str(name))
        except ConfigError as error:
            raise GridError(f"config key 'probes[{index}]': {error}") from None
    if len(set(names)) != len(names):
        raise GridError(f"config key 'probes' lists a probe twice: {names}")
    seeds = (budget or Budget()).first_seeds(parse_seeds(config.get("seeds", [0]), "seeds"))
    pairs = list(dict.fromkeys((run.config.objective, run.config.regulariser) for run in grid.runs.values()))
    plugins = tuple(str(path) for path in (config.get("plugins") or []))
    jobs = [ProbeJob(name, objective, regulariser, seed, plugins)
            for name in names for objective, regulariser in pairs for seed in seeds]
    return {job.name: job for job in jobs}
