"""What every image dataset shares: uint8 storage, [-1, 1] samples, fixed splits, stacked variants.

An image dataset keeps each split as a uint8 tensor (N, C, H, W) with int64 labels, loaded on first
use (building a dataset to learn its shape reads no files). Training samples are drawn from the
train split with replacement by the run's generator, so a run is deterministic and resumable.
Metrics read the real images of a split with ``images(split)`` (uint8, as torch-fidelity expects)
and ``labels(split)``; ``fingerprint(split)`` keys the caches that depend on the data.

A stacked dataset (Stacked MNIST, Metz et al. 2017; Srivastava et al. 2017) puts three independent
grey-scale images of its base dataset into the R, G and B channels: 10^3 = 1,000 modes for digits.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchsuite import cache, registry
from benchsuite.components import Dataset
from benchsuite.errors import ConfigError, DataUnavailableError

SPLITS = ("train", "test")


def default_data_root() -> Path:
    """``$BENCHSUITE_DATA``, else ``$XDG_CACHE_HOME/benchsuite/data``, else ``~/.cache/benchsuite/data``."""
    configured = os.environ.get("BENCHSUITE_DATA")
    if configured:
        return Path(configured).expanduser()
    return cache.user_cache_home() / "benchsuite" / "data"


def downloads_allowed() -> bool:
    """False when ``$BENCHSUITE_OFFLINE`` is set to anything but "", "0" or "false": never try the network."""
    return os.environ.get("BENCHSUITE_OFFLINE", "").strip().lower() in ("", "0", "false", "no")


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [-1, 1]."""
    return images.to(torch.float32) / 127.5 - 1.0


def to_uint8(samples: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8, rounded as ``torchvision.utils.save_image`` does.

    Non-finite values become the nearest end of the range (NaN mid-grey), so a sample is scored as
    the picture it would be saved as.
    """
    unit = (torch.nan_to_num(samples.detach().float(), nan=0.0, posinf=1.0, neginf=-1.0) + 1) / 2
    return (unit * 255 + 0.5).clamp_(0, 255).to(torch.uint8)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float images (N, C, h, w) -> (N, C, size, size), bilinear (anti-aliased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    shrinking = size < max(images.shape[-2:])
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)


def quantise(images: torch.Tensor, scale: float = 255.0) -> torch.Tensor:
    """Float images in [0, scale] -> uint8 in [0, 255]."""
    return (images * (255.0 / scale)).round().clamp(0, 255).to(torch.uint8)


class ImageDataset(Dataset):
    """Images with labels, a fixed train/test split and a configurable size; samples in [-1, 1]."""

    modality: ClassVar[str] = "image"
    channels: ClassVar[int] = 1
    num_classes: ClassVar[int | None] = None  # None: the dataset has no class labels
    # The extractor the ``fidelity`` metric uses unless told otherwise.
    default_extractor: ClassVar[str] = "inception-v3-compat"
    # Channels that each hold one image of the base dataset (3 for stacked datasets).
    stack: ClassVar[int] = 1
    training_defaults: ClassVar[dict[str, Any]] = {"batch_size": 64, "z_dim": 128}
    # Changes to the classifier extractor's training settings for this data (see metrics/extractors.py).
    classifier_training: ClassVar[dict[str, Any]] = {}

    def __init__(self, root: str | None = None, **overrides: Any) -> None:
        super().__init__(root=root, **overrides)
        size = self.settings.get("size")
        if not isinstance(size, int) or size < 4:
            raise ConfigError(f"dataset {self.name!r}: option 'size' must be an integer >= 4, got {size!r}")
        self._splits: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._fingerprints: dict[str, str] = {}

    # --- What it is ---------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.settings["size"], self.settings["size"])

    @property
    def data_root(self) -> Path:
        return Path(self.root).expanduser() if self.root else default_data_root()

    @property
    @abstractmethod
    def description(self) -> str:
        """One line: the source, the preprocessing and the split (recorded alongside results)."""

    # --- Real data ----------------------------------------------------------------------------

    @abstractmethod
    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(uint8 images (N, C, H, W) at the configured size, int64 labels or None) of one split."""

    def _split(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if split not in SPLITS:
            raise ConfigError(f"dataset {self.name!r} has splits {', '.join(SPLITS)}; there is no split {split!r}")
        if split not in self._splits:
            images, labels = self.load_split(split)
            expected = self.shape
            if images.dtype != torch.uint8 or tuple(images.shape[1:]) != expected:
                raise RuntimeError(
                    f"dataset {self.name!r} loaded {split} images of dtype {images.dtype} and shape "
                    f"{tuple(images.shape)}; expected uint8 (N, {', '.join(map(str, expected))})"
                )
            self._splits[split] = (images, labels)
        return self._splits[split]

    def images(self, split: str = "train") -> torch.Tensor:
        """All real images of ``split`` as uint8 (N, C, H, W)."""
        return self._split(split)[0]

    def labels(self, split: str = "train") -> torch.Tensor:
        """The class label of every image of ``split`` (int64); an error when the data has none."""
        labels = self._split(split)[1]
        if labels is None:
            raise ConfigError(f"dataset {self.name!r} has no class labels")
        return labels

    @property
    def has_labels(self) -> bool:
        return self.num_classes is not None

    def fingerprint(self, split: str) -> str:
        """sha256 of a split's images and labels: caches keyed by it notice changed data files."""
        if split not in self._fingerprints:
            images, labels = self._split(split)
            self._fingerprints[split] = cache.tensor_sha256(images, *([labels] if labels is not None else []))
        return self._fingerprints[split]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        train = self.images("train")
        index = torch.randint(len(train), (n,), generator=generator)
        return to_unit_range(train[index])

    # --- The classifier extractor ------------------------------------------------------------

    def classifier_dataset(self) -> ImageDataset:
        """The dataset whose classifier scores this one (its base dataset, channel by channel, if stacked)."""
        return self


class StackedDataset(ImageDataset):
    """Three independent images of a grey-scale base dataset as the R, G and B channels.

    Labels are ``100 * label_R + 10 * label_G + label_B`` for a 10-class base. Training samples draw
    three fresh base images each, so every one of the 1,000 combinations is reachable; a split's
    real image set (for metrics) is ``stacked_set_size`` combinations drawn once with a fixed seed
    from that split of the base dataset. Subclasses name ``base_name`` and set ``num_classes`` to
    the base's number of classes cubed.
    """

    channels: ClassVar[int] = 3
    stack: ClassVar[int] = 3
    base_name: ClassVar[str] = ""
    # Options that belong to the stacking, not to the base dataset.
    stacking_options: ClassVar[tuple[str, ...]] = ("stacked_set_size",)
    _STACK_SEED = 1_000_003

    def __init__(self, root: str | None = None, **overrides: Any) -> None:
        super().__init__(root=root, **overrides)
        if self.settings["stacked_set_size"] < 1:
            raise ConfigError(f"dataset {self.name!r}: option 'stacked_set_size' must be >= 1")
        self._base: ImageDataset | None = None

    @property
    def base(self) -> ImageDataset:
        if self._base is None:
            options = {k: v for k, v in self.settings.items() if k not in self.stacking_options}
            self._base = registry.get("dataset", self.base_name)(root=self.root, **options)
        return self._base

    def classifier_dataset(self) -> ImageDataset:
        return self.base

    def _stack(self, split: str, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """index (N, 3) into the base split -> stacked images and joint labels."""
        images, labels = self.base.images(split), self.base.labels(split)
        stacked = images[index].squeeze(2)  # (N, 3, 1, H, W) -> (N, 3, H, W)
        joint = torch.zeros(len(index), dtype=torch.int64)
        for channel in range(self.stack):
            joint = joint * self.base.num_classes + labels[index[:, channel]]
        return stacked, joint

    def _base_images(self, split: str) -> torch.Tensor:
        try:
            return self.base.images(split)
        except DataUnavailableError as error:
            raise DataUnavailableError(f"dataset {self.name!r} is built from {self.base_name!r}: {error}") from None

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        generator = torch.Generator().manual_seed(self._STACK_SEED + SPLITS.index(split))
        count = len(self._base_images(split))
        index = torch.randint(count, (self.settings["stacked_set_size"], self.stack), generator=generator)
        return self._stack(split, index)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        train = self._base_images("train")
        index = torch.randint(len(train), (n, self.stack), generator=generator)
        return to_unit_range(train[index].squeeze(2))
