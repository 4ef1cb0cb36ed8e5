"""The metric contract: a named computation over generated samples of one modality, which declares
what each of its values means.

A declaration travels with the values in ``metrics.json``: aggregation ranks a value by its declared
direction and the report names it by its declared label, so neither needs a table of metrics (and
both stay free of torch, reading JSON only).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch

from benchsuite.components import Component, Dataset

DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class Declaration:
    """What one value of a metric means."""

    label: str  # how the report names it: "FID", "modes covered"
    better: str | None = None  # "higher" or "lower" ranks it; None: summarised, never ranked
    # Its place among a leaderboard's columns, lower first (the suite's own: FID 0, the toy mixtures'
    # mode counts 1 to 3, precision and recall 4 and 5, ...); None: shown only after every headline
    # metric, and only when it has a direction.
    headline: int | None = None
    # False for a value that describes the reference or the measurement rather than the run (the
    # number of modes, an extractor's accuracy, the spread of IS over its own splits): kept in
    # runs.csv, left out of the statistics.
    summarised: bool = True

    def __post_init__(self) -> None:
        if self.better not in (None, *DIRECTIONS):
            raise ValueError(f"a metric value is better 'higher' or 'lower' (or None), not {self.better!r}")
        if not self.label.strip():
            raise ValueError("a metric value's label must not be empty")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Metric(Component):
    """Scores generated samples against a dataset; ``modality`` says which datasets it applies to.

    ``declares`` names every value ``compute`` returns with its declaration. A value left out is
    still recorded and summarised, labelled by its name and never ranked (unless the pipeline config's
    ``aggregate.better`` gives its direction).
    """

    modality: ClassVar[str] = "toy"
    declares: ClassVar[dict[str, Declaration]] = {}

    @classmethod
    def kind(cls) -> str:
        return "metric"

    @classmethod
    def declarations(cls) -> dict[str, dict[str, Any]]:
        """The declarations as ``metrics.json`` records them."""
        return {name: declaration.to_json() for name, declaration in cls.declares.items()}

    @abstractmethod
    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        """A flat dict of metric values (floats, ints, or None where undefined)."""
