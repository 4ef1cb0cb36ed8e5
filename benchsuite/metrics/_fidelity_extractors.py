"""The suite's classifier as torch-fidelity feature extractors (torch-fidelity's ``FeatureExtractorBase``).

Kept apart from ``extractors.py`` so that torch-fidelity, and torchvision with it, is imported only
when an image metric runs; importing this module registers both extractors with torch-fidelity.
See ``extractors.py`` for what they compute and why.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from benchsuite.datasets._image import to_unit_range
from benchsuite.metrics.extractors import FIDELITY_CLASSIFIER, FIDELITY_STACKED_CLASSIFIER, load_classifier

CLASSIFIER_NAME = FIDELITY_CLASSIFIER
STACKED_NAME = FIDELITY_STACKED_CLASSIFIER


class ClassifierFeatures(FeatureExtractorBase):
    """A suite classifier: 'features' (for FID, KID, precision-recall) and 'logits' (for IS).

    ``feature_extractor_weights_path`` names the classifier's weights file (required). Input: uint8
    images (N, C, H, W) with the classifier's number of channels.
    """

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, features_list)
        vassert(feature_extractor_weights_path is not None,
                f"feature extractor {name!r} needs feature_extractor_weights_path (a suite classifier file)")
        self.network, record = load_classifier(feature_extractor_weights_path)
        self.in_channels = record["architecture"]["in_channels"]
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 1, 16, 16, dtype=torch.uint8)

    def _check(self, x: torch.Tensor, channels: int) -> None:
        vassert(torch.is_tensor(x) and x.dtype == torch.uint8, "Expecting image as torch.Tensor with dtype=torch.uint8")
        vassert(x.dim() == 4 and x.shape[1] == channels, f"Input is not Bx{channels}xHxW: {tuple(x.shape)}")

    def _outputs(self, features: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = {"features": features.float(), "logits": logits.float()}
        return tuple(named[name] for name in self.features_list)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._check(x, self.in_channels)
        return self._outputs(*self.network(to_unit_range(x)))


class StackedClassifierFeatures(ClassifierFeatures):
    """The base classifier on each channel: concatenated features, joint logits over all class tuples.

    The joint logit of (a, b, c) is log p(a | R) + log p(b | G) + log p(c | B), so its softmax is the
    product of the channels' class probabilities; tuples are ordered as the stacked labels are
    (R most significant).
    """

    stack: ClassVar[int] = 3

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._check(x, self.stack * self.in_channels)
        features, joint = [], None
        for channel in range(self.stack):
            part = x[:, channel * self.in_channels:(channel + 1) * self.in_channels]
            f, logits = self.network(to_unit_range(part))
            features.append(f)
            log_p = logits.float().log_softmax(dim=1)
            joint = log_p if joint is None else (joint[:, :, None] + log_p[:, None, :]).flatten(1)
        return self._outputs(torch.cat(features, dim=1), joint)


for _name, _cls in ((CLASSIFIER_NAME, ClassifierFeatures), (STACKED_NAME, StackedClassifierFeatures)):
    if _name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(_name, _cls)
