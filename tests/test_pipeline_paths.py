"""A results path is data, never shell code: spaces, quotes, `$(...)` and backticks reach every job
quoted, and the pipeline runs to its report with nothing executed."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import pipeline_failure, snakemake

HOSTILE = "out dir/it's \"quoted\" $(touch pwned) `touch pwned-too` ;x"


@pytest.mark.slow
def test_a_results_path_with_shell_syntax_runs_and_executes_nothing(tmp_path):
    configfile = tmp_path / "grid.yaml"
    configfile.write_text(yaml.safe_dump({
        "results": HOSTILE, "device": "cpu", "seeds": [0, 1], "datasets": ["ring8"], "architectures": ["mlp"],
        "objectives": ["nonsaturating"], "regularisers": ["none"],
        "settings": {"steps": 4, "batch_size": 16, "log_every": 2, "checkpoint_every": 2, "z_dim": 4,
                     "architecture_options": {"width": 16, "depth": 1}},
        "evaluation": {"samples": {"toy": 100}}, "aggregate": {"bootstrap": 100},
    }))
    result = snakemake(tmp_path, "--cores", "1", configfile=configfile)
    results = tmp_path / HOSTILE
    assert result.returncode == 0, pipeline_failure(result, tmp_path)
    assert not list(tmp_path.rglob("pwned*")), "a command in the results path was executed"
    assert (results / "report.html").is_file()
    runs = pd.read_csv(results / "tables" / "runs.csv")
    assert sorted(runs["seed"]) == [0, 1] and set(runs["status"]) == {"completed"}
    for log in ("aggregate.log", "report.log"):
        assert (results / "logs" / log).is_file()
    # Nothing was written beside the results directory but Snakemake's own bookkeeping.
    assert {path.name for path in tmp_path.iterdir()} == {"grid.yaml", ".snakemake", "out dir"}
