"""The energy-based GAN with an autoencoder discriminator (Zhao, Mathieu & LeCun 2017, "Energy-based
Generative Adversarial Networks", ICLR).

The discriminator is an autoencoder: its encoder is D's usual trunk, its decoder is built by the
architecture's ``decoder`` (shaped like the generator). The energy of a sample is its per-sample mean
squared reconstruction error, U(x) = mean_i (Dec(Enc(x))_i - x_i)^2, low on real data.

    D minimises  E U(x) + E relu(m - U(G(z)))
    G minimises  E U(G(z)) + pt_weight * f_PT(Enc(G(z)))

f_PT is the paper's pulling-away term (EBGAN-PT): the mean squared cosine similarity between the
encoder codes of distinct fakes in the batch, which pushes the codes apart (against mode collapse).
It costs one extra pass of the encoder over the fakes; ``pt_weight=0`` gives plain EBGAN.

The margin. The paper writes the energy as the Euclidean norm ||Dec(Enc(x)) - x|| over all D
coordinates of a sample and uses m = 20 for CelebA at 64x64x3 (pixels in [-1, 1]). A norm grows like
sqrt(D), so that margin means a per-coordinate root-mean-square error of 20 / sqrt(64 * 64 * 3) = 0.18.
This suite's energy is the per-coordinate mean square, which does not grow with D, so the paper's
margin becomes m = 20^2 / (64 * 64 * 3) = 0.0326 and holds for data of any size. It is in the data's
units: images in [-1, 1] and the toy mixtures (modes of std 0.02 - 0.05, a few units apart) are both
at that scale, so fakes further than about 0.18 per coordinate from what the autoencoder reconstructs
are "far enough"; for data of another scale, multiply ``margin`` by the square of the scale factor.

Defaults: pulling-away weight 0.1 (the paper's EBGAN-PT); Adam with beta1 = 0.5 for both players, lr
1e-3 (the value the paper's MNIST grid search favoured), one D step per G step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchsuite.components import Architecture, Discriminator, Objective, StepContext
from benchsuite.errors import ConfigError
from benchsuite.registry import register


def reconstruction_energy(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error, shape (N,)."""
    return (reconstruction - x).pow(2).reshape(x.shape[0], -1).mean(dim=1)


def pulling_away(codes: torch.Tensor) -> torch.Tensor:
    """Mean over ordered pairs i != j of cos^2(code_i, code_j); 0 for mutually orthogonal codes."""
    n = codes.shape[0]
    if n < 2:
        return codes.new_zeros(())
    unit = F.normalize(codes.reshape(n, -1), dim=1)
    cosines = unit @ unit.T
    off_diagonal = cosines.pow(2).sum() - cosines.diagonal().pow(2).sum()
    return off_diagonal / (n * (n - 1))


class AutoencoderDiscriminator(Discriminator):
    """trunk = encoder, head = decoder; the output is the per-sample reconstruction energy."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_energy(x, self.head(self.trunk(x)))

    def new_head(self, architecture: Architecture, in_features: int) -> nn.Module:
        # Whatever sits between encoder and decoder (a bottleneck), the head still reconstructs x.
        return architecture.decoder(in_features)


@register("objective", "ebgan")
class EnergyBasedGAN(Objective):
    """Autoencoder D, energy = reconstruction MSE, margin loss, pulling-away term (Zhao et al. 2017)."""

    options: ClassVar[dict[str, Any]] = {"margin": 20.0**2 / (64 * 64 * 3), "pt_weight": 0.1}
    option_rules: ClassVar[dict[str, str]] = {"margin": "non-negative", "pt_weight": "non-negative"}
    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adam", "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "n_critic": 1,
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        if self.settings["margin"] < 0 or self.settings["pt_weight"] < 0:
            raise ConfigError("objective 'ebgan' options 'margin' and 'pt_weight' must be >= 0")

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        if not isinstance(discriminator, Discriminator):
            raise ConfigError("objective 'ebgan' needs a discriminator with a separate trunk (its encoder)")
        width = discriminator.feature_width(architecture.data_shape)
        return AutoencoderDiscriminator(discriminator.trunk, architecture.decoder(width))

    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return out_real.mean() + F.relu(self.settings["margin"] - out_fake).mean()

    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        loss = out_fake.mean()
        if self.settings["pt_weight"] > 0:
            term = pulling_away(ctx.discriminator.features(ctx.fake_input))
            ctx.log("ebgan/pulling_away", term)
            loss = loss + self.settings["pt_weight"] * term
        return loss
