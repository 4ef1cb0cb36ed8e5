"""Probes: each one's textbook behaviour on the suite's real objectives and regularisers, the files
it writes, and a sweep that probes every registered objective and regulariser at a tiny budget."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchsuite import registry
from benchsuite.errors import ConfigError
from benchsuite.probes._base import COLUMNS, run

registry.load_builtins()
PROBES = registry.names("probe")
# Each probe's options at a budget that only checks that it runs (the sweep below).
TINY = {
    "saturation": {"pretrain_steps": 2, "d_steps": 3, "points": 3},
    "variance": {"pretrain_steps": 2, "d_steps": 3, "minibatches": 3, "points": 3},
    "shift": {"thetas": [0.0, 1.0], "d_steps": 3, "batch": 16},
    "dirac": {"steps": 5, "every": 5},
}
# Every objective with its own regulariser, and every regulariser under the baseline objective.
METHODS = sorted({(objective, "default") for objective in registry.names("objective")}
                 | {("nonsaturating", regulariser) for regulariser in registry.names("regulariser")})


def probe(tmp_path: Path, name: str, objective: str, regulariser: str = "none", **options) -> pd.DataFrame:
    out = tmp_path / f"{name}-{objective}-{regulariser}"
    run(name, objective, regulariser, out, device="cpu", options=options)
    return pd.read_csv(out / "probe.csv")


def series(table: pd.DataFrame, metric: str) -> pd.Series:
    rows = table[table["metric"] == metric]
    return pd.Series(rows["value"].to_numpy(), index=rows["x"].to_numpy())


def test_every_probe_is_in_the_registry():
    assert {"saturation", "shift", "variance", "dirac"} <= set(PROBES)
    for entry in registry.entries("probe"):
        assert entry.description and entry.target.source, f"probe {entry.name} must name its source"


@pytest.mark.parametrize("objective, regulariser", METHODS)
@pytest.mark.parametrize("name", PROBES)
def test_every_method_can_be_probed(tmp_path, name, objective, regulariser):
    """A newly registered objective or regulariser is probed here without editing this file."""
    if name not in TINY:
        pytest.skip(f"probe {name!r} has no tiny budget in this test; add one to TINY")
    out = tmp_path / "probe"
    try:
        record = run(name, objective, regulariser, out, device="cpu", options=TINY[name])
    except ConfigError as error:
        # A method may refuse a probe's networks (ebgan needs a decoder), but only with a clear message.
        assert str(error) and not (out / "probe.json").exists()
        pytest.skip(f"declared incompatible: {error}")
    table = pd.read_csv(out / "probe.csv")
    assert list(table.columns) == list(COLUMNS)
    assert set(table["probe"]) == {name} and set(table["objective"]) == {objective}
    assert set(table["regulariser"]) == {regulariser} and set(table["seed"]) == {0}
    assert len(table) > 0
    assert (out / "probe.png").read_bytes().startswith(b"\x89PNG")
    assert record["probe"] == name and record["settings"] == registry.get("probe", name)(**TINY[name]).settings
    assert json.loads((out / "probe.json").read_text())["summary"] == record["summary"]


# --- What each probe must show ---------------------------------------------------------------------


def test_saturation_minimax_gradient_vanishes_nonsaturating_does_not(tmp_path):
    """Arjovsky & Bottou 2017, Fig. 2: as D wins, minimax's G gradient falls by orders of magnitude."""
    minimax = series(probe(tmp_path, "saturation", "minimax", d_steps=300), "grad_norm_g")
    nonsaturating = series(probe(tmp_path, "saturation", "nonsaturating", d_steps=300), "grad_norm_g")
    assert minimax.iloc[-1] < minimax.max() / 100
    assert nonsaturating.iloc[-1] > nonsaturating.max() / 10
    assert nonsaturating.iloc[-1] > 1000 * minimax.iloc[-1]


def test_variance_of_the_log_d_trick_grows_as_d_trains(tmp_path):
    """Arjovsky & Bottou 2017, Fig. 3: under -log D the gradient's mean and spread grow with D's training."""
    table = probe(tmp_path, "variance", "nonsaturating", d_steps=300)
    mean, std = series(table, "grad_norm_g_mean"), series(table, "grad_norm_g_std")
    assert mean.iloc[-1] > 10 * mean.loc[1]
    assert std.iloc[-1] > 10 * std.loc[1]


def test_shift_js_estimate_is_flat_and_wasserstein_estimate_is_linear(tmp_path):
    """Arjovsky et al. 2017, Example 1: JS-type estimates saturate, the Wasserstein estimate grows with |theta|."""
    thetas = [0.0, 0.5, 1.0]
    minimax = probe(tmp_path, "shift", "minimax", thetas=thetas, d_steps=200)
    divergence = series(minimax, "divergence")
    assert divergence.loc[0.0] == pytest.approx(-math.log(4), abs=0.01)
    assert divergence.loc[0.5] == pytest.approx(divergence.loc[1.0], abs=0.01)
    assert series(minimax, "grad_norm_theta").loc[1.0] < 0.05

    wgan = probe(tmp_path, "shift", "wgan", "gp", thetas=[0.5, 1.0], d_steps=150)
    estimate, gradient = series(wgan, "divergence"), series(wgan, "grad_norm_theta")
    assert estimate.loc[1.0] == pytest.approx(2 * estimate.loc[0.5], rel=0.25)
    assert estimate.loc[1.0] == pytest.approx(1.0, rel=0.3)
    assert gradient.min() > 0.5


DIRAC_START = math.hypot(1.0, 1.0)


@pytest.mark.parametrize("objective, regulariser", [("nonsaturating", "r1"), ("nonsaturating", "r2")])
def test_dirac_zero_centred_penalties_converge(tmp_path, objective, regulariser):
    """Mescheder et al. 2018: R1 and R2 make the Dirac-GAN locally convergent, at a linear rate (near
    the equilibrium theta shrinks by lr f'(0)^2 / gamma = 0.05 * 0.25 / 10 per step: e^-1.25 per 1000 steps),
    while the unregularised game only creeps inwards."""
    distance = series(probe(tmp_path, "dirac", objective, regulariser), "distance")
    unregularised = series(probe(tmp_path, "dirac", objective, "none"), "distance")
    assert distance.iloc[-1] < 0.1 * DIRAC_START
    assert distance.iloc[-1] < unregularised.iloc[-1] / 3
    assert distance.loc[2000] / distance.loc[1000] == pytest.approx(math.exp(-1.25), rel=0.15)
    assert unregularised.loc[2000] / unregularised.loc[1000] > 0.6


@pytest.mark.parametrize("objective, regulariser", [("minimax", "none"), ("wgan", "none"), ("hinge", "none")])
def test_dirac_unregularised_training_circles(tmp_path, objective, regulariser):
    """Mescheder et al. 2018, Fig. 1-2: without regularisation the iterates keep their distance."""
    distance = series(probe(tmp_path, "dirac", objective, regulariser), "distance")
    assert distance.iloc[-1] > 0.5 * DIRAC_START


@pytest.mark.parametrize("objective", ["wgan", "nonsaturating"])
def test_dirac_one_centred_gradient_penalty_does_not_converge(tmp_path, objective):
    """Mescheder et al. 2018, section 3: WGAN-GP's penalty is not zero-centred; the game drifts away."""
    distance = series(probe(tmp_path, "dirac", objective, "gp"), "distance")
    assert distance.iloc[-1] > DIRAC_START


# --- Files, reruns, the command ------------------------------------------------------------------------


def test_a_finished_probe_is_never_overwritten(tmp_path):
    out = tmp_path / "probe"
    first = run("dirac", "nonsaturating", "none", out, device="cpu", options=TINY["dirac"])
    before = (out / "probe.csv").read_bytes()
    again = run("dirac", "nonsaturating", "none", out, device="cpu", options={"steps": 10, "every": 5})
    assert again["already_finished"] and (out / "probe.csv").read_bytes() == before
    assert again["summary"] == first["summary"]
    run("dirac", "nonsaturating", "none", out, device="cpu", options={"steps": 10, "every": 5}, force=True)
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("probe.replaced-")]
    assert len(moved) == 1 and (moved[0] / "probe.csv").read_bytes() == before


def test_same_seed_same_numbers(tmp_path):
    first = probe(tmp_path / "a", "saturation", "nonsaturating", **TINY["saturation"])
    second = probe(tmp_path / "b", "saturation", "nonsaturating", **TINY["saturation"])
    pd.testing.assert_frame_equal(first, second)


def test_probe_command_writes_the_three_files(tmp_path):
    out = tmp_path / "dirac"
    done = subprocess.run([sys.executable, "-m", "benchsuite.cli", "probe", "dirac", "--objective", "nonsaturating",
                           "--regulariser", "r1", "--seed", "1", "--out", str(out), "--set", "steps=20"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["probe.csv", "probe.json", "probe.png"]
    record = json.loads((out / "probe.json").read_text())
    assert record["seed"] == 1 and record["settings"]["steps"] == 20 and record["provenance"]["versions"]


@pytest.mark.parametrize("arguments, message", [
    (["nosuch", "--objective", "minimax"], "unknown probe 'nosuch'"),
    (["dirac", "--objective", "minmax"], "Did you mean 'minimax'"),
    (["dirac", "--objective", "minimax", "--set", "stepz=3"], "unknown option 'stepz'"),
    (["shift", "--objective", "minimax", "--from", "somewhere"], "takes no --from run"),
])
def test_probe_command_mistakes_are_one_message(tmp_path, arguments, message):
    done = subprocess.run([sys.executable, "-m", "benchsuite.cli", "probe", *arguments, "--out", str(tmp_path / "p")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "p" / "probe.json").exists()


def test_saturation_probes_the_generator_of_a_finished_run(tmp_path):
    from benchsuite.config import resolve
    from benchsuite.train import train

    run_dir = tmp_path / "run"
    train(resolve({"dataset": "ring8", "architecture": "mlp", "objective": "nonsaturating", "steps": 5,
                   "architecture_options": {"width": 16, "depth": 1}}), run_dir, device="cpu", progress=False)
    record = run("saturation", "minimax", "none", tmp_path / "probe", from_run=run_dir, device="cpu",
                 options=TINY["saturation"])
    assert record["from"] == str(run_dir) and record["summary"]["grad_norm_g"]["last"] > 0


def test_the_report_has_a_probes_section(tmp_path):
    from benchsuite.report import build
    from synthetic_runs import write_study

    tables = write_study(tmp_path / "runs")
    for regulariser in ("none", "r1"):
        for seed in (0, 1):
            run("dirac", "nonsaturating", regulariser, tmp_path / "probes" / regulariser / f"s{seed}", seed=seed,
                device="cpu", options={"steps": 20, "every": 5})
    page = build(tables, tmp_path / "report.html", figures=tmp_path / "figures", probes=tmp_path / "probes").read_text()
    section = page.split('<section id="probes">')[1].split("</section>")[0]
    assert section.count("<img") == 1 and "Mescheder" in section and "n = 2 seeds each" in section
    assert (tmp_path / "figures" / "probe-dirac.png").read_bytes().startswith(b"\x89PNG")
    without = build(tables, tmp_path / "plain.html").read_text()
    assert '<section id="probes">' not in without


# --- The pipeline's probe jobs ---------------------------------------------------------------------


PIPELINE = {"datasets": ["ring8"], "architectures": ["mlp"], "objectives": ["minimax", "wgan"],
            "regularisers": ["none", "default"], "seeds": [0, 1]}


def test_probe_jobs_cover_every_objective_and_regulariser_pair_of_the_grid():
    from benchsuite.budget import Budget
    from benchsuite.grid import expand
    from benchsuite.probes._pipeline import probe_jobs

    config = PIPELINE | {"probes": ["dirac", "saturation"]}
    jobs = probe_jobs(config, expand(config))
    assert len(jobs) == 2 * 4 * 2
    assert "dirac/wgan/default/s1" in jobs and "saturation/minimax/none/s0" in jobs
    assert jobs["dirac/wgan/default/s1"].arguments == ["dirac", "--objective", "wgan", "--regulariser", "default",
                                                       "--seed", "1"]
    assert len(probe_jobs(config, expand(config), budget=Budget(seeds=1))) == 2 * 4
    assert probe_jobs(PIPELINE, expand(PIPELINE)) == {}
    # A plugin of the config is loaded by every probe job too: it may define the probe or the method.
    plugin = str(Path(__file__).parent / "plugins" / "tempered_discriminator.py")
    with_plugin = config | {"plugins": [plugin]}
    assert jobs_of(with_plugin)["dirac/wgan/default/s1"].arguments[-2:] == ["--plugin", plugin]


def jobs_of(config):
    from benchsuite.grid import expand
    from benchsuite.probes._pipeline import probe_jobs

    return probe_jobs(config, expand(config))


@pytest.mark.parametrize("probes, message", [
    (["satruation"], "config key 'probes[0]': unknown probe 'satruation'. Did you mean 'saturation'?"),
    (["dirac", "dirac"], "lists a probe twice"),
])
def test_a_bad_probes_list_fails_naming_the_key(probes, message):
    from benchsuite.grid import GridError, expand
    from benchsuite.probes._pipeline import probe_jobs

    with pytest.raises(GridError, match=re.escape(message)):
        probe_jobs(PIPELINE | {"probes": probes}, expand(PIPELINE))


def test_the_schema_knows_the_probes_key():
    import jsonschema
    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "config" / "schema.yaml").read_text())
    jsonschema.validate({"probes": ["dirac"]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"probes": "dirac"}, schema)


def test_a_plugin_file_adds_a_probe(tmp_path):
    """A user's probe is one file: it subclasses Probe, registers itself and is run by name."""
    plugin = tmp_path / "my_probe.py"
    plugin.write_text(
        "from benchsuite.probes._base import Measurement, Probe\n"
        "from benchsuite.registry import register\n"
        "from benchsuite.train import build\n\n\n"
        "@register('probe', 'plugin-test-probe')\n"
        "class ParameterCount(Probe):\n"
        "    '''How many parameters the method's discriminator has.'''\n\n"
        "    source = 'a test'\n\n"
        "    def measure(self, target):\n"
        "        setup = build(self.config(target), target.device)\n"
        "        return [Measurement(0, 'd_parameters', sum(p.numel() for p in setup.discriminator.parameters()))]\n"
    )
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "benchsuite.cli", "probe", "plugin-test-probe", "--plugin", str(plugin),
                           "--objective", "nonsaturating", "--regulariser", "sn", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "probe.csv")
    assert table["metric"].tolist() == ["d_parameters"] and table["value"].iloc[0] > 0
    listed = subprocess.run([sys.executable, "-m", "benchsuite.cli", "list", "probe", "--plugin", str(plugin)],
                            capture_output=True, text=True)
    assert "plugin-test-probe" in listed.stdout and "saturation" in listed.stdout
