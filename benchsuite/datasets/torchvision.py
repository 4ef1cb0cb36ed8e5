"""Image datasets read through torchvision: MNIST, Fashion-MNIST, CIFAR-10, CelebA 64x64, Stacked MNIST.

Sources: MNIST (LeCun et al. 1998), Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), CIFAR-10
(Krizhevsky 2009), CelebA (Liu et al. 2015, aligned and cropped faces; 64x64 as in DCGAN, Radford
et al. 2016: a central ``crop`` x ``crop`` square, 108 by default as in the widely used DCGAN
TensorFlow code, resized to ``size``), Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017).

Every split is the dataset's official one (MNIST and Fashion-MNIST 60,000 / 10,000, CIFAR-10
50,000 / 10,000, CelebA's ``list_eval_partition.txt`` train / test).

The files live under the data root (``--data-root``, else ``$BENCHSUITE_DATA``, else
``~/.cache/benchsuite/data``). A missing dataset is downloaded when the network allows (set
``BENCHSUITE_OFFLINE=1`` to never try); otherwise loading fails with one error that names the
dataset, where its files were expected and how to fetch them.
"""

from __future__ import annotations

import sys
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar
from urllib.error import URLError

import torch

from benchsuite import cache
from benchsuite.datasets._image import ImageDataset, StackedDataset, downloads_allowed, quantise, resize
from benchsuite.errors import ConfigError, DataUnavailableError
from benchsuite.registry import register


class TorchvisionImages(ImageDataset):
    """An image dataset whose files torchvision reads (and downloads when it can)."""

    # Where under the data root torchvision keeps the files, and how a person fetches them.
    folder: ClassVar[str] = ""
    fetch: ClassVar[str] = ""
    split_description: ClassVar[str] = ""

    @abstractmethod
    def open(self, split: str, download: bool) -> Any:
        """The torchvision dataset object of ``split``; raises RuntimeError when files are missing."""

    @abstractmethod
    def convert(self, source: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """torchvision dataset -> (uint8 images (N, C, H, W), labels or None); resized afterwards if needed."""

    @property
    def description(self) -> str:
        size = self.settings["size"]
        return f"{self.name} via torchvision at {size}x{size}; {self.split_description}"

    def unavailable(self, reason: str) -> DataUnavailableError:
        expected = self.data_root / self.folder
        return DataUnavailableError(
            f"dataset {self.name!r} is not available: no usable copy at {expected} and {reason}. "
            f"To fetch it: {self.fetch.replace('ROOT', str(self.data_root))}. Or point --data-root "
            "(or the BENCHSUITE_DATA environment variable) at a directory that already holds it."
        )

    def open_or_fail(self, split: str) -> Any:
        try:
            return self.open(split, download=False)
        except (RuntimeError, FileNotFoundError):
            pass  # not there yet: try a download below
        if not downloads_allowed():
            raise self.unavailable("downloads are turned off (BENCHSUITE_OFFLINE is set)")
        try:
            self.data_root.mkdir(parents=True, exist_ok=True)
            return self.open(split, download=True)
        except (RuntimeError, OSError, URLError, ValueError, ImportError) as error:
            detail = " ".join(str(error).split()) or type(error).__name__
            raise self.unavailable(f"the download failed ({detail[:300]})") from None

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        images, labels = self.convert(self.open_or_fail(split))
        size = self.settings["size"]
        if images.shape[-1] != size or images.shape[-2] != size:
            images = quantise(resize(images.to(torch.float32), size))
        return images, labels


@register("dataset", "mnist")
class MNIST(TorchvisionImages):
    """MNIST handwritten digits, 28x28 grey-scale, 10 classes (LeCun et al. 1998)."""

    channels: ClassVar[int] = 1
    num_classes: ClassVar[int | None] = 10
    options: ClassVar[dict[str, Any]] = {"size": 28}
    # About 3 epochs: small CNNs reach ~99 % on MNIST in that (the digits default is 400 steps).
    classifier_training: ClassVar[dict[str, Any]] = {"steps": 3000, "batch_size": 64}
    folder: ClassVar[str] = "MNIST/raw"
    split_description: ClassVar[str] = "official split, 60,000 train / 10,000 test"
    fetch: ClassVar[str] = (
        "run once with network access (torchvision downloads it), or gunzip train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte from "
        "https://ossci-datasets.s3.amazonaws.com/mnist/ into ROOT/MNIST/raw/"
    )

    def open(self, split: str, download: bool) -> Any:
        from torchvision import datasets

        return datasets.MNIST(str(self.data_root), train=split == "train", download=download)

    def convert(self, source: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        return source.data.unsqueeze(1).to(torch.uint8), torch.as_tensor(source.targets, dtype=torch.int64)


@register("dataset", "fashion-mnist")
class FashionMNIST(MNIST):
    """Fashion-MNIST, 28x28 grey-scale Zalando article images, 10 classes (Xiao et al. 2017)."""

    folder: ClassVar[str] = "FashionMNIST/raw"
    fetch: ClassVar[str] = (
        "run once with network access (torchvision downloads it), or gunzip train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte from "
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ into ROOT/FashionMNIST/raw/"
    )

    def open(self, split: str, download: bool) -> Any:
        from torchvision import datasets

        return datasets.FashionMNIST(str(self.data_root), train=split == "train", download=download)


@register("dataset", "cifar10")
class CIFAR10(TorchvisionImages):
    """CIFAR-10, 32x32 colour images, 10 classes (Krizhevsky 2009)."""

    channels: ClassVar[int] = 3
    num_classes: ClassVar[int | None] = 10
    options: ClassVar[dict[str, Any]] = {"size": 32}
    # Natural images need a wider network and more passes than digits: about 10 epochs.
    classifier_training: ClassVar[dict[str, Any]] = {"steps": 8000, "batch_size": 64, "width": 32}
    folder: ClassVar[str] = "cifar-10-batches-py"
    split_description: ClassVar[str] = "official split, 50,000 train / 10,000 test"
    fetch: ClassVar[str] = (
        "run once with network access (torchvision downloads it), or download "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it in ROOT "
        "(giving ROOT/cifar-10-batches-py/)"
    )

    def open(self, split: str, download: bool) -> Any:
        from torchvision import datasets

        return datasets.CIFAR10(str(self.data_root), train=split == "train", download=download)

    def convert(self, source: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        images = torch.from_numpy(source.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(source.targets, dtype=torch.int64)


@register("dataset", "celeba64")
class CelebA64(TorchvisionImages):
    """CelebA aligned faces, central crop resized to 64x64 (Liu et al. 2015; DCGAN, Radford et al. 2016)."""

    channels: ClassVar[int] = 3
    num_classes: ClassVar[int | None] = None
    options: ClassVar[dict[str, Any]] = {"size": 64, "crop": 108}
    folder: ClassVar[str] = "celeba"
    split_description: ClassVar[str] = "official partition (list_eval_partition.txt), 162,770 train / 19,962 test"
    fetch: ClassVar[str] = (
        "download img_align_celeba.zip and list_eval_partition.txt, identity_CelebA.txt, "
        "list_attr_celeba.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into ROOT/celeba/ and unzip the images there "
        "(giving ROOT/celeba/img_align_celeba/); torchvision's own download needs the gdown package "
        "and often hits Google Drive's quota"
    )

    def __init__(self, root: str | None = None, **overrides: Any) -> None:
        super().__init__(root=root, **overrides)
        if not 1 <= self.settings["crop"] <= 178:
            raise ConfigError("dataset 'celeba64': option 'crop' must be in 1..178 (the images are 178 wide)")

    @property
    def description(self) -> str:
        s = self.settings
        return f"celeba64: CelebA aligned, central {s['crop']}x{s['crop']} crop resized to {s['size']}x{s['size']}; " \
               f"{self.split_description}"

    def open(self, split: str, download: bool) -> Any:
        from torchvision import datasets

        return datasets.CelebA(str(self.data_root), split=split, target_type=[], download=download)

    def convert(self, source: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Decoding 160k JPEGs takes minutes, so the cropped and resized tensor is cached.
        partition = Path(source.root) / source.base_folder / "list_eval_partition.txt"
        key = {"dataset": self.name, "split": source.split, "options": self.settings, "files": len(source.filename),
               "partition": cache.file_sha256(partition)}
        images = cache.cached("datasets", f"{self.name}-{source.split}", key, lambda: self._decode(source))
        return images, None

    def _decode(self, source: Any) -> torch.Tensor:
        from PIL import Image
        from torchvision.transforms import functional as TF

        crop, size = self.settings["crop"], self.settings["size"]
        folder = Path(source.root) / source.base_folder / "img_align_celeba"
        out = torch.empty(len(source.filename), 3, size, size, dtype=torch.uint8)
        names = source.filename
        if sys.stderr.isatty():
            from tqdm import tqdm

            names = tqdm(names, desc=f"celeba64 {source.split}: crop and resize", unit="image")
        for i, name in enumerate(names):
            with Image.open(folder / name) as image:
                picture = TF.pil_to_tensor(image.convert("RGB"))
            picture = TF.center_crop(picture, [crop, crop])
            out[i] = TF.resize(picture, [size, size], antialias=True)
        return out


@register("dataset", "stacked-mnist")
class StackedMNIST(StackedDataset):
    """Three independent MNIST digits as RGB channels, 1,000 modes (Metz et al. 2017; Srivastava et al. 2017)."""

    base_name: ClassVar[str] = "mnist"
    num_classes: ClassVar[int | None] = 1000
    options: ClassVar[dict[str, Any]] = {**MNIST.options, "stacked_set_size": 10_000}

    @property
    def description(self) -> str:
        return (
            f"stacked-mnist: three independent images of [{self.base.description}] as RGB channels, 1,000 modes; "
            f"{self.settings['stacked_set_size']:,} fixed combinations per split for metrics"
        )
