"""The stability study: why momentum allows larger steps, measured on a network (sgdtricks.stability).

Three kinds of runs, told apart by what they measure (`trainer.sharpness`):
- full: full-batch gradient descent and heavy ball, the top Hessian eigenvalue every k steps, against the
  quadratic's edge 2(1 + beta)/lr (Cohen et al. 2021);
- batch: minibatch SGD, the batch sharpness, against 2(1 - beta)/lr and 2(1 + beta)/lr (Andreyev et al. 2026);
- none: the stability map, final training loss over lr x beta, against the boundary 2(1 + beta)/lambda_0.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from sgdtricks.plotting import PALETTE, SEQUENTIAL, save_figure
from sgdtricks.reports.sections import Section
from sgdtricks.reports.tables import Table

LR, BETA, BATCH, KIND = "optimizer.lr", "optimizer.momentum", "trainer.batch", "trainer.sharpness"
VARIES = [LR, BETA, BATCH]  # the config columns the runs of one stability study may differ in, besides the seed
MEASURED = {"full": "sharpness", "batch": "batch_sharpness"}  # the metrics column each kind measures
AGREEMENT = 0.15  # the criterion: a full-batch row agrees when within 15% of 2(1+beta)/lr
QUADRATIC_MAP = "../quadratic/quadratic_rate_map.png"  # the quadratic's rate map, from a profile's page


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
            "optimizer": optimizer_name(beta, batch), "beta": beta, "lr": lr, "batch": str(batch), "seed": int(first["seed"]),
            "sharpness_measured": measured, "sharpness_predicted": predicted(beta, lr),
            "small_batch_predicted": 2 * (1 - beta) / lr if str(batch) != "full" else math.nan,
            "measured_over_predicted": measured / predicted(beta, lr),
            "sharpness_at_init": float(run.loc[run["step"] == 0, MEASURED[first[KIND]]].iloc[0]),
            "steps": int(run["step"].max()), "status": first["status"]})
    numbers = pd.DataFrame(rows)
    if numbers.empty:
        return numbers
    size = numbers["batch"].map(lambda b: 0 if b == "full" else int(b))  # full batch first
    return numbers.iloc[np.lexsort((numbers["seed"], numbers["lr"], numbers["beta"], size))].reset_index(drop=True)


def stability_table(numbers: pd.DataFrame) -> Table:
    display = pd.DataFrame({
        "optimizer": numbers["optimizer"], "β": numbers["beta"].map("{:g}".format),
        "lr": numbers["lr"].map("{:g}".format), "batch": numbers["batch"], "seed": numbers["seed"].astype(str),
        "sharpness at init": numbers["sharpness_at_init"].map("{:.1f}".format),
        "measured (median, 2nd half)": numbers["sharpness_measured"].map("{:.1f}".format),
        "2(1+β)/lr": numbers["sharpness_predicted"].map("{:.1f}".format),
        "measured / predicted": numbers["measured_over_predicted"].map("{:.2f}".format),
        "2(1−β)/lr (minibatch)": numbers["small_batch_predicted"].map(lambda v: f"{v:.1f}" if math.isfinite(v) else "—"),
    })
    return Table("stability", "Sharpness (full batch: top Hessian eigenvalue; minibatch: batch sharpness), "
                 "median over the second half of each run, against the quadratic's edge 2(1+β)/lr.", numbers, display)


def sharpness_figure(frame: pd.DataFrame) -> plt.Figure:
    """Sharpness per step, one panel per kind; dashed at 2(1+β)/lr (and dotted at 2(1−β)/lr for minibatches)."""
    kinds = [k for k in MEASURED if (frame[KIND] == k).any()]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.2 * len(kinds), 4.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        runs = frame[frame[KIND] == kind]
        keys = runs[[BATCH, BETA, LR]].drop_duplicates()
        keys = keys.iloc[np.lexsort((keys[LR], keys[BETA], keys[BATCH].map(lambda b: 0 if str(b) == "full" else int(b))))]
        colors = sns.color_palette(PALETTE, len(keys))
        top = 0.0
        for (batch, beta, lr), color in zip(keys.itertuples(index=False), colors):
            cell = runs[(runs[BATCH] == batch) & (runs[BETA] == beta) & (runs[LR] == lr)]
            label = f"β = {beta:g}, lr {lr:g}" + ("" if kind == "full" else f", batch {batch}")
            for i, (_, run) in enumerate(cell.groupby("run")):  # one line per seed
                ax.plot(run["step"], run[MEASURED[kind]], color=color, lw=1.2, alpha=0.85, label=None if i else label)
            ax.axhline(predicted(beta, lr), color=color, ls="--", lw=0.9)
            if kind == "batch" and beta > 0:
                ax.axhline(2 * (1 - beta) / lr, color=color, ls=":", lw=0.9)
            top = max(top, predicted(beta, lr), cell[MEASURED[kind]].max())
        ax.plot([], [], "k--", lw=0.9, label="2(1+β)/lr")
        if kind == "batch":
            ax.plot([], [], "k:", lw=0.9, label="2(1−β)/lr")
        ax.set(xlabel="step", ylim=(0, 1.15 * top),
               ylabel="top Hessian eigenvalue" if kind == "full" else "batch sharpness (mean gᵀHg/|g|²)",
               title="full-batch: sharpness" if kind == "full" else "minibatch SGD: batch sharpness")
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    return fig


def lambda_at_init(frame: pd.DataFrame) -> float:
    """The sharpness at initialisation, lambda_0: the full-batch runs' first rows, of the map's seeds where the map
    has runs (a seed fixes the initial weights, and every run of a seed starts from them on the same images)."""
    first = frame[(frame[KIND] == "full") & (frame["step"] == 0)]
    map_seeds = set(frame.loc[frame[KIND] == "none", "seed"])
    if map_seeds and first["seed"].isin(map_seeds).any():
        first = first[first["seed"].isin(map_seeds)]
    return float(first["sharpness"].median()) if len(first) else math.nan


def map_numbers(frame: pd.DataFrame, lambda0: float) -> pd.DataFrame:
    """Per map cell (beta, lr): the median final training loss of its runs that did not diverge, how many
    runs it has and how many diverged (a cell counts as diverged when any seed did), lr in units of 1/lambda_0."""
    runs = frame[frame[KIND] == "none"]
    last = runs.sort_values("step").groupby("run").tail(1)
    per_run = pd.DataFrame({"beta": last[BETA].astype(float), "lr": last[LR].astype(float),
                            "loss": last["train_loss"].astype(float), "diverged": last["status"] == "diverged"})
    numbers = per_run.groupby(["beta", "lr"]).agg(
        final_train_loss=("loss", lambda v: v[~per_run.loc[v.index, "diverged"]].median()),
        runs=("loss", "size"), diverged_runs=("diverged", "sum")).reset_index()
    numbers["status"] = np.where(numbers["diverged_runs"] > 0, "diverged", "finished")
    numbers["lr_times_lambda0"] = numbers["lr"] * lambda0
    return numbers


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
           title="Stability map of the network (full batch)")
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return fig


def _edges(values: list[float]) -> np.ndarray:
    """Cell edges of a log-spaced axis: geometric midpoints, and one half-step beyond each end."""
    logs = np.log(values)
    mids = (logs[1:] + logs[:-1]) / 2
    first, last = logs[0] - (mids[0] - logs[0]), logs[-1] + (logs[-1] - mids[-1])
    return np.exp(np.r_[first, mids, last])


def full_batch_findings(numbers: pd.DataFrame) -> list[str]:
    """Where the full-batch sharpness settled against 2(1+beta)/lr, and what momentum changed at one lr."""
    full = numbers[numbers["batch"] == "full"]
    if full.empty:
        return []
    off = (full["measured_over_predicted"] - 1).abs()
    rows = "; ".join(f"{r.optimizer} β = {r.beta:g} at lr {r.lr:g}: {r.sharpness_measured:.1f} against "
                     f"{r.sharpness_predicted:.1f} ({100 * (r.measured_over_predicted - 1):+.0f}%)"
                     for r in full.itertuples())
    found = [f"Full batch, sharpness over the second half of each run against the quadratic's edge 2(1+β)/lr: "
             f"{rows}. {int((off <= AGREEMENT).sum())} of {len(full)} runs are within {100 * AGREEMENT:.0f}%"
             + ("." if (off <= AGREEMENT).all() else
                f"; the others sit {100 * off[off > AGREEMENT].min():.0f}-{100 * off[off > AGREEMENT].max():.0f}% "
                f"away: the edge is a level the sharpness oscillates about (it overshoots, the loss spikes, "
                f"the network flattens), not a ceiling, so a median over one run reads it only to within "
                f"those swings; a run that has not reached the edge by its second half stays below it.")]
    pairs = []
    for lr, at_lr in full.groupby("lr"):
        plain = at_lr.loc[at_lr["beta"] == 0, "sharpness_measured"]
        pairs += [(r.beta, lr, r.sharpness_measured / plain.iloc[0]) for r in at_lr[at_lr["beta"] > 0].itertuples()
                  if len(plain)]
    if pairs:
        found.append("At the same lr, heavy ball trained at " + ", ".join(
            f"{ratio:.2f}x gradient descent's sharpness (β = {beta:g}, lr {lr:g}; the quadratic: {1 + beta:g}x)"
            for beta, lr, ratio in pairs) + ". That is the lecture's larger range of step sizes seen from the "
            "other side: with momentum a step size stays stable on a landscape up to 1+β times sharper.")
    return found


def catapults(frame: pd.DataFrame) -> pd.DataFrame:
    """Full-batch runs that started sharper than their edge 2(1+beta)/lr, with their sharpness at the first
    measurement after the start: a quadratic in that state diverges, a network can flatten itself."""
    rows = []
    for _, run in frame[frame[KIND] == "full"].groupby("run", sort=False):
        beta, lr = float(run[BETA].iloc[0]), float(run[LR].iloc[0])
        ordered = run.sort_values("step")
        if len(ordered) > 1 and ordered["sharpness"].iloc[0] > predicted(beta, lr):
            rows.append({"beta": beta, "lr": lr, "at_init": ordered["sharpness"].iloc[0],
                         "step": int(ordered["step"].iloc[1]), "after": ordered["sharpness"].iloc[1],
                         "status": run["status"].iloc[0]})
    return pd.DataFrame(rows)


def map_findings(boundary: pd.DataFrame, lambda0: float, flattened: pd.DataFrame) -> list[str]:
    """Where the network's largest stable lr fell against 2(1+beta)/lambda_0, and how it moved with beta."""
    if boundary.empty or not math.isfinite(lambda0):
        return []
    parts = [f"β = {r.beta:g}: {r.largest_stable_lr:.3g} ({r.largest_stable_lr * lambda0 / (2 * (1 + r.beta)):.1f}x "
             f"2(1+β)/λ₀ = {2 * (1 + r.beta) / lambda0:.3g})" for r in boundary.itertuples()]
    base = boundary.loc[boundary["beta"] == 0, "largest_stable_lr"]
    moved = ""
    if len(base) and math.isfinite(base.iloc[0]):
        moved = " Relative to β = 0 the largest stable lr changed by " + ", ".join(
            f"{r.largest_stable_lr / base.iloc[0]:.2f}x at β = {r.beta:g} (the quadratic: {1 + r.beta:g}x)"
            for r in boundary.itertuples() if r.beta > 0) + "."
    how = ""
    if len(flattened):
        how = " How a network survives a step size past its edge: " + "; ".join(
            f"β = {r.beta:g} at lr {r.lr:g} started at sharpness {r.at_init:.1f} > 2(1+β)/lr = "
            f"{predicted(r.beta, r.lr):.1f} and was at {r.after:.1f} by step {r.step} ({r.status})"
            for r in flattened.itertuples()) + ": it lowers its own sharpness, which a quadratic cannot."
    return [f"Stability map (λ₀ = {lambda0:.1f}, the sharpness at initialisation): the largest lr that did not "
            f"diverge, per β: {'; '.join(parts)}.{moved}{how} The grid's lr spacing (x√2) bounds how precisely "
            f"each boundary is located."]


def minibatch_findings(numbers: pd.DataFrame) -> list[str]:
    mini = numbers[numbers["batch"] != "full"]
    if mini.empty:
        return []
    rows = "; ".join(f"β = {r.beta:g}, batch {r.batch}, lr {r.lr:g}: {r.sharpness_measured:.1f} (2(1−β)/lr = "
                     f"{r.small_batch_predicted:.1f}, 2(1+β)/lr = {r.sharpness_predicted:.1f})" for r in mini.itertuples())
    found = [f"Minibatch SGD (exploratory), batch sharpness over the second half: {rows}. Andreyev et al. predict "
             f"2(1−β)/lr for small batches and 2(1+β)/lr for large ones, once training has reached that edge."]
    for (batch, lr), runs in mini.groupby(["batch", "lr"], sort=False):
        plain, heavy = runs[runs["beta"] == 0], runs[runs["beta"] > 0]
        if len(plain):
            found += [f"Batch {batch}, lr {lr:g}: momentum β = {r.beta:g} held the batch sharpness at "
                      f"{r.sharpness_measured / plain['sharpness_measured'].iloc[0]:.2f}x plain SGD's "
                      f"(predicted: {1 - r.beta:.2f}x for small batches, {1 + r.beta:.2f}x for large ones)."
                      for r in heavy.itertuples()]
    return found


def section(frame: pd.DataFrame, figures: Path) -> Section:
    """The stability study's part of the page, from its runs' rows (config columns + per-step metrics)."""
    numbers = table_numbers(frame)
    lambda0 = lambda_at_init(frame)
    seeds = frame["seed"].nunique()
    sec = Section("Why momentum allows larger steps: the edge of stability", (
        "The lecture: momentum \"allows a larger range of step-sizes to be used, and creates its own "
        "oscillations. What is going on?\" On a quadratic, heavy ball is stable while α·λ_max < 2(1+β) "
        f"([the quadratic study]({QUADRATIC_MAP})). A network's λ_max (its sharpness) is not fixed: under full-batch "
        "gradient descent it rises until it reaches 2/lr and then hovers there, the loss oscillating but still "
        "falling (Cohen et al., ICLR 2021), and with heavy ball the level is 2(1+β)/lr. Measured here on a tanh "
        "MLP with square loss, trained on a fixed set of training images, "
        + ("from one initialisation (one seed: no intervals). " if seeds == 1 else
           f"from {seeds} initialisations (seeds; the table has a row per seed). ")
        + "Planned comparisons: the full-batch sharpness against 2(1+β)/lr, and the map's boundary "
        "against 2(1+β)/λ₀; the minibatch runs are exploratory."))
    if len(numbers):
        save_figure(sharpness_figure(frame), figures, "stability_sharpness")
        sec.figures.append(("stability_sharpness", "Sharpness per step; dashed: 2(1+β)/lr, the quadratic's edge "
                                                   "(dotted: 2(1−β)/lr, the small-batch edge)."))
        sec.tables.append(stability_table(numbers))
    boundary = pd.DataFrame()
    if (frame[KIND] == "none").any():
        grid = map_numbers(frame, lambda0)
        boundary = network_boundary(grid)
        save_figure(map_figure(grid, lambda0), figures, "stability_map")
        sec.figures.append(("stability_map", "Final training loss over lr and β, diverged runs marked x; red: "
                                             "the quadratic's boundary 2(1+β)/λ₀. The quadratic's own map: "
                                             f"[{QUADRATIC_MAP}]({QUADRATIC_MAP})."))
    sec.findings += (full_batch_findings(numbers) + map_findings(boundary, lambda0, catapults(frame))
                     + minibatch_findings(numbers))
    return sec
