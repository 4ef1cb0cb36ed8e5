"""The metric contract: a named computation over generated samples of one modality."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch

from benchsuite.components import Component, Dataset


class Metric(Component):
    """Scores generated samples against a dataset; ``modality`` says which datasets it applies to."""

    modality: ClassVar[str] = "toy"
    # The names of the scores ``compute`` returns (columns of runs.csv), so that a config naming a
    # score (a preset's published numbers) is checked before any job.
    values: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def kind(cls) -> str:
        return "metric"

    @abstractmethod
    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        """A flat dict of metric values (floats, ints, or None where undefined)."""
