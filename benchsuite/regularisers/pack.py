"""Packing (Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative
adversarial networks", NeurIPS; reference code: github.com/fjxmlzn/PacGAN).

D judges ``m`` samples at once: ``m`` real samples concatenated, or ``m`` generated ones, one
decision per pack. A generator that drops modes makes packs of fakes look alike, which a packed D
sees more easily than single samples, so packing penalises mode collapse.

How it hooks in: D is rebuilt by the architecture for the packed input (``m * d`` numbers for
samples of ``d`` numbers, ``m * C`` channels for images), and every batch D sees is reshaped into
packs of consecutive samples. Because the packs *are* D's inputs, everything that looks at D's
inputs sees packs: a gradient penalty interpolates and differentiates packs (``r1``, ``gp``:
the gradient of the packed D with respect to its packed input), spectral normalisation bounds the
packed D's layers, and the gradient diagnostics measure the packed D. Instance noise commutes with
the reshape.

The batch: ``batch_size`` counts samples, so D sees ``batch_size / m`` packs of real and as many of
fake samples per step, and G's loss is averaged over its ``batch_size / m`` packs. In the reference
code a batch of 100 is 100 packs: each step draws 100 * m real samples and 100 * m fakes (m latent
batches of 100, concatenated sample by sample). To follow it, set ``batch_size`` to 100 * m.
One difference: the reference's generator normalises each of its m latent batches on its own; here
G sees the 100 * m latents as one batch.

Order: ``pack`` must act before any regulariser that changes D's layers, since it replaces D by one
built for packs; specs are spelled with their names sorted, so ``pack`` comes before ``sn`` and
``vdb`` however a spec is written. ``m = 1`` is no packing and changes nothing.
Several seeds in one process (``--seeds``) are trained one after another, with the same numbers:
the packed D has no stacked form in the vectorised trainer.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from benchsuite.components import Architecture, Discriminator, Regulariser, StepContext
from benchsuite.errors import ConfigError
from benchsuite.registry import register


def packed_shape(shape: tuple[int, ...], m: int) -> tuple[int, ...]:
    """The shape of one pack of ``m`` samples of ``shape``: concatenated along the first axis."""
    return (m * shape[0], *shape[1:])


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """(N, d, ...) -> (N / m, m * d, ...): consecutive samples concatenated into packs."""
    if x.shape[0] % m:
        raise ConfigError(f"regulariser 'pack' with m={m} needs a batch that m divides; got {x.shape[0]} samples")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


class PackedDiscriminator(nn.Module):
    """A discriminator built for packs; ``forward`` takes packs (see ``pack``) and scores each."""

    def __init__(self, discriminator: nn.Module, pack_shape: tuple[int, ...], m: int) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.pack_shape = pack_shape
        self.m = m

    def forward(self, packs: torch.Tensor) -> torch.Tensor:
        if tuple(packs.shape[1:]) != self.pack_shape:
            raise ValueError(f"a packed discriminator takes packs of shape {self.pack_shape}, got "
                             f"{tuple(packs.shape[1:])}: pack the samples first (regularisers.pack.pack)")
        return self.discriminator(packs)

    def features(self, packs: torch.Tensor) -> torch.Tensor:
        return self.discriminator.features(packs)


@register("regulariser", "pack")
class Packing(Regulariser):
    """D judges packs of m samples concatenated (PacGAN, Lin et al. 2018); default m = 2."""

    options: ClassVar[dict[str, Any]] = {"m": 2}

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        if self.settings["m"] < 1:
            raise ConfigError(f"regulariser 'pack' option 'm' must be >= 1, got {self.settings['m']!r}")

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        m = self.settings["m"]
        if m == 1:
            return discriminator
        if type(discriminator) is not Discriminator:
            raise ConfigError(
                f"regulariser 'pack' packs a scoring discriminator built by the architecture; this run's "
                f"objective replaced it by a {type(discriminator).__name__}, which cannot be packed"
            )
        if any(parametrize.is_parametrized(module) or module._forward_hooks or module._forward_pre_hooks
               for module in discriminator.modules()):
            raise ConfigError(
                "regulariser 'pack' rebuilds D for packed inputs, so it must come before the regularisers "
                "that change D's layers: write e.g. 'pack+sn', not 'sn+pack'"
            )
        shape = packed_shape(architecture.data_shape, m)
        # The same architecture and options with packed data; its shape check is skipped, as it
        # concerns the generator's output (a packed image has m * C channels, an unusual count).
        builder = copy.copy(architecture)
        builder.data_shape = shape
        return PackedDiscriminator(builder.discriminator(), shape, m)

    def perturb(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        m = self.settings["m"]
        return x if m == 1 else pack(x, m)
