"""No regularisation: the objective alone."""

from benchsuite.components import Regulariser
from benchsuite.registry import register


@register("regulariser", "none")
class NoRegulariser(Regulariser):
    """Nothing: the objective alone."""
