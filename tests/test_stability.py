"""The stability run (sgdtricks.run.stability) on data made here: on a linear model the square loss is a quadratic,
so heavy ball's edge 2(1 + beta)/lambda_max is exact there and the runner must reproduce it."""

from __future__ import annotations

import math

import pytest
import torch

from sgdtricks.sharpness import top_hessian_eigenvalue
from sgdtricks.models import MLP
from sgdtricks.run.stability import Settings, inputs, run, square_loss


def problem(count: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped uint8 images (3 x 8 x 8) and labels, standardised and one-hot as a stability run sees them."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, 8, 8), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 4, (count,), generator=gen)
    pixels = images.float() / 255
    return inputs(images, labels, pixels.mean((0, 2, 3)), pixels.std((0, 2, 3)), 4, count)


def settings(**changes: object) -> Settings:
    base = dict(steps=60, batch=None, measure_every=20, sharpness="full", sharpness_batches=4, diverge_factor=1e3)
    return Settings(**{**base, **changes})


def model(widths: tuple[int, ...] = (16,)) -> MLP:
    torch.manual_seed(0)
    return MLP(3, 4, widths=widths, image_size=8)


def test_inputs_are_standardised_and_one_hot() -> None:
    x, y = problem()
    assert x.shape == (64, 3, 8, 8) and y.shape == (64, 4)
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std((0, 2, 3)), torch.ones(3), atol=1e-3, rtol=0)
    assert (y.sum(1) == 1).all()


@pytest.mark.parametrize("beta", [0.0, 0.9])
def test_linear_model_has_the_quadratic_edge(beta: float) -> None:
    """No hidden layer: the loss is quadratic in the weights, the Hessian constant, so heavy ball converges just
    below 2(1 + beta)/lambda_max and diverges just above it."""
    x, y = problem()
    lam = top_hessian_eigenvalue(model(widths=()), square_loss, x, y, tol=1e-6)
    edge = 2 * (1 + beta) / lam
    outcomes = {}
    for factor in (0.9, 1.1):
        net = model(widths=())
        optimizer = torch.optim.SGD(net.parameters(), lr=factor * edge, momentum=beta)
        rows, status = run(net, optimizer, x, y, settings(steps=600, measure_every=600, sharpness="none"), seed=0)
        outcomes[factor] = (status, rows[-1]["train_loss"] / rows[0]["train_loss"])
    assert outcomes[0.9][0] == "finished" and outcomes[0.9][1] < 1
    assert outcomes[1.1][0] == "diverged"


def test_full_batch_rows_measure_loss_and_sharpness_every_k_steps() -> None:
    x, y = problem()
    net = model()
    rows, status = run(net, torch.optim.SGD(net.parameters(), lr=0.01), x, y, settings(steps=50), seed=0)
    assert status == "finished"
    assert [r["step"] for r in rows] == [0, 20, 40, 50]  # and after the last step
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert all(math.isfinite(r["sharpness"]) and math.isnan(r["batch_sharpness"]) for r in rows)
    assert rows[-1]["sharpness"] == pytest.approx(top_hessian_eigenvalue(net, square_loss, x, y), rel=1e-6)


def test_minibatch_rows_measure_batch_sharpness_and_repeat_exactly() -> None:
    x, y = problem()
    results = []
    for _ in range(2):
        net = model()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        results.append(run(net, optimizer, x, y, settings(batch=8, sharpness="batch"), seed=3))
    (rows, status), (again, _) = results
    assert status == "finished" and rows == again  # same seed: same draws, same numbers
    assert all(math.isfinite(r["batch_sharpness"]) and math.isnan(r["sharpness"]) for r in rows)
    net = model()
    other, _ = run(net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9), x, y,
                   settings(batch=8, sharpness="batch"), seed=4)
    assert other[-1]["train_loss"] != rows[-1]["train_loss"]  # the seed picks the minibatches


def test_divergence_stops_the_run() -> None:
    x, y = problem()
    net = model()
    rows, status = run(net, torch.optim.SGD(net.parameters(), lr=50.0), x, y,
                       settings(steps=500, measure_every=5, sharpness="none"), seed=0)
    assert status == "diverged" and rows[-1]["step"] < 500
    assert not rows[-1]["train_loss"] <= 1e3 * rows[0]["train_loss"]  # past the factor, or not finite
