"""Atomic writes: a reader never sees half a file, and a crash never destroys the previous version.

The one home of atomic writing for the whole suite. It does not import torch at module level:
aggregation and the report run in an environment without it (envs/report.yaml) and write their
tables and pages through the same functions as training.

A file is written to a hidden sibling, ``.<name>.<pid>-<random>.tmp``, created with mode 0666 so
that the umask decides who may read it (as for any file the user creates), flushed to disk and
renamed over the target. A writer killed outright (SIGKILL) cannot clean up after itself, so the
next write of the same file removes the temporary files of writers that no longer run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Callable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def _remove_abandoned(path: Path) -> None:
    """Delete the temporary files that dead writers of ``path`` left beside it."""
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[0-9a-f]+\.tmp$")
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        match = pattern.match(sibling.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            sibling.unlink(missing_ok=True)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(path)
    tmp = _temporary(path)
    try:
        # 0o666 through the umask: the permissions of any file the user creates, not mkstemp's 0600.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> None:
    _atomic(Path(path), lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_with(path: str | Path, write: Callable[[Path], None]) -> None:
    """Atomically create ``path`` with ``write(tmp_path)`` (for writers that take a file name)."""
    _atomic(Path(path), write)


def save_torch(path: str | Path, data: Any) -> None:
    import torch  # here, not above: the tables and the report write files without torch installed

    _atomic(Path(path), lambda tmp: torch.save(data, tmp))
