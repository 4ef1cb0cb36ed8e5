"""Mode counting on stacked data (Stacked MNIST: Metz et al. 2017, "Unrolled Generative Adversarial
Networks"; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).

The base dataset's classifier (the suite's ``classifier`` extractor, trained on single grey-scale
images) labels each channel of a generated sample; the three labels give its mode, one of
10^3 = 1,000. Reported, as in those papers: the number of modes with at least ``min_samples``
samples (1, the papers' convention) among the N generated samples, and KL(q || uniform) of the
generated mode histogram q against the uniform distribution of the data (0 when every mode is hit
equally, log 1000 = 6.91 when all samples fall into one mode). The papers use N = 26,000 with
Stacked MNIST; ``benchsuite evaluate --samples`` sets N.

The metric applies to stacked datasets only (those with ``stack > 1``); for any other image dataset
it returns no values.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from benchsuite.components import Dataset
from benchsuite.datasets._image import ImageDataset, to_uint8, to_unit_range
from benchsuite.errors import ConfigError
from benchsuite.metrics import extractors
from benchsuite.metrics._base import Declaration, Metric
from benchsuite.registry import register


@torch.no_grad()
def predicted_modes(images: torch.Tensor, network: extractors.ClassifierNet, num_classes: int, stack: int,
                    device: torch.device, batch_size: int = 500) -> torch.Tensor:
    """uint8 stacked images (N, stack, H, W) -> mode index per image, first channel most significant."""
    network = network.to(device).eval()
    modes = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        mode = torch.zeros(len(batch), dtype=torch.int64, device=device)
        for channel in range(stack):
            _, logits = network(to_unit_range(batch[:, channel:channel + 1]))
            mode = mode * num_classes + logits.argmax(dim=1)
        modes.append(mode.cpu())
    return torch.cat(modes)


def mode_counts(modes: torch.Tensor, total: int, min_samples: int = 1) -> dict[str, Any]:
    """Modes covered and KL(generated mode histogram || uniform over ``total`` modes)."""
    counts = torch.bincount(modes, minlength=total).double()
    q = counts / counts.sum()
    hit = q > 0
    return {
        "modes_covered": int((counts >= min_samples).sum()),
        "modes_total": total,
        "mode_kl": float((q[hit] * (q[hit] * total).log()).sum()),
        "mode_kl_max": math.log(total),
    }


@register("metric", "stacked-modes")
class StackedModes(Metric):
    """Modes covered out of 1,000 and KL to uniform on stacked digits (Metz et al. 2017; Srivastava et al. 2017)."""

    modality: ClassVar[str] = "image"
    options: ClassVar[dict[str, Any]] = {"min_samples": 1, "batch_size": 500}
    declares: ClassVar[dict[str, Declaration]] = {
        "modes_covered": Declaration("modes covered", better="higher", headline=1),
        "modes_total": Declaration("modes of the stacked data", summarised=False),
        "mode_kl": Declaration("KL(modes || uniform)", better="lower", headline=3),
        "mode_kl_max": Declaration("KL(modes || uniform) of one mode", summarised=False),
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for name in ("min_samples", "batch_size"):
            if self.settings[name] < 1:
                raise ConfigError(f"metric 'stacked-modes': option {name!r} must be >= 1")

    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        if not isinstance(dataset, ImageDataset) or dataset.stack == 1:
            return {}
        base = dataset.classifier_dataset()
        network, _ = extractors.load_classifier(extractors.ensure_classifier(base, device))
        modes = predicted_modes(to_uint8(samples), network, base.num_classes, dataset.stack, device,
                                self.settings["batch_size"])
        return mode_counts(modes, base.num_classes ** dataset.stack, self.settings["min_samples"])
