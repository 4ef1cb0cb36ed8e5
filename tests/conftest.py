"""Shared helpers: tiny configs that train in a fraction of a second on a CPU."""

from __future__ import annotations

import hashlib
import os
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
