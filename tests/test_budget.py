"""BENCHSUITE_BUDGET: a smoke-test budget that caps a grid's steps, seeds and samples."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from benchsuite.budget import Budget, from_environment, parse
from benchsuite.errors import ConfigError
from benchsuite.grid import evaluation_arguments, expand

ROOT = Path(__file__).resolve().parent.parent


def default_grid() -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(config, str(ROOT / "config" / "schema.yaml"))
    return config


def test_parse_reads_each_part_and_leaves_out_the_rest():
    assert parse("steps=20,seeds=1,samples=200") == Budget(steps=20, seeds=1, samples=200)
    assert parse(" steps=5  seeds=2 ") == Budget(steps=5, seeds=2)
    assert from_environment({}) is None
    assert from_environment({"BENCHSUITE_BUDGET": "samples=10"}) == Budget(samples=10)


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty"),
    ("step=20", "unknown part 'step'"),
    ("steps=0", "steps must be a whole number >= 1"),
    ("steps=-3", "whole number"),
    ("steps=2.5", "whole number"),
    ("steps=2,steps=3", "given twice"),
])
def test_a_bad_budget_names_the_variable_and_the_form(text, words):
    with pytest.raises(ConfigError, match="BENCHSUITE_BUDGET") as error:
        parse(text)
    assert words in str(error.value)


def test_the_budget_caps_steps_and_seeds_of_every_study_and_keeps_the_rest():
    config = default_grid()
    full = expand(copy.deepcopy(config), base=ROOT)
    capped = expand(copy.deepcopy(config), base=ROOT, budget=Budget(steps=20, seeds=1))
    assert {run.config.seed for run in full.runs.values()} == {0, 1, 2}
    assert {run.config.seed for run in capped.runs.values()} == {0}
    assert {run.config.steps for run in capped.runs.values()} == {20}
    # Every cell is still there, with the same settings but the budget (so the same run ids).
    assert {run_id for run_id in full.runs if run_id.endswith("s0") or "/s0-" in run_id} == set(capped.runs)
    assert Budget(steps=100_000).capped_steps(300) == 300


def test_the_budget_caps_the_samples_evaluated_and_sets_them_where_the_config_does_not():
    config = default_grid()
    grid = expand(copy.deepcopy(config), base=ROOT)
    assert "--samples 2500" in evaluation_arguments(config, grid)["ring8"]
    capped = evaluation_arguments(config, grid, budget=Budget(samples=200))
    assert "--samples 200" in capped["ring8"] and "--samples 200" in capped["digits"]
    config["evaluation"]["samples"] = {}
    assert "--samples 200" in evaluation_arguments(config, grid, budget=Budget(samples=200))["ring8"]
    assert "--samples" not in evaluation_arguments(config, grid)["ring8"]
