"""Per-epoch gradient and momentum norms: momentum at work, measured without slowing the loop down.

    grad_norm      mean over the epoch's optimizer steps of ||g||_2, the minibatch gradient of all parameters
    momentum_norm  ||z||_2 of the heavy-ball buffer (z <- beta z + g) after the epoch's last step
    sharpness      top Hessian eigenvalue of the training loss every trainer.sharpness_every epochs (0: never;
                   a Lanczos measurement costs ~20 Hessian-vector products on trainer.sharpness_images images)

With gradients that agree from step to step z approaches g / (1 - beta) (10x at beta = 0.9); with uncorrelated
ones only g / sqrt(1 - beta^2) (2.3x): momentum_norm / grad_norm shows how much of the direction persists.
For beta = 0 torch.optim.SGD keeps no buffer: the step direction is the gradient, so the last gradient is
reported (HeavyBall keeps z, which then equals it).

The gradient norm is taken by an optimizer step pre-hook and summed on the device: no host sync per step,
one `.item()` per epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sgdtricks.run import augment
from sgdtricks.run.data import DeviceData
from sgdtricks.sharpness import top_hessian_eigenvalue

# Where the momentum buffer lives: torch.optim.SGD's state key, and sgdtricks.optim.HeavyBall's.
BUFFER_KEYS = ("momentum_buffer", "z")


def momentum_norm(optimizer: torch.optim.Optimizer) -> float:
    """||z||_2 over all parameters: the momentum buffer where torch keeps one, else the last gradient."""
    directions = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            z = next((state[k] for k in BUFFER_KEYS if state.get(k) is not None), p.grad)
            if z is not None:
                directions.append(z)
    return torch.nn.utils.get_total_norm(directions).item() if directions else float("nan")


class GradientNorms:
    """Accumulates ||g||_2 of every optimizer step on the device; `epoch_end` reads and resets it."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.total: torch.Tensor | None = None
        self.steps = 0
        optimizer.register_step_pre_hook(self._observe)

    def _observe(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads)
        self.total = norm if self.total is None else self.total + norm
        self.steps += 1

    def epoch_end(self) -> dict[str, float]:
        """The epoch's `grad_norm` and `momentum_norm` (the metrics.csv columns)."""
        grad_norm = self.total.item() / self.steps if self.steps else float("nan")
        self.total, self.steps = None, 0
        return {"grad_norm": grad_norm, "momentum_norm": momentum_norm(self.optimizer)}


def training_sharpness(model: torch.nn.Module, data: DeviceData, images: int) -> float:
    """Top Hessian eigenvalue of the cross-entropy on the first `images` training images, unaugmented, in train
    mode (the loss the steps descend, BatchNorm on batch statistics); the forward passes would move BatchNorm's
    running statistics, so they are put back: the measurement leaves the run as it found it."""
    kept = {name: buffer.clone() for name, buffer in model.named_buffers()}
    model.train()
    x = augment.normalize(data.train_x[:images], data.mean, data.std)
    value = top_hessian_eigenvalue(model, F.cross_entropy, x, data.train_y[:images])
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            buffer.copy_(kept[name])
    return value
