"""The presets that follow papers set up what their papers ran: data, networks, batches, budget, metric
(the toy tables of PacGAN and VEEGAN, and the stacked-digits mode count)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from snakemake.utils import validate

from benchsuite import registry
from benchsuite.grid import evaluation_arguments, expand, published_rows
from benchsuite.train import build

ROOT = Path(__file__).resolve().parent.parent


def preset(name: str) -> dict:
    config = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())
    validate(config, str(ROOT / "config" / "schema.yaml"))
    return config


def test_pacgan_cells_follow_the_reference_code():
    config = preset("pacgan-toys")
    grid = expand(config, base=ROOT)
    assert len(grid) == 3 * 2 * 10
    for run in grid.runs.values():
        c = run.config
        m = c.regulariser_options.get("pack", {}).get("m", 1)
        assert c.batch_size == 100 * m  # batches of 100 packs
        assert (c.steps, c.z_dim, c.lr_g, c.lr_d, c.beta1, c.objective) == (400_000, 2, 1e-4, 1e-4, 0.8, "nonsaturating")
        options = c.architecture_options
        assert (options["g_width"], options["g_depth"], options["g_batch_norm"]) == (400, 4, True)
        assert (options["d_width"], options["d_depth"], options["d_maxout"], options["init_std"]) == (200, 3, 5, 0.02)
        dataset = registry.get("dataset", c.dataset)(**c.dataset_options)
        assert dataset.std == (0.01 if c.dataset == "ring8" else 0.05)
        if c.dataset == "ring8":
            assert float(dataset.centres.norm(dim=1).max()) == pytest.approx(1.0)
    assert {run.config.regulariser_options.get("pack", {}).get("m", 1) for run in grid.runs.values()} == {1, 2, 4}
    for arguments in evaluation_arguments(config, grid).values():
        assert "--samples 2500" in arguments and "modes.min_samples=1" in arguments
    assert {(row["dataset"], row["regulariser"], row["metric"]) for row in published_rows(config, grid)} == {
        ("ring8", "none", "modes_covered"), ("grid25", "none", "modes_covered")}


def test_pacgan_discriminator_takes_packs_of_two_dimensional_samples():
    config = preset("pacgan-toys")
    runs = [run for run in expand(config, base=ROOT).runs.values() if run.config.seed == 0 and run.config.dataset == "ring8"]
    for run in runs:
        m = run.config.regulariser_options.get("pack", {}).get("m", 1)
        setup = build(run.config, torch.device("cpu"))
        first = next(p for name, p in setup.discriminator.named_parameters() if name.endswith("weight"))
        assert first.shape == (200 * 5, 2 * m)


def test_veegan_is_the_gan_baseline_on_both_mixtures():
    config = preset("veegan-toys")
    grid = expand(config, base=ROOT)
    assert {run.config.dataset for run in grid.runs.values()} == {"ring8", "grid25"}
    for run in grid.runs.values():
        c = run.config
        assert (c.objective, c.regulariser, c.batch_size, c.z_dim, c.steps) == ("nonsaturating", "none", 512, 256, 25_000)
        dataset = registry.get("dataset", c.dataset)(**c.dataset_options)
        assert dataset.std == (0.02 if c.dataset == "ring8" else 0.05)
    assert {(row["metric"], row["mean"], row["n"]) for row in published_rows(config, grid)} == {
        ("modes_covered", 1, 5), ("high_quality", 0.993, 5)}
    # VEEGAN counts a mode captured when at least one high-quality sample is nearest to it.
    for arguments in evaluation_arguments(config, grid).values():
        assert "--samples 2500" in arguments and "modes.min_samples=1" in arguments



# The stacked-digits study: four objectives, each without and with a zero-centred penalty, and
# R3GAN's loss ablation whole (the GAN and RpGAN with R1 alone and with R1 + R2).
STACKED_CELLS = {
    ("nonsaturating", "none"), ("nonsaturating", "r1"), ("nonsaturating", "r1+r2"),
    ("hinge", "none"), ("hinge", "r1"),
    ("wgan", "gp"), ("wgan", "gp+r1"),
    ("rpgan", "none"), ("rpgan", "r1"), ("rpgan", "r1+r2"),
}


def test_stacked_cells_are_four_objectives_without_and_with_a_penalty_and_r3gans_ablation():
    config = preset("stacked")
    grid = expand(config, base=ROOT)
    assert {(run.config.objective, run.config.regulariser) for run in grid.runs.values()} == STACKED_CELLS
    assert len(grid) == len(STACKED_CELLS) * 5
    for run in grid.runs.values():
        c = run.config
        assert (c.dataset, c.architecture, c.steps, c.batch_size, c.z_dim) == ("stacked-digits", "dcgan", 100_000, 64, 100)
        # Each objective at its own published optimiser settings; gp makes wgan WGAN-GP.
        expected = {"nonsaturating": ("adam", 2e-4, 0.5, 1), "hinge": ("adam", 2e-4, 0.0, 5),
                    "wgan": ("adam", 1e-4, 0.0, 5), "rpgan": ("adam", 2e-4, 0.0, 1)}[c.objective]
        assert (c.optimizer, c.lr_d, c.beta1, c.n_critic) == expected
    for arguments in evaluation_arguments(config, grid).values():
        assert "--samples 26000" in arguments and "stacked-modes.min_samples=1" in arguments
    # Each published number sits beside its own cell only, labelled as MNIST's.
    published = {(row["objective"], row["regulariser"], row["metric"]): row for row in published_rows(config, grid)}
    assert {key: row["mean"] for key, row in published.items()} == {
        ("rpgan", "r1+r2", "modes_covered"): 1000, ("rpgan", "r1+r2", "mode_kl"): 0.0781,
        ("nonsaturating", "r1+r2", "modes_covered"): 693, ("nonsaturating", "r1+r2", "mode_kl"): 0.9270,
        ("nonsaturating", "none", "modes_covered"): 99, ("nonsaturating", "none", "mode_kl"): 3.40,
        ("wgan", "gp", "modes_covered"): 959, ("wgan", "gp", "mode_kl"): 0.73,
    }
    assert all("Stacked MNIST" in row["note"] and "not our digits" in row["note"] and "R3GAN" in row["source"]
               for row in published.values())


def test_stacked_generator_draws_three_channel_digits_that_its_discriminator_scores():
    config = preset("stacked")
    run = next(run for run in expand(config, base=ROOT).runs.values() if run.config.objective == "rpgan")
    setup = build(run.config, torch.device("cpu"))
    fakes = setup.generator(torch.randn(2, run.config.z_dim))
    assert fakes.shape == (2, 3, 16, 16)
    assert setup.discriminator(fakes).shape[0] == 2


def test_the_budget_preset_trains_four_objectives_at_eight_settings_and_three_seeds():
    grid = expand(preset("budget-toy"))
    settings = grid.sweep_settings()["budget"]
    assert sorted(settings) == ["ring8/mlp/lsgan/none", "ring8/mlp/minimax/none", "ring8/mlp/nonsaturating/none",
                                "ring8/mlp/wgan/gp"]
    assert all(sorted(variants.values()) == list(range(8)) for variants in settings.values())
    assert len(grid) == 4 * 8 * 3 and set(grid.values("seed")) == {0, 1, 2}
    # Only WGAN-GP has the penalty whose weight the sweep draws.
    assert {run.config.objective for run in grid.runs.values() if "gp" in run.config.regulariser_options} == {"wgan"}
