"""Each objective against a hand computation on a tiny input (methods.md's table)."""

import math

import pytest
import torch

from benchsuite import registry

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def losses(name):
    objective = registry.get("objective", name)()
    return (
        float(objective.discriminator_loss(REAL, FAKE, None)),
        float(objective.generator_loss(FAKE, None)),
    )


EXPECTED = {
    "minimax": (
        mean(softplus(-r) for r in REAL.tolist()) + mean(softplus(f) for f in FAKE.tolist()),
        -mean(softplus(f) for f in FAKE.tolist()),
    ),
    "nonsaturating": (
        mean(softplus(-r) for r in REAL.tolist()) + mean(softplus(f) for f in FAKE.tolist()),
        mean(softplus(-f) for f in FAKE.tolist()),
    ),
    "wgan": (mean(FAKE.tolist()) - mean(REAL.tolist()), -mean(FAKE.tolist())),
    "lsgan": (
        0.5 * mean((r - 1) ** 2 for r in REAL.tolist()) + 0.5 * mean(f**2 for f in FAKE.tolist()),
        0.5 * mean((f - 1) ** 2 for f in FAKE.tolist()),
    ),
    "hinge": (
        mean(max(0.0, 1 - r) for r in REAL.tolist()) + mean(max(0.0, 1 + f) for f in FAKE.tolist()),
        -mean(FAKE.tolist()),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_losses_match_hand_computation(name):
    assert losses(name) == pytest.approx(EXPECTED[name], rel=1e-6)


def test_minimax_equals_log_one_minus_sigmoid():
    # The saturating generator loss is E log(1 - sigmoid(D(G(z)))).
    expected = mean(math.log(1 - 1 / (1 + math.exp(-f))) for f in FAKE.tolist())
    assert losses("minimax")[1] == pytest.approx(expected, rel=1e-6)


def test_minimax_saturates_where_nonsaturating_does_not():
    # D rejects the fake confidently: the minimax generator gradient vanishes.
    confident = torch.tensor([-12.0], requires_grad=True)
    grads = {}
    for name in ("minimax", "nonsaturating"):
        objective = registry.get("objective", name)()
        (grad,) = torch.autograd.grad(objective.generator_loss(confident, None), confident)
        grads[name] = abs(float(grad))
    assert grads["minimax"] < 1e-4
    assert grads["nonsaturating"] == pytest.approx(1.0, abs=1e-4)


def test_every_objective_documents_its_source():
    # The package's own objectives; other tests of the session register plugin ones.
    for entry in registry.entries("objective"):
        if not entry.source.startswith("benchsuite."):
            continue
        module = __import__(entry.target.__module__, fromlist=["_"])
        assert module.__doc__ and any(ch.isdigit() for ch in module.__doc__), entry.name
