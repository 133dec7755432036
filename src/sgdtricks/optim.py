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
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                grad = w.grad.add(w, alpha=group["weight_decay"]) if group["weight_decay"] else w.grad
                state = self.state[w]
                if "z" not in state:
                    state["z"] = torch.zeros_like(w)
                z = state["z"]
                z.mul_(group["momentum"]).add_(grad)  # z <- beta z + grad f(w)
                w.add_(z, alpha=-group["lr"])  # w <- w - alpha z
        return loss
