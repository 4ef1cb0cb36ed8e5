"""Atomic writes: whole files, the umask's permissions, nothing left behind by a killed writer."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchsuite import io

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_permissions_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    io.write_json(tmp_path / "a.json", {"x": 1})
    io.write_bytes(tmp_path / "b.png", b"\x89PNG")
    io.save_with(tmp_path / "c.txt", lambda tmp: tmp.write_text("c"))
    for name in ("a.json", "b.png", "c.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "status.json"
    io.write_json(target, {"status": "completed"})

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.save_with(target, fail)
    assert io.read_json(target) == {"status": "completed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_the_next_write_removes_what_a_killed_writer_left(tmp_path):
    target = tmp_path / "checkpoint.pt"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from benchsuite import io; "
         "io.save_with(sys.argv[1], lambda tmp: (print('writing', flush=True), time.sleep(60)))", str(target)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # what SIGKILL leaves, by nature

    io.write_text(target, "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    assert target.read_text() == "whole"


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    target = tmp_path / "log.csv"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / f".log.csv.{sleeper.pid}-0123abcd.tmp"
        live.write_text("")
        io.write_text(target, "a,b\n")
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    time.sleep(0.01)
    io.write_text(target, "a,b\n")
    assert not live.exists()
