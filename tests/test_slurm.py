"""The SLURM profile against a real SLURM: a single-node cluster on localhost, started here.

tests/slurm/start_cluster.sh installs Debian's SLURM, munge and MariaDB when they are missing and
starts munged, MariaDB, slurmdbd, slurmctld and slurmd on 127.0.0.1 (root only; it exits 77 where
that cannot be done, and the tests are skipped with its reason). The fixture always stops them.

- The tiny grid runs through ``--profile profiles/slurm`` to the report; its tables equal those of
  the pipeline tests' local run (``--profile profiles/local``), and every job ran on the cluster under the
  account and partition the profile took from SBATCH_ACCOUNT / SBATCH_PARTITION.
- A train job pre-empted by a higher-priority partition is requeued by SLURM and resumes from its
  checkpoint; the run equals one never interrupted.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchsuite.aggregate import TIMING_COLUMNS
from benchsuite.train import RunDirectory, load_checkpoint

from conftest import assert_same_state

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "tests" / "slurm"
TINY = REPO / "tests" / "pipeline" / "tiny.yaml"
ACCOUNT = "benchsuite"  # created by start_cluster.sh
PARTITION = "batch"  # the default partition; "urgent" pre-empts it
PIPELINE_TIMEOUT = 900  # seconds, for one pipeline run
# Wall-clock seconds the pre-emption test wants its train job to last, so that the pre-emption
# lands after the first checkpoint and well before the end.
TRAIN_SECONDS = 10


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({error})"


def _cluster_logs(cluster: Path) -> str:
    return "\n".join(f"--- {log.name}\n{_tail(log)}" for log in sorted((cluster / "log").glob("*.log")))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A running single-node cluster; yields its directory, stops it whatever happens."""
    directory = tmp_path_factory.mktemp("slurm")
    start = ["bash", str(SCRIPTS / "start_cluster.sh"), str(directory)]
    environment = os.environ | {"PYTHON": sys.executable}
    try:
        result = subprocess.run(start, env=environment, capture_output=True, text=True, timeout=900)
        if result.returncode == 77:
            pytest.skip(result.stderr.strip().splitlines()[-1])
        if result.returncode != 0:
            pytest.fail(f"the test cluster did not start:\n{result.stderr}\n{_cluster_logs(directory)}")
        yield directory
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop_cluster.sh"), str(directory)], capture_output=True, timeout=180)


def slurm_environment(cluster: Path) -> dict[str, str]:
    """What a user of the cluster has: SLURM_CONF, and the partition and account for the profile."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    return environment | {
        "SLURM_CONF": str(cluster / "slurm.conf"),
        "SBATCH_PARTITION": PARTITION,
        "SBATCH_ACCOUNT": ACCOUNT,
    }


def snakemake(workdir: Path, configfile: Path, profile: str, environment: dict[str, str], *extra: str,
              wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    """The pipeline in ``workdir`` with the repository's Snakefile and one of its profiles."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(configfile), "--profile", str(REPO / "profiles" / profile), *extra,
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "snakemake.out", "w") as log:
        process = subprocess.Popen(command, env=environment, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    if not wait:
        return process
    try:
        process.wait(timeout=PIPELINE_TIMEOUT)
    finally:
        interrupt(process)
    return subprocess.CompletedProcess(command, process.returncode)


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C for a Snakemake still running: it cancels its jobs and stops."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def on_slurm(workdir: Path, configfile: Path, cluster: Path, *extra: str, wait: bool = True):
    # The first status query 2 s after a submission instead of 40 s: a test cluster answers at once.
    return snakemake(workdir, configfile, "slurm", slurm_environment(cluster),
                     "--slurm-init-seconds-before-status-checks", "2", *extra, wait=wait)


def on_this_machine(workdir: Path, configfile: Path, *extra: str):
    return snakemake(workdir, configfile, "local", dict(os.environ), "--cores", "2", *extra)


def explain(workdir: Path, cluster: Path) -> str:
    """Snakemake's output, the jobs' SLURM logs and the daemons' logs: what a failure needs."""
    parts = [f"--- snakemake\n{_tail(workdir / 'snakemake.out', 80)}"]
    parts += [f"--- {log.relative_to(workdir)}\n{_tail(log, 30)}"
              for log in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))]
    return "\n".join(parts + [_cluster_logs(cluster)])


def slurm(cluster: Path, *command: str) -> str:
    result = subprocess.run(command, env=slurm_environment(cluster), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"
    return result.stdout


def accounted_jobs(cluster: Path, workdir: Path) -> list[dict[str, str]]:
    """Every SLURM job (every requeued instance too) of the workflow that ran in ``workdir``."""
    output = (workdir / "snakemake.out").read_text()
    run_id = output.split("SLURM run ID: ", 1)[1].split()[0]
    fields = ["JobIDRaw", "JobName", "State", "Account", "Partition", "AllocTRES", "TimelimitRaw"]
    text = slurm(cluster, "sacct", "-X", "--duplicates", "--parsable2", "--noheader", "--name", run_id,
                 "--starttime", "now-1days", "--format", ",".join(fields))
    return [dict(zip(fields, line.split("|"))) for line in text.splitlines() if line]


def test_tiny_grid_on_slurm_equals_a_local_run(cluster: Path, tmp_path: Path, tiny_grid: Path):
    # The local run is the pipeline tests' own (the local profile, two cores), made once per session.
    local, remote = tiny_grid, tmp_path / "slurm"
    assert on_slurm(remote, TINY, cluster).returncode == 0, explain(remote, cluster)
    assert (remote / "results" / "report.html").stat().st_size > 0

    # The same numbers: every column but the wall times, which no two runs share.
    tables = {}
    for where in (local, remote):
        tables[where] = (pd.read_csv(where / "results" / "tables" / "runs.csv").drop(columns=TIMING_COLUMNS),
                         pd.read_csv(where / "results" / "tables" / "summary.csv"))
    assert len(tables[local][0]) > 1
    pd.testing.assert_frame_equal(tables[local][0], tables[remote][0])
    pd.testing.assert_frame_equal(tables[local][1], tables[remote][1])

    # Every job Snakemake did not run itself ran on the cluster, as the profile asked.
    output = (remote / "snakemake.out").read_text()
    submitted = sum(line.startswith("rule ") for line in output.splitlines())
    jobs = accounted_jobs(cluster, remote)
    assert submitted > 0 and len(jobs) == submitted, f"{submitted} jobs submitted, SLURM accounted for {jobs}"
    assert {(job["State"], job["Account"], job["Partition"]) for job in jobs} == {("COMPLETED", ACCOUNT, PARTITION)}
    # Each job's time limit is its rule's runtime in the config (tests/pipeline/tiny.yaml): per run a
    # job trains or scores (two seeds, or the one blow-up), 10 minutes to train and 5 to evaluate; 4 and
    # 3 for the tables and the report.
    assert sorted({int(job["TimelimitRaw"]) for job in jobs}) == [3, 4, 5, 10, 20], jobs


def _one_long_run(tmp_path: Path, steps_per_second: float) -> tuple[Path, int]:
    """The tiny grid cut to one run, long enough to take about TRAIN_SECONDS on this machine."""
    config = yaml.safe_load(TINY.read_text())
    steps = max(200, 20 * math.ceil(steps_per_second * TRAIN_SECONDS / 20))
    config["settings"] |= {"steps": steps, "checkpoint_every": steps // 20, "log_every": steps // 20}
    config["seeds"] = [0]
    config["studies"] = {"baseline": {"datasets": ["ring8"], "architectures": ["mlp"],
                                      "objectives": ["nonsaturating"], "regularisers": ["none"]}}
    config["overrides"] = []
    path = tmp_path / "one-run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, steps


def _steps_per_second(tmp_path: Path) -> float:
    """This machine's training speed, from a short run of the same model on one thread, as in a job."""
    out = tmp_path / "speed"
    command = [sys.executable, "-m", "benchsuite.cli", "train", "--dataset", "ring8", "--arch", "mlp",
               "--objective", "nonsaturating", "--steps", "100", "--set", "batch_size=64", "--set", "z_dim=4",
               "--set", "architecture.width=32", "--set", "architecture.depth=2", "--set", "checkpoint_every=100",
               "--out", str(out), "--device", "cpu", "--quiet"]
    subprocess.run(command, check=True, capture_output=True, timeout=600, env=os.environ | {"OMP_NUM_THREADS": "1"})
    return json.loads((out / "provenance.json").read_text())["segments"][0]["steps_per_second"]


def test_preempted_train_job_resumes_from_its_checkpoint(cluster: Path, tmp_path: Path):
    configfile, steps = _one_long_run(tmp_path, _steps_per_second(tmp_path))
    remote = tmp_path / "slurm"
    process = on_slurm(remote, configfile, cluster, "--until", "train", wait=False)
    try:
        # Wait for the train job's first checkpoint, then submit a job to the higher-priority
        # partition that needs the whole node: SLURM pre-empts the train job and requeues it.
        deadline = time.monotonic() + PIPELINE_TIMEOUT
        checkpoints = []
        while not checkpoints and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            checkpoints = list((remote / "results" / "runs").glob("*/*/*/*/*/checkpoint.pt"))
        assert checkpoints, f"no checkpoint appeared\n{explain(remote, cluster)}"
        run = RunDirectory(checkpoints[0].parent)
        assert not run.status.exists(), "the run finished before it could be pre-empted; TRAIN_SECONDS is too short"
        slurm(cluster, "sbatch", "--parsable", "--partition", "urgent", "--account", ACCOUNT, "--exclusive",
              "--time", "1", "--output", str(tmp_path / "urgent-%j.out"), "--wrap", "sleep 1")
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        interrupt(process)
    assert process.returncode == 0, explain(remote, cluster)

    # SLURM pre-empted the train job once and ran it again under the same job id.
    jobs = accounted_jobs(cluster, remote)
    states = {}
    for job in jobs:
        states.setdefault(job["JobIDRaw"], []).append(job["State"])
    assert list(states.values()).count(["PREEMPTED", "COMPLETED"]) == 1, jobs

    # The second attempt resumed from a checkpoint instead of starting over.
    segments = json.loads(run.provenance.read_text())["segments"]
    assert len(segments) == 2 and 0 < segments[1]["from_step"] < steps, segments
    assert segments[1]["to_step"] == steps

    # And the run is exactly the run that was never interrupted.
    local = tmp_path / "local"
    # (Checkpoint and log: the metrics are a function of the checkpoint, and the tiny grid's test
    # compares those of SLURM's runs already.)
    assert on_this_machine(local, configfile, "--until", "train").returncode == 0, _tail(local / "snakemake.out", 80)
    whole = RunDirectory(local / run.path.relative_to(remote))
    assert_same_state(load_checkpoint(whole.checkpoint), load_checkpoint(run.checkpoint))
    assert whole.log.read_text() == run.log.read_text()
