"""Regulariser specs: one parser, one spelling per set of regularisers, one clear refusal."""

import subprocess
import sys

import pytest

from benchsuite import spec
from benchsuite.aggregate import resolved_regularisers
from benchsuite.config import resolve
from benchsuite.errors import ConfigError
from benchsuite.grid import expand
from benchsuite.report import method_label

BASE = {"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating"}


@pytest.mark.parametrize("text, canonical", [
    ("r1+sn", "r1+sn"), ("sn+r1", "r1+sn"), ("r1 + sn", "r1+sn"), ("\tr1\n+\nsn ", "r1+sn"),
    ("none+r1", "r1"), ("r1+none", "r1"), ("none", "none"), (" none ", "none"), ("default", "default"),
    ("instance-noise+gp", "gp+instance-noise"),
])
def test_specs_have_one_spelling(text, canonical):
    assert spec.canonical(text) == canonical
    assert spec.canonical(canonical) == canonical


@pytest.mark.parametrize("text, words", [
    ("", "join names with"), ("+", "join names"), ("r1+", "join names"), ("r1++sn", "join names"),
    ("r1+r1", "twice"), ("r1 + r1", "twice"), ("default+sn", "cannot be combined"),
    ("R1", "not a regulariser name"), ("r1;rm -rf x", "not a regulariser name"), ("a/b", "not a regulariser name"),
    (3, "must be a string"), (None, "must be a string"), (["r1"], "must be a string"),
])
def test_what_is_not_a_spec_is_refused_with_the_fix(text, words):
    with pytest.raises(ConfigError, match=words):
        spec.canonical(text)


def test_spellings_of_one_set_are_one_run():
    ids = {resolve(BASE | {"regulariser": text}).run_id for text in ("r1+sn", "sn+r1", "r1 +\tsn", "none+sn+r1")}
    assert ids == {"ring8/mlp/nonsaturating/r1+sn/s0"}
    assert resolve(BASE | {"regulariser": "none+r1"}).run_id == resolve(BASE | {"regulariser": "r1"}).run_id
    assert resolve(BASE | {"regulariser": "sn+r1"}).regularisers == ["r1", "sn"]


def test_the_grid_and_the_tables_read_specs_the_same_way():
    grid = expand({"datasets": ["ring8"], "architectures": ["mlp"], "objectives": ["nonsaturating"],
                   "regularisers": [" sn\t+ r1", "none + gp"], "seeds": [0]})
    assert grid.values("regulariser") == ["r1+sn", "gp"]
    assert resolved_regularisers({"regulariser": "default", "regulariser_options": {"sn": {}, "r1": {}}}) == "r1+sn"
    assert resolved_regularisers({"regulariser": "none", "regulariser_options": {}}) == "none"
    row = {"objective": "energy", "regulariser": "default", "regularisers": "entropy+r1"}
    assert method_label(row) == "energy × default=entropy+r1"


def test_tables_and_report_import_without_torch():
    code = ("import sys, benchsuite.spec, benchsuite.io, benchsuite.aggregate, benchsuite.report; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
