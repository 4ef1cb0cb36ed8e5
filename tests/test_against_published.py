"""Measured against published: published.csv's verdicts, the report's section and docs/reproductions.md,
on synthetic run directories whose values, and so whose intervals, are known in advance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from benchsuite import cli
from benchsuite.aggregate import find_run_dirs, write_tables
from benchsuite.published import COLUMNS, published_band, verdict
from benchsuite.report import build
from benchsuite.reproductions import render

from synthetic_runs import write_run

Z = 1.959963984540054  # the standard normal's 97.5 % quantile

RING = {"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "variant": "defaults"}


def entry(regulariser: str, mean: float, spread: float | None, kind: str, n: int | None = None,
          **extra: object) -> dict:
    """A row as grid.published_rows hands it to the tables."""
    return {**RING, "regulariser": regulariser, "metric": "modes_covered", "mean": mean, "spread": spread,
            "spread_kind": kind, "n": n, "source": "A paper, Table 1", "note": "", "entry": 0,
            "planned_steps": 400_000, "planned_seeds": 10, **extra}


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    """Two cells: none with seeds covering 5 and 7 modes, r1 with one seed. Bootstrap means of two
    values are 5, 6 and 7 with probabilities 1/4, 1/2, 1/4, so the 95 % interval of none is [5, 7]."""
    runs = tmp_path / "runs"
    for seed, modes in enumerate((5, 7)):
        write_run(runs, "nonsaturating", "none", seed, {"modes_covered": modes, "modes_total": 8,
                                                         "high_quality": 0.9, "mode_kl": 0.1})
    write_run(runs, "nonsaturating", "r1", 0, {"modes_covered": 8, "modes_total": 8, "high_quality": 0.9,
                                                "mode_kl": 0.0})
    return tmp_path


def table(results: Path, *entries: dict) -> pd.DataFrame:
    write_tables(find_run_dirs(results / "runs"), results / "tables", published=list(entries))
    return pd.read_csv(results / "tables" / "published.csv", keep_default_na=False, na_values=[""])


def test_verdicts_equal_a_hand_computation(results):
    published = table(
        results,
        entry("none", 6.3, 0.5, "standard_error", 10),   # band 6.3 ± 0.98 = [5.32, 7.28] overlaps [5, 7]
        entry("none", 17.3, 0.8, "standard_error", 10),  # band [15.73, 18.87] lies above [5, 7]
        entry("none", 6, None, "none"),                  # a point inside [5, 7]
        entry("none", 1, None, "none"),                  # a point below [5, 7]
        entry("none", 8.5, 1.0, "std", 4),               # std/√4: band 8.5 ± 0.98 = [7.52, 9.48], above
        entry("none", 8.5, 1.0, "std"),                  # no n: read as one trial, 8.5 ± 1.96 reaches 6.54
        entry("none", 4.5, None, "standard_error", 10),  # a spread not transcribed: the point 4.5, below
        entry("r1", 8, None, "none"),                    # one seed: no interval
    )
    assert list(published.columns) == COLUMNS
    assert published["ci_low"].tolist()[:7] == [5.0] * 7 and published["ci_high"].tolist()[:7] == [7.0] * 7
    assert published["verdict"].tolist() == ["agrees", "disagrees", "agrees", "disagrees", "disagrees", "agrees",
                                             "disagrees", "cannot tell"]
    hand = [(6.3 - Z * 0.5, 6.3 + Z * 0.5), (17.3 - Z * 0.8, 17.3 + Z * 0.8), (6, 6), (1, 1),
            (8.5 - Z * 0.5, 8.5 + Z * 0.5), (8.5 - Z, 8.5 + Z), (4.5, 4.5), (8, 8)]
    assert list(zip(published["published_low"], published["published_high"])) == [
        (pytest.approx(low), pytest.approx(high)) for low, high in hand]
    reasons = published["reason"].tolist()
    assert reasons[1].startswith("ours is lower")
    assert "lies below the published [15.7, 18.9]" in reasons[1]
    assert reasons[3] == "ours is higher: its interval [5, 7] lies above the published 1"
    assert reasons[6].startswith("ours is higher: its interval [5, 7] lies above the published 4.5")
    assert reasons[7] == "1 seed with a value gives no interval"
    first = published.iloc[0]
    assert (first["mean"], first["n"], first["seeds"], first["steps"], first["planned_steps"],
            first["planned_seeds"], first["at"]) == (6.0, 2, 2, 100, 400_000, 10, "last")


def test_the_rule_reads_the_confidence_of_the_tables():
    low, high, how = published_band(10.0, 1.0, "standard_error", None, confidence=0.9)
    assert (low, high) == (pytest.approx(10 - 1.6448536), pytest.approx(10 + 1.6448536))
    assert "1.64 standard errors" in how
    assert verdict(5, 5, math.nan, math.nan, 0) == ("cannot tell", "no seed has a value")


def test_no_published_numbers_write_only_the_header(results):
    published = table(results)
    assert published.empty and list(published.columns) == COLUMNS


def test_the_report_shows_the_published_numbers_and_says_where_they_disagree(results, tmp_path):
    table(results, entry("none", 6.3, 0.5, "standard_error", 10), entry("none", 17.3, 0.8, "standard_error", 10))
    page = build(results / "tables", tmp_path / "report.html").read_text()
    assert "Against the published numbers" in page and 'href="#published"' in page
    assert "6.3 ± 0.5 (standard error, 10 trials)" in page
    assert "6 [5, 7] over 2 seeds" in page
    assert "100 of 400,000 steps, 2 of 10 seeds" in page and "reduced budget" in page
    assert ("On ring8, nonsaturating × none disagrees with A paper, Table 1 on modes covered: ours is lower: its "
            "interval [5, 7] lies below the published [15.7, 18.9]") in page


def test_a_report_without_published_numbers_has_no_such_section(results, tmp_path):
    table(results)
    page = build(results / "tables", tmp_path / "report.html").read_text()
    assert "Against the published numbers" not in page and 'id="published"' not in page


def test_aggregate_takes_the_published_rows_the_pipeline_passes(results, capsys):
    rows = [entry("none", 1, None, "none")]
    code = cli.main(["aggregate", "--runs", str(results / "runs"), "--out", str(results / "tables"),
                     "--bootstrap", "500", "--published", json.dumps(rows)])
    assert code == 0
    published = pd.read_csv(results / "tables" / "published.csv")
    assert published["verdict"].tolist() == ["disagrees"]
    assert cli.main(["aggregate", "--runs", str(results / "runs"), "--out", str(results / "tables"),
                     "--published", '[{"dataset": "ring8"}]']) == 2
    assert "an entry lacks architecture" in capsys.readouterr().err


def test_reproductions_renders_budget_time_machine_verdicts_and_curves(results, tmp_path):
    # Snapshots for the curve, and provenance as training writes it: segments and the machine.
    for run_dir in find_run_dirs(results / "runs"):
        metrics = json.loads((run_dir / "metrics.json").read_text())
        seed = int(run_dir.name[1])
        metrics["curve"] = [{"step": 50, "values": {"modes_covered": 2 + seed}},
                            {"step": 100, "values": metrics["values"]}]
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        provenance = json.loads((run_dir / "provenance.json").read_text())
        provenance |= {"cpu": "Test CPU 9000", "cpu_count": 2, "wall_seconds": 20.0,
                       "segments": [{"started": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:00:20+00:00",
                                     "wall_seconds": 20.0}]}
        (run_dir / "provenance.json").write_text(json.dumps(provenance))
    table(results, entry("none", 17.3, 0.8, "standard_error", 10), entry("r1", 8, None, "none"))
    text = render([results], "benchsuite reproductions results/x")
    assert text.startswith("# Reproductions\n\nGenerated from the pipeline's tables by `benchsuite reproductions "
                           "results/x`")
    assert f"## {results.name}" in text
    assert ('**A reduced budget**: at most 100 steps and 2 seeds a cell (as `BENCHSUITE_BUDGET="steps=100,seeds=2"` '
            "caps a grid)") in text
    assert "Snapshots scored every" not in text  # these runs kept no eval_every snapshots of their own
    assert "| ring8 | nonsaturating × none | 100 of 400,000 steps, 2 of 10 seeds | 400,000 steps, 10 seeds |" in text
    # Three runs of 20 s each, 100 steps: 5 steps a second; all three ran in the same 20 s.
    assert "Training: 60 s of run time summed over 3 runs (20 s a run, 5.0 steps a second, medians)" in text
    assert "20 s of wall-clock time" in text
    assert "- Machine: Test CPU 9000, 2 cores, device cpu, 1 torch thread(s) a run (3 runs)." in text
    # Two cells of 400,000 steps x 10 seeds at 5 steps a second: 1,600,000 s; at a concurrency of 3.
    assert ("the 2 cells with published numbers, at each one's measured speed, come to 18.5 days of training run "
            "time for their planned steps and seeds") in text and "(3.0 runs training at once" in text
    assert "about 6.2 days of wall-clock time" in text
    assert ("| ring8 | nonsaturating × none | modes covered | 17.3 ± 0.8 (standard error, 10 trials) | "
            "6 [5, 7] over 2 seeds | **disagrees** |") in text
    assert "| ring8 | nonsaturating × r1 | modes covered | 8 (one number) | 8 over 1 seed | **cannot tell** |" in text
    assert "- On ring8, nonsaturating × none disagrees with A paper, Table 1 on modes covered: ours is lower" in text
    assert "| step | ring8: nonsaturating × none | ring8: nonsaturating × r1 |" in text
    assert "| 50 | 2.5 (2–3) | 2 (2–2) |" in text and "| 100 | 6 (5–7) | 8 (8–8) |" in text


def test_reproductions_names_a_directory_without_tables(tmp_path, capsys):
    assert cli.main(["reproductions", str(tmp_path)]) == 2
    assert "has no tables/runs.csv" in capsys.readouterr().err
