"""The quadratic study: rates measured from the iterates equal the closed form; the stability edge is at
2 (1 + beta) / lambda_max; the iteration is the HeavyBall optimizer's; the CLI writes every promised file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO
from sgdtricks.optim import HeavyBall
from sgdtricks.quadratic import iterate, report, theory


def random_quadratic(kappa: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A = Q diag(eigenvalues) Q^T with a random rotation Q, eigenvalues in [1/kappa, 1] including both ends;
    and a random start."""
    rng = np.random.default_rng(seed)
    eigenvalues = np.r_[1 / kappa, 1.0, rng.uniform(1 / kappa, 1, dim - 2)]
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q @ np.diag(eigenvalues) @ q.T, eigenvalues, rng.standard_normal(dim)


@pytest.mark.parametrize("kappa", [10, 100, 1000])
def test_measured_rates_match_closed_form(kappa: float) -> None:
    A, eigenvalues, w0 = random_quadratic(kappa, dim=6, seed=int(kappa))
    betas = np.array([0.0, 0.3, 0.6, 0.9, 0.97])
    fractions = np.linspace(0.03, 1.15, 25)  # of the stability edge: converging and diverging pairs
    alpha = (fractions[None, :] * theory.stability_edge(betas, 1.0)[:, None]).ravel()
    beta = np.repeat(betas, len(fractions))
    measured = iterate.measure_rates(A, w0, alpha, beta)
    expected = theory.rate(alpha, beta, eigenvalues)
    np.testing.assert_allclose(measured, expected, rtol=1e-2)
    assert (expected < 1).any() and (expected > 1).any() and np.ptp(expected) > 0.1  # a real range is covered


@pytest.mark.parametrize("kappa", [10, 100, 1000])
def test_repeated_root_does_not_bias_the_measured_rate(kappa: float) -> None:
    """At the optimal pair both extreme eigenvalues have a repeated root: the distance falls like k r^k, so the
    ratio of successive distances after 400 steps reads r (1 + 1/400); the measurement must not."""
    A, eigenvalues, w0 = random_quadratic(kappa, dim=6, seed=1)
    alpha, beta, rho = theory.best_momentum(1 / kappa, 1.0)
    assert theory.rate(alpha, beta, eigenvalues) == pytest.approx(rho, rel=1e-6)
    path = iterate.trajectory(A, w0, alpha, beta, 400)[:, 0]
    naive = np.linalg.norm(path[-1]) / np.linalg.norm(path[-2])
    assert abs(naive / rho - 1) > 1e-3  # the bias is real
    measured = iterate.measure_rates(A, w0, alpha, beta, steps=400)
    assert measured[0] == pytest.approx(rho, rel=2e-4)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_stability_edge_is_two_one_plus_beta_over_lambda_max(beta: float) -> None:
    A, eigenvalues, w0 = random_quadratic(100, dim=5, seed=2)
    edge = 2 * (1 + beta) / eigenvalues.max()
    below, above = iterate.measure_rates(A, w0, [0.99 * edge, 1.01 * edge], beta)
    assert below < 1 < above
    assert theory.stability_edge(beta, eigenvalues.max()) == pytest.approx(edge)


def test_momentum_allows_step_sizes_that_diverge_without_it() -> None:
    A, eigenvalues, w0 = random_quadratic(100, dim=5, seed=3)
    alpha = 2.5 / eigenvalues.max()  # beyond 2 / lambda_max, within 2 (1 + 0.5) / lambda_max
    no_momentum, momentum = iterate.measure_rates(A, w0, alpha, [0.0, 0.5])
    assert no_momentum > 1 > momentum
    final = iterate.trajectory(A, w0, alpha, [0.0, 0.5], 300)[-1]
    assert np.linalg.norm(final[0]) > 1e6 * np.linalg.norm(w0) > 1e12 * np.linalg.norm(final[1])


def test_closed_form_optima_are_the_minima_of_the_rate() -> None:
    """The stated best step and best pair are where a fine grid of the closed-form rate is smallest."""
    lmin, lmax = 0.01, 1.0
    alphas = np.linspace(0.001, 4.0, 4001)
    gd_alpha, gd_rate = theory.best_gradient_descent(lmin, lmax)
    gd_grid = theory.rate(alphas, 0.0, [lmin, lmax])
    assert gd_grid.min() >= gd_rate - 1e-12 and alphas[gd_grid.argmin()] == pytest.approx(gd_alpha, abs=1e-3)
    hb_alpha, hb_beta, hb_rate = theory.best_momentum(lmin, lmax)
    A, B = np.meshgrid(alphas[::8], np.linspace(0, 0.99, 991))
    hb_grid = theory.rate(A, B, [lmin, lmax])
    assert hb_grid.min() >= hb_rate - 1e-6
    assert A.flat[hb_grid.argmin()] == pytest.approx(hb_alpha, abs=1e-2)
    assert B.flat[hb_grid.argmin()] == pytest.approx(hb_beta, abs=2e-3)
    assert (gd_rate, hb_rate) == pytest.approx((99 / 101, 9 / 11))  # (kappa-1)/(kappa+1), (sqrt k-1)/(sqrt k+1)


def test_iterations_are_the_heavy_ball_optimizers() -> None:
    """The numpy iteration of the study is sgdtricks.optim.HeavyBall on loss 1/2 w^T A w (float64)."""
    A, _, w0 = random_quadratic(50, dim=4, seed=4)
    path = iterate.trajectory(A, w0, 0.8, 0.7, 30)[:, 0]
    w = torch.nn.Parameter(torch.tensor(w0))
    optimizer = HeavyBall([w], lr=0.8, momentum=0.7)
    for k in range(1, 31):
        optimizer.zero_grad()
        (0.5 * w @ torch.tensor(A) @ w).backward()
        optimizer.step()
        np.testing.assert_allclose(w.detach().numpy(), path[k], rtol=1e-12, atol=1e-14)


def test_iterations_to_tolerance_match_gradient_descent_closed_form() -> None:
    """Without momentum each eigen-coordinate is (1 - alpha lambda)^k of its start: the first k below tol is known."""
    eigenvalues, w0, alpha = np.array([0.01, 0.3, 1.0]), np.array([1.0, -2.0, 0.5]), 1.2
    tol = 1e-6
    k = np.arange(5000)[:, None]
    distance = np.linalg.norm(w0 * (1 - alpha * eigenvalues) ** k, axis=1)
    expected = int(np.argmax(distance <= tol * np.linalg.norm(w0)))
    assert iterate.iterations_to(np.diag(eigenvalues), w0, alpha, 0.0, tol)[0] == expected > 1000


def test_momentum_forms_agree_until_the_lr_changes() -> None:
    """v <- mu v - alpha g; w <- w + v is heavy ball with v = -alpha z at a constant alpha; after a drop it is
    heavy ball only if v is rescaled by new alpha / old alpha, which PyTorch's form does implicitly."""
    A, _, w0 = random_quadratic(20, dim=3, seed=5)
    lrs = [0.4] * 10 + [0.04] * 10
    w_hb, z = w0.copy(), np.zeros(3)
    w_v, v = w0.copy(), np.zeros(3)
    w_rescaled, v_rescaled = w0.copy(), np.zeros(3)
    for k, lr in enumerate(lrs):
        w_hb, z = iterate.heavy_ball_step(w_hb, z, A @ w_hb, lr, 0.9)
        w_v, v = iterate.velocity_step(w_v, v, A @ w_v, lr, 0.9)
        if k == 10:
            v_rescaled = v_rescaled * lrs[10] / lrs[9]
        w_rescaled, v_rescaled = iterate.velocity_step(w_rescaled, v_rescaled, A @ w_rescaled, lr, 0.9)
        np.testing.assert_allclose(w_rescaled, w_hb, rtol=1e-10, atol=1e-12)
        if k < 10:
            np.testing.assert_allclose(w_v, w_hb, rtol=1e-10, atol=1e-12)
    assert np.linalg.norm(w_v - w_hb) > 1e-3


def test_cli_writes_figures_tables_and_rates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "quadratic"
    report.main(["--out", str(out)])
    figures = ["quadratic_trajectories", "quadratic_rate_vs_alpha", "quadratic_rate_map", "momentum_forms_lr_drop"]
    tables = ["quadratic_table", "momentum_forms_lr_drop"]
    expected = {f"{n}.{ext}" for n in figures for ext in ("pdf", "png")}
    expected |= {f"{n}.{ext}" for n in tables for ext in ("md", "csv", "tex")} | {"quadratic_rates.csv", "README.md"}
    assert {p.name for p in out.iterdir()} == expected  # nothing else (no staging folder left behind)
    assert str(out) in capsys.readouterr().out
    rates = pd.read_csv(out / "quadratic_rates.csv")
    assert list(rates.columns) == ["lambda_min", "lambda_max", "alpha", "beta", "rate_measured", "rate_theory"]
    assert len(rates) > 1000 and not rates.duplicated(["lambda_min", "lambda_max", "alpha", "beta"]).any()
    np.testing.assert_allclose(rates.rate_measured, rates.rate_theory, rtol=1e-2)
    ends = [theory.root_modulus(rates.alpha, rates.beta, rates[end]) for end in ("lambda_min", "lambda_max")]
    np.testing.assert_allclose(rates.rate_theory, np.maximum(*ends), rtol=1e-12)
    table = pd.read_csv(out / "quadratic_table.csv")
    kappa = table.kappa.to_numpy(float)
    np.testing.assert_allclose(table.gd_rate_measured, (kappa - 1) / (kappa + 1), rtol=1e-4)
    np.testing.assert_allclose(table.hb_rate_measured, (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1), rtol=1e-4)
    assert (table.hb_iterations < table.gd_iterations).all() and table.speedup.is_monotonic_increasing
    drop = pd.read_csv(out / "momentum_forms_lr_drop.csv").set_index("step_after_drop")
    assert drop.loc[0, "heavy_ball_step_ratio"] == pytest.approx(0.1, abs=0.01)  # PyTorch's form: gamma at once
    assert drop.loc[0, "velocity_step_ratio"] > 0.8  # the velocity form coasts on the old lr
    readme = (out / "README.md").read_text()
    assert all(f"({n}.png)" in readme for n in figures) and re.search(r"^\| κ +\|", readme, re.M)  # the table, inline
    committed = REPO / "reports" / "quadratic"  # what the repository shows is what the code writes now
    for name in tables:
        assert (out / f"{name}.md").read_text() == (committed / f"{name}.md").read_text(), "re-run make quadratic"


def test_cli_refuses_an_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        report.main(["--out", str(blocker / "sub")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and str(blocker / "sub") in err
