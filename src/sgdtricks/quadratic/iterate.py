"""The two momentum forms run on f(w) = 1/2 w^T A w in float64, batched over (alpha, beta) pairs, and rates
measured from the iterates (never from the closed form in theory.py, which they are compared against).

Batched arrays: `alpha` and `beta` have shape (pairs,), iterates (pairs, d); A is symmetric, so grad f(w) = w A.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

RATE_STEPS = 4000  # iterations per rate measurement: windows [1000, 2000] and [2000, 4000]


def heavy_ball_step(w: np.ndarray, z: np.ndarray, grad: np.ndarray, alpha: ArrayLike,
                    beta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's two lines (the form torch.optim.SGD uses): z <- beta z + grad f(w); w <- w - alpha z."""
    z = beta * z + grad
    return w - alpha * z, z


def velocity_step(w: np.ndarray, v: np.ndarray, grad: np.ndarray, alpha: ArrayLike,
                  mu: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The other common form (Sutskever et al. 2013): v <- mu v - alpha grad f(w); w <- w + v.

    At a constant alpha it is heavy ball with v = -alpha z; when alpha changes, v still holds the old alpha.
    """
    v = mu * v - alpha * grad
    return w + v, v


def _pairs(w0: ArrayLike, alpha: ArrayLike, beta: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start w_0 repeated once per pair, and alpha, beta as columns that broadcast against it."""
    alpha, beta = np.broadcast_arrays(np.atleast_1d(np.asarray(alpha, float)), np.atleast_1d(np.asarray(beta, float)))
    w = np.tile(np.asarray(w0, float), (len(alpha), 1))
    return w, alpha[:, None], beta[:, None]


def trajectory(A: np.ndarray, w0: ArrayLike, alpha: ArrayLike, beta: ArrayLike, steps: int) -> np.ndarray:
    """Iterates w_0 .. w_steps of heavy ball from w_0 with z_0 = 0; shape (steps + 1, pairs, d)."""
    w, alpha, beta = _pairs(w0, alpha, beta)
    z = np.zeros_like(w)
    out = [w]
    for _ in range(steps):
        w, z = heavy_ball_step(w, z, w @ A, alpha, beta)
        out.append(w)
    return np.stack(out)


def _window_slope_weights(start: int, stop: int) -> np.ndarray:
    """Weights c_k with sum_k c_k y_k = the least-squares slope of y_k against k over k in [start, stop]."""
    centred = np.arange(start, stop + 1) - (start + stop) / 2
    return centred / (centred**2).sum()


def measure_rates(A: np.ndarray, w0: ArrayLike, alpha: ArrayLike, beta: ArrayLike,
                  steps: int = RATE_STEPS) -> np.ndarray:
    """Per-iteration contraction of the distance to the optimum, measured from the iterates; shape (pairs,).

    The distance is that of the state (w_k, w_{k-1}) to (0, 0): it is never zero, where |w_k| alone dips
    to zero whenever an oscillation crosses the optimum. It behaves like k^m r^k with m = 1 at a repeated
    root, so a ratio of successive distances reads r (1 + 1/k), biased. The least-squares slope of the log
    distance over a window [K, 2K] is log r + m c / K with c fixed by the window's shape alone, so the slopes
    s1 over [N/4, N/2] and s2 over [N/2, N] give log r = 2 s2 - s1 for any m (Richardson extrapolation).
    The state is rescaled to unit length every step (the recurrence is linear), so rates far below or
    above 1 neither underflow nor overflow; the log distance is the running sum of the log scales.
    """
    w, alpha, beta = _pairs(w0, alpha, beta)
    z, w_prev = np.zeros_like(w), w.copy()
    windows = [(steps // 4, steps // 2), (steps // 2, steps)]
    weights = [_window_slope_weights(*window) for window in windows]
    slopes = np.zeros((2, len(w)))
    log_distance = np.zeros(len(w))
    for k in range(1, steps + 1):
        w_prev, (w, z) = w, heavy_ball_step(w, z, w @ A, alpha, beta)
        norm = np.sqrt(np.einsum("pd,pd->p", w, w) + np.einsum("pd,pd->p", w_prev, w_prev))[:, None]
        w, w_prev, z = w / norm, w_prev / norm, z / norm
        log_distance += np.log(norm[:, 0])
        for i, (start, stop) in enumerate(windows):
            if start <= k <= stop:
                slopes[i] += weights[i][k - start] * log_distance
    return np.exp(2 * slopes[1] - slopes[0])


def iterations_to(A: np.ndarray, w0: ArrayLike, alpha: ArrayLike, beta: ArrayLike, tol: float,
                  max_steps: int = 1_000_000) -> np.ndarray:
    """First k with |w_k| <= tol |w_0| for each pair (-1 where max_steps did not suffice)."""
    w, alpha, beta = _pairs(w0, alpha, beta)
    z = np.zeros_like(w)
    target = tol * np.linalg.norm(w[0])
    first = np.full(len(w), -1)
    for k in range(1, max_steps + 1):
        w, z = heavy_ball_step(w, z, w @ A, alpha, beta)
        first[(first < 0) & (np.linalg.norm(w, axis=1) <= target)] = k
        if (first >= 0).all():
            break
    return first


def lr_drop_step_lengths(A: np.ndarray, lrs: ArrayLike, beta: float, noise: float, chains: int,
                         seed: int = 0) -> dict[str, np.ndarray]:
    """Step lengths |w_{k+1} - w_k| of both momentum forms under the lr schedule `lrs`: (steps, chains) each.

    Gradients are stochastic, A w + noise * xi with xi ~ N(0, I) drawn once per step and chain and fed to
    both forms, from w_0 = 0 (the noise-dominated regime where a StepLR drop happens in training).
    """
    rng = np.random.default_rng(seed)
    forms = {"heavy_ball": heavy_ball_step, "velocity": velocity_step}
    state = {name: (np.zeros((chains, len(A))), np.zeros((chains, len(A)))) for name in forms}
    lengths: dict[str, list[np.ndarray]] = {name: [] for name in forms}
    for lr in np.asarray(lrs, float):
        xi = noise * rng.standard_normal((chains, len(A)))
        for name, step in forms.items():
            w, memory = state[name]
            w_next, memory = step(w, memory, w @ A + xi, lr, beta)
            lengths[name].append(np.linalg.norm(w_next - w, axis=1))
            state[name] = (w_next, memory)
    return {name: np.stack(values) for name, values in lengths.items()}
