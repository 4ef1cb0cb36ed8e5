"""The Snakemake pipeline end to end on the tiny grid of tests/pipeline/tiny.yaml.

Each pipeline runs in a temporary working directory (``--directory``), so nothing lands in the
repository. The slow tests train real (tiny) runs; the config-mistake tests start no job at all.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchsuite.aggregate import TIMING_COLUMNS

from conftest import ROOT, TINY_GRID, pipeline_failure, snakemake

SECTIONS = ["what-ran", "leaderboards", "precision-recall", "distributions", "curves", "diagnostics", "samples",
            "diverged"]
RUNS_OF_TINY = 7  # minimax and nonsaturating x default, nonsaturating x r1, two seeds each; one wgan blow-up
TRAIN_JOBS_OF_TINY = 4


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's job-stats table of a dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def comparable(runs: pd.DataFrame) -> pd.DataFrame:
    # Wall times measure the machine, not the result.
    return runs.drop(columns=TIMING_COLUMNS)


@pytest.fixture
def finished(tiny_grid: Path) -> Path:
    """The tiny grid, run once without interruption (shared with the cluster test)."""
    return tiny_grid


@pytest.mark.slow
def test_pipeline_runs_to_the_report(finished):
    results = finished / "results"
    runs = pd.read_csv(results / "tables" / "runs.csv")
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert len(runs) == RUNS_OF_TINY
    assert {"modes_covered", "high_quality", "mode_kl", "config.lr_d", "train_seconds", "status"} <= set(runs.columns)
    assert (runs["status"] == "diverged").sum() == 1
    cells = summary.drop_duplicates(["objective", "regulariser", "variant"])
    assert len(cells) == 4
    blow_up = summary[summary["objective"] == "wgan"].iloc[0]
    assert (blow_up["seeds"], blow_up["diverged"], blow_up["n"]) == (1, 1, 0)
    assert {"modes_covered", "high_quality"} <= set(summary["metric"])
    # The tiny grid's shared settings differ from the methods' defaults: every cell is one variant.
    r1 = summary[summary["regulariser"] == "r1"].iloc[0]
    assert r1["baseline"] == f"nonsaturating/default@{r1['variant']}"
    page = (results / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "non-finite" in page.split('<section id="diverged">')[1]
    assert any((results / "figures").glob("gradients-*.png"))
    # The objectives study keeps snapshots every 10 steps: its metrics over training, scored and drawn.
    curves = pd.read_csv(results / "tables" / "curves.csv")
    assert set(curves["objective"]) == {"minimax", "nonsaturating"}
    assert sorted(curves["step"].unique()) == [10, 20, 30]
    assert (results / "figures" / "curves-ring8.png").exists()
    # The aggregate job read the grid's runs from a file: every run, one a line.
    (run_list,) = (results / "run-lists").glob("*.txt")
    assert sorted(Path(line).name for line in run_list.read_text().splitlines()) == sorted(runs["run_id"].map(
        lambda run_id: Path(run_id).name))
    for log in ("aggregate.log", "report.log"):
        assert (results / "logs" / log).exists()
    # One train job per configuration: its seeds train one after another in one process.
    train_logs = sorted((results / "logs" / "train").rglob("*.log"))
    assert len(train_logs) == TRAIN_JOBS_OF_TINY
    r1 = results / "logs" / "train" / "ring8" / "mlp" / "nonsaturating" / "r1"
    assert "seeds 0-1 one after another in this process" in next(r1.glob("seeds-0-1*.log")).read_text()
    # And one evaluate job per train job, which scores its runs in one process.
    evaluate_logs = sorted((results / "logs" / "evaluate").rglob("*.log"))
    assert len(evaluate_logs) == TRAIN_JOBS_OF_TINY
    r1 = results / "logs" / "evaluate" / "ring8" / "mlp" / "nonsaturating" / "r1"
    scored = next(r1.glob("metrics-0-1*.log")).read_text()
    assert "nonsaturating/r1/s0" in scored and "nonsaturating/r1/s1" in scored


@pytest.mark.slow
def test_a_finished_grid_is_a_no_op_and_snakemake_report_works(finished):
    dry = snakemake(finished, "-n")
    assert dry.returncode == 0, dry.stderr
    assert "Nothing to be done" in dry.stdout + dry.stderr
    report = snakemake(finished, "--report", "snakemake-report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert (finished / "snakemake-report.html").stat().st_size > 10_000


@pytest.mark.slow
def test_adding_a_seed_trains_only_the_new_runs(finished):
    dry = snakemake(finished, "-n", "--config", "seeds=0-2")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout + dry.stderr)
    # Seed 2 of minimax x default, nonsaturating x default and nonsaturating x r1; the blow-up keeps its seed.
    assert counts["train"] == 3 and counts["evaluate"] == 3
    assert counts["aggregate"] == 1 and counts["report"] == 1


@pytest.mark.slow
def test_a_deleted_metrics_file_is_scored_again_alone(finished):
    run = next((finished / "results" / "runs" / "ring8" / "mlp" / "minimax").glob("*/s1*"))
    metrics = run / "metrics.json"
    aside = metrics.with_name("metrics.json.aside")
    metrics.rename(aside)  # the fixture is shared: put back whatever happens
    try:
        dry = snakemake(finished, "-n")
    finally:
        aside.rename(metrics)
    assert dry.returncode == 0, dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    counts = job_counts(output)
    assert "train" not in counts and counts["evaluate"] == 1
    assert re.search(r"output: \S*/minimax/\w+/metrics-1\S*\.json", output), output


def interrupt_mid_run(directory: Path) -> tuple[subprocess.Popen, Path | None, str]:
    """Start the pipeline and Ctrl-C it while a run has a checkpoint but no final status.

    Snakemake starts as from a terminal (conftest.snakemake), so the Ctrl-C takes even in a test run
    started in the background. The process group is frozen (SIGSTOP) while the run is checked a
    second time, so it cannot finish between the check and the signal.
    """
    directory.mkdir(parents=True, exist_ok=True)
    process = snakemake(directory, "--cores", "2", start_new_session=True)
    r1 = directory / "results" / "runs" / "ring8" / "mlp" / "nonsaturating" / "r1"
    deadline = time.monotonic() + 300
    interrupted = None
    while interrupted is None and time.monotonic() < deadline and process.poll() is None:
        for run in r1.glob("s*") if r1.exists() else []:
            if (run / "checkpoint.pt").exists() and not (run / "status.json").exists():
                os.killpg(process.pid, signal.SIGSTOP)
                if (run / "status.json").exists():  # it finished before the freeze: look again
                    os.killpg(process.pid, signal.SIGCONT)
                    continue
                interrupted = run
                break
        time.sleep(0.05)
    assert interrupted is not None, "the pipeline finished before it could be interrupted"
    # Ctrl-C reaches every process of the terminal's group: Snakemake and its jobs. The frozen
    # processes take it as they wake, the trainer in the middle of its run.
    os.killpg(process.pid, signal.SIGINT)
    os.killpg(process.pid, signal.SIGCONT)
    output, _ = process.communicate(timeout=300)
    return process, interrupted, output


@pytest.mark.slow
def test_an_interrupted_pipeline_resumes_and_finishes_with_identical_tables(finished, tmp_path):
    tmp_path = tmp_path / "first"
    process, interrupted, output = interrupt_mid_run(tmp_path)
    assert process.returncode != 0, output[-5000:]
    assert (interrupted / "checkpoint.pt").exists() and not (interrupted / "status.json").exists()

    resumed = snakemake(tmp_path, "--cores", "2")
    assert resumed.returncode == 0, pipeline_failure(resumed, tmp_path)
    segments = yaml.safe_load((interrupted / "provenance.json").read_text())["segments"]
    assert len(segments) == 2 and segments[1]["from_step"] > 0
    for table in ("runs.csv", "summary.csv"):
        ours = pd.read_csv(tmp_path / "results" / "tables" / table)
        reference = pd.read_csv(finished / "results" / "tables" / table)
        if table == "runs.csv":
            ours, reference = comparable(ours), comparable(reference)
        pd.testing.assert_frame_equal(ours, reference)


@pytest.mark.slow
def test_the_aggregate_command_line_stays_short_however_many_runs(tmp_path):
    # 3,000 run directories on one command line would pass the shell's 128 KB limit on one argument.
    configfile = tmp_path / "big.yaml"
    configfile.write_text(yaml.safe_dump({"datasets": ["ring8"], "architectures": ["mlp"],
                                          "objectives": ["nonsaturating"], "regularisers": ["none", "r1"],
                                          "seeds": "0-1499", "results": "results"}))
    dry = snakemake(tmp_path, "-n", "-p", "--until", "aggregate", configfile=configfile)
    assert dry.returncode == 0, dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    (command,) = [line for line in output.splitlines() if " -m benchsuite.cli aggregate " in line]
    assert "--run-list results/run-lists/" in command and len(command) < 2000
    assert job_counts(output)["run_list"] == 1


def job_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """rule -> the resources line of each of its jobs in a dry run's output."""
    found: dict[str, list[dict[str, str]]] = {}
    for block in output.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0]
        line = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        if line:
            found.setdefault(rule, []).append(dict(item.split("=", 1) for item in line.group(1).split(", ")))
    return found


def test_runtime_and_memory_of_each_rule_come_from_the_config(tmp_path):
    resources = {"train": {"runtime": 7, "mem_mb": 1234}, "evaluate": {"runtime": 3, "mem_mb": 555}}
    configfile = tmp_path / "grid.yaml"
    configfile.write_text(yaml.safe_dump(yaml.safe_load(TINY_GRID.read_text()) | {"resources": resources}))
    dry = snakemake(tmp_path, "-n", configfile=configfile)
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = job_resources(dry.stdout + dry.stderr)
    # A train job asks for the per-run runtime times the runs it trains (two seeds, or the one blow-up).
    assert sorted((job["runtime"], job["mem_mb"]) for job in jobs["train"]) == [("14", "1234")] * 3 + [("7", "1234")]
    # So does an evaluate job, which scores the runs of one train job.
    assert sorted((job["runtime"], job["mem_mb"]) for job in jobs["evaluate"]) == [("3", "555")] + [("6", "555")] * 3
    # Rules the config leaves out get the schema's defaults.
    assert {(job["runtime"], job["mem_mb"]) for job in jobs["aggregate"]} == {("15", "2000")}
    assert all(job["gpu"] == "0" for job in jobs["train"])  # the tiny grid says device: cpu


@pytest.mark.parametrize(
    "config, words",
    [
        ({"objectives": ["nonsaturatin"]}, ["unknown objective 'nonsaturatin'", "Did you mean 'nonsaturating'?"]),
        ({"settings": {"steps": "many"}}, ["'many' is not of type 'integer'", "steps"]),
        ({"settings": {"lr_d": -1}}, ["lr_d", "-1"]),
    ],
    ids=["misspelt objective", "bad type", "negative number"],
)
def test_config_mistakes_fail_before_any_job(tmp_path, config, words):
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump({"datasets": ["ring8"], "seeds": [0]} | config))
    result = snakemake(tmp_path, "--cores", "1", configfile=configfile)
    assert result.returncode != 0
    for word in words:
        assert word in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


# --- The workflow's files -------------------------------------------------------------------------


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_file() -> dict[str, str]:
    """requirements.lock: ``name==version`` per line (comments and blank lines aside)."""
    path = ROOT / "requirements.lock"
    assert path.exists(), "requirements.lock is missing: the envs/ files are checked against it"
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[normalised(name)] = version.strip()
    return pins


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_conda_environments_pin_the_versions_of_the_lock_file(env):
    pins = lock_file()
    spec = yaml.safe_load(env.read_text())
    pip = [entry for entry in spec["dependencies"] if isinstance(entry, dict) and "pip" in entry]
    assert len(pip) == 1, f"{env.name}: the Python packages belong in one pip section"
    packages = pip[0]["pip"]
    assert packages
    for requirement in packages:
        name, _, version = requirement.partition("==")
        assert version, f"{env.name}: {requirement!r} is not pinned with =="
        assert normalised(name) in pins, f"{env.name}: {name} is not in requirements.lock"
        assert version == pins[normalised(name)], f"{env.name}: {name}=={version}, the lock file has {pins[normalised(name)]}"
    python = [entry for entry in spec["dependencies"] if isinstance(entry, str) and entry.startswith("python=")]
    assert python == [f"python={sys.version_info.major}.{sys.version_info.minor}"]


def test_the_environments_hold_what_their_rules_import():
    """envs/train.yaml carries every runtime dependency but snakemake; envs/report.yaml no torch."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {normalised(re.split(r"[<>=!~ ;\[]", d, 1)[0]) for d in project["dependencies"]}
    train = {normalised(p.partition("==")[0]) for p in yaml.safe_load((ROOT / "envs" / "train.yaml").read_text())
             ["dependencies"][-1]["pip"]}
    report = {normalised(p.partition("==")[0]) for p in yaml.safe_load((ROOT / "envs" / "report.yaml").read_text())
              ["dependencies"][-1]["pip"]}
    assert required - {"snakemake", "seaborn", "jinja2", "pygments"} <= train
    assert {"pandas", "scipy", "seaborn", "jinja2", "pygments", "matplotlib", "pyyaml"} <= report
    assert "torch" not in report


def rules() -> dict[str, str]:
    """Every rule of the workflow and its body."""
    text = "\n".join(path.read_text() for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))])
    found = {}
    for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, flags=re.M):
        found[match.group(1)] = match.group(2)
    return found


def test_every_rule_that_runs_a_job_has_a_log_and_a_conda_environment():
    found = rules()
    assert {"train", "evaluate", "reference", "run_list", "aggregate", "report", "all"} <= set(found)
    for name, body in found.items():
        if name == "all":
            continue
        if re.search(r"^\s+run:", body, flags=re.M):
            # Python that Snakemake runs itself (the run list: text it writes): no process, so
            # nothing to log and no environment to give it; it must stay on the machine that runs Snakemake.
            assert re.search(r"^\s+localrule: True", body, flags=re.M), f"rule {name} runs Python but is not local"
            continue
        assert re.search(r"^\s+log:", body, flags=re.M), f"rule {name} has no log"
        environment = re.search(r'^\s+conda:\s*\n\s+"\.\./(envs/[\w.-]+\.yaml)"', body, flags=re.M)
        assert environment, f"rule {name} has no conda environment"
        assert (ROOT / environment.group(1)).exists()
    for name in ("train", "evaluate", "reference"):
        assert re.search(r"^\s+threads:", found[name], flags=re.M) and "gpu=GPU" in found[name]
