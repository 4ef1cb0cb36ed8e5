"""R2 penalty (Mescheder, Geiger & Nowozin 2018): the R1 penalty evaluated on generated data.

Adds gamma/2 * E_fake ||grad_x D(x)||^2 to D's loss (the paper's 1/2 kept). Default gamma = 10.
"""

from benchsuite.registry import register
from benchsuite.regularisers.r1 import R1


@register("regulariser", "r2")
class R2(R1):
    """gamma/2 * E ||grad_x D(x)||^2 on generated data (Mescheder et al. 2018)."""

    input_gradients = frozenset({"fake"})
    side = "fake"
