"""The variational discriminator bottleneck (Peng, Kanazawa, Toyer, Abbeel & Levine 2019, "Variational
Discriminator Bottleneck: Improving Imitation Learning, Inverse RL, and GANs by Constraining
Information Flow", ICLR).

D's head is replaced by a stochastic encoder: the trunk's features give a mean mu and a standard
deviation sigma = softplus(.) of a Gaussian code of ``size`` dimensions; during D's step the head sees
a reparametrised sample mu + sigma * eps, eps ~ N(0, I). D's loss gains beta * (KL - I_c), KL the mean
of KL[N(mu, sigma^2) || N(0, I)] over the real half and over the fake half of the batch (averaged
with equal weight), which caps the information D can extract from its input at I_c nats. beta is a
Lagrange multiplier updated by dual gradient ascent after every D step,

    beta <- max(0, beta + alpha_beta * (KL - I_c)),

and lives in the checkpoint, so a resumed run continues it exactly. The generator's step uses the
bottleneck's mean mu, as Peng et al. do where D's output is the other player's learning signal (the
reward of their imitation-learning experiments is computed from the encoder's mean). Every forward
outside training (diagnostics, evaluation) uses mu too, so measurements draw no random numbers.

Defaults are the authors' image-generation settings: I_c = 0.1, beta0 = 0.1, alpha_beta = 1e-5, a
bottleneck of 256. With alpha_beta = 1e-5 beta moves by about 1e-5 per step and unit of constraint
violation, so over a short run it stays near beta0; that is the published setting.
Logged: ``vdb/kl`` and ``vdb/beta`` (the beta that weighed that step's penalty).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchsuite.components import Architecture, Discriminator, Regulariser, StepContext
from benchsuite.errors import CheckpointError, ConfigError
from benchsuite.registry import register


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample KL[N(mu, diag sigma^2) || N(0, I)] in nats, summed over the code's dimensions."""
    return 0.5 * (mu.pow(2) + sigma.pow(2) - 2 * torch.log(sigma) - 1).reshape(mu.shape[0], -1).sum(dim=1)


class StochasticBottleneck(nn.Module):
    """features -> (mu, sigma) -> mu + sigma * eps (sampling) or mu (otherwise) -> head."""

    def __init__(self, in_features: int, size: int, head: nn.Module) -> None:
        super().__init__()
        self.mean = nn.Linear(in_features, size)
        self.scale = nn.Linear(in_features, size)
        self.head = head
        self.sampling = True  # set per phase by the regulariser: D's step samples, G's step uses mu
        self.generator: torch.Generator | None = None  # the run's noise generator, so resumes replay it
        self.kl: torch.Tensor | None = None  # per-sample KL of the last sampled forward, until collected

    def moments(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean(features), F.softplus(self.scale(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.kl = None  # only a sampled forward leaves a KL for the discriminator's hook to collect
        mu, sigma = self.moments(features)
        if not (self.training and self.sampling):
            return self.head(mu)
        eps = torch.randn(mu.shape, generator=self.generator, device=mu.device, dtype=mu.dtype)
        self.kl = gaussian_kl(mu, sigma)
        return self.head(mu + sigma * eps)


@register("regulariser", "vdb")
class VariationalBottleneck(Regulariser):
    """Stochastic bottleneck before D's head, beta(KL - I_c) with beta by dual ascent (Peng et al. 2019)."""

    options: ClassVar[dict[str, Any]] = {"i_c": 0.1, "beta0": 0.1, "alpha_beta": 1e-5, "size": 256}
    option_rules: ClassVar[dict[str, str]] = {"i_c": "non-negative", "beta0": "non-negative", "alpha_beta": "non-negative", "size": "positive"}

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("i_c", "beta0", "alpha_beta"):
            if self.settings[key] < 0:
                raise ConfigError(f"regulariser 'vdb' option {key!r} must be >= 0")
        if self.settings["size"] < 1:
            raise ConfigError("regulariser 'vdb' option 'size' must be >= 1")
        # float64: increments of alpha_beta * (KL - I_c) ~ 1e-6 would be rounded away in float32.
        self.beta = torch.tensor(self.settings["beta0"], dtype=torch.float64)
        self.bottleneck: StochasticBottleneck | None = None
        self._seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (D's input, its per-sample KL)
        self._step_kl: torch.Tensor | None = None

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        if not isinstance(discriminator, Discriminator):
            raise ConfigError("regulariser 'vdb' needs a discriminator with a separate trunk and head")
        width = discriminator.feature_width(architecture.data_shape)
        size = self.settings["size"]
        self.bottleneck = StochasticBottleneck(width, size, discriminator.new_head(architecture, size))
        discriminator.head = self.bottleneck
        # D is called once on real and once on fake inputs; pairing each KL with the input it came
        # from lets the penalty find both halves whatever else (a gradient penalty) calls D.
        discriminator.register_forward_hook(self._collect)
        return discriminator

    def _collect(self, module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        if self.bottleneck is not None and self.bottleneck.kl is not None:
            self._seen.append((args[0], self.bottleneck.kl))
            self.bottleneck.kl = None

    def _kl_of(self, inputs: torch.Tensor | None, half: str) -> torch.Tensor:
        for seen, kl in reversed(self._seen):
            if seen is inputs:
                return kl
        raise RuntimeError(
            f"vdb: the discriminator was not run on the {half} batch in training mode during this D step"
        )

    def begin_phase(self, ctx: StepContext) -> None:
        self._seen.clear()
        self._step_kl = None
        if self.bottleneck is not None:
            self.bottleneck.sampling = ctx.phase == "d"
            self.bottleneck.generator = ctx.rng

    def discriminator_penalty(self, ctx: StepContext) -> torch.Tensor:
        kl = 0.5 * (self._kl_of(ctx.real_input, "real").mean() + self._kl_of(ctx.fake_input, "fake").mean())
        self._step_kl = kl.detach()
        self.beta = self.beta.to(kl.device)
        ctx.log("vdb/kl", kl)
        ctx.log("vdb/beta", self.beta)
        return self.beta.to(kl.dtype) * (kl - self.settings["i_c"])

    @torch.no_grad()
    def after_discriminator_step(self, ctx: StepContext) -> None:
        if self._step_kl is not None:
            violation = self._step_kl.to(torch.float64) - self.settings["i_c"]
            self.beta = (self.beta + self.settings["alpha_beta"] * violation).clamp_min(0.0)
        self._seen.clear()
        self._step_kl = None

    def state_dict(self) -> dict[str, Any]:
        return {"beta": self.beta.detach().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "beta" not in state:
            raise CheckpointError("the checkpoint holds no beta for regulariser 'vdb'; it cannot resume this run")
        self.beta = state["beta"].detach().to(torch.float64).clone()
