"""Regulariser specs: the one parser of ``sn+r1``, ``none`` and ``default``, torch-free.

A spec ends up in run ids, directory names, Snakemake wildcards and table cells, so there is one
spelling per set of regularisers: names stripped of whitespace, ``none`` dropped from a
combination, duplicates refused, and the names in alphabetical order (the trainer applies them in
that order too, so ``r1+sn`` and ``sn+r1`` are one run). Whether a name is registered is the
registry's business (``benchsuite.config``); this module only reads the text, so aggregation and
the report can use it without importing torch.
"""

from __future__ import annotations

import re
from typing import Any

from benchsuite.errors import ConfigError

NONE = "none"
DEFAULT = "default"  # the objective's own regularisers, resolved against the objective

# Registry names: lowercase letters, digits, '-' and '_' (registry.check_name says the same).
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def canonical(spec: Any) -> str:
    """The one spelling of a spec: ``" r1 +\\tsn"`` -> ``"r1+sn"``, ``"none+r1"`` -> ``"r1"``.

    Raises ConfigError naming the problem and the fix for anything that is not a spec.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"a regulariser spec must be a string such as 'none', 'r1' or 'r1+sn', got {spec!r}")
    parts = [part.strip() for part in spec.split("+")]
    if any(not part for part in parts):
        raise ConfigError(f"bad regulariser spec {spec!r}: join names with '+', e.g. 'r1+sn'")
    for part in parts:
        if not _NAME.match(part):
            raise ConfigError(
                f"bad regulariser spec {spec!r}: {part!r} is not a regulariser name "
                "(lowercase letters, digits, '-' and '_'; `benchsuite list regulariser` shows them)"
            )
    if DEFAULT in parts and len(parts) > 1:
        raise ConfigError(f"bad regulariser spec {spec!r}: 'default' (the objective's own) cannot be combined")
    if len(set(parts)) != len(parts):
        raise ConfigError(f"bad regulariser spec {spec!r} names a regulariser twice; name each once")
    if parts == [DEFAULT]:
        return DEFAULT
    names = sorted(part for part in parts if part != NONE)
    return "+".join(names) or NONE


def names(spec: Any) -> list[str]:
    """The regulariser names of a spec other than ``default``, in canonical order; [] for none."""
    text = canonical(spec)
    if text == DEFAULT:
        raise ConfigError("regulariser 'default' needs an objective to resolve it")
    return [] if text == NONE else text.split("+")


def label(spec: str, resolved: str) -> str:
    """How a table or a figure names a spec: ``default`` shows what it resolved to."""
    return f"{DEFAULT}={resolved}" if spec == DEFAULT else str(spec)
