"""The embedded image datasets: handwritten digits that ship inside scikit-learn, no download needed.

``digits``: the 1,797 8x8 grey-scale digits (10 classes) of the UCI "Optical Recognition of
Handwritten Digits" set (Alpaydin & Kaynak 1998) as packaged by scikit-learn
(``sklearn.datasets.load_digits``), pixel values 0-16 scaled to 0-255 and resized bilinearly to
``size`` (16 by default: two up-samplings for a DCGAN, quick on a CPU; 32 suits the ResNet).

``stacked-digits``: three independent digits as the R, G and B channels, 1,000 modes; the embedded
counterpart of Stacked MNIST (Metz et al. 2017, "Unrolled Generative Adversarial Networks";
Srivastava et al. 2017, VEEGAN).

The split is fixed and recorded in the run's config: per class, a ``test_fraction`` share of the
images (rounded) is held out, chosen by a permutation seeded with ``split_seed``; with the defaults
that is 1,438 train and 359 test images (35 to 37 held out per class).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from benchsuite.datasets._image import ImageDataset, StackedDataset, quantise, resize
from benchsuite.errors import ConfigError
from benchsuite.registry import register

_LOADED: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def _raw_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """(1797, 1, 8, 8) float64 in [0, 16] and labels; read from scikit-learn's bundled file once."""
    if 8 not in _LOADED:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(bunch.images).unsqueeze(1)
        _LOADED[8] = (images, torch.from_numpy(bunch.target).to(torch.int64))
    return _LOADED[8]


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> dict[str, torch.Tensor]:
    """Indices of a per-class split: round(test_fraction * class size) of each class held out."""
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held_out = int(round(test_fraction * len(members)))
        test.append(members[:held_out])
        train.append(members[held_out:])
    return {"train": torch.cat(train).sort().values, "test": torch.cat(test).sort().values}


@register("dataset", "digits")
class Digits(ImageDataset):
    """scikit-learn's 1,797 handwritten 8x8 digits (Alpaydin & Kaynak 1998), resized; embedded, offline."""

    channels: ClassVar[int] = 1
    num_classes: ClassVar[int | None] = 10
    default_extractor: ClassVar[str] = "classifier"
    options: ClassVar[dict[str, Any]] = {"size": 16, "test_fraction": 0.2, "split_seed": 0}
    option_rules: ClassVar[dict[str, str]] = {"size": "positive", "test_fraction": "in (0, 1)", "split_seed": "non-negative"}
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 64, "z_dim": 64}

    def __init__(self, root: str | None = None, **overrides: Any) -> None:
        super().__init__(root=root, **overrides)
        if not 0.0 < self.settings["test_fraction"] < 1.0:
            raise ConfigError(
                f"dataset {self.name!r}: option 'test_fraction' must lie strictly between 0 and 1, "
                f"got {self.settings['test_fraction']!r}"
            )

    @property
    def description(self) -> str:
        s = self.settings
        return (
            f"scikit-learn digits, 1,797 8x8 images of 10 classes, resized to {s['size']}x{s['size']}; "
            f"per-class split holding out {s['test_fraction']:g} of each class (seed {s['split_seed']})"
        )

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        images, labels = _raw_digits()
        index = stratified_split(labels, self.settings["test_fraction"], self.settings["split_seed"])[split]
        resized = resize(images[index].to(torch.float32), self.settings["size"])
        return quantise(resized, scale=16.0), labels[index]


@register("dataset", "stacked-digits")
class StackedDigits(StackedDataset):
    """Three independent scikit-learn digits as RGB channels, 1,000 modes (Stacked MNIST, Metz et al. 2017)."""

    base_name: ClassVar[str] = "digits"
    num_classes: ClassVar[int | None] = 1000
    default_extractor: ClassVar[str] = "classifier"
    options: ClassVar[dict[str, Any]] = {**Digits.options, "stacked_set_size": 10_000}
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 64, "z_dim": 64}

    @property
    def description(self) -> str:
        return (
            f"stacked digits: three independent images of [{self.base.description}] as RGB channels, "
            f"1,000 modes; {self.settings['stacked_set_size']:,} fixed combinations per split for metrics"
        )
