"""Where a result came from: package versions, the suite's commit, the machine and the device."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

import benchsuite

_PACKAGES = ("torch", "torchvision", "torch-fidelity", "numpy", "pandas", "scipy", "scikit-learn", "snakemake")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"benchsuite": benchsuite.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    versions["torch"] = torch.__version__  # the local suffix (+cu130, +cpu) names the build
    return versions


def git_commit() -> dict[str, Any] | None:
    """The suite's own commit and whether its tree had local changes; None outside a checkout."""
    here = Path(benchsuite.__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def cpu_model() -> str:
    """The processor's model name: CPU results are bit-identical on one machine, not across CPUs."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_description(device: torch.device) -> dict[str, Any]:
    # The cores beside the model: a wall time means little without the machine's width.
    info: dict[str, Any] = {"device": str(device), "cpu": cpu_model(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def numerics() -> dict[str, Any]:
    """The process-wide switches that decide how the arithmetic runs (see configure_numerics)."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def collect(device: torch.device) -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "git": git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        **device_description(device),
        "numerics": numerics(),
    }
