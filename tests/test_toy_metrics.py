import math

import pytest
import torch

from benchsuite import registry
from benchsuite.metrics.toy import mode_statistics


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_true_mixture_covers_every_mode_with_high_quality(name):
    dataset = registry.get("dataset", name)()
    samples = dataset.sample(2500, torch.Generator().manual_seed(0))
    stats = registry.get("metric", "modes")().compute(samples, dataset, torch.device("cpu"))
    assert stats["modes_covered"] == stats["modes_total"] == len(dataset.centres)
    assert stats["high_quality"] >= 0.95
    assert stats["mode_kl"] == pytest.approx(0.0, abs=0.02)


def test_one_mode_covers_exactly_one():
    dataset = registry.get("dataset", "ring8")()
    samples = dataset.centres[3].float() + dataset.std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    stats = mode_statistics(samples, dataset.centres, dataset.std)
    assert stats["modes_covered"] == 1
    assert stats["mode_kl"] == pytest.approx(math.log(8))


def test_samples_far_from_every_mode_are_low_quality():
    dataset = registry.get("dataset", "grid25")()
    stats = mode_statistics(torch.full((100, 2), 1.0), dataset.centres, dataset.std)
    assert stats == {"modes_covered": 0, "modes_total": 25, "high_quality": 0.0, "mode_kl": None,
                     "mode_kl_max": pytest.approx(math.log(25))}


def test_ring_has_no_duplicated_mode():
    # linspace(0, 2*pi, n) would put the last mode on top of the first.
    for modes in (8, 5, 12):
        centres = registry.get("dataset", "ring8")(modes=modes).centres
        assert torch.cdist(centres, centres).add(torch.eye(modes) * 10).min() > 1.0
        assert centres.norm(dim=1) == pytest.approx(torch.full((modes,), 2.0, dtype=torch.float64))


def test_grid_centres():
    centres = registry.get("dataset", "grid25")().centres
    assert sorted(set(centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len(centres) == 25


def test_toy_sampling_is_deterministic_in_the_generator():
    dataset = registry.get("dataset", "ring8")(radius=1.0, std=0.01)
    a = dataset.sample(100, torch.Generator().manual_seed(5))
    b = dataset.sample(100, torch.Generator().manual_seed(5))
    c = dataset.sample(100, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.norm(dim=1).mean() == pytest.approx(1.0, abs=0.01)
