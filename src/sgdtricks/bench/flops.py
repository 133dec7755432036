"""Model FLOP utilisation's two sides: the device's dense matmul rate and the FLOPs of one training image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

from sgdtricks.bench.paths import prepared_batches
from sgdtricks.bench.timing import timed_ms
from sgdtricks.run import setup
from sgdtricks.run.data import DeviceData


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype) -> float:
    """The machine's dense matmul rate: square torch.mm calls (2 n^3 FLOPs each), the fastest of 5 timings.

    The fastest, not the median: this is what the hardware allows, which load from other processes only hides.
    """
    n, calls = (8192, 10) if device.type == "cuda" else (1024, 4)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    ms = timed_ms(lambda: [torch.mm(a, b) for _ in range(calls)], device, repeats=5, summary=min)
    return 2 * n**3 * calls / (ms / 1e3)


def flops_per_image(model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> float:
    """Forward + backward FLOPs per image of one batch, counted by torch's FlopCounterMode (convs, matmuls)."""
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(xb), yb).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(xb)


def model_flops_per_image(cfg: DictConfig, data: DeviceData, device: torch.device) -> float:
    """flops_per_image of the configured model on the first training batch of `data`."""
    model = setup.build(cfg, data, device).model
    return flops_per_image(model, *prepared_batches(data, cfg.trainer.batch_size, cfg.trainer.batch_size)[0])
