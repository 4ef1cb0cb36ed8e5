"""Image fidelity and diversity: FID, IS, KID, precision / recall, density / coverage.

FID (Heusel et al. 2017), Inception Score (Salimans et al. 2016), KID (Bińkowski et al. 2018) and
improved precision and recall (Kynkäänniemi et al. 2019, k = 3) are computed by torch-fidelity
(>= 0.4.0, whose precision and recall follow the paper: input1 = generated, input2 = real; precision
is the share of generated samples inside the real manifold, recall the share of real samples inside
the generated one). Density and coverage (Naeem et al. 2020, k = 5) come from the same features.

The extractor (``fidelity.extractor``) is ``inception-v3-compat`` or ``classifier`` (see
``extractors.py``); ``auto``, the default, takes the dataset's own default: Inception for the
torchvision datasets, the suite's classifier for the embedded ones. The resolved name is recorded
in ``metrics.json``, with the classifier's held-out accuracy when it is used.

The reference is ``min(N, size of the split)`` real images of ``fidelity.split`` (the train split
by default), N the number of generated samples; a fixed-seed subset when the split is larger. Its
features and FID statistics are cached on disk (``benchsuite.cache``) per dataset and options,
split, the exact reference images, extractor and weights hash, and count, so evaluating many runs
costs one reference pass. FID, KID and IS use all N generated samples; precision / recall and
density / coverage, whose k-NN radii depend on the sample count, use the first as many generated
samples as there are reference images.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from benchsuite import cache
from benchsuite.components import Dataset
from benchsuite.datasets._image import SPLITS, ImageDataset, to_uint8
from benchsuite.errors import ConfigError
from benchsuite.metrics import extractors
from benchsuite.metrics._base import Declaration, Metric
from benchsuite.metrics.extractors import Extractor
from benchsuite.registry import register

# torch-fidelity (and torchvision with it) is imported in the functions that use it, not here: every
# command, training included, imports this module through the registry.

REFERENCE_SEED = 20_200_101
_REFERENCE_FORMAT = 1
_CHUNK = 2048


@dataclass
class Reference:
    """Features of the real reference images and their FID statistics."""

    count: int
    features: dict[str, torch.Tensor]
    fid_statistics: dict[str, np.ndarray]


def reference_images(dataset: ImageDataset, split: str, n: int) -> torch.Tensor:
    """The real images the metrics compare against: all of ``split``, or a fixed subset of ``n``."""
    images = dataset.images(split)
    if n >= len(images):
        return images
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(REFERENCE_SEED))[:n]
    return images[chosen.sort().values]


@torch.no_grad()
def extract(extractor: Extractor, images: torch.Tensor, batch_size: int) -> dict[str, torch.Tensor]:
    """Every feature the extractor provides for uint8 ``images``, batch by batch, on its device."""
    names = list(extractor.module.get_requested_features_list())
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    starts = range(0, len(images), batch_size)
    if sys.stderr.isatty() and len(images) > 20 * batch_size:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"features ({extractor.name})", unit="batch", leave=False)
    for start in starts:
        batch = extractor.prepare(images[start:start + batch_size]).to(extractor.device)
        for name, value in zip(names, extractor.module(batch)):
            parts[name].append(value.cpu())
    return {name: torch.cat(chunks) for name, chunks in parts.items()}


def reference(dataset: ImageDataset, split: str, n: int, extractor: Extractor, batch_size: int,
              use_cache: bool = True) -> Reference:
    """Reference features and statistics, from the cache when an entry with the same key exists."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    images = reference_images(dataset, split, n)
    key = {
        "format": _REFERENCE_FORMAT,
        "dataset": dataset.name,
        "options": dict(dataset.settings),
        "split": split,
        "samples": len(images),
        "images_sha256": cache.tensor_sha256(images),
        **extractor.identity,
        "layers": sorted(set(extractor.layers.values())),
    }

    def compute() -> dict[str, Any]:
        features = extract(extractor, images, batch_size)
        statistics = fid_features_to_statistics(features[extractor.layers["fid"]])
        return {"features": features, "fid": {name: torch.from_numpy(np.asarray(v)) for name, v in statistics.items()}}

    label = f"{dataset.name}-{split}-{extractor.name}-{len(images)}"
    entry = cache.cached("reference", label, key, compute, enabled=use_cache)
    statistics = {name: tensor.numpy() for name, tensor in entry["fid"].items()}
    return Reference(len(images), entry["features"], statistics)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) of ``fake`` features against ``real`` ones.

    Each real sample gets the ball reaching its k-th nearest real neighbour. Density: the average
    number of real balls a fake sample falls in, divided by k (about 1 when the distributions match,
    above 1 where fakes crowd into dense real regions). Coverage: the share of real balls holding at
    least one fake sample. Strict inequalities, as in the authors' code.
    """
    real, fake = real.double(), fake.double()
    radii = torch.cat([torch.cdist(chunk, real).kthvalue(k + 1, dim=1).values for chunk in real.split(_CHUNK)])
    inside_counts = torch.zeros(len(fake), dtype=torch.float64)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(real), _CHUNK):
        distances = torch.cdist(real[start:start + _CHUNK], fake)
        inside = distances < radii[start:start + _CHUNK, None]
        inside_counts += inside.sum(dim=0)
        covered[start:start + _CHUNK] = inside.any(dim=1)
    return {"density": float(inside_counts.mean() / k), "coverage": float(covered.double().mean())}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def scores(generated: dict[str, torch.Tensor], ref: Reference, layers: dict[str, str],
           settings: dict[str, Any]) -> dict[str, float | None]:
    """Every metric from generated and reference features; torch-fidelity does FID, IS, KID, PRC."""
    from torch_fidelity.defaults import DEFAULTS
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
    from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

    rng_seed, shuffle = DEFAULTS["rng_seed"], DEFAULTS["samples_shuffle"]
    n_generated = len(generated[layers["fid"]])
    isc = isc_features_to_metric(generated[layers["isc"]], settings["isc_splits"], shuffle, rng_seed)
    fid = fid_statistics_to_metric(fid_features_to_statistics(generated[layers["fid"]]), ref.fid_statistics, False)
    kid = kid_features_to_metric(
        generated[layers["kid"]], ref.features[layers["kid"]], kid_subsets=settings["kid_subsets"],
        kid_subset_size=min(settings["kid_subset_size"], n_generated, ref.count), rng_seed=rng_seed, verbose=False,
    )
    matched = min(n_generated, ref.count)
    fake, real = generated[layers["prc"]][:matched], ref.features[layers["prc"]][:matched]
    prc = prc_features_to_metric(fake, real, prc_neighborhood=settings["prc_neighborhood"], verbose=False)
    values = {
        "fid": fid[KEY_METRIC_FID],
        "is_mean": isc[KEY_METRIC_ISC_MEAN],
        "is_std": isc[KEY_METRIC_ISC_STD],
        "kid_mean": kid[KEY_METRIC_KID_MEAN],
        "kid_std": kid[KEY_METRIC_KID_STD],
        "precision": prc[KEY_METRIC_PRECISION],
        "recall": prc[KEY_METRIC_RECALL],
        **density_coverage(real, fake, settings["dc_neighborhood"]),
    }
    return {name: _finite(value) for name, value in values.items()}


@register("metric", "fidelity")
class Fidelity(Metric):
    """FID, IS, KID, precision/recall (torch-fidelity) and density/coverage (Naeem et al. 2020) on extractor features."""

    modality: ClassVar[str] = "image"
    options: ClassVar[dict[str, Any]] = {
        "extractor": "auto",  # "auto" (the dataset's default), "classifier" or "inception-v3-compat"
        "inception_weights": "",  # a local Inception weights file; "" looks in torch.hub's cache, then downloads
        "split": "train",  # the real images compared against
        "batch_size": 250,  # extractor batch size; results do not depend on it
        "isc_splits": 10,
        "kid_subsets": 100,
        "kid_subset_size": 1000,  # capped at the number of samples on either side
        "prc_neighborhood": 3,
        "dc_neighborhood": 5,
        "cache": True,  # reuse cached reference features
    }
    declares: ClassVar[dict[str, Declaration]] = {
        "fid": Declaration("FID", better="lower", headline=0),
        "is_mean": Declaration("IS", better="higher", headline=6),
        "is_std": Declaration("IS spread over its splits", summarised=False),
        "kid_mean": Declaration("KID", better="lower", headline=7),
        "kid_std": Declaration("KID spread over its subsets", summarised=False),
        "precision": Declaration("precision", better="higher", headline=4),
        "recall": Declaration("recall", better="higher", headline=5),
        "density": Declaration("density", better="higher", headline=8),
        "coverage": Declaration("coverage", better="higher", headline=9),
        "classifier_accuracy": Declaration("held-out accuracy of the classifier extractor", summarised=False),
        "reference_samples": Declaration("reference images", summarised=False),
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        s = self.settings
        choices = ("auto", *extractors.EXTRACTORS)
        if s["extractor"] not in choices:
            raise ConfigError(f"metric 'fidelity': unknown extractor {s['extractor']!r}; choose one of {', '.join(choices)}")
        if s["split"] not in SPLITS:
            raise ConfigError(f"metric 'fidelity': split must be one of {', '.join(SPLITS)}, got {s['split']!r}")
        for name in ("batch_size", "isc_splits", "kid_subsets", "kid_subset_size", "prc_neighborhood", "dc_neighborhood"):
            if s[name] < 1:
                raise ConfigError(f"metric 'fidelity': option {name!r} must be >= 1, got {s[name]!r}")

    def minimum_samples(self) -> int:
        s = self.settings
        return max(s["isc_splits"], s["prc_neighborhood"] + 2, s["dc_neighborhood"] + 2)

    def compute(self, samples: torch.Tensor, dataset: Dataset, device: torch.device) -> dict[str, Any]:
        if not isinstance(dataset, ImageDataset):
            raise ConfigError(f"metric 'fidelity' needs an image dataset; {dataset.name!r} is not one")
        if len(samples) < self.minimum_samples():
            raise ConfigError(f"metric 'fidelity' needs at least {self.minimum_samples()} samples, got {len(samples)}")
        s = self.settings
        if s["extractor"] == "auto":
            # Recorded resolved, so metrics.json says which network produced the numbers.
            s["extractor"] = dataset.default_extractor
        extractor = extractors.create(s["extractor"], dataset, device, s["inception_weights"] or None)
        # The weights file's digest goes with the settings: two runs scored by different classifier
        # files (trained on other machines, say) are not comparable, and metrics.json must say so.
        s["weights_sha256"] = extractor.weights_sha256
        generated = to_uint8(samples)
        ref = reference(dataset, s["split"], len(generated), extractor, s["batch_size"], use_cache=s["cache"])
        features = extract(extractor, generated, s["batch_size"])
        return scores(features, ref, extractor.layers, s) | extractor.info | {"reference_samples": ref.count}
