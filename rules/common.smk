# The grid, the paths and how jobs call the package; included first by the Snakefile.

import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# The package next to this workflow, installed or not, is the one the grid and the jobs use.
BASEDIR = os.path.abspath(workflow.basedir)
sys.path.insert(0, BASEDIR)

from benchsuite import budget as budget_module
from benchsuite import grid as grid_module
from benchsuite import io as io_module
from benchsuite.errors import ConfigError

try:
    BUDGET = budget_module.from_environment()
    GRID = grid_module.expand(config, base=Path.cwd(), budget=BUDGET)
    EVALUATION = grid_module.evaluation_arguments(config, GRID, budget=BUDGET)
    SWEEPS = GRID.sweep_settings()
    # The published numbers per cell, with the budget the config plans (the paper's, in a preset):
    # under a smoke-test budget the grid is expanded once more, uncapped, to know it.
    PUBLISHED = grid_module.published_rows(
        config, GRID, grid_module.expand(config, base=Path.cwd()) if BUDGET is not None and config.get("published") else None)
    # `cuda` is taken on trust here and checked before the first job (the Snakefile's onstart) or,
    # under a cluster executor, by each job on its own node.
    DEVICE = grid_module.pick_device(config["device"], check=False)
except ConfigError as error:
    # One line naming the key and the fix, raised before any job starts.
    raise WorkflowError(f"bad pipeline config: {error}") from None

if BUDGET is not None:
    print(f"{budget_module.VARIABLE} caps this grid ({BUDGET.describe()}): a smoke test, not a study", file=sys.stderr)

RESULTS = config["results"].rstrip("/")
RUNS = f"{RESULTS}/runs"
LOGS = f"{RESULTS}/logs"
TABLES = f"{RESULTS}/tables"
REPORT = f"{RESULTS}/report.html"
REPORT_PATH = os.path.abspath(REPORT)
CACHE = os.path.abspath(config["cache"] or f"{RESULTS}/cache")

GPU = 1 if DEVICE.type == "cuda" else 0


def limits(rule_name, runs=1):
    """The scheduler's runtime (minutes) and memory (MB) for a job of this rule: config `resources`."""
    wanted = config["resources"][rule_name]
    return {"runtime": wanted["runtime"] * runs, "mem_mb": wanted["mem_mb"]}

# Under --use-conda the environment's python runs the jobs; otherwise the one running Snakemake.
_CONDA = any(method.name == "CONDA" for method in workflow.deployment_settings.deployment_method)
PYTHON = "python" if _CONDA else shlex.quote(sys.executable)
CLI = (
    f"PYTHONPATH={shlex.quote(BASEDIR)}${{PYTHONPATH:+:$PYTHONPATH}} "
    f"BENCHSUITE_CACHE={shlex.quote(CACHE)} {PYTHON} -m benchsuite.cli"
)
DATA_ROOT = f"--data-root {shlex.quote(config['data_root'])}" if config.get("data_root") else ""

def _one_of(names):
    return "|".join(re.escape(str(name)) for name in sorted(names, key=len, reverse=True))


wildcard_constraints:
    dataset=_one_of(GRID.values("dataset")),
    architecture=_one_of(GRID.values("architecture")),
    objective=_one_of(GRID.values("objective")),
    regulariser=_one_of(GRID.values("regulariser")),
