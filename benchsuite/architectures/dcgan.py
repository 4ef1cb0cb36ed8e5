"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks").

Generator: z is projected and reshaped to a 4x4 map (7x7 for 28-pixel images), then each stride-2
4x4 transposed convolution doubles the resolution and halves the channels, with batch norm and
ReLU, up to a last transposed convolution to the image channels and tanh. Discriminator: the
mirror, stride-2 4x4 convolutions with LeakyReLU(0.2) down to a 4x4 (7x7) map, flattened; the
default linear head on that is the paper's last 4x4 convolution. Weights are drawn from N(0, 0.02)
and batch-norm scales from N(1, 0.02), as in the paper.

Sizes: 16 (two up-samplings), 28 (two, from 7x7), 32 (three) and 64 pixels (four, the paper's
setting), one or three channels. ``width`` is the channel count next to the image (the paper's 64
at 64 pixels: 512, 256, 128, 64 in G).

Departures from the paper, each an option: the discriminator has no batch norm by default
(``d_batchnorm``), because gradient penalties and Lipschitz constraints assume a per-sample function
(Gulrajani et al. 2017 drop it for the same reason); the decoder (the autoencoder half of an energy
discriminator) is shaped like the generator and follows ``d_batchnorm`` since it belongs to D.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from benchsuite.components import Architecture
from benchsuite.registry import register

# Image size -> (side of the first feature map, number of stride-2 up-samplings).
LAYOUT = {16: (4, 2), 28: (7, 2), 32: (4, 3), 64: (4, 4)}


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, zero biases, N(1, 0.02) batch-norm scales (Radford et al. 2016)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register("architecture", "dcgan")
class DCGAN(Architecture):
    """Convolutional G (transposed convs, batch norm, ReLU, tanh) and D (strided convs, LeakyReLU); Radford et al. 2016."""

    options: ClassVar[dict[str, Any]] = {"width": 64, "g_batchnorm": True, "d_batchnorm": False}
    option_rules: ClassVar[dict[str, str]] = {"width": "positive"}
    supported_shapes: ClassVar[tuple[tuple[int, ...], ...]] = tuple(
        (channels, size, size) for channels in (1, 3) for size in sorted(LAYOUT)
    )

    @property
    def _layout(self) -> tuple[int, int]:
        return LAYOUT[self.data_shape[-1]]

    def _upsampling(self, in_features: int, batchnorm: bool) -> nn.Sequential:
        """in_features -> image: project to the first map, then stride-2 transposed convolutions."""
        start, steps = self._layout
        channels = self.settings["width"] * 2 ** (steps - 1)
        layers: list[nn.Module] = [nn.Linear(in_features, channels * start * start), nn.Unflatten(1, (channels, start, start))]
        layers += [nn.BatchNorm2d(channels)] if batchnorm else []
        layers.append(nn.ReLU())
        for _ in range(steps - 1):
            layers.append(nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=not batchnorm))
            layers += [nn.BatchNorm2d(channels // 2)] if batchnorm else []
            layers.append(nn.ReLU())
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, self.data_shape[0], 4, 2, 1), nn.Tanh()]
        network = nn.Sequential(*layers)
        network.apply(dcgan_init)
        return network

    def generator(self) -> nn.Module:
        return self._upsampling(self.z_dim, self.settings["g_batchnorm"])

    def decoder(self, in_features: int) -> nn.Module:
        return self._upsampling(in_features, self.settings["d_batchnorm"])

    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        start, steps = self._layout
        width, batchnorm = self.settings["width"], self.settings["d_batchnorm"]
        # No normalisation on the first layer, as in the paper.
        layers: list[nn.Module] = [nn.Conv2d(self.data_shape[0], width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for _ in range(steps - 1):
            layers.append(nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=not batchnorm))
            layers += [nn.BatchNorm2d(channels * 2)] if batchnorm else []
            layers.append(nn.LeakyReLU(0.2))
            channels *= 2
        layers.append(nn.Flatten())
        trunk = nn.Sequential(*layers)
        trunk.apply(dcgan_init)
        return trunk, channels * start * start

    def discriminator_head(self, in_features: int) -> nn.Module:
        head = nn.Linear(in_features, 1)
        dcgan_init(head)
        return head
