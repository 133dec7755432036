"""The regime of the decay study: has the constant-lr run levelled off on validation before StepLR's first drop?

In the lecture, ResNet-18 at lr 0.05 has levelled off by epoch 30 of 100, so StepLR's drop at 30 gives the well-known
jump. Here the same question is asked of this profile's runs: the constant-lr cell with momentum, its validation
loss and accuracy per epoch, StepLR's drop epochs and the plateau runs' drops marked, and the validation accuracy
it still gained after the first drop epoch, paired by seed.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sgdtricks.plotting import save_figure
from sgdtricks.reports.figures import curves, legend, palette, seeds_note
from sgdtricks.reports.sections import describe, sign
from sgdtricks.reports.stats import detectable_difference, t_interval
from sgdtricks.reports.tables import Table, interval

WINDOW = 3  # epochs averaged on each side of the comparison: one epoch's val accuracy on ~500 images is noisy


def first_drops(frame: pd.DataFrame, base_lr: float) -> list[int]:
    """Per plateau run, the last epoch at base_lr (its lr drops for the next one); runs that never dropped: none."""
    drops = []
    for _, run in frame[frame["scheduler.name"] == "plateau"].groupby("run"):
        lowered = run.loc[run["lr"] < base_lr, "epoch"]
        if len(lowered):
            drops.append(int(lowered.min()) - 1)
    return sorted(drops)


def gain_after(constant: pd.DataFrame, drop: int) -> dict[str, float]:
    """Validation accuracy the constant-lr runs gained from the WINDOW epochs up to `drop` to the last WINDOW epochs,
    as paired_difference returns it (mean, lo, hi, n, diverged, detectable), over seeds."""
    gains, diverged = [], 0
    for _, run in constant.groupby("run"):
        if (run["status"] == "diverged").any():
            diverged += 1
            continue
        acc = run.sort_values("epoch").set_index("epoch")["val_acc"]
        before = acc.loc[drop - WINDOW + 1:drop].mean()
        gains.append(acc.iloc[-WINDOW:].mean() - before)
    values = np.asarray(gains, dtype=float)
    mean, half = t_interval(values)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(values), "diverged": diverged,
            "detectable": detectable_difference(values)}


def regime(frame: pd.DataFrame, figures_dir, momentum: float) -> tuple[str, Table, list[str]] | None:
    """The regime figure, its table and sentences, for the decay study's runs `frame` at `momentum`; None without
    a constant-lr cell, or without a StepLR cell whose lr drops within the run."""
    at = frame[frame["optimizer.momentum"] == momentum]
    constant, step = at[at["scheduler.name"] == "constant"], at[at["scheduler.name"] == "step"]
    if constant.empty or step.empty:
        return None
    base_lr = float(frame["base_lr"].iloc[0])
    epochs = int(constant["epoch"].max())
    step_size = int(step["scheduler.step_size"].iloc[0])
    step_drops = list(range(step_size, epochs, step_size))
    if not step_drops:
        return None
    plateau_drops = first_drops(at, base_lr)
    patience = int(at.loc[at["scheduler.name"] == "plateau", "scheduler.patience"].iloc[0]) if plateau_drops else None

    shown = constant.assign(label=f"constant lr {base_lr:g}, β = {momentum:g}")
    colors = palette(sorted(set(shown["label"])))
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.2), layout="constrained", sharex=True)
    for ax, metric in zip(axes, ("val_loss", "val_acc")):
        curves(ax, shown, metric, colors)
        for i, drop in enumerate(step_drops):
            ax.axvline(drop, color="0.2", linestyle="--", linewidth=1,
                       label="StepLR drops (after the epoch)" if i == 0 else None)
        for i, drop in enumerate(plateau_drops):
            ax.axvline(drop, color="0.55", linestyle=":", linewidth=1,
                       label=f"a plateau run's first drop (patience {patience})" if i == 0 else None)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"constant lr at the base lr: {seeds_note(shown)}", fontsize=10)
    legend(fig, colors, "", diverged=bool((shown["status"] == "diverged").any()))
    name = f"regime_m{momentum:g}"
    save_figure(fig, figures_dir, name)

    first = step_drops[0]
    start = max(1, first - WINDOW + 1)
    gain = gain_after(constant, first)
    mean_curve = constant.groupby("epoch")["val_acc"].mean()
    numbers = pd.DataFrame([{"momentum": momentum, "base_lr": base_lr, "epochs": epochs, "step_size": step_size,
                             "first_step_drop": first, "plateau_patience": patience,
                             "plateau_first_drops": " ".join(map(str, plateau_drops)),
                             "val_acc_at_drop": float(mean_curve.loc[start:first].mean()),
                             "val_acc_last": float(mean_curve.iloc[-WINDOW:].mean()),
                             "best_val_loss_epoch": int(constant.groupby("epoch")["val_loss"].mean().idxmin()),
                             **{f"gain_{k}": v for k, v in gain.items()}}])
    row = numbers.iloc[0]
    display = pd.DataFrame({
        "cell": [f"constant, β = {momentum:g}"],
        f"val acc, epochs {start}-{first} (%)": [f"{100 * row['val_acc_at_drop']:.1f}"],
        f"val acc, last {WINDOW} epochs (%)": [f"{100 * row['val_acc_last']:.1f}"],
        "gain after the drop epoch (pp), 95% CI": [interval(gain["mean"], gain["lo"], gain["hi"])],
        "lowest mean val loss at epoch": [str(row["best_val_loss_epoch"])],
        "seeds": [gain["n"]],
    })
    table = Table(f"regime_m{momentum:g}", f"The constant-lr run at the base lr {base_lr:g}, β = {momentum:g}: validation "
                  f"accuracy (mean over seeds of the mean over {WINDOW} epochs) up to StepLR's first drop and at the "
                  f"end; the gain in between paired by seed.", numbers, display)
    levelled = sign(gain)
    verdict = {1: "is still improving there, so StepLR's drop comes before the constant run has levelled off: "
                  "the lecture's regime is not reached in this profile's budget",
               0: "has levelled off by then (the gain after it is not resolved), the lecture's regime",
               -1: "has levelled off by then and lost accuracy afterwards, the lecture's regime",
               None: "cannot be judged: too few seeds finished"}[levelled]
    sentences = [f"The regime: StepLR drops after epoch {first} of {epochs}; the constant-lr run at {base_lr:g} with "
                 f"momentum {momentum:g} {verdict}. Its validation accuracy gained {describe(gain)} from epochs "
                 f"{start}-{first} to the last {WINDOW} epochs (in the lecture ResNet-18 at 0.05 has "
                 f"levelled off by epoch 30 of 100)."]
    if plateau_drops:
        sentences.append(f"ReduceLROnPlateau (patience {patience}) first dropped the lr after epoch "
                         f"{', '.join(map(str, plateau_drops))} in its {len(plateau_drops)} runs with momentum {momentum:g}"
                         + (f"; the other {at[at['scheduler.name'] == 'plateau']['run'].nunique() - len(plateau_drops)} "
                            f"never dropped" if at[at['scheduler.name'] == 'plateau']['run'].nunique() > len(plateau_drops)
                            else "") + ".")
    if not math.isfinite(gain["mean"]):
        sentences = [f"The regime: no constant-lr run with momentum {momentum:g} finished; nothing to judge."]
    return name, table, sentences
