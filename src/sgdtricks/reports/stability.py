"""The stability study: why momentum allows larger steps, measured on a network (sgdtricks.stability).

Three kinds of runs, told apart by what they measure (`trainer.sharpness`):
- full: full-batch gradient descent and heavy ball, the top Hessian eigenvalue every k steps, against the
  quadratic's edge 2(1 + beta)/lr (Cohen et al. 2021);
- batch: minibatch SGD, the batch sharpness, against 2(1 - beta)/lr and 2(1 + beta)/lr (Andreyev et al. 2026);
- none: the stability map, final training loss over lr x beta, against the boundary 2(1 + beta)/lambda_0.
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgdtricks.plotting import PALETTE, SEQUENTIAL
from sgdtricks.reports.tables import Table

LR, BETA, BATCH, KIND = "optimizer.lr", "optimizer.momentum", "trainer.batch", "trainer.sharpness"
MEASURED = {"full": "sharpness", "batch": "batch_sharpness"}  # the metrics column each kind measures


def predicted(beta: float, lr: float) -> float:
    """The quadratic's edge 2(1 + beta)/lr: heavy ball is stable while the sharpness stays below it."""
    return 2 * (1 + beta) / lr


def optimizer_name(beta: float, batch: object) -> str:
    full = str(batch) == "full"
    if beta == 0:
        return "gradient descent" if full else "SGD"
    return "heavy ball" if full else "SGD + momentum"


def second_half_median(run: pd.DataFrame, column: str) -> float:
    """The median of `column` over the second half of the run's steps: where it has settled (or not)."""
    steps = run["step"]
    return float(run.loc[steps >= steps.max() / 2, column].median())


def table_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run that measured sharpness: the rows of tables/stability.csv."""
    rows = []
    for _, run in frame[frame[KIND].isin(list(MEASURED))].groupby("run", sort=False):
        first = run.iloc[0]
        beta, lr, batch = float(first[BETA]), float(first[LR]), first[BATCH]
        measured = second_half_median(run, MEASURED[first[KIND]])
        rows.append({
            "optimizer": optimizer_name(beta, batch), "beta": beta, "lr": lr, "batch": str(batch),
            "sharpness_measured": measured, "sharpness_predicted": predicted(beta, lr),
            "small_batch_predicted": 2 * (1 - beta) / lr, "measured_over_predicted": measured / predicted(beta, lr),
            "sharpness_at_init": float(run.loc[run["step"] == 0, MEASURED[first[KIND]]].iloc[0]),
            "steps": int(run["step"].max()), "status": first["status"]})
    numbers = pd.DataFrame(rows)
    if numbers.empty:
        return numbers
    size = numbers["batch"].map(lambda b: 0 if b == "full" else int(b))  # full batch first
    return numbers.iloc[np.lexsort((numbers["lr"], numbers["beta"], size))].reset_index(drop=True)


def stability_table(numbers: pd.DataFrame) -> Table:
    display = pd.DataFrame({
        "optimizer": numbers["optimizer"], "β": numbers["beta"].map("{:g}".format),
        "lr": numbers["lr"].map("{:g}".format), "batch": numbers["batch"],
        "sharpness at init": numbers["sharpness_at_init"].map("{:.1f}".format),
        "measured (median, 2nd half)": numbers["sharpness_measured"].map("{:.1f}".format),
        "2(1+β)/lr": numbers["sharpness_predicted"].map("{:.1f}".format),
        "measured / predicted": numbers["measured_over_predicted"].map("{:.2f}".format),
        "2(1−β)/lr": numbers["small_batch_predicted"].map("{:.1f}".format),
    })
    return Table("stability", "Sharpness (full batch: top Hessian eigenvalue; minibatch: batch sharpness), "
                 "median over the second half of each run, against the quadratic's edge 2(1+β)/lr.", numbers, display)


def sharpness_figure(frame: pd.DataFrame) -> plt.Figure:
    """Sharpness per step, one panel per kind; dashed at 2(1+β)/lr (and dotted at 2(1−β)/lr for minibatches)."""
    kinds = [k for k in MEASURED if (frame[KIND] == k).any()]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.2 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        runs = frame[frame[KIND] == kind]
        keys = runs[[BATCH, BETA, LR]].drop_duplicates().sort_values([BATCH, BETA, LR], key=lambda c: c.astype(str))
        colors = sns.color_palette(PALETTE, len(keys))
        top = 0.0
        for (batch, beta, lr), color in zip(keys.itertuples(index=False), colors):
            run = runs[(runs[BATCH] == batch) & (runs[BETA] == beta) & (runs[LR] == lr)]
            label = f"β = {beta:g}, lr {lr:g}" + ("" if kind == "full" else f", batch {batch}")
            ax.plot(run["step"], run[MEASURED[kind]], color=color, lw=1.2, label=label)
            ax.axhline(predicted(beta, lr), color=color, ls="--", lw=0.9)
            if kind == "batch" and beta > 0:
                ax.axhline(2 * (1 - beta) / lr, color=color, ls=":", lw=0.9)
            top = max(top, predicted(beta, lr), run[MEASURED[kind]].max())
        ax.plot([], [], "k--", lw=0.9, label="2(1+β)/lr")
        if kind == "batch":
            ax.plot([], [], "k:", lw=0.9, label="2(1−β)/lr")
        ax.set(xlabel="step", ylim=(0, 1.15 * top),
               ylabel="top Hessian eigenvalue" if kind == "full" else "batch sharpness (mean gᵀHg/|g|²)",
               title="full-batch: sharpness" if kind == "full" else "minibatch SGD: batch sharpness")
        ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    return fig


def lambda_at_init(frame: pd.DataFrame) -> float:
    """The sharpness at initialisation, from the full-batch runs' first rows (they all start from the same
    weights: one model seed, the same images), so their spread is only the eigensolver's tolerance."""
    first = frame[(frame[KIND] == "full") & (frame["step"] == 0)]["sharpness"]
    return float(first.median()) if len(first) else math.nan


def map_numbers(frame: pd.DataFrame, lambda0: float) -> pd.DataFrame:
    """Per map run (beta, lr): its final training loss and status, and lr in units of 1/lambda_0."""
    runs = frame[frame[KIND] == "none"]
    last = runs.sort_values("step").groupby("run").tail(1)
    numbers = pd.DataFrame({"beta": last[BETA].astype(float), "lr": last[LR].astype(float),
                            "final_train_loss": last["train_loss"].astype(float), "status": last["status"]})
    numbers["lr_times_lambda0"] = numbers["lr"] * lambda0
    return numbers.sort_values(["beta", "lr"]).reset_index(drop=True)


def network_boundary(numbers: pd.DataFrame) -> pd.DataFrame:
    """Per beta: the largest lr that did not diverge and the smallest that did (the measured boundary)."""
    rows = []
    for beta, runs in numbers.groupby("beta"):
        stable, diverged = runs[runs["status"] != "diverged"]["lr"], runs[runs["status"] == "diverged"]["lr"]
        rows.append({"beta": beta, "largest_stable_lr": stable.max() if len(stable) else math.nan,
                     "smallest_diverged_lr": diverged.min() if len(diverged) else math.nan})
    return pd.DataFrame(rows)


def map_figure(numbers: pd.DataFrame, lambda0: float) -> plt.Figure:
    """Final training loss over (beta, lr), diverged runs marked x; the quadratic's edge 2(1+beta)/lambda_0."""
    betas, lrs = sorted(numbers["beta"].unique()), sorted(numbers["lr"].unique())
    grid = numbers.pivot(index="lr", columns="beta", values="final_train_loss").reindex(index=lrs, columns=betas)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    positions = np.arange(len(betas))
    cmap = matplotlib.colormaps[SEQUENTIAL]
    mesh = ax.pcolormesh(np.r_[positions - 0.5, positions[-1] + 0.5], _edges(lrs), grid.to_numpy(dtype=float),
                         cmap=cmap, norm=matplotlib.colors.LogNorm(), shading="flat")
    fig.colorbar(mesh, ax=ax, label="final training loss (log)")
    diverged = numbers[numbers["status"] == "diverged"]
    ax.plot([betas.index(b) for b in diverged["beta"]], diverged["lr"], "x", color="k", ms=8, mew=1.6,
            ls="none", label="diverged")
    ax.plot(positions, [2 * (1 + b) / lambda0 for b in betas], "o-", color="tab:red", lw=1.6,
            label=f"quadratic edge 2(1+β)/λ₀, λ₀ = {lambda0:.1f}")
    ax.set_yscale("log")
    ax.set(xticks=positions, xticklabels=[f"{b:g}" for b in betas], xlabel="momentum β", ylabel="step size lr",
           title="Stability map of the network (full batch, from one initialisation)")
    ax.legend(fontsize=7.5, loc="lower right")
    return fig


def _edges(values: list[float]) -> np.ndarray:
    """Cell edges of a log-spaced axis: geometric midpoints, and one half-step beyond each end."""
    logs = np.log(values)
    mids = (logs[1:] + logs[:-1]) / 2
    first, last = logs[0] - (mids[0] - logs[0]), logs[-1] + (logs[-1] - mids[-1])
    return np.exp(np.r_[first, mids, last])
