#!/usr/bin/env bash
# The whole test suite, as CI runs it: every test but the benchmarks spread over all cores
# (pytest-xdist), then the benchmarks alone, since a benchmark timed beside other tests measures
# the machine's load. Both parts run whatever the first one found; the exit status is non-zero if
# either failed. Arguments go to both pytest runs (./run-tests.sh -x, ./run-tests.sh -k resume).
set -uo pipefail
cd "$(dirname "$0")"
python=${BENCHSUITE_VENV:-.venv}/bin/python
"$python" -m pytest -n logical --ignore tests/benchmarks "$@"
tests=$?
"$python" -m pytest tests/benchmarks "$@"
benchmarks=$?
# A selection (-k, a path) that one of the two parts has no test in is not a failure of that part.
if [ "$#" -gt 0 ]; then
    [ "$tests" = 5 ] && tests=0
    [ "$benchmarks" = 5 ] && benchmarks=0
fi
exit $(( tests != 0 ? tests : benchmarks ))
