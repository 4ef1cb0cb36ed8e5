"""Two-dimensional Gaussian mixtures, the standard probes for mode collapse.

``ring8``: eight Gaussians evenly spaced on a circle. The default, radius 2 and std 0.02, is the
setting of Unrolled GAN (Metz et al. 2017) and VEEGAN (Srivastava et al. 2017); PacGAN's
(Lin et al. 2018) is reached with ``dataset.radius=1 dataset.std=0.01``.
``grid25``: a 5x5 grid of Gaussians at {-4,-2,0,2,4}^2 with std 0.05 (VEEGAN, PacGAN).
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from abc import abstractmethod
from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.errors import ConfigError
from benchsuite.io import save_with
from benchsuite.registry import register


class GaussianMixture(Dataset):
    """Equal-weight mixture of isotropic Gaussians in 2-D with known centres."""

    modality: ClassVar[str] = "toy"
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 256, "z_dim": 16}

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def std(self) -> float:
        return float(self.settings["std"])

    @cached_property
    def centres(self) -> torch.Tensor:
        """(modes, 2) float64 tensor of mode centres (computed once: settings never change)."""
        return self.mode_centres()

    @cached_property
    def _centres32(self) -> torch.Tensor:
        return self.centres.to(torch.float32)

    @abstractmethod
    def mode_centres(self) -> torch.Tensor:
        """(modes, 2) float64 tensor of mode centres."""

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        centres = self._centres32
        modes = torch.randint(len(centres), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return centres[modes] + self.std * noise

    def save_samples(self, samples: torch.Tensor, path: Path) -> None:
        """Scatter of generated samples over the mixture's centres and their 3-sigma circles."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centres = self.centres.numpy()
        figure, axes = plt.subplots(figsize=(4, 4), dpi=100)
        points = samples.detach().cpu().numpy()
        axes.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
        axes.scatter(centres[:, 0], centres[:, 1], s=30, marker="x", color="tab:red", label="mode centres")
        for x, y in centres:
            axes.add_patch(plt.Circle((x, y), 3 * self.std, fill=False, color="tab:red", lw=0.5))
        span = float(abs(centres).max()) * 1.5 + 3 * self.std
        axes.set_xlim(-span, span)
        axes.set_ylim(-span, span)
        axes.set_aspect("equal")
        axes.legend(loc="upper right", fontsize=7)
        figure.tight_layout()
        save_with(path, lambda tmp: figure.savefig(tmp, format="png"))
        plt.close(figure)


@register("dataset", "ring8")
class Ring(GaussianMixture):
    """Ring of 8 Gaussians (radius 2, std 0.02 by default; PacGAN's radius 1, std 0.01 via options)."""

    options: ClassVar[dict[str, Any]] = {"modes": 8, "radius": 2.0, "std": 0.02}
    option_rules: ClassVar[dict[str, str]] = {"modes": "positive", "radius": "positive", "std": "positive"}

    def mode_centres(self) -> torch.Tensor:
        n = self.settings["modes"]
        if n < 1:
            raise ConfigError("dataset option 'modes' must be >= 1")
        # Angles 2*pi*k/n for k < n: linspace(0, 2*pi, n) would repeat the first mode at 2*pi.
        angles = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
        return self.settings["radius"] * torch.stack([angles.cos(), angles.sin()], dim=1)


@register("dataset", "grid25")
class Grid(GaussianMixture):
    """5x5 grid of Gaussians at {-4,-2,0,2,4}^2, std 0.05."""

    options: ClassVar[dict[str, Any]] = {"side": 5, "spacing": 2.0, "std": 0.05}
    option_rules: ClassVar[dict[str, str]] = {"side": "positive", "spacing": "positive", "std": "positive"}

    def mode_centres(self) -> torch.Tensor:
        side = self.settings["side"]
        if side < 1:
            raise ConfigError("dataset option 'side' must be >= 1")
        ticks = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * self.settings["spacing"]
        xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
        return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
