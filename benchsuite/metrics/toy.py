"""Mode coverage and sample quality on 2-D Gaussian mixtures.

A sample is of high quality when it lies within 3 standard deviations of some mode's centre, and
then belongs to the nearest such mode (Metz et al. 2017, Unrolled GAN; Srivastava et al. 2017,
VEEGAN). A mode is covered when at least ``min_samples`` high-quality samples belong to it (the
default, 20 of 2,500 samples, is 6 % of what a uniform generator puts in each of 8 modes and 80 %
of it for 25 modes; set it to what your study needs). ``mode_kl`` is KL(q || uniform) of the
histogram q of high-quality samples over modes: 0 when every mode is hit equally, log(K) when
all samples fall in one mode (PacGAN, Lin et al. 2018, reports the same quantity as "reverse KL").
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.metrics._base import Declaration, Metric
from benchsuite.registry import register


def mode_statistics(samples: torch.Tensor, centres: torch.Tensor, std: float, sigmas: float = 3.0,
                    min_samples: int = 20) -> dict[str, Any]:
    """Modes covered, share of high-quality samples and KL to uniform of the mode histogram."""
    samples = samples.detach().to(torch.float64).cpu()
    centres = centres.to(torch.float64)
    finite = torch.isfinite(samples).all(dim=1)
    distances = torch.cdist(samples[finite], centres)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= sigmas * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    high_quality = int(good.sum())
    if high_quality:
        q = counts.double() / high_quality
        nonzero = q > 0
        kl = float((q[nonzero] * (q[nonzero] * len(centres)).log()).sum())
    else:
        kl = None  # undefined: no sample lies near any mode
    return {
        "modes_covered": int((counts >= min_samples).sum()),
        "modes_total": len(centres),
        "high_quality": high_quality / len(samples),
        "mode_kl": kl,
        "mode_kl_max": math.log(len(centres)),
    }


@register("metric", "modes")
class ModeCoverage(Metric):
    """Modes covered, share of samples within 3 sigma of a mode, KL(mode histogram || uniform)."""

    modality: ClassVar[str] = "toy"
    options: ClassVar[dict[str, Any]] = {"sigmas": 3.0, "min_samples": 20}
    declares: ClassVar[dict[str, Declaration]] = {
        "modes_covered": Declaration("modes covered", better="higher", headline=1),
        "modes_total": Declaration("modes of the mixture", summarised=False),
        "high_quality": Declaration("high-quality share", better="higher", headline=2),
        "mode_kl": Declaration("KL(modes || uniform)", better="lower", headline=3),
        "mode_kl_max": Declaration("KL(modes || uniform) of one mode", summarised=False),
    }

    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        return mode_statistics(samples, dataset.centres, dataset.std, self.settings["sigmas"],
                               self.settings["min_samples"])
