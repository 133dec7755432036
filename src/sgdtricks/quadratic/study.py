"""The quadratic study's setting and its measurements: the 2-D valley, the (alpha, beta) pairs measured beside
the closed form, the condition-number comparison and the StepLR drop of both momentum forms. Numbers only:
figures.py draws them, tables.py formats them, page.py writes the section."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sgdtricks.quadratic import iterate, theory

KAPPA = 100.0  # the study quadratic: eigenvalues lambda_max / KAPPA and lambda_max
LAMBDA_MAX = 1.0  # step sizes are then in units of 1 / lambda_max
LAMBDA_MIN = LAMBDA_MAX / KAPPA
CURVE_BETAS = (0.0, 0.5, 0.8, 0.9)  # rate against alpha; the optimal beta is added
TABLE_KAPPAS = (10, 100, 1_000, 10_000)
TOL = 1e-6  # "iterations to reach": |w_k - w*| <= TOL |w_0 - w*|
TOL_TEXT = f"1e{np.log10(TOL):.0f}"
RATE_START = np.array([1.0, 1.0]) / np.sqrt(2)  # weight on both eigen-directions, so the slowest shows
DROP = dict(lr=0.05, gamma=0.1, before=200, after=100, beta=0.9, noise=1.0, chains=2000, seed=0)
DROP_OFFSETS = (-1, 0, 1, 2, 5, 10, 20, 50)  # steps after the drop reported in the table (0 = first new-lr step)
RATE_KEYS = ["lambda_min", "lambda_max", "alpha", "beta"]  # one row of quadratic_rates.csv per distinct key


def study_matrix(kappa: float) -> np.ndarray:
    """A = diag(lambda_max / kappa, lambda_max): the ill-conditioned 2-D valley (axis 0 the shallow one)."""
    return np.diag([LAMBDA_MAX / kappa, LAMBDA_MAX])


def rate_rows(A: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> pd.DataFrame:
    """Measured and closed-form rate for each (alpha, beta) pair on A: the rows of quadratic_rates.csv."""
    eigenvalues = np.linalg.eigvalsh(A)
    alpha, beta = (np.ravel(a) for a in np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float)))
    return pd.DataFrame({
        "lambda_min": eigenvalues.min(), "lambda_max": eigenvalues.max(), "alpha": alpha, "beta": beta,
        "rate_measured": iterate.measure_rates(A, RATE_START, alpha, beta),
        "rate_theory": theory.rate(alpha, beta, eigenvalues),
    })


def optima(kappa: float = KAPPA) -> dict[str, float]:
    """The best plain step and the best heavy-ball pair on the study quadratic, with their closed-form rates."""
    gd_alpha, gd_rate = theory.best_gradient_descent(LAMBDA_MAX / kappa, LAMBDA_MAX)
    hb_alpha, hb_beta, hb_rate = theory.best_momentum(LAMBDA_MAX / kappa, LAMBDA_MAX)
    return {"gd_alpha": gd_alpha, "gd_rate": gd_rate, "hb_alpha": hb_alpha, "hb_beta": hb_beta, "hb_rate": hb_rate}


def condition_rows() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per kappa in TABLE_KAPPAS: best rate without and with momentum, measured and closed form, iterations to
    TOL and the speed-up; and the rate rows of the pairs measured."""
    records, rows = [], []
    for kappa in TABLE_KAPPAS:
        A, best = study_matrix(kappa), optima(kappa)
        alphas, betas = [best["gd_alpha"], best["hb_alpha"]], [0.0, best["hb_beta"]]
        pair = rate_rows(A, np.array(alphas), np.array(betas))
        iterations = iterate.iterations_to(A, RATE_START, alphas, betas, TOL)
        rows.append(pair)
        records.append(dict(
            kappa=kappa, gd_rate_theory=best["gd_rate"], gd_rate_measured=pair.rate_measured[0],
            gd_iterations=iterations[0], hb_alpha=best["hb_alpha"] * LAMBDA_MAX, hb_beta=best["hb_beta"],
            hb_rate_theory=best["hb_rate"], hb_rate_measured=pair.rate_measured[1], hb_iterations=iterations[1],
            speedup=iterations[0] / iterations[1]))
    return pd.DataFrame(records), pd.concat(rows)


def lr_drop() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Both momentum forms through one StepLR drop on stochastic gradients (the DROP setting): the offsets of
    the steps from the drop, and per form the per-chain step lengths (steps, chains)."""
    p = DROP
    offsets = np.arange(-p["before"], p["after"])
    lengths = iterate.lr_drop_step_lengths(study_matrix(KAPPA), drop_lrs(offsets), p["beta"], p["noise"],
                                           p["chains"], p["seed"])
    return offsets, lengths


def drop_lrs(offsets: np.ndarray) -> np.ndarray:
    """StepLR with one drop: the learning rate at each offset from it (0 = the first new-lr step)."""
    return DROP["lr"] * DROP["gamma"] ** (np.asarray(offsets) >= 0)


def relative_step_lengths(lengths: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean step length over chains and its 95% half-width, both over the mean length just before the drop."""
    level = lengths[(offsets >= -50) & (offsets < 0)].mean()
    half = 1.96 * lengths.std(axis=1, ddof=1) / np.sqrt(lengths.shape[1]) / level
    return lengths.mean(axis=1) / level, half


def drop_rows(offsets: np.ndarray, lengths: dict[str, np.ndarray]) -> pd.DataFrame:
    """The relative step length of both forms at DROP_OFFSETS: the rows of momentum_forms_lr_drop.csv."""
    at = np.searchsorted(offsets, DROP_OFFSETS)
    ratios = {name: relative_step_lengths(per_chain, offsets)[0][at] for name, per_chain in lengths.items()}
    return pd.DataFrame({"step_after_drop": DROP_OFFSETS, "lr": drop_lrs(offsets[at]),
                         "heavy_ball_step_ratio": ratios["heavy_ball"], "velocity_step_ratio": ratios["velocity"]})
