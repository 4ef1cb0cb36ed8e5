#!/usr/bin/env bash
# Creates .venv with the exact environment the suite is measured in (requirements.lock), then
# installs the package itself. Safe to run again: it does nothing when the lock is already installed.
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
venv=${BENCHSUITE_VENV:-.venv}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
stamp="$venv/.benchsuite-lock"
lock_hash=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # torch and torchvision first, as the matching pair the lock names: an unpinned torch would
    # pull the newest release (and gigabytes of other CUDA libraries).
    "$venv/bin/python" -m pip install --quiet $(grep -E '^(torch|torchvision)==' requirements.lock)
    "$venv/bin/python" -m pip install --quiet -r requirements.lock
    "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
    echo "$lock_hash" > "$stamp"
fi
echo "environment ready: . $venv/bin/activate"
