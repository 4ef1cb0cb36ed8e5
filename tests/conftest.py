"""Shared helpers: tiny configs that train in a fraction of a second on a CPU."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from benchsuite.config import RunConfig, resolve

# One thread per test process (and per CLI subprocess, through the environment): the suite's
# networks are tiny, and two threads on two cores shared with other work spin against each other
# and run many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

TINY = {"steps": 6, "batch_size": 32, "log_every": 2, "checkpoint_every": 3}
ROOT = Path(__file__).resolve().parent.parent
TINY_GRID = ROOT / "tests" / "pipeline" / "tiny.yaml"


def tiny_config(**settings: Any) -> RunConfig:
    """A resolved config for a few steps of a small model; keyword arguments override."""
    base = {"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", **TINY,
            "architecture_options": {"width": 32, "depth": 2}, "z_dim": 4}
    return resolve(base | settings)


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (to prove nothing was changed)."""
    return {
        str(file.relative_to(path)): hashlib.sha256(file.read_bytes()).hexdigest()
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


def assert_same_state(a: Any, b: Any, where: str = "") -> None:
    """Bit-identical nested checkpoint contents (tensors compared exactly)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's caches from a test."""
    monkeypatch.setenv("BENCHSUITE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# --- The pipeline --------------------------------------------------------------------------------


def as_from_a_terminal() -> None:
    """A child's Ctrl-C as a terminal gives it: a test suite started in the background of a script
    (`./run-tests.sh &`) ignores SIGINT, and every child would inherit that and ignore a Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def snakemake(workdir: Path, *args: str, configfile: Path = TINY_GRID, timeout: float = 600,
              **popen: Any) -> subprocess.CompletedProcess | subprocess.Popen:
    """The repository's pipeline in ``workdir`` (nothing lands in the repository), started as from a
    terminal."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(configfile), *args]
    if popen:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=as_from_a_terminal, **popen)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, preexec_fn=as_from_a_terminal)


def pipeline_failure(result: subprocess.CompletedProcess, workdir: Path) -> str:
    """Snakemake's last words and the logs of the jobs that failed."""
    logs = [f"--- {log}\n{log.read_text()[-2000:]}" for log in sorted((workdir / "results" / "logs").rglob("*.log"))
            if "Traceback" in log.read_text() or "error" in log.read_text()]
    return "\n".join([result.stdout[-2000:], result.stderr[-3000:], *logs])


@pytest.fixture(scope="session")
def tiny_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid run once, uninterrupted, through the local profile: the reference that the
    pipeline and cluster tests compare with. Tests must not change its directory."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        # Each pytest-xdist worker has its own session: the first to need the grid runs it in the
        # directory the workers share, and the others wait for it and reuse it.
        shared = shared.parent
    workdir = shared / "tiny-grid"
    with open(shared / "tiny-grid.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        finished = shared / "tiny-grid.finished"
        if not finished.exists():
            shutil.rmtree(workdir, ignore_errors=True)  # left by a worker that failed half-way
            workdir.mkdir()
            result = snakemake(workdir, "--profile", str(ROOT / "profiles" / "local"), "--cores", "2")
            assert result.returncode == 0, pipeline_failure(result, workdir)
            assert f"The report is {workdir / 'results' / 'report.html'}" in result.stdout + result.stderr
            finished.touch()
    return workdir


# --- A new user's checkout -----------------------------------------------------------------------


def setup_stamp() -> str:
    """What setup.sh writes into the environment it made (the hash of the lock and pyproject)."""
    digests = "".join(f"{hashlib.sha256((ROOT / name).read_bytes()).hexdigest()}  {name}\n"
                      for name in ("requirements.lock", "pyproject.toml"))
    return hashlib.sha256(digests.encode()).hexdigest()[:16]


def make_fresh_clone(parent: Path) -> Path:
    """The repository's tracked (and new, not ignored) files as a new git repository under
    ``parent``, as `git clone` gives them to a new user, with the environment setup.sh made as its
    ``.venv``. Skips the test when this environment is not one setup.sh made."""
    stamp = Path(sys.prefix) / ".benchsuite-lock"
    if not stamp.exists() or stamp.read_text().strip() != setup_stamp():
        pytest.skip("a fresh clone runs in the environment ./setup.sh makes; run it first")
    clone = parent / "benchsuite"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    git = ["git", "-c", "user.name=benchsuite", "-c", "user.email=tests@benchsuite", "-c", "init.defaultBranch=main"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "a fresh clone"]):
        subprocess.run([*git, *command], cwd=clone, check=True)
    (clone / ".venv").symlink_to(sys.prefix)
    return clone


def user_environment(clone: Path, **variables: str) -> dict[str, str]:
    """A user's shell in ``clone``: its environment activated, offline, caches inside the clone."""
    environment = {
        **os.environ,
        "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(clone),
        "BENCHSUITE_OFFLINE": "1",
        "BENCHSUITE_DATA": str(clone / "results" / "data"),
        "BENCHSUITE_CACHE": str(clone / "results" / "cache"),
        "OMP_NUM_THREADS": "1",
        **variables,
    }
    environment.pop("PYTEST_XDIST_WORKER", None)
    return environment
