"""`python -m sgdtricks.quadratic --out DIR`: the quadratic study, in seconds on a CPU.

Writes into DIR: four figures (PDF + PNG), two tables (Markdown, CSV, LaTeX booktabs), quadratic_rates.csv
(one row per (alpha, beta) evaluated: measured rate beside the closed form) and README.md, the section that
shows them with the provenance. Everything is float64 numpy and deterministic; files appear only when all
of them were built (written in a temporary folder, then moved into DIR).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from sgdtricks import plotting
from sgdtricks.record import provenance
from sgdtricks.quadratic import iterate, theory

COMMAND = "python -m sgdtricks.quadratic --out {out}"

KAPPA = 100.0  # the study quadratic: eigenvalues lambda_max / KAPPA and lambda_max
LAMBDA_MAX = 1.0  # step sizes are then in units of 1 / lambda_max
CURVE_BETAS = (0.0, 0.5, 0.8, 0.9)  # rate against alpha; the optimal beta is added
TABLE_KAPPAS = (10, 100, 1_000, 10_000)
TOL = 1e-6  # "iterations to reach": |w_k - w*| <= TOL |w_0 - w*|
TOL_TEXT = f"1e{np.log10(TOL):.0f}"
RATE_START = np.array([1.0, 1.0]) / np.sqrt(2)  # weight on both eigen-directions, so the slowest shows
DROP = dict(lr=0.05, gamma=0.1, before=200, after=100, beta=0.9, noise=1.0, chains=2000, seed=0)
DROP_OFFSETS = (-1, 0, 1, 2, 5, 10, 20, 50)  # steps after the drop reported in the table (0 = first new-lr step)


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


@dataclass
class Table:
    """A table with its CSV columns and, per column, its Markdown header, LaTeX header and cell format."""

    frame: pd.DataFrame
    headers: dict[str, tuple[str, str, str]]

    def write(self, out: Path, name: str) -> str:
        """Write name.csv, name.md and name.tex (booktabs); return the Markdown."""
        self.frame.to_csv(out / f"{name}.csv", index=False)
        cells = pd.DataFrame({col: [fmt.format(v) for v in self.frame[col]]
                              for col, (_, _, fmt) in self.headers.items()})
        md_head = [md for md, _, _ in self.headers.values()]
        lines = ["| " + " | ".join(md_head) + " |", "|" + "---:|" * len(md_head)]
        lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
        markdown = "\n".join(lines) + "\n"
        (out / f"{name}.md").write_text(markdown)
        cells.columns = [tex for _, tex, _ in self.headers.values()]
        (out / f"{name}.tex").write_text(cells.to_latex(index=False, escape=False, column_format="r" * len(md_head)))
        return markdown


def figure_trajectories(out: Path) -> dict[str, float]:
    """The lecture's two pictures: gradient descent at its best step zig-zags slowly down the valley; momentum at
    the optimal pair reaches the optimum in a fraction of the steps. Third panel: distance against k, closed-form
    rates beside it."""
    A = study_matrix(KAPPA)
    lmin, lmax = LAMBDA_MAX / KAPPA, LAMBDA_MAX
    gd_alpha, gd_rate = theory.best_gradient_descent(lmin, lmax)
    hb_alpha, hb_beta, hb_rate = theory.best_momentum(lmin, lmax)
    runs = [("gradient descent", gd_alpha, 0.0, gd_rate), ("momentum", hb_alpha, hb_beta, hb_rate)]
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
    return {"gd_alpha": gd_alpha, "gd_rate": gd_rate, "hb_alpha": hb_alpha, "hb_beta": hb_beta, "hb_rate": hb_rate}


def figure_rate_vs_alpha(out: Path) -> pd.DataFrame:
    """Rate against alpha for several beta, measured (markers) beside the closed form (lines); the stable
    range of alpha ends at 2 (1 + beta) / lambda_max (dotted), which grows with beta."""
    A = study_matrix(KAPPA)
    _, hb_beta, _ = theory.best_momentum(LAMBDA_MAX / KAPPA, LAMBDA_MAX)
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


def figure_rate_map(out: Path) -> pd.DataFrame:
    """The measured rate over (beta, alpha) with the closed form's contours, the stability edge and the
    optimum; beside it the relative gap between measured and closed-form rate."""
    A = study_matrix(KAPPA)
    lmin = LAMBDA_MAX / KAPPA
    betas, alphas = np.linspace(0, 0.99, 80), np.linspace(0.02, 4.0, 80) / LAMBDA_MAX
    B, Al = np.meshgrid(betas, alphas)
    rows = rate_rows(A, Al, B)
    measured = rows.rate_measured.to_numpy().reshape(Al.shape)
    gap = np.abs(rows.rate_measured / rows.rate_theory - 1).to_numpy().reshape(Al.shape)
    hb_alpha, hb_beta, hb_rate = theory.best_momentum(lmin, LAMBDA_MAX)
    gd_alpha, gd_rate = theory.best_gradient_descent(lmin, LAMBDA_MAX)
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(12, 4.3))
    cmap = matplotlib.colormaps[plotting.SEQUENTIAL].with_extremes(over="0.85")
    mesh = ax.pcolormesh(B, Al * LAMBDA_MAX, measured, cmap=cmap, vmin=hb_rate, vmax=1.0, shading="nearest")
    fig.colorbar(mesh, ax=ax, label="measured rate (grey: > 1, diverges)", extend="max")
    fine_b, fine_a = np.meshgrid(np.linspace(0, 0.99, 300), np.linspace(0.02, 4.0, 300) / LAMBDA_MAX)
    levels = [0.85, 0.9, 0.95, 0.98, 0.99]
    lines = ax.contour(fine_b, fine_a * LAMBDA_MAX, theory.rate(fine_a, fine_b, np.diag(A)), levels=levels,
                       colors="white", linewidths=0.8, linestyles="--")
    ax.clabel(lines, fmt="%.2f", fontsize=7)
    ax.plot(betas, theory.stability_edge(betas, LAMBDA_MAX) * LAMBDA_MAX, "k-", lw=1.2,
            label="edge $2(1+\\beta)/\\lambda_{max}$")
    ax.plot(hb_beta, hb_alpha * LAMBDA_MAX, "*", color="tab:red", ms=13, mec="k",
            label=f"optimum: rate {hb_rate:.3f}")
    ax.plot(0, gd_alpha * LAMBDA_MAX, "s", color="tab:orange", ms=7, mec="k", clip_on=False,
            label=f"best without momentum: {gd_rate:.3f}")
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


def condition_table(out: Path) -> tuple[str, pd.DataFrame]:
    """Best rate without and with momentum for several kappa, measured and closed form, and iterations to TOL."""
    records, rows = [], []
    for kappa in TABLE_KAPPAS:
        A = study_matrix(kappa)
        lmin = LAMBDA_MAX / kappa
        gd_alpha, gd_rate = theory.best_gradient_descent(lmin, LAMBDA_MAX)
        hb_alpha, hb_beta, hb_rate = theory.best_momentum(lmin, LAMBDA_MAX)
        pair = rate_rows(A, np.array([gd_alpha, hb_alpha]), np.array([0.0, hb_beta]))
        iterations = iterate.iterations_to(A, RATE_START, [gd_alpha, hb_alpha], [0.0, hb_beta], TOL)
        rows.append(pair)
        records.append(dict(
            kappa=kappa, gd_rate_theory=gd_rate, gd_rate_measured=pair.rate_measured[0], gd_iterations=iterations[0],
            hb_alpha=hb_alpha * LAMBDA_MAX, hb_beta=hb_beta, hb_rate_theory=hb_rate,
            hb_rate_measured=pair.rate_measured[1], hb_iterations=iterations[1],
            speedup=iterations[0] / iterations[1]))
    headers = {
        "kappa": ("κ", "$\\kappa$", "{:g}"),
        "gd_rate_theory": ("GD rate (κ-1)/(κ+1)", "GD $\\frac{\\kappa-1}{\\kappa+1}$", "{:.6f}"),
        "gd_rate_measured": ("GD rate measured", "GD measured", "{:.6f}"),
        "gd_iterations": (f"GD iterations to {TOL_TEXT}", f"GD iterations to $10^{{{np.log10(TOL):.0f}}}$", "{:d}"),
        "hb_alpha": ("momentum α·λ_max", "momentum $\\alpha^*\\lambda_{max}$", "{:.4f}"),
        "hb_beta": ("momentum β", "momentum $\\beta^*$", "{:.4f}"),
        "hb_rate_theory": ("momentum rate (√κ-1)/(√κ+1)",
                           "momentum $\\frac{\\sqrt\\kappa-1}{\\sqrt\\kappa+1}$", "{:.6f}"),
        "hb_rate_measured": ("momentum rate measured", "momentum measured", "{:.6f}"),
        "hb_iterations": (f"momentum iterations to {TOL_TEXT}", f"momentum iterations to $10^{{{np.log10(TOL):.0f}}}$",
                          "{:d}"),
        "speedup": ("speed-up", "speed-up", "{:.1f}x"),
    }
    return Table(pd.DataFrame(records), headers).write(out, "quadratic_table"), pd.concat(rows)


def lr_drop(out: Path) -> tuple[str, pd.DataFrame]:
    """Both momentum forms through a StepLR drop on stochastic gradients: PyTorch's form (lr outside z) steps
    gamma times shorter at once; the velocity form coasts on the old-lr velocity for about 1 / (1 - beta) steps."""
    p = DROP
    lrs = p["lr"] * p["gamma"] ** (np.arange(p["before"] + p["after"]) >= p["before"])  # StepLR, one drop
    lengths = iterate.lr_drop_step_lengths(study_matrix(KAPPA), lrs, p["beta"], p["noise"], p["chains"], p["seed"])
    offsets = np.arange(len(lrs)) - p["before"]
    labels = {"heavy_ball": "PyTorch / lecture: z ← βz + g, w ← w − αz",
              "velocity": "velocity form: v ← βv − αg, w ← w + v"}
    colors = sns.color_palette(plotting.PALETTE)
    fig, ax = plt.subplots(figsize=(6.8, 3.8))
    relative = {}
    for (name, per_chain), color in zip(lengths.items(), colors):
        level = per_chain[(offsets >= -50) & (offsets < 0)].mean()  # the step length just before the drop
        mean = per_chain.mean(axis=1) / level
        half = 1.96 * per_chain.std(axis=1, ddof=1) / np.sqrt(p["chains"]) / level
        relative[name] = mean
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
    at = [p["before"] + j for j in DROP_OFFSETS]
    frame = pd.DataFrame({"step_after_drop": DROP_OFFSETS, "lr": lrs[at],
                          "heavy_ball_step_ratio": relative["heavy_ball"][at],
                          "velocity_step_ratio": relative["velocity"][at]})
    headers = {"step_after_drop": ("iteration after the drop", "iteration after the drop", "{:d}"),
               "lr": ("lr", "lr", "{:g}"),
               "heavy_ball_step_ratio": ("step / step before, PyTorch form", "PyTorch form", "{:.3f}"),
               "velocity_step_ratio": ("step / step before, velocity form", "velocity form", "{:.3f}")}
    return Table(frame, headers).write(out, "momentum_forms_lr_drop"), frame


def write_readme(out: Path, display_out: str, best: dict[str, float], rates: pd.DataFrame, table_md: str,
                 drop_md: str, drop: pd.DataFrame, meta: dict[str, str]) -> None:
    """README.md of DIR: the figures, the tables and where they came from."""
    gap = (rates.rate_measured / rates.rate_theory - 1).abs()
    first = drop[drop.step_after_drop == 0].iloc[0]
    lmin = LAMBDA_MAX / KAPPA
    text = f"""# Momentum on a quadratic: measured against the closed form

f(w) = ½ wᵀAw with eigenvalues λ_min … λ_max, κ = λ_max/λ_min. Per eigenvalue λ the lecture's two lines
(z ← βz + ∇f(w), w ← w − αz) make a linear recurrence with characteristic polynomial x² − (1 + β − αλ)x + β;
the rate (contraction of the distance to the optimum per iteration) is the largest |root| over the eigenvalues.
Rates below are **measured from the iterates** (least-squares slopes of the log distance of the state
(w_k, w_(k−1)) over iterations [{iterate.RATE_STEPS // 4}, {iterate.RATE_STEPS // 2}] and
[{iterate.RATE_STEPS // 2}, {iterate.RATE_STEPS}], extrapolated so that the k·r^k of a repeated root does
not bias them) and set beside the closed form. Over all {len(rates)} (α, β) pairs evaluated the largest
relative gap is {gap.max():.1e} (median {gap.median():.1e}); every pair is in
[`quadratic_rates.csv`](quadratic_rates.csv).

## The lecture's two pictures

![trajectories](quadratic_trajectories.png)

κ = {KAPPA:g} (λ_min = {lmin:g}, λ_max = {LAMBDA_MAX:g}), 100 iterations from (−10, 1). Gradient descent at
its best step α = 2/(λ_min + λ_max) = {best['gd_alpha']:.4f} zig-zags across the valley at rate
(κ−1)/(κ+1) = {best['gd_rate']:.4f}; momentum at the optimal pair α = (2/(√λ_min + √λ_max))² =
{best['hb_alpha']:.4f}, β = ((√κ−1)/(√κ+1))² = {best['hb_beta']:.4f} converges at (√κ−1)/(√κ+1) =
{best['hb_rate']:.4f}. At that pair both λ_min and λ_max have a repeated root, so the distance falls like
k·r^k, a little above the dashed r^k. The optimal pair does not remove the swing across the steep direction
(its root there is −r): it makes it die out at {best['hb_rate']:.3f} per step instead of {best['gd_rate']:.3f},
while the iterate runs down the valley floor.

## Momentum allows a larger range of step sizes

![rate against alpha](quadratic_rate_vs_alpha.png)

Markers: measured; lines: closed form. Without momentum the iterates diverge beyond α = 2/λ_max; with
momentum β the stable range reaches 2(1 + β)/λ_max (dotted), up to twice as far as β → 1, while the rate
never drops below √β (the product of the two roots is β).

![rate map](quadratic_rate_map.png)

The measured rate over (β, α) with the closed form's contours (dashed), the stability edge and the optimum
(star); the right panel is the relative gap between the two.

## Condition number: (κ−1)/(κ+1) against (√κ−1)/(√κ+1)

{table_md}
Start w_0 ∝ (1, 1) in the eigenbasis; iterations until |w_k − w*| ≤ {TOL_TEXT}·|w_0 − w*|.
Files: [`quadratic_table.csv`](quadratic_table.csv), [`quadratic_table.tex`](quadratic_table.tex).

## The two momentum forms at a StepLR drop

![lr drop](momentum_forms_lr_drop.png)

{drop_md}
PyTorch (and `sgdtricks.optim.HeavyBall`) keep the learning rate outside the momentum: z ← βz + g,
w ← w − αz. The velocity form v ← βv − αg, w ← w + v is the same method at a constant α (v = −αz) but stores
α inside v. At a drop PyTorch's form shortens the step by γ at once (ratio {first.heavy_ball_step_ratio:.3f}
on the first new-lr step); the velocity form still carries the old-lr velocity ({first.velocity_step_ratio:.3f}),
whose share decays like β^k, over about 1/(1 − β) = {1 / (1 - DROP['beta']):.0f} steps: the two forms are identical
before the drop and differ only in how fast the step follows the new lr. Noisy gradients
A w + ξ, ξ ~ N(0, I), on the κ = {KAPPA:g} quadratic from w_0 = 0; the same ξ for both forms.
Files: [`momentum_forms_lr_drop.csv`](momentum_forms_lr_drop.csv), [`momentum_forms_lr_drop.tex`](momentum_forms_lr_drop.tex).

## Provenance

- command: `{COMMAND.format(out=display_out)}` (or `make quadratic`), {meta['seconds']} s on {meta['device']}
- commit: {meta['commit']}, written {meta['date']}
- versions: {meta['versions']}
"""
    (out / "README.md").write_text(text)


def build(out: Path, display_out: str) -> None:
    """Every figure, table and the CSV into `out` (an empty folder)."""
    t0 = time.perf_counter()
    meta = {"commit": provenance.git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": provenance.device_name(torch.device("cpu")),
            "versions": ", ".join(f"{k} {v}" for k, v in {**provenance.versions(), "numpy": np.__version__,
                                                           "matplotlib": matplotlib.__version__}.items())}
    plotting.set_paper_style()
    best = figure_trajectories(out)
    curve_rows = figure_rate_vs_alpha(out)
    map_rows = figure_rate_map(out)
    table_md, table_rows = condition_table(out)
    drop_md, drop = lr_drop(out)
    keys = ["lambda_min", "lambda_max", "alpha", "beta"]
    rates = pd.concat([curve_rows, map_rows, table_rows]).drop_duplicates(keys).sort_values(keys)
    rates.to_csv(out / "quadratic_rates.csv", index=False)
    meta["seconds"] = f"{time.perf_counter() - t0:.1f}"
    write_readme(out, display_out, best, rates, table_md, drop_md, drop, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.quadratic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for figures, tables and CSV")
    args = parser.parse_args(argv)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    except OSError as exc:
        print(f"error: --out {out} cannot be written ({exc.strerror}); choose a writable folder", file=sys.stderr)
        sys.exit(2)
    try:
        build(staging, str(out))
        written = sorted(staging.iterdir())
        for path in written:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"quadratic study: {len(written)} files written to {out} (see {out / 'README.md'})")


if __name__ == "__main__":
    main()
