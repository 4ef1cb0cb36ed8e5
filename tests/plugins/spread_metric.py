"""A metric that lives outside the package (test plugin): it declares its own direction and label.

Nothing in the suite knows its name; aggregation must rank its value lower-is-better and the report
must call it by its label, from what ``metrics.json`` records.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.metrics._base import Declaration, Metric
from benchsuite.registry import register


@register("metric", "spread-error")
class SpreadError(Metric):
    """How far the samples' spread is from the data's (test plugin)."""

    modality: ClassVar[str] = "toy"
    declares: ClassVar[dict[str, Declaration]] = {
        "spread_error": Declaration("error in spread (plugin)", better="lower", headline=0),
        "spread_of_data": Declaration("spread of the data (plugin)", summarised=False),
    }

    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        real = dataset.sample(len(samples), torch.Generator().manual_seed(0))
        return {"spread_error": float((samples.std() - real.std()).abs()), "spread_of_data": float(real.std()),
                "spread_undeclared": float(samples.std())}
