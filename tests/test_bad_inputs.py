"""Bad input, as a careless user or a hostile file would give it, across every command and the
pipeline config: exit code 2 (Snakemake's own non-zero code for the pipeline), one message naming
the problem and the fix, no traceback, and every file that was there before unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchsuite.cli import main, parser, user_config
from benchsuite.config import resolve
from benchsuite.errors import BenchsuiteError
from benchsuite.train import train

from conftest import snakemake, tiny_config

TRAIN = ["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "nonsaturating", "--steps", "4",
         "--set", "batch_size=16", "--quiet"]


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its sha256 and permission bits."""
    return {str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A folder of good and bad things to point the commands at."""
    root = tmp_path_factory.mktemp("world")
    (root / "afile").write_text("a regular file\n")
    (root / "adir").mkdir()
    (root / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (root / "list-objective.yaml").write_text("dataset: ring8\narchitecture: mlp\nobjective: [x]\n")
    (root / "top-level-list.yaml").write_text("- dataset: ring8\n")
    (root / "broken.yaml").write_text("dataset: ring8\n  objective: : [\n")

    # A finished run, and damaged or foreign copies of it.
    good, longer = root / "runs" / "good", root / "runs" / "longer"
    train(tiny_config(steps=4), good, progress=False)
    train(tiny_config(steps=6), longer, progress=False)
    for name, damage in {
        "corrupt-config": lambda run: (run / "config.json").write_text("{not json"),
        "corrupt-status": lambda run: (run / "status.json").write_bytes(b"\x00\xff"),
        "foreign-checkpoint": lambda run: shutil.copy(longer / "checkpoint.pt", run / "checkpoint.pt"),
        "needs-plugin": lambda run: (run / "config.json").write_text(json.dumps(
            json.loads((good / "config.json").read_text()) | {"objective": "mystery",
                                                               "plugins": ["/elsewhere/mystery.py"]})),
    }.items():
        shutil.copytree(good, root / "runs" / name)
        damage(root / "runs" / name)
    # A run directory --out points at whose status is damaged (same config as the TRAIN command).
    config = resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 4,
                      "batch_size": 16})
    over = root / "over-corrupt-status"
    over.mkdir()
    (over / "config.json").write_text(config.to_json())
    (over / "status.json").write_text("{\"status\": ")

    for name, content in {"tables-empty": b"", "tables-binary": bytes(range(256))}.items():
        (root / name).mkdir()
        for table in ("runs.csv", "summary.csv"):
            (root / name / table).write_bytes(content)
    (root / "tables-missing").mkdir()
    return root


# (id, argv, words the message must contain). Paths are relative to the world folder.
CLI_CASES = [
    # train: where it writes
    ("train --out under a file", [*TRAIN, "--out", "afile/run"], ["afile", "is a file", "--out"]),
    ("train --out is a file", [*TRAIN, "--out", "afile"], ["afile", "is a file", "--out"]),
    ("train --out in /proc", [*TRAIN, "--out", "/proc/benchsuite-run"], ["/proc/benchsuite-run", "cannot be written",
                                                                        "another --out"]),
    ("train --record in /proc", [*TRAIN, "--seeds", "0-1", "--out", "adir/seeds", "--record", "/proc/record.json"],
     ["--record", "/proc/record.json", "cannot be written"]),
    ("train --record is a directory", [*TRAIN, "--seeds", "0-1", "--out", "adir/seeds", "--record", "adir"],
     ["--record", "is a directory"]),
    # train: plugins and config files
    ("train --plugin a text file", [*TRAIN, "--plugin", "notes.txt", "--out", "adir/r"], ["notes.txt", "not a Python file"]),
    ("train --plugin /etc/passwd", [*TRAIN, "--plugin", "/etc/passwd", "--out", "adir/r"],
     ["/etc/passwd", "not a Python file"]),
    ("train --plugin a directory", [*TRAIN, "--plugin", "adir", "--out", "adir/r"], ["plugin file", "not found"]),
    ("train --plugin missing", [*TRAIN, "--plugin", "nowhere.py", "--out", "adir/r"], ["nowhere.py", "not found"]),
    ("train --config a directory", ["train", "--config", "adir", "--quiet"], ["adir", "is a directory"]),
    ("train --config binary", ["train", "--config", "binary.yaml", "--quiet"], ["binary.yaml", "not text"]),
    ("train --config objective: [x]", ["train", "--config", "list-objective.yaml", "--quiet"],
     ["'objective'", "must be one objective name"]),
    ("train --config a list", ["train", "--config", "top-level-list.yaml", "--quiet"], ["must hold a mapping"]),
    ("train --config bad YAML", ["train", "--config", "broken.yaml", "--quiet"], ["broken.yaml", "not valid YAML"]),
    ("train --config missing", ["train", "--config", "nowhere.yaml", "--quiet"], ["nowhere.yaml", "not found"]),
    # train: devices and sizes
    ("train --device foo", [*TRAIN, "--device", "foo"], ["--device 'foo'", "use cpu, cuda"]),
    ("train --device cuda:99", [*TRAIN, "--device", "cuda:99"], ["--device 'cuda:99'", "CUDA GPU"]),
    ("train batch_size=1e11", [*TRAIN, "--set", "batch_size=1e11"], ["'batch_size'", "from 1 to 65,536"]),
    ("train steps=0", [*TRAIN, "--set", "steps=0"], ["'steps'", "from 1 to"]),
    ("train --steps absurd", [*TRAIN, "--steps", "10000000000"], ["'steps'", "from 1 to 1,000,000,000"]),
    ("train z_dim=-3", [*TRAIN, "--set", "z_dim=-3"], ["'z_dim'", "from 1 to"]),
    ("train n_critic=1e6", [*TRAIN, "--set", "n_critic=1e6"], ["'n_critic'", "from 1 to 1,000"]),
    ("train --seeds absurd range", [*TRAIN, "--seeds", "0-100000000"], ["--seeds", "more than 1000 seeds"]),
    ("train --seeds absurd seed", [*TRAIN, "--seeds", "99999999999"], ["--seeds", "from 0 to"]),
    ("train --seeds reversed", [*TRAIN, "--seeds", "5-2"], ["--seeds", "empty"]),
    ("train --seeds words", [*TRAIN, "--seeds", "abc"], ["--seeds", "a seed must be an integer >= 0 or a range like '0-7'"]),
    ("train --seed -1", [*TRAIN, "--seed", "-1"], ["'seed'", "from 0 to"]),
    # train: values of methods and settings
    ("train negative gamma", [*TRAIN, "--regulariser", "r1", "--set", "regulariser.r1.gamma=-1"],
     ["regulariser 'r1' option 'gamma'", "non-negative"]),
    ("train negative radius", [*TRAIN, "--set", "dataset.radius=-1"], ["option 'radius'", "positive"]),
    ("train zero std", [*TRAIN, "--set", "dataset.std=0"], ["option 'std'", "positive"]),
    ("train width 0", [*TRAIN, "--set", "architecture.width=0"], ["option 'width'", "positive"]),
    ("train negative clip", [*TRAIN, "--regulariser", "clip", "--set", "regulariser.clip.c=-0.01"],
     ["option 'c'", "positive"]),
    ("train negative lr", [*TRAIN, "--set", "lr_d=-1"], ["'lr_d'", "must be > 0"]),
    ("train beta1 1.5", [*TRAIN, "--set", "beta1=1.5"], ["'beta1'", "[0, 1)"]),
    ("train unknown key", [*TRAIN, "--set", "nokey=1"], ["unknown config key 'nokey'", "valid keys"]),
    ("train --set without =", [*TRAIN, "--set", "dataset.radius"], ["--set expects key=value"]),
    ("train --set deep key", [*TRAIN, "--set", "dataset.a.b=1"], ["write dataset.OPTION=value"]),
    ("train plugins=5", [*TRAIN, "--set", "plugins=5"], ["'plugins'", "must list plugin file paths"]),
    ("train options not a mapping", [*TRAIN, "--set", "dataset_options=[1]"], ["'dataset_options'", "mapping"]),
    ("train regulariser twice", [*TRAIN, "--regulariser", "r1+r1"], ["names a regulariser twice"]),
    ("train default combined", [*TRAIN, "--regulariser", "default+sn"], ["'default'", "cannot be combined"]),
    ("train regulariser shell", [*TRAIN, "--regulariser", "r1;touch pwned"], ["not a regulariser name"]),
    ("train unknown objective", [*TRAIN, "--objective", "nonsaturatng"], ["Did you mean 'nonsaturating'?"]),
    ("train over corrupt status", [*TRAIN, "--out", "over-corrupt-status"], ["status.json", "unreadable", "--force"]),
    ("train over another run", [*TRAIN, "--out", "runs/good"], ["holds a different config", "--force"]),
    # evaluate
    ("evaluate corrupt config", ["evaluate", "runs/corrupt-config"], ["config.json", "not a run config", "--force"]),
    ("evaluate corrupt status", ["evaluate", "runs/corrupt-status"], ["status.json", "unreadable", "--force"]),
    ("evaluate foreign checkpoint", ["evaluate", "runs/foreign-checkpoint", "--samples", "50"],
     ["checkpoint", "different config", "--force"]),
    ("evaluate needs a plugin", ["evaluate", "runs/needs-plugin"],
     ["objective 'mystery'", "--plugin /elsewhere/mystery.py", "never imported"]),
    ("evaluate --samples -5", ["evaluate", "runs/good", "--samples", "-5"], ["--samples", "from 1 to"]),
    ("evaluate --samples 0", ["evaluate", "runs/good", "--samples", "0"], ["--samples", "from 1 to"]),
    ("evaluate not a run", ["evaluate", "adir"], ["adir", "not a run directory"]),
    ("evaluate --device foo", ["evaluate", "runs/good", "--device", "foo"], ["--device 'foo'"]),
    ("evaluate unknown metric option", ["evaluate", "runs/good", "--set", "modes.nope=1"], ["unknown option 'nope'"]),
    ("evaluate --set without metric", ["evaluate", "runs/good", "--set", "nope=1"], ["METRIC.OPTION=value"]),
    ("evaluate --record in /proc", ["evaluate", "runs/good", "--record", "/proc/m.json"], ["--record", "cannot be written"]),
    # aggregate
    ("aggregate --confidence 2", ["aggregate", "--runs", "runs", "--out", "adir/t", "--confidence", "2"],
     ["--confidence", "between 0 and 1"]),
    ("aggregate --confidence -0.5", ["aggregate", "--runs", "runs", "--out", "adir/t", "--confidence", "-0.5"],
     ["--confidence", "between 0 and 1"]),
    ("aggregate --bootstrap 0", ["aggregate", "--runs", "runs", "--out", "adir/t", "--bootstrap", "0"],
     ["--bootstrap", "from 100 to"]),
    ("aggregate --runs missing", ["aggregate", "--runs", "nowhere", "--out", "adir/t"], ["--runs 'nowhere'", "not a directory"]),
    ("aggregate --runs empty", ["aggregate", "--runs", "adir", "--out", "adir/t"], ["no run directories", "train"]),
    ("aggregate not a run", ["aggregate", "adir", "--out", "adir/t"], ["adir", "not a run directory"]),
    ("aggregate --run-list missing", ["aggregate", "--run-list", "nowhere.txt", "--out", "adir/t"],
     ["--run-list 'nowhere.txt' cannot be read"]),
    ("aggregate --run-list names a non-run", ["aggregate", "--run-list", "afile", "--out", "adir/t"],
     ["not a run directory"]),
    ("aggregate --baseline", ["aggregate", "--runs", "runs", "--baseline", "nonsaturating"], ["OBJECTIVE:REGULARISER"]),
    ("aggregate --baseline spec", ["aggregate", "--runs", "runs", "--baseline", "nonsaturating:r1+"], ["join names"]),
    ("aggregate --better", ["aggregate", "--runs", "runs", "--out", "adir/t", "--better", "fid=sideways"],
     ["--better expects METRIC=higher"]),
    ("aggregate --out under a file", ["aggregate", "runs/good", "--out", "afile/t"], ["afile", "is a file"]),
    ("aggregate --sweeps not json", ["aggregate", "runs/good", "--out", "adir/t", "--sweeps", "{tune: 1"],
     ["--sweeps is not valid JSON"]),
    ("aggregate --sweeps shape", ["aggregate", "runs/good", "--out", "adir/t", "--sweeps", '{"tune": [1, 2]}'],
     ["--sweeps must map study"]),
    ("aggregate --published not JSON", ["aggregate", "runs/good", "--out", "adir/t", "--published", "[1, 2"],
     ["--published", "not valid JSON"]),
    ("aggregate --published missing file", ["aggregate", "runs/good", "--out", "adir/t", "--published", "nowhere.json"],
     ["--published", "neither a JSON list nor an existing file"]),
    ("reproductions not a results dir", ["reproductions", "adir"], ["adir", "has no tables/runs.csv"]),
    # report
    ("report missing tables", ["report", "--tables", "tables-missing", "--out", "adir/r.html"], ["runs.csv", "not found",
                                                                                                "aggregate"]),
    ("report empty tables", ["report", "--tables", "tables-empty", "--out", "adir/r.html"], ["empty or damaged", "aggregate"]),
    ("report damaged tables", ["report", "--tables", "tables-binary", "--out", "adir/r.html"], ["empty or damaged"]),
    ("report tables is a file", ["report", "--tables", "afile", "--out", "adir/r.html"], ["not found"]),
]


@pytest.mark.parametrize("argv, words", [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES])
def test_a_bad_command_line_is_one_message_and_changes_nothing(world, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(world)
    before = snapshot(world)
    assert main(argv) == 2
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert "Traceback" not in captured.err + captured.out
    assert message.startswith("benchsuite: error: ") and "\n" not in message, message
    for word in words:
        assert word in message
    assert snapshot(world) == before
    assert not list(world.rglob("*.tmp")) and not (world / "results").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_training(world, monkeypatch, capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main([*TRAIN, "--out", str(locked / "run")]) == 2
        assert "cannot be written" in capsys.readouterr().err
    finally:
        locked.chmod(stat.S_IRWXU)


def test_evaluate_scores_every_good_run_of_a_batch_and_names_the_bad_ones(world, monkeypatch, capsys, tmp_path):
    for name in ("good", "corrupt-status", "foreign-checkpoint"):
        shutil.copytree(world / "runs" / name, tmp_path / name)
    before = snapshot(tmp_path)
    code = main(["evaluate", *(str(tmp_path / name) for name in ("corrupt-status", "good", "foreign-checkpoint")),
                 "--samples", "50", "--record", str(tmp_path / "record.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "2 of 3 runs were not evaluated" in err and "corrupt-status" in err and "foreign-checkpoint" in err
    assert (tmp_path / "good" / "metrics.json").exists() and not (tmp_path / "record.json").exists()
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before


def test_force_recovers_a_run_whose_config_is_unreadable(world, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(world / "runs" / "corrupt-config", run)
    assert main([*TRAIN, "--out", str(run)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*TRAIN, "--out", str(run), "--force"]) == 0
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    aside = list(tmp_path.glob("run.replaced-*"))
    assert len(aside) == 1 and (aside[0] / "config.json").read_text() == "{not json"


def test_seeds_are_all_checked_before_any_is_moved_aside(tmp_path, capsys):
    out = tmp_path / "cell"
    assert main([*TRAIN, "--seeds", "0-1", "--out", str(out)]) == 0
    suffix = next(out.glob("s0*")).name.removeprefix("s0")
    (out / f"s2{suffix}").write_text("a file where seed 2's run directory would go")
    before = snapshot(tmp_path)
    # --force would move seeds 0 and 1 aside; seed 2 cannot be trained, so neither may be.
    assert main([*TRAIN, "--seeds", "0-2", "--out", str(out), "--force"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert snapshot(tmp_path) == before and not list(tmp_path.rglob("*.replaced-*"))


def test_run_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(previous)
    for name in ("config.json", "status.json", "checkpoint.pt", "log.csv", "provenance.json"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name


# --- Random --set keys and values -----------------------------------------------------------------

KEYS = ["steps", "batch_size", "z_dim", "lr_d", "lr_g", "beta1", "beta2", "ema", "n_critic", "seed", "optimizer",
        "precision", "log_every", "diagnostics", "regulariser", "dataset", "objective", "dataset_options",
        "regulariser_options", "dataset.radius", "dataset.std", "dataset.modes", "architecture.width",
        "architecture.depth", "objective.x", "regulariser.r1.gamma", "regulariser.sn.power_iterations",
        "regulariser.gp.weight", "regulariser", "plugins"]
VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e308", "1e400", "-0", "0", "1", "-1", "1e11", "true", "null", "none",
                     "[]", "{}", "[1, 2]", "{\"a\": 1}", "{\"r1\": {\"gamma\": -1}}", "r1+sn", "r1 + r1", "[",
                     "default", "\x00", "ring8", "0.5"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
ASSIGNMENT_KEYS = st.one_of(st.sampled_from(KEYS), st.text(max_size=16))


# Derandomised: the same 400 cases on every run, so a failure is reproducible and never flaky.
@settings(max_examples=400, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(ASSIGNMENT_KEYS, VALUES), min_size=1, max_size=3),
       st.sampled_from(["none", "r1", "sn+r1", "gp"]))
def test_random_set_assignments_are_a_config_or_one_clear_error(assignments, regulariser):
    argv = ["train", "--dataset", "ring8", "--arch", "mlp", "--objective", "nonsaturating",
            "--regulariser", regulariser]
    argv += [f"--set={key}={value}" for key, value in assignments]
    args = parser().parse_args(argv)
    try:
        settings_, base = user_config(args)
        config = resolve(settings_, base=base)
    except BenchsuiteError as error:
        assert str(error) and "\n" not in str(error).strip()
        return
    assert config.run_id.count("/") == 4
    assert json.loads(config.to_json())["objective"] == "nonsaturating"


# --- The pipeline config --------------------------------------------------------------------------

PIPELINE_CASES = [
    ("results with a newline", {"results": "out\nrm -rf x"}, ["results"]),
    ("results with braces", {"results": "out/{dataset}"}, ["results"]),
    ("blank results", {"results": "   "}, ["results"]),
    ("cache with a newline", {"cache": "c\nx"}, ["cache"]),
    ("regulariser named twice", {"regularisers": ["r1+r1"]}, ["regularisers", "twice"]),
    ("absurd batch size", {"settings": {"batch_size": 10**11}}, ["batch_size", "65,536"]),
    ("negative radius", {"settings": {"dataset_options": {"radius": -1.0}}}, ["radius", "positive"]),
    ("sweep of an unknown setting", {"studies": {"tune": {"sweep": {"samples": 2, "space": {"lr": {"uniform": [0, 1]}}}}}},
     ["studies.tune.sweep.space.lr", "unknown setting 'lr'"]),
    ("sweep range a run refuses", {"studies": {"tune": {"sweep": {"samples": 2, "space": {"beta1": {"uniform": [0, 1.5]}}}}}},
     ["studies.tune.sweep.space.beta1", "high end 1.5", "[0, 1)"]),
]


@pytest.mark.parametrize("change, words", [case[1:] for case in PIPELINE_CASES], ids=[c[0] for c in PIPELINE_CASES])
def test_a_bad_pipeline_config_fails_before_any_job_and_changes_nothing(tmp_path, change, words):
    (tmp_path / "keep.txt").write_text("a file that was here before")
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump({"datasets": ["ring8"], "seeds": [0]} | change))
    before = snapshot(tmp_path)
    result = snakemake(tmp_path, "--cores", "1", "-n", configfile=configfile)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    for word in words:
        assert word in output
    assert snapshot(tmp_path) == before
