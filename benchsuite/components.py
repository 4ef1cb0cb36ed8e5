"""The contracts every component fulfils: datasets, architectures, objectives and regularisers.

Each base class does nothing by default, so a new component overrides only the hooks it needs and
the trainer never asks which method is in use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from benchsuite.errors import ConfigError
from benchsuite.io import save_with


class Component(ABC):
    """Something registered by name with options that have defaults and are checked on construction."""

    name: ClassVar[str] = "?"
    options: ClassVar[dict[str, Any]] = {}
    # What a numeric option's value must be, by option: a key of OPTION_RULES ("positive", ...).
    option_rules: ClassVar[dict[str, str]] = {}
    # Run-level hyperparameters this component suggests (optimiser, learning rates, n_critic, ...).
    training_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **overrides: Any) -> None:
        self.settings = resolve_options(f"{self.kind()} {self.name!r}", type(self).options, overrides,
                                        type(self).option_rules)

    @classmethod
    def kind(cls) -> str:
        return "component"

    def state_dict(self) -> dict[str, Any]:
        """State that must survive a resume (tensors and plain values only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


# Written so that NaN passes: a NaN setting is a run that diverges, recorded as such by training.
OPTION_RULES: dict[str, Callable[[Any], bool]] = {
    "positive": lambda value: not value <= 0,
    "non-negative": lambda value: not value < 0,
    "in (0, 1)": lambda value: not (value <= 0 or value >= 1),
}


def resolve_options(owner: str, defaults: dict[str, Any], overrides: dict[str, Any],
                    rules: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults updated by overrides; an unknown key, a value of the wrong type or out of its
    range (``rules``, see OPTION_RULES) names itself."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"options of {owner} must be a mapping of option names to values, got {overrides!r}")
    resolved = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise ConfigError(f"unknown option {key!r} for {owner}; its options are: {known}")
        resolved[key] = coerce(f"{owner} option {key!r}", defaults[key], value)
        rule = (rules or {}).get(key)
        if rule and resolved[key] is not None and not OPTION_RULES[rule](resolved[key]):
            raise ConfigError(f"{owner} option {key!r} must be {rule}, got {value!r}")
    return resolved


def coerce(what: str, default: Any, value: Any) -> Any:
    """Convert ``value`` to the type of ``default`` where that loses nothing, else raise ConfigError."""
    if default is None:
        return value
    if value is None:
        raise ConfigError(f"{what} cannot be null; leave it out to use its default ({default!r})")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{what} must be a number, got {value!r}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise ConfigError(f"{what} must be a string, got {value!r}")
    if isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ConfigError(f"{what} must be a list, got {value!r}")
    return value


# --- Datasets -------------------------------------------------------------------------------------


class Dataset(Component):
    """A source of real samples. ``modality`` picks the metrics: "toy" (2-D mixtures) or "image"."""

    modality: ClassVar[str] = "toy"

    @classmethod
    def kind(cls) -> str:
        return "dataset"

    def __init__(self, root: str | None = None, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.root = root

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. (2,) or (3, 32, 32)."""
        ...

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` training samples drawn with ``generator`` (on the CPU)."""
        ...

    def save_samples(self, samples: torch.Tensor, path: Path) -> None:
        """A picture of generated samples: an 8x8 grid for images (values in [-1, 1])."""
        from torchvision.utils import save_image

        grid = (samples[:64].clamp(-1, 1) + 1) / 2
        save_with(path, lambda tmp: save_image(grid, tmp, nrow=8, format="png"))


# --- Architectures --------------------------------------------------------------------------------


class Discriminator(nn.Module):
    """A feature trunk and an output head kept apart, so that a method can wrap or replace the head."""

    def __init__(self, trunk: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).reshape(x.shape[0])

    @torch.no_grad()
    def feature_width(self, sample_shape: tuple[int, ...]) -> int:
        """F of ``features``, measured on a dummy batch in eval mode so that no state changes."""
        was_training = self.training
        self.eval()
        try:
            parameter = next(self.parameters(), None)
            device = parameter.device if parameter is not None else None
            return int(self.features(torch.zeros(2, *sample_shape, device=device)).shape[1])
        finally:
            self.train(was_training)

    def new_head(self, architecture: Architecture, in_features: int) -> nn.Module:
        """A fresh head on features of another width, for a method that inserts a layer before it (vdb)."""
        return architecture.discriminator_head(in_features)


class Architecture(Component):
    """Builds the networks for data of a given shape. Extra parts (decoder, encoder) on request."""

    # Shapes this architecture supports; None means any.
    supported_shapes: ClassVar[tuple[tuple[int, ...], ...] | None] = None

    @classmethod
    def kind(cls) -> str:
        return "architecture"

    def __init__(self, data_shape: tuple[int, ...], z_dim: int, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.data_shape = tuple(data_shape)
        self.z_dim = z_dim
        self.check_shape()

    def check_shape(self) -> None:
        if self.supported_shapes is not None and self.data_shape not in self.supported_shapes:
            shapes = ", ".join("x".join(map(str, s)) for s in self.supported_shapes)
            raise ConfigError(
                f"architecture {self.name!r} does not support data of shape "
                f"{'x'.join(map(str, self.data_shape))}; it supports {shapes}"
            )

    @abstractmethod
    def generator(self) -> nn.Module:
        """z of shape (N, z_dim) -> samples of shape (N, *data_shape)."""
        ...

    @abstractmethod
    def discriminator_trunk(self) -> tuple[nn.Module, int]:
        """Samples -> features (N, F); returns the module and F."""
        ...

    def discriminator_head(self, in_features: int) -> nn.Module:
        return nn.Linear(in_features, 1)

    def discriminator(self) -> Discriminator:
        trunk, width = self.discriminator_trunk()
        return Discriminator(trunk, self.discriminator_head(width))

    def encoder(self, out_features: int) -> nn.Module:
        """Samples -> vectors of ``out_features`` (a trunk of D's family with a linear head)."""
        trunk, width = self.discriminator_trunk()
        return nn.Sequential(trunk, nn.Linear(width, out_features))

    def decoder(self, in_features: int) -> nn.Module:
        """Vectors of ``in_features`` -> samples; shaped like the generator (for autoencoder critics)."""
        raise ConfigError(f"architecture {self.name!r} cannot build a decoder")


# --- The training step's shared view -------------------------------------------------------------


@dataclass
class StepContext:
    """What one D or G step knows; objectives and regularisers read it and log scalars into it."""

    step: int
    total_steps: int
    phase: str  # "d" or "g"
    generator: nn.Module
    discriminator: nn.Module
    z: torch.Tensor
    fake: torch.Tensor
    real: torch.Tensor | None = None
    real_input: torch.Tensor | None = None  # real as D saw it (after perturbations)
    fake_input: torch.Tensor | None = None
    out_real: torch.Tensor | None = None
    out_fake: torch.Tensor | None = None
    networks: dict[str, nn.Module] = field(default_factory=dict)  # extra networks by name
    rng: torch.Generator | None = None
    scalars: dict[str, torch.Tensor | float] = field(default_factory=dict)

    def log(self, name: str, value: torch.Tensor | float) -> None:
        self.scalars[name] = value.detach() if isinstance(value, torch.Tensor) else value


@dataclass(frozen=True)
class ExtraNetwork:
    """A network a method needs besides G and D; ``player`` says whose optimiser trains it."""

    module: nn.Module
    player: str  # "g" or "d"


# --- Input gradients, which penalties and diagnostics share ---------------------------------------


def interpolate(real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Points on straight lines between paired real and fake samples, one uniform eps per pair."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    return (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)


def input_gradient(outputs: torch.Tensor, inputs: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """d sum(outputs) / d inputs, flattened per sample."""
    (gradient,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=create_graph)
    return gradient.reshape(gradient.shape[0], -1)


# --- Objectives -----------------------------------------------------------------------------------


class Objective(Component):
    """How the two players score. Receives D's raw outputs and returns a scalar loss per player."""

    # Regulariser spec used when the grid says "default".
    default_regularisers: ClassVar[str] = "none"

    @classmethod
    def kind(cls) -> str:
        return "objective"

    def hyperparameters(self, regularisers: list[str]) -> dict[str, Any]:
        """Published optimiser settings; may depend on the regularisers (WGAN with clip vs gp)."""
        return dict(self.training_defaults)

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        return discriminator

    def extra_networks(self, architecture: Architecture) -> dict[str, ExtraNetwork]:
        return {}

    @abstractmethod
    def discriminator_loss(self, out_real: torch.Tensor, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        ...

    @abstractmethod
    def generator_loss(self, out_fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        ...


# --- Regularisers ---------------------------------------------------------------------------------


class Regulariser(Component):
    """Keeps a player in check through named hooks; each hook is a no-op unless overridden."""

    # Which D inputs need requires_grad for this regulariser's penalty: subset of {"real", "fake"}.
    input_gradients: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def kind(cls) -> str:
        return "regulariser"

    def hyperparameters(self, objective: str) -> dict[str, Any]:
        return dict(self.training_defaults)

    def wrap_discriminator(self, discriminator: nn.Module, architecture: Architecture) -> nn.Module:
        return discriminator

    def extra_networks(self, architecture: Architecture) -> dict[str, ExtraNetwork]:
        return {}

    def begin_phase(self, ctx: StepContext) -> None:
        """Called before each D or G step (e.g. to switch a stochastic layer to its mean for G)."""

    def perturb(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Applied to every input D sees during training, real and fake."""
        return x

    def discriminator_penalty(self, ctx: StepContext) -> torch.Tensor | None:
        return None

    def generator_penalty(self, ctx: StepContext) -> torch.Tensor | None:
        return None

    def after_discriminator_step(self, ctx: StepContext) -> None:
        """Called after D's optimiser step (clipping, dual updates)."""

