"""The decay study: constant, plateau (scheme 1), step (scheme 2) and cosine, each with the momenta its profile runs
(full: 0 and 0.9; cpu: 0.9, the lecture's setting)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from sgdtricks.plotting import save_figure
from sgdtricks.reports.figures import LABELS, curves, dashes, legend, log_axis, palette, seeds_note
from sgdtricks.reports.regime import regime
from sgdtricks.reports.sections import Comparison, Section, against_lecture, cell_results, describe, differences
from sgdtricks.reports.stats import run_summaries

CELL = ["scheduler.name", "optimizer.momentum"]
VARIES = ["scheduler.", "optimizer.momentum"]  # the config columns its runs may differ in: a scheduler's arguments too
SCHEDULERS = ["constant", "plateau", "step", "cosine"]  # the lecture's two schemes against constant; cosine: modern
SCHEMES = {"plateau": "ReduceLROnPlateau (scheme 1)", "step": "StepLR (scheme 2)", "cosine": "Cosine annealing"}
LECTURE_SCHEMES = ("plateau", "step")


def section(frame: pd.DataFrame, target: float, figures: Path) -> Section:
    base_lr = float(frame["base_lr"].iloc[0])
    schedulers = [s for s in SCHEDULERS if s in set(frame["scheduler.name"])]
    momenta = sorted(frame["optimizer.momentum"].unique())
    frame = frame.assign(label=frame["scheduler.name"])
    colors = palette(schedulers)
    note = seeds_note(frame, CELL)
    sec = Section("Learning-rate decay", (
        f"From lr {base_lr:g}: the lecture's two schemes, ReduceLROnPlateau on the validation loss and StepLR, "
        f"against a constant lr, with momentum {' and '.join(f'{m:g}' for m in momenta)}; "
        + ("cosine annealing as a modern reference." if "cosine" in schedulers else
           "cosine annealing, a modern reference, is not in this profile's grid (its time budget).")))

    fig, axes = plt.subplots(1, len(momenta), figsize=(3.4 * len(momenta), 3.0), layout="constrained",
                             sharey=True, squeeze=False)
    for ax, momentum in zip(axes[0], momenta):
        sns.lineplot(frame[frame["optimizer.momentum"] == momentum], x="epoch", y="lr", hue="label",
                     hue_order=schedulers, palette=colors, style="label", style_order=schedulers,
                     dashes=dashes(colors), units="run", estimator=None, ax=ax, legend=False, alpha=0.8,
                     drawstyle="steps-post")
        log_axis(ax.yaxis)
        ax.set(xlabel="epoch", ylabel=LABELS["lr"], title=f"β = {momentum:g}")
    fig.suptitle("learning rate in force during each epoch (every run)", fontsize=10)
    legend(fig, colors, "", diverged=False)
    save_figure(fig, figures, "decay_lr")
    sec.figures.append(("decay_lr", "The lr each scheduler gave during each epoch (log axis), every run drawn: "
                                    "plateau's drops depend on each run's validation loss."))

    fig, axes = plt.subplots(2, len(momenta), figsize=(3.4 * len(momenta), 5.6), layout="constrained",
                             sharex=True, squeeze=False)
    for column, momentum in enumerate(momenta):
        for row, metric in enumerate(("val_loss", "val_acc")):
            curves(axes[row][column], frame[frame["optimizer.momentum"] == momentum], metric, colors)
            axes[row][column].set_title(f"β = {momentum:g}" if row == 0 else "")
    fig.suptitle(f"lr decay from {base_lr:g}: {note}", fontsize=10)
    legend(fig, colors, "", diverged=bool((frame["status"] == "diverged").any()))
    save_figure(fig, figures, "decay")
    sec.figures.append(("decay", "Validation loss and accuracy per epoch for each scheduler, "
                        + (f"one column per momentum ({', '.join(f'{m:g}' for m in momenta)})." if len(momenta) > 1
                           else f"momentum {momenta[0]:g}.")))
    measured = regime(frame, figures, momenta[-1])
    if measured is not None:
        name, table, sentences = measured
        sec.figures.insert(0, (name, f"The regime: validation loss and accuracy per epoch of the constant-lr runs at "
                                     f"lr {base_lr:g} with momentum {momenta[-1]:g}; dashed, StepLR's drops; dotted, "
                                     f"each plateau run's first drop."))
        sec.tables.append(table)
        sec.findings += sentences

    runs = run_summaries(frame, target)
    runs["label"] = [f"{s}, β = {m:g}" for s, m in zip(runs["scheduler.name"], runs["optimizer.momentum"])]
    order = [f"{s}, β = {m:g}" for s in schedulers for m in momenta]
    sec.tables.append(cell_results(runs, CELL, order, "scheduler, momentum", target, "decay",
                                   "LR decay: per scheduler and momentum, mean ± std over seeds."))
    comparisons = [Comparison(f"{s} − constant, β = {m:g}", {"scheduler.name": s, "optimizer.momentum": m},
                              {"scheduler.name": "constant", "optimizer.momentum": m},
                              *((f"{SCHEMES[s]} beats a constant lr", +1) if s in LECTURE_SCHEMES and m == momenta[-1]
                                else ()))
                   for s in schedulers if s != "constant" for m in momenta]
    comparisons += [Comparison(f"β = {momenta[-1]:g} − β = {momenta[0]:g}, {s}",
                               {"scheduler.name": s, "optimizer.momentum": momenta[-1]},
                               {"scheduler.name": s, "optimizer.momentum": momenta[0]})
                    for s in schedulers if len(momenta) > 1]
    table, found = differences(runs, comparisons, "decay_differences",
                               "LR decay: differences paired by seed, with 95% Student-t intervals.")
    sec.tables.append(table)
    sec.primary += [(c, found[c.name]["final_test_acc"]) for c in comparisons if c.claim]
    for s in schedulers:
        for m in momenta:
            name = f"{s} − constant, β = {m:g}"
            if name in found:
                d = found[name]["final_test_acc"]
                text = f"{SCHEMES[s]} minus constant lr, momentum {m:g}: final test accuracy {describe(d)}"
                sec.findings.append(f"{text}; the lecture expects decay to help: {against_lecture(d, +1)}."
                                    if s in LECTURE_SCHEMES else f"{text} (a modern reference, not in the lecture).")
    return sec
