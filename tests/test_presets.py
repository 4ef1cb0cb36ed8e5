"""Presets and the default grid, run as a user runs them: from the root of a fresh clone, no --directory.

A preset named with --configfile is a whole study: nothing of config/config.yaml may reach it.
Every preset under config/ is dry-run here and run end to end at a smoke-test budget (the default
grid's own run end to end is the README's quick start, in test_documented_commands).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from benchsuite import registry
from benchsuite.grid import expand, published_rows
from benchsuite.datasets.torchvision import TorchvisionImages
from benchsuite.published import VERDICTS

from conftest import ROOT, make_fresh_clone, user_environment

PRESETS = sorted(path.name for path in (ROOT / "config").glob("*.yaml") if path.name not in ("schema.yaml", "config.yaml"))
BUDGET = "steps=20,seeds=1,samples=200,draws=1"
# The smoke run of a preset whose cells mostly repeat components other presets' smoke runs train
# keeps the cells that only it has (each job is mostly process start-up, so eight cells cost
# minutes); every cell of the whole preset is checked without training by the grid tests
# (tests/test_toy_presets.py, tests/test_grid.py) and by this file's dry runs.
SMOKE_CELLS = {
    "stacked.yaml": "exclude=[{study: [nonsaturating, hinge, wgan-gp]}, {study: rpgan, unless: {regulariser: r1+r2}}]",
    "objectives-toys.yaml": "exclude=[{objective: [minimax, nonsaturating, lsgan, hinge, rpgan]}]",
}
TRACEBACK = "Traceback (most recent call last)"
# Each test starts Snakemake (a few seconds of start-up) in a fresh clone.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fresh_clone(tmp_path_factory.mktemp("presets"))


def snakemake(clone: Path, *args: str, timeout: float = 900, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(["snakemake", *args], cwd=clone, env=user_environment(clone, **variables),
                          capture_output=True, text=True, timeout=timeout)


def preset(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


def smoke_config(name: str) -> dict:
    """The preset as its smoke run below narrows it (SMOKE_CELLS' --config key=value, in YAML)."""
    config = preset(name)
    if name in SMOKE_CELLS:
        key, _, value = SMOKE_CELLS[name].partition("=")
        config[key] = yaml.safe_load(value)
    return config


def datasets_named(config: dict) -> set[str]:
    names = set(config.get("datasets") or [])
    for study in (config.get("studies") or {}).values():
        names |= set((study or {}).get("datasets") or [])
    return names or {"ring8"}  # the schema's default


def trained_cells(output: str) -> set[str]:
    """dataset/architecture/objective/regulariser of every train job of a dry run."""
    return set(re.findall(r"output: \S*?/runs/([^/\s]+/[^/\s]+/[^/\s]+/[^/\s]+)/seeds-", output))


def test_there_is_a_preset_to_test():
    assert "cifar10.yaml" in PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_runs_alone_from_the_repository_root_and_takes_overrides(clone, name):
    # One dry run checks both (each costs a Snakemake start-up): nothing of config/config.yaml joins
    # the preset, and --config overrides its keys.
    dry = snakemake(clone, "-n", "--cores", "2", "--configfile", f"config/{name}",
                    "--config", "results=results/overridden", "seeds=7")
    assert dry.returncode == 0, dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    assert "extended by additional config" not in output
    cells = trained_cells(output)
    assert cells, output[-3000:]
    assert {cell.split("/")[0] for cell in cells} <= datasets_named(preset(name))
    outputs = re.findall(r"^\s+output: (\S+)", output, flags=re.M)
    assert outputs and all(path.startswith("results/overridden/") for path in outputs)
    assert all(re.search(r"/seeds-7\b", path) for path in outputs if "/seeds-" in path)


def test_without_a_config_file_the_default_grid_runs(clone):
    dry = snakemake(clone, "-n", "--cores", "2", "--config", "seeds=0")
    assert dry.returncode == 0, dry.stderr[-3000:]
    cells = trained_cells(dry.stdout + dry.stderr)
    assert {cell.split("/")[0] for cell in cells} == datasets_named(preset_default())


def preset_default() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: cuda is usable here")
def test_cuda_on_a_machine_without_a_gpu_is_refused_before_any_job(clone):
    run = snakemake(clone, "--cores", "2", "--config", "device=cuda", "results=results/no-gpu")
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert "bad pipeline config: device 'cuda' was requested but this machine has no usable CUDA GPU" in output
    assert TRACEBACK not in output
    assert not (clone / "results" / "no-gpu" / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_cluster_is_taken_on_trust_on_a_login_node_without_a_gpu(clone):
    # The cluster's login node has no GPU; the jobs, which run on GPU nodes, ask for one each.
    dry = snakemake(clone, "--profile", "profiles/slurm", "--config", "device=cuda", "seeds=0", "--dry-run", "-p",
                    SBATCH_PARTITION="gpu", SBATCH_ACCOUNT="myproject")
    assert dry.returncode == 0, dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    assert "no usable CUDA GPU" not in output
    assert "--device cuda" in output and "--device cpu" not in output


def _needs_a_download(name: str) -> bool:
    return any(issubclass(registry.get("dataset", dataset), TorchvisionImages) for dataset in datasets_named(preset(name)))


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_a_preset_runs_end_to_end_at_a_smoke_test_budget(clone, name):
    cells = ["--config", SMOKE_CELLS[name]] if name in SMOKE_CELLS else []
    run = snakemake(clone, "--cores", "2", "--configfile", f"config/{name}", *cells, BENCHSUITE_BUDGET=BUDGET)
    output = run.stdout + run.stderr
    assert TRACEBACK not in output
    assert "a smoke test, not a study" in output
    if _needs_a_download(name):
        # Offline, with no copy of the data: the failed job's log, printed, names the file and the fix.
        assert run.returncode != 0
        assert "is not available" in output and "To fetch it" in output, output[-3000:]
    else:
        assert run.returncode == 0, output[-3000:]
        results = clone / preset(name).get("results", "results")
        page = (results / "report.html").read_text()
        assert len(page) > 10_000
        # Each published number reaches published.csv with a verdict, and the report's section.
        published = pd.read_csv(results / "tables" / "published.csv")
        assert set(published["verdict"]) <= set(VERDICTS)
        # Every entry of the cells this run trained (one of a cell a narrowed run left out is set aside).
        assert len(published) == len(published_rows(smoke_config(name), expand(smoke_config(name), base=clone)))
        assert ("Against the published numbers" in page) == bool(preset(name).get("published"))
