"""Feature extractors for the image metrics, both used through torch-fidelity.

``inception-v3-compat``: torch-fidelity's port of the TensorFlow Inception-v3 that FID, IS and KID were
defined with (Heusel et al. 2017; Salimans et al. 2016; Bińkowski et al. 2018): pool features (2048)
for FID / KID / precision-recall, logits for IS. Its weights file is downloaded when the network
allows, found where torch.hub keeps downloads, or named by the ``fidelity.inception_weights`` metric
option. The file is checked against the reference's sha256 prefix; without it the metric fails with
one error saying how to provide it. There is never a silent fall-back to another extractor: numbers
from another network are not comparable.

``classifier``: a small convolutional classifier the suite trains on the train split of the dataset
it scores (``benchsuite train-extractor DATASET``, or automatically on first use), with its held-out
accuracy on the test split recorded in the weights file and in every ``metrics.json``. Its pooled
last-layer features serve FID / KID / precision-recall / density-coverage and its logits serve IS,
which makes IS "the number of classes the samples are spread over" (Salimans et al. 2016, with a
classifier of the data's own domain, the usual choice on MNIST-like data where Inception's ImageNet
classes mean little). On a stacked dataset the base classifier scores each channel: the features
are concatenated and the logits become the joint log-probabilities of the 1,000 channel triples.
Both are registered with torch-fidelity as feature extractors (``benchsuite-classifier``,
``benchsuite-stacked-classifier``, defined in ``_fidelity_extractors.py``) by
``register_with_torch_fidelity()``, so torch-fidelity's own ``calculate_metrics`` can use them.

Extractors take uint8 images (N, C, H, W), torch-fidelity's convention; grey-scale images are
repeated to three channels for Inception.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from benchsuite import cache
from benchsuite.datasets._image import ImageDataset, downloads_allowed, to_unit_range
from benchsuite.errors import ConfigError, DataUnavailableError

CLASSIFIER = "classifier"
INCEPTION = "inception-v3-compat"
EXTRACTORS = (CLASSIFIER, INCEPTION)
METRIC_KINDS = ("isc", "fid", "kid", "prc")

FIDELITY_CLASSIFIER = "benchsuite-classifier"
FIDELITY_STACKED_CLASSIFIER = "benchsuite-stacked-classifier"

# torch-fidelity's URL_INCEPTION_V3, written out so that importing this module does not import
# torch-fidelity (and torchvision): every command imports it through the registry. A test keeps the
# two equal.
URL_INCEPTION_V3 = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_FILE = Path(urlparse(URL_INCEPTION_V3).path).name
# torch.hub's convention: the name ends in the first hex digits of the file's sha256.
INCEPTION_SHA256_PREFIX = INCEPTION_FILE.rsplit("-", 1)[1].split(".")[0]

# How the classifier is trained, unless the dataset's ``classifier_training`` or the caller says
# otherwise; recorded with its weights. On the embedded digits (16x16) these settings gave 99.4 to
# 99.7 % held-out accuracy (the last bits of CPU sums depend on the thread count) in about 20 s on
# one CPU core (measured; 200 steps gave 99.2 %).
CLASSIFIER_TRAINING: dict[str, Any] = {
    "steps": 400,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "width": 16,
    "max_shift": 1,
    "seed": 0,
}
_CLASSIFIER_FORMAT = 1


# --- The classifier network -----------------------------------------------------------------------


class ClassifierNet(nn.Module):
    """Three 3x3 conv layers (``width``, 2x and 4x channels; batch norm, ReLU, 2x2 max pooling
    between), global average pooling to ``4 * width`` features, a linear layer to the class logits.

    Small on purpose: it is trained and run on a CPU by default, and features for FID need to
    separate the classes, not to win a benchmark."""

    def __init__(self, in_channels: int, num_classes: int, width: int) -> None:
        super().__init__()

        def stage(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.body = nn.Sequential(
            *stage(in_channels, width), nn.MaxPool2d(2),
            *stage(width, 2 * width), nn.MaxPool2d(2),
            *stage(2 * width, 4 * width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classify = nn.Linear(4 * width, num_classes)
        self.feature_width = 4 * width

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] -> (features, logits)."""
        features = self.body(x)
        return features, self.classify(features)


def _shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (edge pixels repeated): cheap augmentation."""
    if max_shift == 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, mode="replicate")
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(images.device)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(images.device)
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


@torch.no_grad()
def accuracy(network: ClassifierNet, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
             batch_size: int = 500) -> float:
    network.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        _, logits = network(to_unit_range(images[start:start + batch_size].to(device)))
        correct += int((logits.argmax(dim=1).cpu() == labels[start:start + batch_size]).sum())
    return correct / len(images)


def _check_classifiable(dataset: ImageDataset) -> None:
    if not dataset.has_labels:
        raise ConfigError(
            f"dataset {dataset.name!r} has no class labels, so the suite cannot train a classifier extractor "
            f"for it; use --set fidelity.extractor={INCEPTION}"
        )


def classifier_key(dataset: ImageDataset) -> dict[str, Any]:
    """What a classifier depends on: the dataset, its options and the exact data of both splits."""
    _check_classifiable(dataset)
    return {
        "format": _CLASSIFIER_FORMAT,
        "dataset": dataset.name,
        "options": dict(dataset.settings),
        "train": dataset.fingerprint("train"),
        "test": dataset.fingerprint("test"),
    }


def classifier_path(dataset: ImageDataset) -> Path:
    return cache.path_for("extractors", f"classifier-{dataset.name}", classifier_key(dataset))


def train_classifier(dataset: ImageDataset, device: torch.device, progress: bool | None = None,
                     **overrides: Any) -> Path:
    """Train the classifier extractor of ``dataset`` on its train split and store it; returns its path.

    Deterministic on the CPU for a given dataset, settings and thread count. ``overrides`` change
    entries of ``CLASSIFIER_TRAINING`` after the dataset's own ``classifier_training`` (all recorded
    with the weights). A retrained classifier replaces the old one and, through the hash of its
    weights, invalidates every cached reference computed with it.
    """
    key = classifier_key(dataset)
    settings = dict(CLASSIFIER_TRAINING)
    for name, value in (dataset.classifier_training | overrides).items():
        if name not in settings:
            raise ConfigError(f"unknown classifier training setting {name!r}; settings are {', '.join(settings)}")
        settings[name] = type(settings[name])(value)
    images, labels = dataset.images("train"), dataset.labels("train")
    generator = torch.Generator().manual_seed(settings["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings["seed"])
        network = ClassifierNet(dataset.channels, dataset.num_classes, settings["width"]).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"])
    steps = settings["steps"]
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=f"classifier for {dataset.name}", unit="step")
    network.train()
    for _ in range(steps):
        index = torch.randint(len(images), (settings["batch_size"],), generator=generator)
        batch = _shift(to_unit_range(images[index]), settings["max_shift"], generator).to(device)
        _, logits = network(batch)
        loss = F.cross_entropy(logits, labels[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    held_out = accuracy(network, dataset.images("test"), dataset.labels("test"), device)
    record = {
        "state": {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()},
        "architecture": {"in_channels": dataset.channels, "num_classes": dataset.num_classes,
                         "width": settings["width"]},
        "accuracy": held_out,
        "test_images": len(dataset.images("test")),
        "training": settings,
        "dataset": dataset.name,
        "description": dataset.description,
    }
    return cache.store("extractors", f"classifier-{dataset.name}", key, record)


def read_classifier(path: str | Path) -> dict[str, Any]:
    """The record of a classifier weights file (loaded with ``weights_only=True``)."""
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        record = entry["value"]
        missing = {"state", "architecture", "accuracy", "test_images"} - set(record)
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except FileNotFoundError:
        raise DataUnavailableError(f"no classifier weights file at {path}") from None
    except Exception as error:
        raise DataUnavailableError(
            f"{path} is not a classifier weights file written by the suite ({type(error).__name__}); "
            "delete it and run `benchsuite train-extractor DATASET` again"
        ) from None
    return record


def load_classifier(path: str | Path) -> tuple[ClassifierNet, dict[str, Any]]:
    record = read_classifier(path)
    network = ClassifierNet(**record["architecture"])
    network.load_state_dict(record["state"])
    network.requires_grad_(False)
    network.eval()
    return network, record


def ensure_classifier(dataset: ImageDataset, device: torch.device) -> Path:
    """The classifier weights file of ``dataset``, trained now if this is its first use."""
    path = classifier_path(dataset)
    if path.is_file():
        try:
            read_classifier(path)
            return path
        except DataUnavailableError:
            pass  # a damaged file is retrained below
    print(f"benchsuite: training the classifier extractor for {dataset.name!r} on its train split "
          f"(first use; `benchsuite train-extractor {dataset.name}` does this ahead of time)", file=sys.stderr)
    path = train_classifier(dataset, device)
    record = read_classifier(path)
    print(f"benchsuite: classifier for {dataset.name!r}: held-out accuracy {record['accuracy']:.4f} "
          f"on {record['test_images']} test images -> {path}", file=sys.stderr)
    return path


# --- Registration with torch-fidelity -------------------------------------------------------------


def register_with_torch_fidelity() -> tuple[str, str]:
    """Make the classifier extractors known to torch-fidelity; returns their names there.

    Needed before calling ``torch_fidelity.calculate_metrics(feature_extractor="benchsuite-classifier",
    feature_extractor_weights_path=...)`` directly; the suite's own metrics call it themselves.
    """
    from benchsuite.metrics import _fidelity_extractors  # registers on import

    return _fidelity_extractors.CLASSIFIER_NAME, _fidelity_extractors.STACKED_NAME


# --- Inception-v3 weights -------------------------------------------------------------------------


def default_inception_path() -> Path:
    """Where torch.hub (and so torch-fidelity) keeps the downloaded weights; TORCH_HOME moves it."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _how_to_provide() -> str:
    return (
        f"Download {URL_INCEPTION_V3} on a machine with network access, then either copy it to "
        f"{default_inception_path()} or name it with `--set fidelity.inception_weights=PATH`. The suite "
        f"never substitutes another extractor: numbers from another network are not comparable "
        f"(use --set fidelity.extractor={CLASSIFIER} for the suite's own, separately comparable, classifier)."
    )


def inception_weights(path: str | None = None) -> tuple[Path, str]:
    """(the verified Inception-v3 weights file, its sha256); downloads it when allowed and needed."""
    named = bool(path)
    target = Path(path).expanduser() if named else default_inception_path()
    if not target.is_file():
        if named:
            raise DataUnavailableError(
                f"the Inception weights file {target} named by fidelity.inception_weights does not exist. "
                + _how_to_provide()
            )
        if not downloads_allowed():
            raise DataUnavailableError(
                f"{INCEPTION} needs its weights file {INCEPTION_FILE}, which is not at {target}, and downloads "
                "are turned off (BENCHSUITE_OFFLINE is set). " + _how_to_provide()
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(URL_INCEPTION_V3, str(target), hash_prefix=INCEPTION_SHA256_PREFIX,
                                           progress=sys.stderr.isatty())
        except (OSError, RuntimeError, ValueError) as error:
            detail = " ".join(str(error).split()) or type(error).__name__
            raise DataUnavailableError(
                f"{INCEPTION} needs its weights file {INCEPTION_FILE}, which is not at {target}, and the download "
                f"failed ({detail[:300]}). " + _how_to_provide()
            ) from None
    sha256 = cache.file_sha256(target)
    if not sha256.startswith(INCEPTION_SHA256_PREFIX):
        raise DataUnavailableError(
            f"{target} is not the {INCEPTION} weights file: its sha256 starts with {sha256[:8]}, the reference "
            f"file's with {INCEPTION_SHA256_PREFIX}. " + _how_to_provide()
        )
    try:
        # torch-fidelity loads the file without weights_only; proving it is plain tensors first keeps
        # the suite's promise that no file it reads can run code.
        state = torch.load(target, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError("not a dict of tensors")
    except Exception as error:
        raise DataUnavailableError(
            f"{target} cannot be read as the {INCEPTION} state dict ({type(error).__name__}). " + _how_to_provide()
        ) from None
    return target, sha256


# --- One extractor, ready for the metrics ----------------------------------------------------------


@dataclass
class Extractor:
    """A torch-fidelity extractor on a device, with what identifies it in caches and results."""

    name: str  # the suite's name: "classifier" or "inception-v3-compat"
    fidelity_name: str  # its name in torch-fidelity's registry
    weights: Path
    weights_sha256: str
    module: nn.Module  # a torch-fidelity FeatureExtractorBase
    layers: dict[str, str]  # metric kind ("isc", "fid", "kid", "prc") -> feature name
    info: dict[str, float | int] = field(default_factory=dict)  # recorded with the metric values

    @property
    def identity(self) -> dict[str, str]:
        return {"extractor": self.fidelity_name, "weights_sha256": self.weights_sha256}

    @property
    def device(self) -> torch.device:
        parameter = next(self.module.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images as this extractor takes them (grey-scale repeated to RGB for Inception)."""
        if self.fidelity_name == INCEPTION and images.shape[1] == 1:
            return images.expand(-1, 3, -1, -1)
        return images


def create(name: str, dataset: ImageDataset, device: torch.device, inception_path: str | None = None) -> Extractor:
    """The extractor ``name`` for ``dataset`` on ``device``; trains the classifier on first use."""
    if name == CLASSIFIER:
        base = dataset.classifier_dataset()
        _check_classifiable(base)
        weights = ensure_classifier(base, device)
        fidelity_name = FIDELITY_STACKED_CLASSIFIER if dataset.stack > 1 else FIDELITY_CLASSIFIER
        sha256 = cache.file_sha256(weights)
        info: dict[str, float | int] = {"classifier_accuracy": float(read_classifier(weights)["accuracy"])}
    elif name == INCEPTION:
        weights, sha256 = inception_weights(inception_path)
        fidelity_name = INCEPTION
        info = {}
    else:
        raise ConfigError(f"unknown feature extractor {name!r}; extractors are {', '.join(EXTRACTORS)}")
    register_with_torch_fidelity()
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    from torch_fidelity.utils import create_feature_extractor

    cls = FEATURE_EXTRACTORS_REGISTRY[fidelity_name]
    layers = {kind: cls.get_default_feature_layer_for_metric(kind) for kind in METRIC_KINDS}
    module = create_feature_extractor(fidelity_name, sorted(set(layers.values())), cuda=False,
                                      feature_extractor_weights_path=str(weights), verbose=False)
    return Extractor(name, fidelity_name, weights, sha256, module.to(device), layers, info)
