"""sharpness.py against independent computations: the closed form on a quadratic, and the explicitly formed
Hessian (torch.autograd.functional.hessian) of a tiny MLP, for square and cross-entropy losses."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from sgdtricks.sharpness import batch_sharpness, top_hessian_eigenvalue


class Point(nn.Module):
    """A model whose output is its parameter vector: loss_fn(model(x), y) is then any function of the weights."""

    def __init__(self, w: Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.w


def square_loss(out: Tensor, target: Tensor) -> Tensor:
    return 0.5 * ((out - target) ** 2).sum(1).mean()


def cross_entropy(out: Tensor, target: Tensor) -> Tensor:
    return nn.functional.cross_entropy(out, target.argmax(1))


def tiny_problem(seed: int = 0) -> tuple[nn.Module, Tensor, Tensor]:
    """A 5-8-3 tanh MLP (75 weights) in float64 and 24 random points with one-hot targets."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    x = torch.randn(24, 5, generator=gen, dtype=torch.float64)
    y = nn.functional.one_hot(torch.randint(3, (24,), generator=gen), 3).double()
    return model, x, y


def explicit_hessian(model: nn.Module, loss_fn, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient and the full p x p Hessian w.r.t. the flattened parameters, formed explicitly."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss_of(w: Tensor) -> Tensor:
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = w[i:i + shape.numel()].view(shape)
            i += shape.numel()
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.func.grad(loss_of)(flat), torch.autograd.functional.hessian(loss_of, flat)


def train(model: nn.Module, loss_fn, x: Tensor, y: Tensor, steps: int = 300, lr: float = 0.1) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


def test_quadratic_closed_form() -> None:
    """On f(w) = 1/2 w^T A w the Hessian is A: the top algebraic eigenvalue, not the largest in magnitude."""
    gen = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    eigenvalues = torch.linspace(-9.0, 4.0, 30, dtype=torch.float64)  # |-9| > 4: magnitude would pick -9
    A = q @ torch.diag(eigenvalues) @ q.T
    model = Point(torch.randn(30, generator=gen, dtype=torch.float64))
    value = top_hessian_eigenvalue(model, lambda w, _: 0.5 * w @ A @ w, torch.empty(0), torch.empty(0))
    assert value == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("loss_fn", [square_loss, cross_entropy], ids=["square", "cross_entropy"])
@pytest.mark.parametrize("trained", [False, True], ids=["random_point", "after_training"])
def test_mlp_matches_explicit_hessian(loss_fn, trained: bool) -> None:
    model, x, y = tiny_problem()
    if trained:
        train(model, loss_fn, x, y)
    _, hessian = explicit_hessian(model, loss_fn, x, y)
    expected = torch.linalg.eigvalsh(hessian).max().item()
    assert top_hessian_eigenvalue(model, loss_fn, x, y, tol=1e-8) == pytest.approx(expected, rel=1e-6)
    assert top_hessian_eigenvalue(model, loss_fn, x, y) == pytest.approx(expected, rel=1e-3)  # the default tol


def test_float32_model_and_determinism() -> None:
    """A float32 model is measured through float64 ARPACK; the fixed start makes repeats identical."""
    model, x, y = tiny_problem()
    _, hessian = explicit_hessian(model, square_loss, x, y)
    model32 = model.float()
    first = top_hessian_eigenvalue(model32, square_loss, x.float(), y.float())
    assert first == top_hessian_eigenvalue(model32, square_loss, x.float(), y.float())
    assert first == pytest.approx(torch.linalg.eigvalsh(hessian).max().item(), rel=1e-3)


def test_frozen_parameters_are_left_out() -> None:
    """Only trainable parameters: freezing the first layer leaves the Hessian block of the last one."""
    model, x, y = tiny_problem()
    for p in model[0].parameters():
        p.requires_grad_(False)
    head = nn.Sequential(nn.Tanh(), model[2])
    features = model[0](x).detach()
    _, hessian = explicit_hessian(head, square_loss, features, y)
    assert top_hessian_eigenvalue(model, square_loss, x, y) == pytest.approx(
        torch.linalg.eigvalsh(hessian).max().item(), rel=1e-3)


def test_batch_sharpness_is_mean_rayleigh_quotient_of_each_batch() -> None:
    """Mean over batches of g^T H g / g^T g, each g and H of that batch's own loss (formed explicitly here)."""
    model, x, y = tiny_problem()
    train(model, square_loss, x, y, steps=50)
    batches = [(x[i:i + 6], y[i:i + 6]) for i in range(0, 24, 6)]
    quotients = []
    for xb, yb in batches:
        g, hessian = explicit_hessian(model, square_loss, xb, yb)
        quotients.append((g @ hessian @ g / (g @ g)).item())
    assert batch_sharpness(model, square_loss, batches) == pytest.approx(sum(quotients) / len(quotients), rel=1e-9)
    # one batch holding every point: the Rayleigh quotient of the full Hessian, at most its top eigenvalue
    assert batch_sharpness(model, square_loss, [(x, y)]) <= top_hessian_eigenvalue(model, square_loss, x, y) + 1e-9
