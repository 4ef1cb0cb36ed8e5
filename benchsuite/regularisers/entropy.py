"""The generator's entropy bonus of the energy view of GANs (J. Su, "GAN from the energy perspective",
2019; Kumar et al. 2019, "Maximum Entropy Generators for Energy-Based Models").

The energy view asks G to minimise E U(G(z)) - H(G(z)). The entropy has no closed form, so it is
bounded through the mutual information between z and x = G(z) (Barber & Agakov 2003): for any
decoder q(z | x), H(x) >= I(x; z) >= H(z) + E log q(z | x). With q(z | x) = N(E(x), sigma^2 I),
E an encoder trained together with G,

    -H(G(z)) <= lambda2 * E ||z - E(G(z))||^2 + const,    lambda2 = 1 / (2 sigma^2),

so adding lambda2 E ||z - E(G(z))||^2 to G's loss (E minimising it too) raises a lower bound on G's
entropy: fakes that collapse onto one point cannot be told apart, and the encoder cannot recover z.

Default lambda2 = 0.5, i.e. sigma = 1: the posterior is given the prior's own scale, the residual an
encoder that knows nothing (E = 0) leaves per coordinate of z ~ N(0, I). It keeps the bound on the
same (nat) scale as the energy U of the model p(x) proportional to exp(-U(x)). The squared norm is
summed over z's coordinates and averaged over the batch.

E has the family of D's trunk with a z-sized head (``architecture.encoder(z_dim)``) and is trained by
the generator's optimiser; D never sees this term. Usable with any objective.
"""

from typing import Any, ClassVar

import torch

from benchsuite.components import Architecture, ExtraNetwork, Regulariser, StepContext
from benchsuite.errors import ConfigError
from benchsuite.registry import register

ENCODER = "entropy/encoder"


def code_reconstruction(z: torch.Tensor, recovered: torch.Tensor) -> torch.Tensor:
    """E ||z - E(G(z))||^2: squared error summed over z's coordinates, averaged over the batch."""
    return (z - recovered).pow(2).reshape(z.shape[0], -1).sum(dim=1).mean()


@register("regulariser", "entropy")
class Entropy(Regulariser):
    """lambda2 E||z - E(G(z))||^2 on G's loss, E an encoder trained with G (energy view of GANs, Su 2019)."""

    options: ClassVar[dict[str, Any]] = {"weight": 0.5}
    option_rules: ClassVar[dict[str, str]] = {"weight": "non-negative"}

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        if self.settings["weight"] < 0:
            raise ConfigError("regulariser 'entropy' option 'weight' must be >= 0")

    def extra_networks(self, architecture: Architecture) -> dict[str, ExtraNetwork]:
        return {ENCODER: ExtraNetwork(architecture.encoder(architecture.z_dim), player="g")}

    def generator_penalty(self, ctx: StepContext) -> torch.Tensor:
        # G's own output, not D's perturbed view of it: the bound is on the entropy of G(z).
        error = code_reconstruction(ctx.z, ctx.networks[ENCODER](ctx.fake))
        ctx.log("entropy/code_error", error)
        return self.settings["weight"] * error
