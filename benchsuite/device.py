"""Where work runs: the one place that turns a requested device into a ``torch.device``.

The trainer, the evaluator, the extractor and the pipeline (``rules/common.smk``) all ask here, so
"auto", a typo and a missing GPU mean the same everywhere.
"""

from __future__ import annotations

import torch

from benchsuite.errors import ConfigError


def pick_device(requested: str | torch.device | None = None, check: bool = True) -> torch.device:
    """``None`` or "auto": CUDA when this machine sees a GPU, else the CPU; otherwise the device named
    ("cpu", "cuda", "cuda:1", ...). ``check=False`` takes a CUDA device on trust: a pipeline whose
    jobs run on other machines (a cluster) leaves the check to them."""
    if requested is None or (isinstance(requested, str) and requested.strip() in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested.strip() if isinstance(requested, str) else requested)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from None
    if check and device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(requested)!r} was requested but this machine has no usable CUDA GPU; "
                              "use auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {str(requested)!r} was requested but this machine has "
                              f"{torch.cuda.device_count()} CUDA GPU(s); use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device
