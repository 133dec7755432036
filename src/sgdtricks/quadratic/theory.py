"""Closed forms for heavy ball on f(w) = 1/2 w^T A w (Polyak 1964; Goh, "Why Momentum Really Works", 2017).

In the eigenbasis of A every coordinate evolves alone. With z_0 = 0 the two lines give, per eigenvalue lambda,

    w_{k+1} = (1 + beta - alpha lambda) w_k - beta w_{k-1},

a linear recurrence with characteristic polynomial x^2 - (1 + beta - alpha lambda) x + beta. The distance to
the optimum contracts per iteration by the largest |root| over the eigenvalues of A: the convergence rate.
The roots lie inside the unit circle iff 0 < alpha lambda < 2 (1 + beta) (with 0 <= beta < 1), so momentum
widens the stable range of step sizes from 2 / lambda_max to 2 (1 + beta) / lambda_max.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def root_modulus(alpha: ArrayLike, beta: ArrayLike, lam: ArrayLike) -> np.ndarray:
    """Largest |root| of x^2 - (1 + beta - alpha lam) x + beta; arguments broadcast."""
    t = 1 + np.asarray(beta, float) - np.asarray(alpha, float) * np.asarray(lam, float)
    s = np.sqrt(t * t - 4 * np.asarray(beta, float) + 0j)  # imaginary when the roots are a complex pair
    return np.maximum(np.abs(t + s), np.abs(t - s)) / 2


def rate(alpha: ArrayLike, beta: ArrayLike, eigenvalues: ArrayLike) -> np.ndarray:
    """Per-iteration contraction of the distance to the optimum, for each (alpha, beta) pair (broadcast)."""
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float))
    return root_modulus(alpha[..., None], beta[..., None], np.asarray(eigenvalues, float)).max(axis=-1)


def stability_edge(beta: ArrayLike, lambda_max: float) -> np.ndarray:
    """The largest stable step size 2 (1 + beta) / lambda_max: above it the iterates diverge."""
    return 2 * (1 + np.asarray(beta, float)) / lambda_max


def best_gradient_descent(lambda_min: float, lambda_max: float) -> tuple[float, float]:
    """(alpha, rate) of the best plain step: alpha = 2 / (lambda_min + lambda_max), rate (kappa-1)/(kappa+1)."""
    kappa = lambda_max / lambda_min
    return 2 / (lambda_min + lambda_max), (kappa - 1) / (kappa + 1)


def best_momentum(lambda_min: float, lambda_max: float) -> tuple[float, float, float]:
    """(alpha, beta, rate) of the best heavy ball: rate (sqrt(kappa)-1)/(sqrt(kappa)+1), with a repeated root at
    both lambda_min and lambda_max."""
    root_kappa = np.sqrt(lambda_max / lambda_min)
    alpha = (2 / (np.sqrt(lambda_min) + np.sqrt(lambda_max))) ** 2
    rho = (root_kappa - 1) / (root_kappa + 1)
    return float(alpha), float(rho**2), float(rho)
