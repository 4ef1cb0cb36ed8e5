"""The SLURM profile against a real SLURM: a single-node cluster on localhost, started here.

tests/slurm/start_cluster.sh installs Debian's SLURM, munge and MariaDB when they are missing and
starts munged, MariaDB, slurmdbd, slurmctld and slurmd on 127.0.0.1 (root only; it exits 77 where
that cannot be done, and the tests are skipped with its reason). The fixture always stops them.

The tiny grid runs through ``--profile profiles/slurm`` to the report, and while its longest train
job is training, a job of a higher-priority partition that needs the whole node pre-empts it (and
whatever else runs then). Then:

- SLURM requeued the pre-empted job and it resumed from its runs' checkpoints;
- the tables equal those of the pipeline tests' local run (``--profile profiles/local``), and the
  pre-empted runs equal the runs that were never interrupted;
- every job ran on the cluster under the account and partition the profile took from
  SBATCH_ACCOUNT / SBATCH_PARTITION, with its rule's time limit from the config.

One pipeline run covers both the profile and pre-emption: each SLURM pipeline run costs minutes of
the executor's status checks, whatever its jobs do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchsuite.aggregate import TIMING_COLUMNS
from benchsuite.train import RunDirectory, load_checkpoint

from conftest import as_from_a_terminal, assert_same_state

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "tests" / "slurm"
TINY = REPO / "tests" / "pipeline" / "tiny.yaml"
ACCOUNT = "benchsuite"  # created by start_cluster.sh
PARTITION = "batch"  # the default partition; "urgent" pre-empts it
PIPELINE_TIMEOUT = 900  # seconds, for one pipeline run


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


def interrupt(process: subprocess.Popen) -> None:
    """Ctrl-C for a Snakemake still running: it cancels its jobs and stops."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_on_slurm(workdir: Path, configfile: Path, cluster: Path) -> subprocess.Popen:
    """The pipeline in ``workdir`` through profiles/slurm, started; its output goes to snakemake.out."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(configfile), "--profile", str(REPO / "profiles" / "slurm"),
        # The first status query 2 s after a submission instead of 40 s: a test cluster answers at once.
        "--slurm-init-seconds-before-status-checks", "2",
    ]
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "snakemake.out", "w") as log:
        return subprocess.Popen(command, env=slurm_environment(cluster), cwd=workdir, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=as_from_a_terminal)


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


def test_tiny_grid_on_slurm_with_a_preempted_job_equals_a_local_run(cluster: Path, tmp_path: Path,
                                                                    tiny_grid: Path):
    # The local run is the pipeline tests' own (the local profile, two cores), made once per session.
    local, remote = tiny_grid, tmp_path / "slurm"
    process = start_on_slurm(remote, TINY, cluster)
    try:
        # The r1 runs train longest (tests/pipeline/tiny.yaml): once one has a checkpoint and no final
        # status, a job of the higher-priority partition that needs the whole node pre-empts their job.
        r1 = remote / "results" / "runs" / "ring8" / "mlp" / "nonsaturating" / "r1"
        deadline = time.monotonic() + PIPELINE_TIMEOUT
        caught = None
        while caught is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            caught = next((run for run in (r1.glob("s*") if r1.exists() else [])
                           if (run / "checkpoint.pt").exists() and not (run / "status.json").exists()), None)
        assert caught is not None, f"no r1 run was caught training\n{explain(remote, cluster)}"
        slurm(cluster, "sbatch", "--parsable", "--partition", "urgent", "--account", ACCOUNT, "--exclusive",
              "--time", "1", "--output", str(tmp_path / "urgent-%j.out"), "--wrap", "sleep 1")
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        interrupt(process)
    assert process.returncode == 0, explain(remote, cluster)
    assert (remote / "results" / "report.html").stat().st_size > 0

    # SLURM pre-empted the r1 train job and ran it again under the same job id; it resumed its runs
    # from their checkpoints instead of starting over.
    jobs = accounted_jobs(cluster, remote)
    states: dict[str, list[str]] = {}
    for job in jobs:
        states.setdefault(job["JobIDRaw"], []).append(job["State"])
    assert ["PREEMPTED", "COMPLETED"] in states.values(), jobs
    assert all(history in (["COMPLETED"], ["PREEMPTED", "COMPLETED"]) for history in states.values()), jobs
    segments = json.loads(RunDirectory(caught).provenance.read_text())["segments"]
    assert len(segments) == 2 and 0 < segments[1]["from_step"] < segments[1]["to_step"], segments

    # The same numbers: every column but the wall times, which no two runs share; and the
    # pre-empted run is bit for bit the run that was never interrupted.
    tables = {}
    for where in (local, remote):
        tables[where] = (pd.read_csv(where / "results" / "tables" / "runs.csv").drop(columns=TIMING_COLUMNS),
                         pd.read_csv(where / "results" / "tables" / "summary.csv"))
    assert len(tables[local][0]) > 1
    pd.testing.assert_frame_equal(tables[local][0], tables[remote][0])
    pd.testing.assert_frame_equal(tables[local][1], tables[remote][1])
    whole = RunDirectory(local / caught.relative_to(remote))
    assert_same_state(load_checkpoint(whole.checkpoint), load_checkpoint(RunDirectory(caught).checkpoint))
    assert whole.log.read_text() == RunDirectory(caught).log.read_text()

    # Every job Snakemake did not run itself ran on the cluster, as the profile asked.
    output = (remote / "snakemake.out").read_text()
    submitted = sum(line.startswith("rule ") for line in output.splitlines())
    assert submitted > 0 and len(states) == submitted, f"{submitted} jobs submitted, SLURM accounted for {jobs}"
    assert {(job["Account"], job["Partition"]) for job in jobs} == {(ACCOUNT, PARTITION)}
    # Each job's time limit is its rule's runtime in the config (tests/pipeline/tiny.yaml): per run a
    # job trains or scores (two seeds, or the one blow-up), 10 minutes to train and 5 to evaluate; 4 and
    # 3 for the tables and the report.
    assert sorted({int(job["TimelimitRaw"]) for job in jobs}) == [3, 4, 5, 10, 20], jobs
