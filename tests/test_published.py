"""Published numbers in a config (``published:``): checked with the grid, handed out per cell."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from benchsuite import aggregate, registry
from benchsuite.budget import Budget
from benchsuite.grid import CELL_KEYS, DEFAULT_VARIANT, GridError, cell_of, expand, published_by_cell, published_rows
from benchsuite.metrics.stacked import mode_counts

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = str(ROOT / "config" / "schema.yaml")

ENTRY = {"dataset": "ring8", "regulariser": "none", "metric": "modes_covered", "mean": 6.3, "spread": 0.5,
         "spread_kind": "standard_error", "n": 10, "source": "Lin et al. 2018 (PacGAN), Table 1"}


def config(*entries: dict) -> dict:
    """Two studies over the ring and the grid, one of them packed, with these published entries."""
    base = {
        "architectures": ["mlp"], "objectives": ["nonsaturating"], "seeds": [0, 1],
        "studies": {
            "gan": {"datasets": ["ring8", "grid25"], "regularisers": ["none"]},
            "pacgan4": {"datasets": ["ring8", "grid25"], "regularisers": ["pack"],
                        "settings": {"regulariser_options": {"pack": {"m": 4}}}},
        },
        "published": list(entries),
    }
    validate(base, SCHEMA)
    return base


def test_each_cell_gets_the_entries_that_match_it():
    pac = ENTRY | {"study": "pacgan4", "regulariser": "pack", "mean": 7.8, "spread": 0.1}
    grid_note = ENTRY | {"dataset": "grid25", "metric": "high_quality", "mean": 0.948, "spread": 0.007,
                         "note": "a share, not a percentage"}
    cfg = config(ENTRY, pac, grid_note)
    cells = published_by_cell(cfg, expand(cfg))
    ring_gan = ("ring8", "mlp", "nonsaturating", "none", DEFAULT_VARIANT)
    assert [e["mean"] for e in cells[ring_gan]] == [6.3]
    assert cells[ring_gan][0] == {"metric": "modes_covered", "mean": 6.3, "spread": 0.5,
                                  "spread_kind": "standard_error", "n": 10, "source": ENTRY["source"], "note": "",
                                  "entry": 0}
    (ring_pac,) = [cell for cell in cells if cell[0] == "ring8" and cell[3] == "pack"]
    assert ring_pac[4] != DEFAULT_VARIANT  # m = 4 is not pack's default: the cell has a hash
    assert [(e["entry"], e["mean"]) for e in cells[ring_pac]] == [(1, 7.8)]
    grid_gan = ("grid25", "mlp", "nonsaturating", "none", DEFAULT_VARIANT)
    assert [(e["metric"], e["note"]) for e in cells[grid_gan]] == [("high_quality", "a share, not a percentage")]
    assert len(cells) == 3


def test_an_entry_names_its_regulariser_exactly_not_every_composition_containing_it():
    cfg = config()
    cfg["studies"]["penalised"] = {"datasets": ["ring8"], "regularisers": ["gp", "gp+r1"]}
    cfg["published"] = [ENTRY | {"study": "penalised", "regulariser": "gp", "mean": 7.0}]
    validate(cfg, SCHEMA)
    cells = published_by_cell(cfg, expand(cfg))
    # An exclude rule's `gp` would take `gp+r1` too; WGAN-GP's number is not WGAN-GP with R1's.
    assert [cell[3] for cell in cells] == ["gp"]
    cfg["published"] = [ENTRY | {"study": "penalised", "regulariser": ["gp", "gp+r1"], "mean": 7.0}]
    assert sorted(cell[3] for cell in published_by_cell(cfg, expand(cfg))) == ["gp", "gp+r1"]


def test_an_entry_of_cells_the_exclude_rules_removed_is_set_aside_not_an_error():
    # A preset narrowed from the command line (--config exclude=...) keeps running.
    pac = ENTRY | {"study": "pacgan4", "regulariser": "pack", "mean": 7.8, "spread": 0.1}
    cfg = config(ENTRY, pac) | {"exclude": [{"study": "pacgan4"}]}
    cells = published_by_cell(cfg, expand(cfg))
    assert [entry["entry"] for entries in cells.values() for entry in entries] == [0]
    # An entry that names no cell at all is still a mistake.
    cfg["published"].append(ENTRY | {"study": "pacgan4", "regulariser": "sn"})
    with pytest.raises(GridError, match=r"published\[2\]"):
        expand(cfg)


def test_the_rows_carry_the_coordinates_of_the_tables():
    cfg = config(ENTRY | {"dataset": ["ring8", "grid25"]})
    grid = expand(cfg)
    rows = published_rows(cfg, grid)
    assert {row["dataset"] for row in rows} == {"ring8", "grid25"}
    assert list(CELL_KEYS) == aggregate.COORDINATES and DEFAULT_VARIANT == aggregate.DEFAULT_VARIANT
    for run in grid.runs.values():
        parsed = aggregate.split_run_id(run.run_id)
        assert cell_of(run) == tuple(parsed[key] for key in CELL_KEYS)
    assert all(set(row) == {*CELL_KEYS, "metric", "mean", "spread", "spread_kind", "n", "source", "note", "entry",
                            "planned_steps", "planned_seeds"} for row in rows)


def test_the_rows_carry_the_budget_the_config_plans_not_the_capped_one():
    cfg = config(ENTRY) | {"settings": {"steps": 5000}}
    capped = expand(cfg, budget=Budget(steps=20, seeds=1))
    assert {run.config.steps for run in capped.runs.values()} == {20}
    (row,) = published_rows(cfg, capped, planned=expand(cfg))
    assert (row["planned_steps"], row["planned_seeds"]) == (5000, 2)
    (row,) = published_rows(cfg, capped)
    assert (row["planned_steps"], row["planned_seeds"]) == (20, 1)


def test_a_config_without_published_numbers_has_none():
    cfg = config()
    assert published_by_cell(cfg, expand(cfg)) == {}


@pytest.mark.parametrize("change, message", [
    ({"dataset": "grid25", "regulariser": "sn"}, "config key 'published[0]' (dataset grid25, regulariser sn) matches no cell"),
    ({"study": "pacgan2"}, "names study 'pacgan2'"),
    ({"metric": "modes"}, "no metric for dataset 'ring8' computes 'modes'; its scores are modes_covered"),
    ({"metric": "fid"}, "computes 'fid'"),
    ({"spread": -0.5}, "'published[0].spread' must be a number >= 0 or null"),
    ({"spread_kind": "none"}, "spread_kind none takes no spread"),
    ({"dataset": "rnig8"}, "Did you mean 'ring8'?"),
])
def test_a_bad_entry_fails_with_the_grid_naming_it(change, message):
    cfg = config()
    cfg["published"] = [ENTRY | change]
    with pytest.raises(GridError) as error:
        expand(cfg)
    assert message in str(error.value)


@pytest.mark.parametrize("change, words", [
    ({"spread_kind": "sem"}, ["spread_kind", "sem"]),
    ({"mean": "6.3"}, ["mean"]),
    ({"table": 1}, ["table"]),
    ({"source": ""}, ["source"]),
])
def test_the_schema_names_a_malformed_entry(change, words):
    broken = {"datasets": ["ring8"], "published": [ENTRY | change]}
    with pytest.raises(WorkflowError) as error:
        validate(copy.deepcopy(broken), SCHEMA)
    for word in words:
        assert word in str(error.value)


@pytest.mark.slow  # starts Snakemake
def test_a_bad_entry_stops_a_dry_run_before_any_job(tmp_path):
    import subprocess
    import sys

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["published"] = [ENTRY | {"metric": "modes"}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path),
                             "--directory", str(tmp_path), "--snakefile", str(ROOT / "Snakefile")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "bad pipeline config: config key 'published[0].metric'" in result.stdout + result.stderr


def test_the_toy_metric_declares_the_scores_it_computes():
    dataset = registry.get("dataset", "ring8")()
    metric = registry.get("metric", "modes")()
    scores = metric.compute(dataset.sample(100, torch.Generator().manual_seed(0)), dataset, torch.device("cpu"))
    assert set(scores) == set(metric.declares)
    assert set(mode_counts(torch.tensor([0, 1, 1]), 4)) == set(registry.get("metric", "stacked-modes").declares)
