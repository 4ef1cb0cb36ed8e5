#!/usr/bin/env bash
# The whole test suite, as CI runs it: every test but the benchmarks spread over all cores
# (pytest-xdist), then the benchmarks alone, since a benchmark timed beside other tests measures
# the machine's load. Both parts run whatever the first one found; the exit status is non-zero if
# either failed.
set -uo pipefail
cd "$(dirname "$0")"
python=${BENCHSUITE_VENV:-.venv}/bin/python
"$python" -m pytest -n logical --ignore tests/benchmarks
tests=$?
"$python" -m pytest tests/benchmarks
benchmarks=$?
exit $(( tests != 0 ? tests : benchmarks ))
