"""The HTML report: every section, figures inlined and labelled with their seeds, honest "best" marks."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from benchsuite.cli import main
from benchsuite.errors import ConfigError
from benchsuite.aggregate import find_run_dirs, read_tables, write_tables
from benchsuite.report import Report, build, load_grid_config
from synthetic_runs import write_run, write_study

SECTIONS = ["what-ran", "leaderboards", "precision-recall", "distributions", "diagnostics", "samples", "diverged"]
PNG = b"\x89PNG\r\n\x1a\n"


GRID_CONFIG = {"seeds": [0, 1, 2], "report": {"title": "My study"},
               "studies": {"objectives": {"description": "all losses", "objectives": ["minimax"]}}}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_study(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def built(tables: Path) -> Path:
    """The report of the synthetic runs, built once for the module (figures are the slow part)."""
    return build(tables, tables.parent / "report.html", figures=tables.parent / "figures", grid_config=GRID_CONFIG)


@pytest.fixture(scope="module")
def page(built: Path) -> str:
    return built.read_text()


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_every_section_is_there_and_self_contained(page):
    for section in SECTIONS:
        assert f'<section id="{section}">' in page, section
    pictures = images(page)
    assert len(pictures) >= 4 + 5  # plane, distributions, curves and gradients, samples of five methods
    assert all(picture.startswith(PNG) for picture in pictures)
    # Nothing is fetched: no external source, stylesheet or script.
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "<script" not in page
    assert "all losses" in page


def test_what_ran_lists_datasets_seeds_steps_and_environment(page):
    assert "<title>My study</title>" in page
    what_ran = page.split('<section id="what-ran">')[1].split("</section>")[0]
    assert "ring8" in what_ran and "0, 1, 2" in what_ran and "100" in what_ran
    assert "0123456789ab" in what_ran and "2.x" in what_ran and "test-platform" in what_ran
    config = what_ran.split("The pipeline config")[1]
    assert "all losses" in config and "seeds" in config


def test_every_figure_names_its_seeds(page):
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page, flags=re.S)
    assert captions
    for caption in captions:
        assert re.search(r"n = \d+( to \d+)? seeds? each", caption), caption
    cards = page.split('<section id="samples">')[1].split("</section>")[0]
    assert cards.count("one of 3 seeds") == 4
    assert "one of 2 seeds" in cards and "1 diverged" in cards


def test_leaderboard_marks_a_best_only_where_intervals_separate(page):
    board = page.split('<section id="leaderboards">')[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>(.*?)</tr>", board, flags=re.S)
    assert rows[0].startswith("nonsaturating × r1")  # sorted by modes covered, best first
    assert 'class="badge best">best<' in rows[0]
    assert sum('class="badge best">best<' in row for row in rows) == 1
    assert "baseline" in next(row for row in rows if row.startswith("nonsaturating × default=none"))
    assert "nonsaturating × r1 is best on modes covered" in board


def test_diagnostics_show_saturation_of_minimax(page):
    diagnostics = page.split('<section id="diagnostics">')[1].split("</section>")[0]
    assert "objectives at regulariser default" in diagnostics
    assert "regularisers under nonsaturating" in diagnostics
    table = diagnostics.split("regularisers under nonsaturating")[0]
    minimax = re.search(r"<td>minimax</td><td class=\"num\">3</td>(.*?)</tr>", table, flags=re.S).group(1)
    ratio = float(re.findall(r'<td class="num">([^<]+)</td>', minimax)[2])
    assert ratio < 1e-2
    nonsaturating = re.search(r"<td>nonsaturating</td><td class=\"num\">3</td>(.*?)</tr>", table, flags=re.S).group(1)
    assert float(re.findall(r'<td class="num">([^<]+)</td>', nonsaturating)[2]) > 0.5


def test_diverged_runs_are_listed_with_their_reasons(page):
    diverged = page.split('<section id="diverged">')[1].split("</section>")[0]
    assert "ring8/mlp/wgan/default/s0" in diverged
    assert "non-finite discriminator loss at step 50" in diverged
    assert "every seed diverged" not in page  # one wgan seed finished and is shown


def test_rebuilding_gives_the_same_page_and_figure_files(tables, built, tmp_path):
    again = build(tables, tmp_path / "again.html", figures=tmp_path / "figures", grid_config=GRID_CONFIG)
    assert again.read_bytes() == built.read_bytes()
    figures = built.parent / "figures"
    names = sorted(p.name for p in figures.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert any(name.startswith("plane-") for name in names)
    assert all((figures / n).read_bytes() == (tmp_path / "figures" / n).read_bytes() for n in names)


def test_cli_prints_where_the_report_is(tables, tmp_path, capsys):
    config = tmp_path / "grid.yaml"
    config.write_text("report: {title: From a file}\n")
    assert main(["report", "--tables", str(tables), "--out", str(tmp_path / "r.html"), "--grid-config", str(config)]) == 0
    assert f"report: {(tmp_path / 'r.html').resolve()}" in capsys.readouterr().out
    assert "<title>From a file</title>" in (tmp_path / "r.html").read_text()


def test_grid_config_forms():
    assert load_grid_config('{"seeds": [1]}') == {"seeds": [1]}
    assert load_grid_config(None) is None
    with pytest.raises(ConfigError, match="neither inline JSON nor an existing file"):
        load_grid_config("missing.yaml")


def test_empty_tables_are_an_error(tmp_path):
    (tmp_path / "runs.csv").write_text("run_id,dataset\n")
    (tmp_path / "summary.csv").write_text("dataset,metric\n")
    with pytest.raises(ConfigError, match="no rows"):
        build(tmp_path, tmp_path / "r.html")


def saturation_headings(root: Path, collapsing: float, grid_config: dict | None = None) -> list[str]:
    """Diagnostics headings of three objectives at their defaults, hinge's generator gradient falling
    to ``collapsing`` of its start, compared with lsgan as the baseline."""
    for seed in range(2):
        for objective in ("lsgan", "hinge", "wgan"):
            write_run(root, objective, "default", seed, {"modes_covered": 3, "modes_total": 8, "high_quality": 0.5},
                      grad_norm_g=(1.0, collapsing if objective == "hinge" else 0.9))
    write_tables(find_run_dirs(root), root / "tables", resamples=100,
                 baseline={"objective": "lsgan", "regulariser": "default"})
    runs, summary = read_tables(root / "tables")
    return [section["heading"] for section in Report(runs, summary, grid_config).diagnostics()]


def test_the_saturation_comparison_follows_the_logs_and_the_baseline_not_names(tmp_path):
    headings = saturation_headings(tmp_path / "collapse", collapsing=1e-3)
    assert headings[0] == "ring8/mlp: saturation: hinge against lsgan at regulariser default"
    assert "ring8/mlp: objectives at regulariser default" in headings
    # A fall short of tenfold is no saturation: no comparison is singled out.
    assert not any("saturation" in h for h in saturation_headings(tmp_path / "steady", collapsing=0.2))


def test_the_config_names_the_objectives_of_the_saturation_comparison(tmp_path):
    # As the default grid does for minimax: drawn beside the baseline whatever the gradients do;
    # an objective the grid did not train (a preset inheriting the list) is passed over.
    headings = saturation_headings(tmp_path, collapsing=0.2, grid_config={"report": {"saturation": ["wgan", "energy"]}})
    assert headings[0] == "ring8/mlp: saturation: wgan against lsgan at regulariser default"
