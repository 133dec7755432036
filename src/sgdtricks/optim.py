"""The lecture's momentum as an optimizer: heavy ball written from its two lines.

    z <- beta z + (grad f(w) + weight_decay w)
    w <- w - lr z

This is the form torch.optim.SGD(momentum=beta) uses (tests/test_heavy_ball.py checks they agree), with the
learning rate outside the stored momentum, so a change of lr rescales the whole step at once. The other
common form, v <- mu v - lr g; w <- w + v (Sutskever et al. 2013), keeps the old lr inside v for about
1 / (1 - mu) steps after a change (see docs/momentum.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class HeavyBall(torch.optim.Optimizer):
    """Polyak's heavy ball with z_0 = 0; `momentum` is the lecture's beta, `lr` its alpha.

    Weight decay is added to the gradient before it enters z, as torch.optim.SGD does (L2 regularisation).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.05, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        if not lr > 0:
            raise ValueError(f"HeavyBall: lr={lr} must be > 0")
        if not 0 <= momentum < 1:
            raise ValueError(f"HeavyBall: momentum={momentum} must be in [0, 1)")
        if not weight_decay >= 0:
            raise ValueError(f"HeavyBall: weight_decay={weight_decay} must be >= 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter with a gradient, as three multi-tensor (foreach) ops per group.

        One call per op for all parameters, not one per parameter: ResNet-18 has 62 parameter tensors, so a
        per-tensor loop launches 186 kernels a step (248 with weight decay) where this launches a few
        multi-tensor ones, as torch.optim.SGD does by default on CUDA. The arithmetic, and so every number,
        is the per-tensor loop's (tests/test_heavy_ball.py compares with torch.optim.SGD bit for bit).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [w for w in group["params"] if w.grad is not None]
            if not params:
                continue
            grads = [w.grad for w in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])  # grad f(w) + wd w
            for w in params:
                if "z" not in self.state[w]:
                    self.state[w]["z"] = torch.zeros_like(w)  # z_0 = 0
            z = [self.state[w]["z"] for w in params]
            torch._foreach_mul_(z, group["momentum"])  # z <- beta z + grad f(w)
            torch._foreach_add_(z, grads)
            torch._foreach_add_(params, z, alpha=-group["lr"])  # w <- w - alpha z
        return loss
