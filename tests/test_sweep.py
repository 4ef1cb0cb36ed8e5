"""Sweeps in the grid: K settings drawn per method, reproducible, prefix-stable, validated before any job."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import yaml

from benchsuite.budget import Budget
from benchsuite.budget import parse as parse_budget
from benchsuite.errors import ConfigError
from benchsuite.grid import GridError, expand
from benchsuite.sweep import parse

from conftest import pipeline_failure, snakemake


def sweep_config(samples: int = 3, seed: int = 0, space: dict | None = None, **study) -> dict:
    space = space if space is not None else {
        "lr_d": {"log_uniform": ["1e-5", 1.0e-2]},  # as YAML reads 1e-5: text
        "beta1": {"choice": [0.0, 0.5, 0.9]},
        "n_critic": {"uniform": [1, 5]},
        "regulariser.gp.weight": {"log_uniform": [0.1, 100]},
    }
    return {"architectures": ["mlp"], "seeds": [0, 1],
            "studies": {"tune": {"datasets": ["ring8"], "objectives": ["nonsaturating", "wgan"],
                                 "regularisers": ["none", "gp"],
                                 "sweep": {"samples": samples, "seed": seed, "space": space}, **study}},
            "exclude": [{"objective": "wgan", "regulariser": "none"}]}


def draws_of(grid) -> dict[str, tuple]:
    return {run_id: run.draw for run_id, run in grid.runs.items()}


def test_each_setting_is_a_set_of_runs_with_its_own_run_id():
    grid = expand(sweep_config())
    # 3 methods x 3 settings x 2 seeds.
    assert len(grid) == 18
    variants = grid.sweep_settings()["tune"]
    assert set(variants) == {"ring8/mlp/nonsaturating/none", "ring8/mlp/nonsaturating/gp", "ring8/mlp/wgan/gp"}
    for settings in variants.values():
        assert sorted(settings.values()) == [0, 1, 2]  # three distinct hashes, one per setting
    seeds_of = {}
    for run in grid.runs.values():
        seeds_of.setdefault((run.config.objective, run.config.regulariser, run.draw), set()).add(run.config.seed)
    assert all(seeds == {0, 1} for seeds in seeds_of.values())


def test_every_method_gets_the_same_points_and_a_name_only_where_it_applies():
    grid = expand(sweep_config())
    by_draw: dict[int, set] = {}
    for run in grid.runs.values():
        c = run.config
        by_draw.setdefault(run.draw[1], set()).add((c.lr_d, c.beta1, c.n_critic))
        assert 1e-5 <= c.lr_d <= 1e-2 and c.beta1 in (0.0, 0.5, 0.9)
        assert float(f"{c.lr_d:.4g}") == c.lr_d  # four significant digits, as one would write it
        assert isinstance(c.n_critic, int) and 1 <= c.n_critic <= 5  # a whole-number setting: rounded
        if "gp" in c.regulariser_options:
            assert 0.1 <= c.regulariser_options["gp"]["weight"] <= 100
        else:
            assert c.regulariser == "none" and c.regulariser_options == {}
    assert all(len(values) == 1 for values in by_draw.values())
    assert len({next(iter(values)) for values in by_draw.values()}) == 3


def test_the_draws_are_reproducible_from_the_seed():
    first, again, other = expand(sweep_config(seed=3)), expand(sweep_config(seed=3)), expand(sweep_config(seed=4))
    assert draws_of(first) == draws_of(again)
    assert [run.config for run in first.runs.values()] == [run.config for run in again.runs.values()]
    assert set(first.runs).isdisjoint(other.runs)


def test_adding_samples_keeps_every_earlier_setting():
    small, large = expand(sweep_config(samples=3)), expand(sweep_config(samples=6))
    assert set(small.runs) < set(large.runs)
    assert all(large.runs[run_id].draw == draw for run_id, draw in draws_of(small).items())
    assert {run.draw[1] for run in large.runs.values()} == set(range(6))
    # A smoke-test budget's draws cap keeps the first settings, as a smaller sweep would.
    assert parse_budget("steps=20,draws=3") == Budget(steps=20, draws=3)
    assert draws_of(expand(sweep_config(samples=6), budget=Budget(draws=3))) == draws_of(small)


def test_a_draw_maps_the_unit_interval_onto_its_distribution():
    sweep = parse({"samples": 64, "seed": 1, "space": {"ema": {"uniform": [0.2, 0.4]}, "lr_d": {"log_uniform": [1e-4, 1]},
                                                       "optimizer": {"choice": ["adam", "rmsprop"]}}}, "s")
    dimensions = {d.name: d for d in sweep.dimensions}
    assert [d.name for d in sweep.dimensions] == ["ema", "lr_d", "optimizer"]  # sorted: the YAML's order is no input
    assert dimensions["ema"].at(0.0) == 0.2 and math.isclose(dimensions["ema"].at(0.5), 0.3)
    assert math.isclose(dimensions["lr_d"].at(0.5), 1e-2) and math.isclose(dimensions["lr_d"].at(0.25), 1e-3)
    assert dimensions["optimizer"].at(0.49) == "adam" and dimensions["optimizer"].at(0.5) == "rmsprop"
    points = sweep.points()
    assert points.shape == (64, 3) and ((points >= 0) & (points < 1)).all()
    # Quasi-random: 64 points put 16 in each quarter of every axis.
    for axis in range(3):
        counts = [int(((points[:, axis] >= q / 4) & (points[:, axis] < (q + 1) / 4)).sum()) for q in range(4)]
        assert counts == [16, 16, 16, 16]


BAD_SWEEPS = [
    ("unknown setting", {"space": {"lr": {"uniform": [0.1, 0.2]}}}, ["space.lr", "unknown setting 'lr'", "lr_d"]),
    ("setting outside the run id", {"space": {"steps": {"choice": [10, 20]}}}, ["steps", "outside the run id"]),
    ("unknown regulariser", {"space": {"regulariser.gpp.weight": {"uniform": [1, 2]}}}, ["gpp", "Did you mean 'gp'"]),
    ("unknown regulariser option", {"space": {"regulariser.gp.lambda": {"uniform": [1, 2]}}},
     ["no option 'lambda'", "weight"]),
    ("bad dotted name", {"space": {"regulariser.gp": {"uniform": [1, 2]}}}, ["regulariser.NAME.OPTION"]),
    ("option nobody has", {"space": {"architecture.widht": {"choice": [16, 32]}}},
     ["architecture.widht", "sets nothing"]),
    ("regulariser the study does not use", {"space": {"regulariser.r1.gamma": {"uniform": [1, 2]}}},
     ["regulariser.r1.gamma", "sets nothing"]),
    ("empty range", {"space": {"lr_d": {"uniform": [0.1, 0.1]}}}, ["lr_d.uniform", "low must be below high"]),
    ("log range from zero", {"space": {"lr_d": {"log_uniform": [0, 0.1]}}}, ["log_uniform", "> 0"]),
    ("range of text", {"space": {"lr_d": {"uniform": ["a", "b"]}}}, ["lr_d.uniform", "two finite numbers"]),
    ("two distributions", {"space": {"lr_d": {"uniform": [1, 2], "choice": [1]}}}, ["space.lr_d", "one of"]),
    ("empty choice", {"space": {"beta1": {"choice": []}}}, ["beta1.choice", "at least one"]),
    ("value a method refuses", {"space": {"beta1": {"uniform": [0.0, 1.5]}}},
     ["space.beta1", "high end 1.5", "[0, 1)"]),
    ("choice a method refuses", {"space": {"optimizer": {"choice": ["adam", "sgd"]}}},
     ["space.optimizer", "'sgd'", "adam, rmsprop"]),
    ("too few distinct settings", {"samples": 4, "space": {"beta1": {"choice": [0.0, 0.5]}}},
     ["are the same run", "samples: 4"]),
    ("no samples", {"samples": 0}, ["sweep.samples", "from 1"]),
    ("unknown sweep key", {"draws": 3}, ["unknown key 'draws'", "samples, seed, space"]),
]


@pytest.mark.parametrize("change, words", [case[1:] for case in BAD_SWEEPS], ids=[case[0] for case in BAD_SWEEPS])
def test_a_bad_sweep_is_one_message_naming_the_key(change, words):
    config = sweep_config()
    config["studies"]["tune"]["sweep"] |= change
    with pytest.raises(ConfigError) as caught:
        expand(config)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_two_studies_that_draw_one_run_at_different_settings_are_refused():
    # Two points of a two-way choice: seed 0 draws 0.0 then 0.5, seed 4 the other way round.
    config = sweep_config(samples=2, space={"beta1": {"choice": [0.0, 0.5]}})
    config["studies"]["again"] = dict(config["studies"]["tune"], sweep={"samples": 2, "seed": 4,
                                                                        "space": {"beta1": {"choice": [0.0, 0.5]}}})
    with pytest.raises(GridError, match="different seeds"):
        expand(config)


@pytest.mark.slow
def test_a_tiny_sweep_runs_end_to_end_and_more_samples_train_only_the_new_settings(tmp_path):
    config = {"results": "results", "device": "cpu", "seeds": [0, 1], "datasets": ["ring8"], "architectures": ["mlp"],
              "settings": {"steps": 10, "log_every": 5, "checkpoint_every": 5, "batch_size": 32, "z_dim": 4,
                           "architecture_options": {"width": 16, "depth": 2}},
              "studies": {"tune": {"objectives": ["nonsaturating"], "regularisers": ["none"],
                                   "sweep": {"samples": 2, "seed": 0, "space": {"lr_d": {"log_uniform": [1e-4, 1e-2]}}}}},
              "evaluation": {"samples": {"toy": 200}}, "aggregate": {"bootstrap": 200}}
    configfile = tmp_path / "sweep.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "--cores", "2", configfile=configfile)
    assert result.returncode == 0, pipeline_failure(result, tmp_path)
    tables = tmp_path / "results" / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    assert sorted(zip(runs["setting"], runs["seed"])) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert (runs["sweep"] == "tune").all() and runs["variant"].nunique() == 2
    budget = pd.read_csv(tables / "budget.csv")
    assert set(budget["budget"]) == {1, 2} and (budget["draws"] == 2).all() and (budget["runs"] == 4).all()
    assert 'id="budget"' in (tmp_path / "results" / "report.html").read_text()

    config["studies"]["tune"]["sweep"]["samples"] = 3
    configfile.write_text(yaml.safe_dump(config))
    dry = snakemake(tmp_path, "--cores", "2", "-n", configfile=configfile)
    assert dry.returncode == 0, dry.stderr[-3000:]
    trained = re.findall(r"output: \S*/runs/(\S+)/seeds-", dry.stdout + dry.stderr)
    # The first two settings are the same runs: only the third setting's job is new.
    assert len(trained) == 1
