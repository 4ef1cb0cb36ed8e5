"""An on-disk cache for what is expensive to recompute and the same for every run: reference features
and statistics of a dataset, the suite's trained classifier extractors, preprocessed image tensors.

An entry is addressed by a key, a JSON-able dict naming everything the value depends on (dataset and
its options, split, a fingerprint of the data, the extractor and a hash of its weights, the number of
samples, the format). The file name carries a digest of the key and the file stores the key itself,
so a change of any key component reaches another file and a stale or foreign file is never used.
Files are written atomically (a concurrent reader sees the old file or the new one, never half of
one) and loaded with ``weights_only=True``.

Location: ``$BENCHSUITE_CACHE``, else ``$XDG_CACHE_HOME/benchsuite/cache``, else
``~/.cache/benchsuite/cache``. Deleting it is always safe: everything in it is recomputed on use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import torch

from benchsuite import io as atomic

FORMAT = 1


def user_cache_home() -> Path:
    """The per-user cache directory of the platform convention (XDG)."""
    base = os.environ.get("XDG_CACHE_HOME")
    return Path(base).expanduser() if base else Path.home() / ".cache"


def root() -> Path:
    """The cache directory, read from the environment on every call (so tests and jobs can redirect it)."""
    configured = os.environ.get("BENCHSUITE_CACHE")
    if configured:
        return Path(configured).expanduser()
    return user_cache_home() / "benchsuite" / "cache"


def digest(key: dict[str, Any]) -> str:
    """sha256 of the key's canonical JSON."""
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "entry"


def path_for(kind: str, label: str, key: dict[str, Any]) -> Path:
    """Where the entry for ``key`` lives: ``ROOT/KIND/LABEL-DIGEST.pt``; the label is for people."""
    return root() / _slug(kind) / f"{_slug(label)}-{digest(key)[:16]}.pt"


def load(kind: str, label: str, key: dict[str, Any]) -> Any | None:
    """The cached value for ``key``, or None when absent, unreadable or written for another key."""
    path = path_for(kind, label, key)
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged entry is a miss; the next store replaces it
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != _canonical(key):
        return None
    return entry["value"]


def store(kind: str, label: str, key: dict[str, Any], value: Any) -> Path:
    """Write ``value`` (tensors, numbers, strings, lists and dicts of them) atomically; returns the path."""
    path = path_for(kind, label, key)
    atomic.save_torch(path, {"format": FORMAT, "key": _canonical(key), "value": value})
    return path


def cached(kind: str, label: str, key: dict[str, Any], compute: Callable[[], Any], enabled: bool = True) -> Any:
    """The cached value for ``key``, computing and storing it on a miss (or always, when disabled)."""
    if enabled:
        value = load(kind, label, key)
        if value is not None:
            return value
    value = compute()
    if enabled:
        store(kind, label, key, value)
    return value


def _canonical(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def tensor_sha256(*tensors: torch.Tensor) -> str:
    """sha256 over the dtype, shape and bytes of each tensor (a fingerprint of a data split)."""
    hasher = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous()
        hasher.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        hasher.update(tensor.numpy().tobytes())
    return hasher.hexdigest()
