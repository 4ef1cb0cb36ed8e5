"""A vertical segment: the real data of the WGAN paper's parallel-lines example.

Arjovsky, Chintala & Bottou 2017, Example 1: Z ~ U[0, 1], real samples (0, Z). A generator putting
its samples on (theta, Z) has disjoint support from the data for every theta != 0, so the JS
divergence is log 2 (flat) and KL infinite, while the Wasserstein distance is |theta|. The
``shift`` probe trains discriminators on it; ``offset`` moves the segment sideways.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.registry import register


@register("dataset", "segment")
class Segment(Dataset):
    """Points (offset, u), u ~ U[0, 1]: the WGAN paper's parallel-lines data (Arjovsky et al. 2017, Example 1)."""

    modality: ClassVar[str] = "segment"
    options: ClassVar[dict[str, Any]] = {"offset": 0.0}
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 256, "z_dim": 1}

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        heights = torch.rand(n, generator=generator)
        return torch.stack([torch.full((n,), self.settings["offset"]), heights], dim=1)
