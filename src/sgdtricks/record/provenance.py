"""What produced a result: versions, commit, hardware. Stored in every run summary and report."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import torch

import sgdtricks
from sgdtricks.paths import REPO_ROOT



@functools.cache
def git_commit() -> str:
    """The commit of the code that ran, with '-dirty' when it had uncommitted changes; 'unknown' outside git."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "sgdtricks": sgdtricks.__version__}


def device_name(device: torch.device) -> str:
    """A human name for the hardware, e.g. 'NVIDIA H200' or 'AMD EPYC (2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"
