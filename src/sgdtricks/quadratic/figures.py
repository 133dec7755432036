"""The quadratic study's four figures (PDF + PNG): the lecture's two pictures, rate against step size, the
rate map over (beta, alpha), and the step length of both momentum forms at a StepLR drop."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgdtricks import plotting
from sgdtricks.quadratic import iterate, theory
from sgdtricks.quadratic.study import (CURVE_BETAS, DROP, KAPPA, LAMBDA_MAX, optima, rate_rows,
                                       relative_step_lengths, study_matrix)


def trajectories(out: Path, best: dict[str, float]) -> None:
    """The lecture's two pictures: gradient descent at its best step zig-zags slowly down the valley; momentum at
    the optimal pair reaches the optimum in a fraction of the steps. Third panel: distance against k, closed-form
    rates beside it."""
    A = study_matrix(KAPPA)
    runs = [("gradient descent", best["gd_alpha"], 0.0, best["gd_rate"]),
            ("momentum", best["hb_alpha"], best["hb_beta"], best["hb_rate"])]
    start, steps = np.array([-10.0, 1.0]), 100
    paths = iterate.trajectory(A, start, [r[1] for r in runs], [r[2] for r in runs], steps)  # (steps+1, 2, 2)
    colors = sns.color_palette(plotting.PALETTE)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained",
                             gridspec_kw={"width_ratios": [1.3, 1.3, 1]})
    x, y = np.meshgrid(np.linspace(-11, 2, 300), np.linspace(-4, 4, 200))
    f = 0.5 * (A[0, 0] * x**2 + A[1, 1] * y**2)
    for ax, (label, alpha, beta, rho), color, path in zip(axes, runs, colors, paths.transpose(1, 0, 2)):
        ax.contour(x, y, f, levels=np.geomspace(1e-4, 2, 12), colors="0.6", linewidths=0.6)
        ax.plot(path[:, 0], path[:, 1], "-o", color=color, ms=2.2, lw=0.9)
        ax.plot(0, 0, "k*", ms=9)
        ax.set(ylim=(-4, 4), xlabel="$w_1$ (shallow direction, $\\lambda_{min}$)",
               ylabel="$w_2$ (steep direction, $\\lambda_{max}$)",
               title=f"{label}: $\\alpha$={alpha:.3g}/$\\lambda_{{max}}$, $\\beta$={beta:.3g}")
    ks = np.arange(steps + 1)
    for (label, _, _, rho), color, path in zip(runs, colors, paths.transpose(1, 0, 2)):
        axes[2].semilogy(ks, np.linalg.norm(path, axis=1) / np.linalg.norm(start), color=color, label=label)
        axes[2].semilogy(ks, rho**ks, "--", color=color, lw=1, label=f"theory $r^k$, r = {rho:.3f}")
    axes[2].set(xlabel="iteration k", ylabel="$|w_k - w^*| / |w_0 - w^*|$", ylim=(1e-9, 3),
                title=f"distance to the optimum, $\\kappa$ = {KAPPA:g}")
    axes[2].legend(fontsize=8, loc="lower left")
    plotting.save_figure(fig, out, "quadratic_trajectories")


def rate_vs_alpha(out: Path) -> pd.DataFrame:
    """Rate against alpha for several beta, measured (markers) beside the closed form (lines); the stable
    range of alpha ends at 2 (1 + beta) / lambda_max (dotted), which grows with beta. Returns the rate rows."""
    A = study_matrix(KAPPA)
    hb_beta = optima()["hb_beta"]
    betas = sorted((*CURVE_BETAS, hb_beta))
    measured_alpha = np.linspace(0.04, 4.2, 105) / LAMBDA_MAX
    rows = rate_rows(A, *np.meshgrid(measured_alpha, betas))
    fine_alpha = np.linspace(0.005, 4.2, 800) / LAMBDA_MAX
    colors = sns.color_palette(plotting.PALETTE, len(betas))
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for beta, color in zip(betas, colors):
        label = f"$\\beta$ = {beta:.3g}" + (" (optimal)" if beta == hb_beta else "")
        ax.plot(fine_alpha * LAMBDA_MAX, theory.rate(fine_alpha, beta, np.diag(A)), color=color, lw=1.2, label=label)
        mine = rows[rows.beta == beta]
        ax.plot(mine.alpha * LAMBDA_MAX, mine.rate_measured, "o", color=color, ms=3, mfc="none", mew=0.8)
        ax.axvline(theory.stability_edge(beta, LAMBDA_MAX) * LAMBDA_MAX, color=color, ls=":", lw=1)
    ax.axhline(1, color="k", lw=0.8)
    ax.plot([], [], "ko", mfc="none", ms=3, label="measured from the iterates")
    ax.plot([], [], "k-", lw=1.2, label="closed form max |root|")
    ax.plot([], [], "k:", lw=1, label="edge $2(1+\\beta)/\\lambda_{max}$")
    ax.set(xlabel="step size $\\alpha \\cdot \\lambda_{max}$", ylabel="rate (contraction per iteration)",
           ylim=(0.75, 1.1), xlim=(0, 4.2), title=f"Rate against step size, $\\kappa$ = {KAPPA:g}")
    ax.legend(fontsize=7.5, loc="lower left", ncol=2)
    plotting.save_figure(fig, out, "quadratic_rate_vs_alpha")
    return rows


def rate_map(out: Path, best: dict[str, float]) -> pd.DataFrame:
    """The measured rate over (beta, alpha) with the closed form's contours, the stability edge and the
    optimum; beside it the relative gap between measured and closed-form rate. Returns the rate rows."""
    A = study_matrix(KAPPA)
    betas, alphas = np.linspace(0, 0.99, 80), np.linspace(0.02, 4.0, 80) / LAMBDA_MAX
    B, Al = np.meshgrid(betas, alphas)
    rows = rate_rows(A, Al, B)
    measured = rows.rate_measured.to_numpy().reshape(Al.shape)
    gap = np.abs(rows.rate_measured / rows.rate_theory - 1).to_numpy().reshape(Al.shape)
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(12, 4.3))
    cmap = matplotlib.colormaps[plotting.SEQUENTIAL].with_extremes(over="0.85")
    mesh = ax.pcolormesh(B, Al * LAMBDA_MAX, measured, cmap=cmap, vmin=best["hb_rate"], vmax=1.0, shading="nearest")
    fig.colorbar(mesh, ax=ax, label="measured rate (grey: > 1, diverges)", extend="max")
    fine_b, fine_a = np.meshgrid(np.linspace(0, 0.99, 300), np.linspace(0.02, 4.0, 300) / LAMBDA_MAX)
    levels = [0.85, 0.9, 0.95, 0.98, 0.99]
    lines = ax.contour(fine_b, fine_a * LAMBDA_MAX, theory.rate(fine_a, fine_b, np.diag(A)), levels=levels,
                       colors="white", linewidths=0.8, linestyles="--")
    ax.clabel(lines, fmt="%.2f", fontsize=7)
    ax.plot(betas, theory.stability_edge(betas, LAMBDA_MAX) * LAMBDA_MAX, "k-", lw=1.2,
            label="edge $2(1+\\beta)/\\lambda_{max}$")
    ax.plot(best["hb_beta"], best["hb_alpha"] * LAMBDA_MAX, "*", color="tab:red", ms=13, mec="k",
            label=f"optimum: rate {best['hb_rate']:.3f}")
    ax.plot(0, best["gd_alpha"] * LAMBDA_MAX, "s", color="tab:orange", ms=7, mec="k", clip_on=False,
            label=f"best without momentum: {best['gd_rate']:.3f}")
    ax.set(xlabel="momentum $\\beta$", ylabel="step size $\\alpha \\cdot \\lambda_{max}$", ylim=(0, 4.0),
           title=f"Measured rate, closed-form contours (dashed), $\\kappa$ = {KAPPA:g}")
    ax.legend(fontsize=7.5, loc="upper left")
    gap_mesh = ax_gap.pcolormesh(B, Al * LAMBDA_MAX, np.log10(np.maximum(gap, 1e-16)), cmap=plotting.SEQUENTIAL,
                                 shading="nearest")
    fig.colorbar(gap_mesh, ax=ax_gap, label="$\\log_{10}$ |measured / closed form - 1|")
    ax_gap.set(xlabel="momentum $\\beta$", ylabel="step size $\\alpha \\cdot \\lambda_{max}$",
               title=f"Relative gap, at most {gap.max():.1e}")
    plotting.save_figure(fig, out, "quadratic_rate_map")
    return rows


def lr_drop(out: Path, offsets: np.ndarray, lengths: dict[str, np.ndarray]) -> None:
    """Both momentum forms through a StepLR drop on stochastic gradients: PyTorch's form (lr outside z) steps
    gamma times shorter at once; the velocity form coasts on the old-lr velocity for about 1 / (1 - beta) steps."""
    p = DROP
    labels = {"heavy_ball": "PyTorch / lecture: z ← βz + g, w ← w − αz",
              "velocity": "velocity form: v ← βv − αg, w ← w + v"}
    colors = sns.color_palette(plotting.PALETTE)
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    for (name, per_chain), color in zip(lengths.items(), colors):
        mean, half = relative_step_lengths(per_chain, offsets)
        ax.plot(offsets, mean, color=color, label=labels[name])
        ax.fill_between(offsets, mean - half, mean + half, color=color, alpha=0.3, lw=0)
    ax.axvline(-0.5, color="k", lw=0.8, ls=":")
    ax.axhline(p["gamma"], color="0.4", lw=0.8, ls="--", label=f"$\\gamma$ = {p['gamma']:g} (new lr / old lr)")
    ax.set(xlim=(-30, 80), ylim=(0, 1.15), xlabel="iteration after the lr drop",
           ylabel="mean step length / before the drop",
           title=f"StepLR drop lr {p['lr']:g} → {p['lr'] * p['gamma']:g}, $\\beta$ = {p['beta']:g}")
    ax.legend(fontsize=7.5, loc="center right")
    ax.text(0.99, 0.02, f"mean and 95% CI over {p['chains']} chains of noisy gradients (seed {p['seed']})",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=7)
    plotting.save_figure(fig, out, "momentum_forms_lr_drop")
