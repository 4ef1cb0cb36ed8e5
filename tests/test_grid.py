"""The pipeline config: schema, registry names, studies, exclude and override rules, the run list."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from benchsuite import registry
from benchsuite.cli import parser, user_config
from benchsuite.config import RunConfig, resolve
from benchsuite.errors import ConfigError
from benchsuite.grid import (
    GridError, evaluation_arguments, evaluation_jobs, expand, parse_seeds, seeds_text, train_arguments, train_jobs,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "config" / "schema.yaml"
PRESETS = sorted((ROOT / "config").glob("*.yaml"))
PRESETS = [p for p in PRESETS if p.name != "schema.yaml"]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def validated(config: dict) -> dict:
    """The config as the Snakefile sees it: checked and completed with the schema's defaults."""
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    return config


def small(**changes) -> dict:
    base = {"datasets": ["ring8"], "architectures": ["mlp"], "objectives": ["nonsaturating"],
            "regularisers": ["none"], "seeds": [0]}
    return validated(base | changes)


# --- The schema -----------------------------------------------------------------------------------


def test_every_schema_key_has_a_description_and_a_default():
    schema = load(SCHEMA)
    assert schema["description"]
    missing = []

    def walk(node, path, defaults_apply):
        for key, value in (node.get("properties") or {}).items():
            if "description" not in value:
                missing.append(f"{path}.{key}: description")
            if defaults_apply and "default" not in value:
                missing.append(f"{path}.{key}: default")
            walk(value, f"{path}.{key}", defaults_apply)
        for key in ("additionalProperties", "items"):
            if isinstance(node.get(key), dict):
                # Entries of a mapping or a list have no default of their own: the collection has one.
                walk(node[key], f"{path}.{key}", False)

    walk(schema, "config", True)
    for name, definition in schema["$defs"].items():
        walk(definition, f"$defs.{name}", False)
    assert not missing


def test_schema_settings_are_the_run_config_fields():
    fields = set(RunConfig.__dataclass_fields__) - {"dataset", "architecture", "objective", "regulariser", "seed",
                                                    "plugins"}
    assert set(load(SCHEMA)["$defs"]["settings"]["properties"]) == fields


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_pass_the_schema(preset):
    config = validated(load(preset))
    assert config["studies"] or config["datasets"]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"settings": {"steps": "many"}}, ["'many' is not of type 'integer'", "steps"]),
        ({"settings": {"lr_d": -0.1}}, ["lr_d", "-0.1"]),
        ({"seeds": [0, -1]}, ["seeds"]),
        ({"settings": {"stpes": 10}}, ["stpes"]),
        ({"threads": 0}, ["threads", "minimum"]),
        ({"device": "tpu"}, ["device", "tpu"]),
    ],
)
def test_schema_names_the_key_of_a_mistake(change, words):
    config = {"datasets": ["ring8"]} | change
    with pytest.raises(WorkflowError) as error:
        validate(config, str(SCHEMA))
    for word in words:
        assert word in str(error.value)


# --- The default grid -----------------------------------------------------------------------------


def _toy_runs(config_name: str) -> list:
    grid = expand(validated(load(ROOT / "config" / config_name)), base=ROOT)
    return [run for run in grid.runs.values() if run.modality == "toy"]


def test_default_grid_covers_every_regulariser_family_on_the_toy_mixtures_at_one_shared_setting():
    toy = _toy_runs("config.yaml")
    used = {name for run in toy for name in run.config.regularisers}
    for family, members in {"Lipschitz": {"gp", "sn"}, "smoothing": {"r1", "r2", "instance-noise", "vdb"}}.items():
        assert used & members, f"no {family} regulariser in the default grid"
    # One shared optimiser setting, so the leaderboard compares methods rather than settings.
    assert {(run.config.lr_g, run.config.lr_d, run.config.ema, run.config.steps) for run in toy} == {(3e-4, 1e-3, 0.99, 1600)}
    for run in toy:
        seeds = [r.config.seed for r in toy if r.config.run_id.rsplit("/", 1)[0] == run.run_id.rsplit("/", 1)[0]]
        assert len(seeds) >= 3, f"{run.run_id}: fewer than three seeds"


def test_every_objective_runs_in_the_default_grid_or_the_objectives_preset():
    default, preset = _toy_runs("config.yaml"), _toy_runs("objectives-toys.yaml")
    assert {run.config.objective for run in preset} == set(registry.names("objective"))
    assert {"minimax", "nonsaturating", "rpgan"} <= {run.config.objective for run in default}
    # The preset keeps each objective's published settings (wgan's RMSprop at 5e-5, rpgan's betas).
    by_objective = {run.config.objective: run.config for run in preset}
    assert (by_objective["wgan"].optimizer, by_objective["wgan"].lr_d) == ("rmsprop", 5e-5)
    assert (by_objective["rpgan"].beta1, by_objective["rpgan"].beta2) == (0.0, 0.99)


def test_objectives_preset_resolves_default_regularisers_from_the_objective():
    by_objective = {run.config.objective: run.config for run in _toy_runs("objectives-toys.yaml")}
    assert by_objective["wgan"].regularisers == ["clip"]
    assert by_objective["energy"].regularisers == ["entropy", "r1"]
    assert by_objective["rpgan"].regularisers == ["r1", "r2"]
    assert by_objective["nonsaturating"].regularisers == []


# --- Names are checked before anything runs -------------------------------------------------------


@pytest.mark.parametrize(
    "change, words",
    [
        ({"objectives": ["nonsaturatin"]}, ["'objectives'", "unknown objective 'nonsaturatin'", "Did you mean 'nonsaturating'?",
                                            "minimax"]),
        ({"datasets": ["ring9"]}, ["'datasets'", "unknown dataset 'ring9'", "Did you mean 'ring8'?"]),
        ({"regularisers": ["sn+r3"]}, ["'regularisers'", "unknown regulariser 'r3'", "Did you mean"]),
        ({"regularisers": ["default+sn"]}, ["'default'", "cannot be combined"]),
        ({"regularisers": ["sn+r1", "r1 + sn"]}, ["'regularisers' lists a name twice", "r1+sn"]),
        ({"exclude": [{"regulariser": "clipp"}]}, ["exclude[0].regulariser", "Did you mean 'clip'?"]),
        ({"overrides": [{"objective": "wgn", "set": {"steps": 3}}]}, ["overrides[0].objective", "Did you mean 'wgan'?"]),
        ({"overrides": [{"objective": "wgan", "set": {"architecture_options": {"widht": 8}}}],
          "objectives": ["wgan"]}, ["unknown option 'widht'", "wgan"]),
        ({"studies": {"a": {"architectures": ["mlpp"]}}}, ["studies.a.architectures", "Did you mean 'mlp'?"]),
        ({"plugins": ["no/such/file.py"]}, ["'plugins'", "not found"]),
        ({"exclude": [{"study": "nope"}]}, ["exclude[0].study", "'nope'"]),
    ],
)
def test_config_mistakes_name_the_key_and_the_closest_name(change, words):
    with pytest.raises(GridError) as error:
        expand(small(**change), base=ROOT)
    for word in words:
        assert word in str(error.value)


def test_a_dataset_an_architecture_cannot_take_fails_with_the_run_named():
    if "dcgan" not in registry.names("architecture"):
        pytest.skip("no convolutional architecture registered")
    with pytest.raises(GridError, match=r"ring8/dcgan/nonsaturating/none/s0.*does not support data of shape 2"):
        expand(small(architectures=["dcgan"]), base=ROOT)


def test_unknown_metric_options_fail_before_any_job():
    config = small(evaluation={"metrics": {"modez": {"min_samples": 3}}})
    grid = expand(config, base=ROOT)
    with pytest.raises(GridError, match=r"evaluation.metrics.modez.*Did you mean 'modes'"):
        evaluation_arguments(config, grid)
    config = small(evaluation={"metrics": {"modes": {"min_sample": 3}}})
    with pytest.raises(GridError, match=r"unknown option 'min_sample'"):
        evaluation_arguments(config, grid)


# --- Expansion ------------------------------------------------------------------------------------


def test_product_of_the_lists_in_order_with_seed_ranges():
    grid = expand(small(objectives=["minimax", "nonsaturating"], regularisers=["none", "r1"], seeds="0-2"), base=ROOT)
    assert len(grid) == 2 * 2 * 3
    assert list(grid.runs)[:3] == ["ring8/mlp/minimax/none/s0", "ring8/mlp/minimax/none/s1", "ring8/mlp/minimax/none/s2"]


@pytest.mark.parametrize("value, seeds", [("0-3", [0, 1, 2, 3]), (5, [5]), ([2, 0], [2, 0]), (["1", "2"], [1, 2]),
                                          ("[0,1]", [0, 1])])
def test_seed_forms(value, seeds):
    assert parse_seeds(value) == seeds


@pytest.mark.parametrize("value", ["3-1", [0, 0], [True], "x"])
def test_bad_seeds(value):
    with pytest.raises(GridError, match="seeds"):
        parse_seeds(value)


def test_exclude_with_unless_keeps_clip_for_wgan_only():
    config = small(objectives=["nonsaturating", "wgan"], regularisers=["clip", "sn+clip", "default", "r1"],
                   exclude=[{"regulariser": "clip", "unless": {"objective": "wgan"}}])
    grid = expand(config, base=ROOT)
    cells = {(r.config.objective, r.config.regulariser) for r in grid.runs.values()}
    assert cells == {("nonsaturating", "default"), ("nonsaturating", "r1"),
                     ("wgan", "clip"), ("wgan", "clip+sn"), ("wgan", "default"), ("wgan", "r1")}
    assert grid.excluded == 2


def test_a_rule_on_a_regulariser_matches_the_default_spec_that_resolves_to_it():
    config = small(objectives=["nonsaturating", "wgan"], regularisers=["default"],
                   exclude=[{"regulariser": "clip"}])
    assert [r.config.objective for r in expand(config, base=ROOT).runs.values()] == ["nonsaturating"]
    config = small(objectives=["nonsaturating", "wgan"], regularisers=["default"], exclude=[{"regulariser": "none"}])
    assert [r.config.objective for r in expand(config, base=ROOT).runs.values()] == ["wgan"]


def test_overrides_apply_in_order_and_merge_options():
    config = small(
        objectives=["nonsaturating", "wgan"], regularisers=["r1"],
        settings={"steps": 100, "architecture_options": {"width": 32}},
        overrides=[
            {"objective": "wgan", "set": {"steps": 200, "architecture_options": {"depth": 2}}},
            {"objective": "wgan", "regulariser": "r1", "set": {"regulariser_options": {"r1": {"gamma": 1.0}}}},
            {"seed": 0, "objective": "wgan", "set": {"steps": 300}},
        ],
    )
    runs = {r.config.objective: r.config for r in expand(config, base=ROOT).runs.values()}
    assert runs["nonsaturating"].steps == 100

    def sizes(run_config):
        return {key: run_config.architecture_options[key] for key in ("width", "depth")}

    assert sizes(runs["nonsaturating"]) == {"width": 32, "depth": 3}
    assert runs["wgan"].steps == 300
    assert sizes(runs["wgan"]) == {"width": 32, "depth": 2}
    assert runs["wgan"].regulariser_options["r1"]["gamma"] == pytest.approx(1.0)
    assert re.fullmatch(r"ring8/mlp/wgan/r1/s0-[0-9a-f]{8}", runs["wgan"].run_id)


def test_studies_fall_back_on_top_level_lists_and_share_overlapping_runs():
    config = small(seeds=[0, 1], studies={
        "a": {"objectives": ["minimax", "nonsaturating"]},
        "b": {"regularisers": ["none", "r1"], "seeds": [1]},
    })
    grid = expand(config, base=ROOT)
    assert set(grid.runs) == {"ring8/mlp/minimax/none/s0", "ring8/mlp/minimax/none/s1",
                              "ring8/mlp/nonsaturating/none/s0", "ring8/mlp/nonsaturating/none/s1",
                              "ring8/mlp/nonsaturating/r1/s1"}
    assert grid["ring8/mlp/nonsaturating/none/s1"].studies == ("a", "b")


def test_studies_that_train_one_run_differently_conflict():
    config = small(studies={"a": {"settings": {"steps": 10}}, "b": {"settings": {"steps": 20}}})
    with pytest.raises(GridError, match=r"ring8/mlp/nonsaturating/none/s0 is set up differently by studies 'a' and 'b'.*steps"):
        expand(config, base=ROOT)


def test_an_empty_grid_is_an_error():
    with pytest.raises(GridError, match="empty"):
        expand(small(exclude=[{"dataset": "ring8"}]), base=ROOT)


def test_unknown_run_is_named():
    grid = expand(small(), base=ROOT)
    with pytest.raises(GridError, match="ring8/mlp/wgan/none/s0"):
        grid["ring8/mlp/wgan/none/s0"]


def test_plugins_are_loaded_before_names_are_checked(tmp_path):
    plugin = tmp_path / "mine.py"
    plugin.write_text(
        "from benchsuite.objectives.nonsaturating import NonSaturating\n"
        "from benchsuite.registry import register\n\n\n"
        "@register('objective', 'grid-test-plugin')\n"
        "class Mine(NonSaturating):\n"
        "    '''A plugin objective for the grid test.'''\n"
    )
    config = small(objectives=["grid-test-plugin"], plugins=["mine.py"])
    grid = expand(config, base=tmp_path)
    (run,) = grid.runs.values()
    assert run.config.plugins == (str(plugin.resolve()),)
    assert "--plugin" in train_arguments(run)
    # Evaluate imports no plugin a run lists: the pipeline names its config's on the command line.
    assert evaluation_arguments(config, grid)["ring8"].startswith(f"--plugin {plugin.resolve()}")


# --- From a run to the command that trains it -----------------------------------------------------


@pytest.mark.parametrize("config_file", [ROOT / "config" / "config.yaml", ROOT / "tests" / "pipeline" / "tiny.yaml"],
                         ids=lambda p: p.name)
def test_train_arguments_rebuild_the_same_run(config_file):
    grid = expand(validated(load(config_file)), base=ROOT)
    for run in grid.runs.values():
        args = parser().parse_args(["train", *train_arguments(run)])
        settings, base = user_config(args)
        assert resolve(settings, base=base) == run.config, run.run_id


@pytest.mark.parametrize("seeds, text", [([0], "0"), ([0, 1, 2], "0-2"), ([5, 0, 1, 3], "0-1,3,5"), ([2, 3, 7, 8], "2-3,7-8")])
def test_seeds_text_is_what_seeds_reads(seeds, text):
    assert seeds_text(seeds) == text
    assert parse_seeds(text, "--seeds") == sorted(seeds)


def test_toy_seeds_of_one_configuration_are_one_train_job_and_images_one_each(tmp_path):
    config = small(seeds=[0, 1, 2], regularisers=["none", "r1"], studies={
        "toy": {"datasets": ["ring8"]},
        "images": {"datasets": ["digits"], "architectures": ["dcgan"], "regularisers": ["none"], "seeds": [0, 1]}})
    grid = expand(config, base=ROOT)
    record_of, jobs = train_jobs(grid, tmp_path, "toy")
    assert sorted(jobs) == ["digits/dcgan/nonsaturating/none/seeds-0.json", "digits/dcgan/nonsaturating/none/seeds-1.json",
                            "ring8/mlp/nonsaturating/none/seeds-0-2.json", "ring8/mlp/nonsaturating/r1/seeds-0-2.json"]
    assert set(record_of) == set(grid.runs)
    job = jobs["ring8/mlp/nonsaturating/r1/seeds-0-2.json"]
    assert job.runs == tuple(f"ring8/mlp/nonsaturating/r1/s{seed}" for seed in range(3))
    # The job's arguments train exactly the grid's runs of those seeds.
    args = parser().parse_args(["train", *job.arguments])
    assert args.seeds == "0-2"
    settings, base = user_config(args)
    assert resolve(settings | {"seed": 1}, base=base) == grid.runs["ring8/mlp/nonsaturating/r1/s1"].config
    assert len(train_jobs(grid, tmp_path, "all")[1]) == 3
    assert len(train_jobs(grid, tmp_path, "none")[1]) == 8


def test_a_finished_job_keeps_its_record_and_a_new_seed_gets_its_own(tmp_path):
    import json

    grid = expand(small(seeds=[0, 1]), base=ROOT)
    record_of, jobs = train_jobs(grid, tmp_path)
    (name,) = jobs
    # What the train job leaves: the runs' final statuses, then the record.
    for run_id in jobs[name].runs:
        (tmp_path / run_id).mkdir(parents=True)
        (tmp_path / run_id / "status.json").write_text('{"status": "completed"}')
    (tmp_path / name).write_text(json.dumps({"arguments": list(jobs[name].arguments),
                                             "runs": {run_id: {} for run_id in jobs[name].runs}}))
    grown = expand(small(seeds=[0, 1, 2]), base=ROOT)
    record_of, jobs_now = train_jobs(grown, tmp_path)
    assert record_of["ring8/mlp/nonsaturating/none/s0"] == record_of["ring8/mlp/nonsaturating/none/s1"] == name
    assert jobs_now[name] == jobs[name]  # rebuilt from the record, so Snakemake sees the same job
    assert record_of["ring8/mlp/nonsaturating/none/s2"] == "ring8/mlp/nonsaturating/none/seeds-2.json"
    # A run whose status is gone (deleted to retrain it) is no longer covered by the old record.
    (tmp_path / "ring8/mlp/nonsaturating/none/s1/status.json").unlink()
    record_of, _ = train_jobs(grown, tmp_path)
    assert record_of["ring8/mlp/nonsaturating/none/s1"] == "ring8/mlp/nonsaturating/none/seeds-1-2.json"


def test_runs_with_other_settings_in_one_cell_are_separate_jobs(tmp_path):
    config = small(seeds=[0, 1, 2], overrides=[{"seed": 2, "set": {"steps": 7}}])
    record_of, jobs = train_jobs(expand(config, base=ROOT), tmp_path)
    assert sorted(jobs) == ["ring8/mlp/nonsaturating/none/seeds-0-1.json", "ring8/mlp/nonsaturating/none/seeds-2.json"]


def _finish(root, record: str, run_ids, final_file: str, extra: dict | None = None) -> None:
    """What a job leaves: each run's last file, then the record that lists the runs."""
    import json

    for run_id in run_ids:
        (root / run_id).mkdir(parents=True, exist_ok=True)
        (root / run_id / final_file).write_text('{"status": "completed"}')
    (root / record).write_text(json.dumps((extra or {}) | {"runs": {run_id: {} for run_id in run_ids}}))


def test_one_evaluate_job_per_train_job_and_a_deleted_metrics_file_is_scored_again(tmp_path):
    grid = expand(small(seeds=[0, 1, 2], regularisers=["none", "r1"]), base=ROOT)
    record_of, train = train_jobs(grid, tmp_path)
    jobs = evaluation_jobs(grid, tmp_path, record_of)
    cell = "ring8/mlp/nonsaturating/r1"
    assert sorted(jobs) == ["ring8/mlp/nonsaturating/none/metrics-0-2.json", f"{cell}/metrics-0-2.json"]
    job = jobs[f"{cell}/metrics-0-2.json"]
    assert job.train_records == (f"{cell}/seeds-0-2.json",)
    assert job.runs == tuple(f"{cell}/s{seed}" for seed in range(3)) and job.size == 3

    for name, train_job in train.items():
        _finish(tmp_path, name, train_job.runs, "status.json", {"arguments": list(train_job.arguments)})
    for name, evaluation_job in jobs.items():
        _finish(tmp_path, name, evaluation_job.runs, "metrics.json")
    assert evaluation_jobs(grid, tmp_path, train_jobs(grid, tmp_path)[0]) == jobs  # finished: the same jobs

    # s1's metrics deleted: a job of its own. The finished job stays as it was (the same runs, so the
    # same params for Snakemake), and its output is there, so the others are not scored again.
    (tmp_path / cell / "s1" / "metrics.json").unlink()
    now = evaluation_jobs(grid, tmp_path, train_jobs(grid, tmp_path)[0])
    assert now[f"{cell}/metrics-1.json"].runs == (f"{cell}/s1",)
    assert now[f"{cell}/metrics-0-2.json"] == jobs[f"{cell}/metrics-0-2.json"]

    # s2 retrained (its status deleted): its old evaluation's job now also waits for the new train job.
    (tmp_path / cell / "s2" / "status.json").unlink()
    record_of, _ = train_jobs(grid, tmp_path)
    assert record_of[f"{cell}/s2"] == f"{cell}/seeds-2.json"
    now = evaluation_jobs(grid, tmp_path, record_of)
    assert now[f"{cell}/metrics-0-2.json"].train_records == (f"{cell}/seeds-0-2.json", f"{cell}/seeds-2.json")


def test_evaluation_arguments_carry_samples_and_metric_options_of_the_dataset_modality():
    config = small(evaluation={"samples": {"toy": 123}, "metrics": {"modes": {"min_samples": 7}}})
    arguments = evaluation_arguments(config, expand(config, base=ROOT))
    assert arguments == {"ring8": "--samples 123 --set modes.min_samples=7"}


def test_devices():
    # rules/common.smk picks the jobs' device through the grid module, from the one home of pick_device.
    import torch

    from benchsuite import device, grid

    assert grid.pick_device is device.pick_device
    assert grid.pick_device("cpu") == torch.device("cpu")
    assert grid.pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # A cluster's jobs run elsewhere: "cuda" is taken on trust there, and checked here otherwise.
    assert grid.pick_device("cuda", check=False).type == "cuda"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' was requested but this machine has no usable CUDA GPU"):
            grid.pick_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu'; use auto, cpu, cuda or cuda:N"):
        grid.pick_device("gpu")
