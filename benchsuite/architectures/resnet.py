"""The CIFAR ResNet of SNGAN (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks", appendix B.4) and WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Generator: z -> linear -> (size/8)x(size/8) map -> three up-sampling residual blocks (batch norm,
ReLU, nearest 2x up-sampling, 3x3 convolutions; 1x1 convolution on the up-sampled shortcut) ->
batch norm, ReLU, 3x3 convolution to the image channels, tanh.

Discriminator: four residual blocks (the first the "optimised" block that convolves before it pools,
the first two down-sampling by 2x2 average pooling), ReLU, global pooling; the default linear head
gives the output. No normalisation in D, so gradient penalties and spectral norm apply as
published. Pooling: the mean over positions by default, as in WGAN-GP; SNGAN sums (``d_pool=sum``),
which with spectral norm is fine, but without it makes D's initial outputs grow with the number of
positions (hundreds at 64x64, enough to saturate a sigmoid loss and zero G's first gradients).

Widths: 128 channels in G and in D by default, WGAN-GP's CIFAR model (SNGAN's has 256 in G:
``g_width=256``; a quarter of the generator's compute less matters on a CPU). Initialisation as in the SNGAN code: Xavier-uniform with gain sqrt(2) in the
residual branches, gain 1 for shortcuts and linear layers. Sizes 16, 32 (the papers'), 48 (SNGAN's
STL-10) and 64 pixels, one or three channels. The decoder an energy discriminator asks for has the
generator's shape without batch norm (it belongs to D).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchsuite.components import Architecture
from benchsuite.errors import ConfigError
from benchsuite.registry import register

SIZES = (16, 32, 48, 64)


def _conv(in_channels: int, out_channels: int, kernel: int, gain: float) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
    nn.init.xavier_uniform_(conv.weight, gain)
    nn.init.zeros_(conv.bias)
    return conv


class UpBlock(nn.Module):
    """BN-ReLU-up-conv-BN-ReLU-conv plus an up-sampled 1x1 shortcut (SNGAN's generator block)."""

    def __init__(self, in_channels: int, out_channels: int, batchnorm: bool) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if batchnorm else (lambda channels: nn.Identity())
        self.norm1 = norm(in_channels)
        self.conv1 = _conv(in_channels, out_channels, 3, math.sqrt(2))
        self.norm2 = norm(out_channels)
        self.conv2 = _conv(out_channels, out_channels, 3, math.sqrt(2))
        self.shortcut = _conv(in_channels, out_channels, 1, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """ReLU-conv-ReLU-conv, optional 2x2 average pooling, 1x1 shortcut when the shape changes.

    The first block of D takes the raw image: no ReLU before its first convolution, and its
    shortcut pools before the 1x1 convolution (SNGAN's "optimised" block).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.first = first
        self.downsample = downsample
        self.conv1 = _conv(in_channels, out_channels, 3, math.sqrt(2))
        self.conv2 = _conv(out_channels, out_channels, 3, math.sqrt(2))
        learnable = first or downsample or in_channels != out_channels
        self.shortcut = _conv(in_channels, out_channels, 1, 1.0) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Out-of-place ReLU: x is also the shortcut's input, and gradient penalties differentiate twice.
        h = self.conv1(x if self.first else F.relu(x))
        h = self.conv2(F.relu(h))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        shortcut = x
        if self.first:
            shortcut = self.shortcut(F.avg_pool2d(x, 2))
        elif self.shortcut is not None:
            shortcut = self.shortcut(x)
            if self.downsample:
                shortcut = F.avg_pool2d(shortcut, 2)
        return h + shortcut


class GlobalPool(nn.Module):
    """ReLU, then the mean (WGAN-GP) or the sum (SNGAN) over all positions."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x)
        return h.sum(dim=(2, 3)) if self.mode == "sum" else h.mean(dim=(2, 3))


@register("architecture", "resnet")
class ResNet(Architecture):
    """SNGAN / WGAN-GP CIFAR ResNet: G with three up-sampling residual blocks, D with four (Miyato et al. 2018)."""

    options: ClassVar[dict[str, Any]] = {"g_width": 128, "d_width": 128, "d_pool": "mean"}
    option_rules: ClassVar[dict[str, str]] = {"g_width": "positive", "d_width": "positive"}
    supported_shapes: ClassVar[tuple[tuple[int, ...], ...]] = tuple(
        (channels, size, size) for channels in (1, 3) for size in SIZES
    )

    def __init__(self, data_shape: tuple[int, ...], z_dim: int, **overrides: Any) -> None:
        super().__init__(data_shape, z_dim, **overrides)
        if self.settings["d_pool"] not in ("mean", "sum"):
            raise ConfigError(f"architecture 'resnet': d_pool must be 'mean' or 'sum', got {self.settings['d_pool']!r}")

    def _upsampling(self, in_features: int, batchnorm: bool) -> nn.Sequential:
        start, width = self.data_shape[-1] // 8, self.settings["g_width"]
        linear = nn.Linear(in_features, width * start * start)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(
            linear,
            nn.Unflatten(1, (width, start, start)),
            *(UpBlock(width, width, batchnorm) for _ in range(3)),
            nn.BatchNorm2d(width) if batchnorm else nn.Identity(),
            nn.ReLU(),
            _conv(width, self.data_shape[0], 3, 1.0),
            nn.Tanh(),
        )

    def generator(self) -> nn.Module:
        return self._upsampling(self.z_dim, batchnorm=True)

    def decoder(self, in_features: int) -> nn.Module:
        return self._upsampling(in_features, batchnorm=False)

    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        width = self.settings["d_width"]
        trunk = nn.Sequential(
            DownBlock(self.data_shape[0], width, downsample=True, first=True),
            DownBlock(width, width, downsample=True),
            DownBlock(width, width, downsample=False),
            DownBlock(width, width, downsample=False),
            GlobalPool(self.settings["d_pool"]),
        )
        return trunk, width

    def discriminator_head(self, in_features: int) -> nn.Module:
        head = nn.Linear(in_features, 1)
        nn.init.xavier_uniform_(head.weight)
        nn.init.zeros_(head.bias)
        return head
