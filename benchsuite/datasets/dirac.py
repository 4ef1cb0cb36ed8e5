"""A point mass: the real distribution of the Dirac-GAN (Mescheder, Geiger & Nowozin 2018, section 2.2).

Every real sample is the origin of R^dim (dim = 1 in the paper). With the ``dirac`` architecture
(G(z) = theta, D(x) = psi . x) the whole game has two parameters and its only equilibrium is
theta = psi = 0, which is what the ``dirac`` probe measures the distance to. The mode metrics treat
it as one mode of width ``std`` (0: only exact hits count).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.errors import ConfigError
from benchsuite.io import save_with
from benchsuite.registry import register


@register("dataset", "dirac")
class Dirac(Dataset):
    """A point mass at the origin, the real data of the Dirac-GAN (Mescheder et al. 2018)."""

    modality: ClassVar[str] = "toy"
    options: ClassVar[dict[str, Any]] = {"dim": 1, "std": 0.0}
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 64, "z_dim": 1}

    @property
    def shape(self) -> tuple[int, ...]:
        if self.settings["dim"] < 1:
            raise ConfigError("dataset option 'dim' of 'dirac' must be >= 1")
        return (self.settings["dim"],)

    @property
    def std(self) -> float:
        return float(self.settings["std"])

    @cached_property
    def centres(self) -> torch.Tensor:
        return torch.zeros(1, self.shape[0], dtype=torch.float64)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.zeros(n, *self.shape)

    def save_samples(self, samples: torch.Tensor, path: Path) -> None:
        """A histogram of the first coordinate of the samples against the point mass at 0."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(4, 3), dpi=100)
        axes.hist(samples[:, 0].detach().cpu().numpy(), bins=50, color="tab:blue", label="generated")
        axes.axvline(0.0, color="tab:red", label="real (point mass)")
        axes.legend(fontsize=7)
        figure.tight_layout()
        save_with(path, lambda tmp: figure.savefig(tmp, format="png"))
        plt.close(figure)
