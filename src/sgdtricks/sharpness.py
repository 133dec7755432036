"""Sharpness: the top eigenvalue of the training loss's Hessian, from Hessian-vector products.

Gradient descent at step size eta is stable on a quadratic only while sharpness < 2/eta, heavy ball with
momentum beta while sharpness < 2(1 + beta)/eta; on neural networks sharpness rises to that level and hovers
there (Cohen et al., ICLR 2021, "the edge of stability"). This module measures it without ever forming the
Hessian (p x p with p ~ 10^6 would not fit): scipy's Lanczos (ARPACK `eigsh`) on a LinearOperator whose
matvec is one Hessian-vector product by double backward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor, nn

LossFn = Callable[[Tensor, Tensor], Tensor]


def _trainable(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _flat_gradient(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor) -> tuple[list[Tensor], Tensor]:
    """The trainable parameters and the loss's gradient as one flat vector, still differentiable (create_graph)."""
    params = _trainable(model)
    grads = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
    return params, torch.cat([g.reshape(-1) for g in grads])


def _hvp(params: list[Tensor], flat_grad: Tensor, v: Tensor) -> Tensor:
    """H v as a flat vector: the gradient of g . v (g kept differentiable), reusing the graph of g."""
    hv = torch.autograd.grad(flat_grad, params, grad_outputs=v, retain_graph=True)
    return torch.cat([h.reshape(-1) for h in hv])


def top_hessian_eigenvalue(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, tol: float = 1e-3,
                           max_restarts: int = 50, seed: int = 0) -> float:
    """The largest algebraic eigenvalue of the Hessian of loss_fn(model(x), y) w.r.t. the trainable parameters.

    The model stays in whatever train/eval mode the caller set (BatchNorm in train mode is part of the loss
    being measured). `tol` is ARPACK's relative accuracy of the eigenvalue: 1e-3 is ample against the ~10%
    effects measured with it; on the tanh MLP of the stability study one measurement then takes 21 HVPs
    (one Lanczos pass of ARPACK's default 20 vectors). `max_restarts` caps the passes (ARPACK raises
    ArpackNoConvergence past it). The starting vector comes from `seed`, so a measurement is deterministic;
    ARPACK works in float64 and each matvec is cast to the parameters' dtype and back.
    """
    params, flat_grad = _flat_gradient(model, loss_fn, x, y)
    n = flat_grad.numel()

    def matvec(v: np.ndarray) -> np.ndarray:
        v = torch.as_tensor(np.ravel(v), dtype=flat_grad.dtype, device=flat_grad.device)
        return _hvp(params, flat_grad, v).detach().to("cpu", torch.float64).numpy()

    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    start = np.random.default_rng(seed).standard_normal(n)
    value = eigsh(operator, k=1, which="LA", v0=start, tol=tol, maxiter=max_restarts, return_eigenvectors=False)
    return float(value[0])


def batch_sharpness(model: nn.Module, loss_fn: LossFn, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Mean over minibatches B of g_B^T H_B g_B / |g_B|^2 (Andreyev et al. 2026): the curvature of each
    minibatch's own loss along its own gradient, the quantity minibatch SGD holds at 2(1 -+ beta)/eta
    (the edge of stochastic stability), where the full-batch Hessian's top eigenvalue need not be."""
    ratios = []
    for x, y in batches:
        params, flat_grad = _flat_gradient(model, loss_fn, x, y)
        g = flat_grad.detach()
        ratios.append(float(g @ _hvp(params, flat_grad, g)) / float(g @ g))
    return float(np.mean(ratios))
