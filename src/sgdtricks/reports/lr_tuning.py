"""The lr-tuning study: constant lr with momentum 0.9 over a log grid -- too small, right, too large."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sgdtricks.plotting import save_figure
from sgdtricks.reports.figures import MIN_BAND_SEEDS, clip_percent, curves, legend, log_axis, palette, seeds_note
from sgdtricks.reports.sections import Section, cell_results
from sgdtricks.reports.stats import cell_table, choose_base_lr, run_summaries


CELL = ["optimizer.lr"]
VARIES = CELL  # the config columns its runs may differ in, besides the seed


def label(lr: float) -> str:
    return f"lr {lr:g}"


def accuracy_panel(ax: plt.Axes, runs: pd.DataFrame, cells: pd.DataFrame, base_lr: float | None) -> None:
    """Best val accuracy and final test accuracy against lr (log axis): the mean over seeds with its 95% t-interval
    when every lr has MIN_BAND_SEEDS seeds, else the mean joined by a line and each seed's value as a dot;
    x for lrs where a run diverged."""
    banded = cells["seeds"].min() >= MIN_BAND_SEEDS
    for metric, name, marker in (("best_val_acc", "best val acc", "o"), ("final_test_acc", "final test acc", "s")):
        ok = cells[cells[f"{metric}_mean"].notna()]
        bars = 100 * ok[f"{metric}_ci95"].fillna(0) if banded else None
        line = ax.errorbar(ok["optimizer.lr"], 100 * ok[f"{metric}_mean"], yerr=bars, marker=marker, capsize=3,
                           label=name + ("" if banded else " (mean; dots: seeds)"))
        if not banded:
            ax.plot(runs["optimizer.lr"], 100 * runs[metric], marker, color=line[0].get_color(), alpha=0.4,
                    markersize=3, linestyle="none")
    diverged = cells[cells["diverged"] > 0]
    if len(diverged):
        ax.plot(diverged["optimizer.lr"], np.full(len(diverged), 0.03), "x", color="0.2", markersize=9,
                markeredgewidth=2, transform=ax.get_xaxis_transform(), label="a run diverged")
    if base_lr is not None:
        ax.axvline(base_lr, color="0.5", linestyle="--", linewidth=1, label=f"base lr {base_lr:g}")
    log_axis(ax.xaxis)
    ax.set_xlabel("learning rate (constant, momentum 0.9)")
    ax.set_ylabel("accuracy (%)")
    clip_percent(ax)
    ax.legend(fontsize=7)


def section(frame: pd.DataFrame, target: float, figures: Path,
            fixed_base_lr: float | None, used_base_lr: list[float]) -> Section:
    lrs = sorted(frame["optimizer.lr"].unique())
    frame = frame.assign(label=frame["optimizer.lr"].map(label))
    runs = run_summaries(frame, target)
    cells = cell_table(runs, CELL)
    chosen, evidence = choose_base_lr(runs)
    base_lr = fixed_base_lr if fixed_base_lr is not None else chosen
    sec = Section("Learning-rate tuning", (
        f"Constant lr with momentum 0.9 on a log grid from {lrs[0]:g} to {lrs[-1]:g}: the lecture's picture of a "
        f"learning rate too small, right, and too large."))

    colors = palette([label(lr) for lr in lrs], sequential=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 3.3), layout="constrained")
    curves(left, frame, "train_loss", colors, log=True)
    accuracy_panel(right, runs, cells, base_lr)
    fig.suptitle(f"lr tuning: {seeds_note(frame)}", fontsize=10)
    legend(fig, colors, "", diverged=bool((frame["status"] == "diverged").any()))
    save_figure(fig, figures, "lr_tuning")
    sec.figures.append(("lr_tuning", "Left: train loss per epoch for each lr (log axis); right: best validation "
                                     "and final test accuracy against lr (log axis), x where a run diverged."))
    sec.tables.append(cell_results(runs, CELL, [label(lr) for lr in lrs], "lr", target, "lr_tuning",
                                   "LR tuning (momentum 0.9, constant lr): per lr, mean ± std over seeds."))

    sec.data["base_lr"] = {
        "criterion": "highest mean best validation accuracy over seeds; an lr with a diverged run is not "
                     "eligible; ties go to the smaller lr; test accuracy is never used",
        "chosen_by_validation": chosen, "profile_base_lr": fixed_base_lr, "used_by_studies": used_base_lr,
        "evidence": json.loads(evidence.to_json(orient="records"))}

    sec.findings += findings(cells, chosen, fixed_base_lr)
    return sec


def findings(cells: pd.DataFrame, chosen: float | None, fixed_base_lr: float | None) -> list[str]:
    """Where validation accuracy peaks, against the lecture's picture; which runs diverged; the base lr."""
    lrs = cells["optimizer.lr"].tolist()
    diverged = cells.loc[cells["diverged"] > 0, "optimizer.lr"]
    diverged_text = (f"Runs diverged at lr {', '.join(f'{lr:g}' for lr in diverged)}." if len(diverged)
                     else "No run diverged.")
    if chosen is None:
        return [f"Every lr diverged: this grid holds no usable rate. {diverged_text}"]
    best = cells.set_index("optimizer.lr").loc[chosen]
    out = [f"Validation accuracy peaks at lr {chosen:g} (best val acc {100 * best['best_val_acc_mean']:.1f}%, "
           f"{int(best['seeds'])} seeds): " + (
               "smaller and larger rates both do worse, the lecture's picture. " if lrs[0] < chosen < lrs[-1] else
               "at the edge of the grid, so the best rate may lie beyond it; the lecture's picture of a rate too "
               "small and one too large around it is not complete here. ") + diverged_text]
    if fixed_base_lr is None:
        out.append(f"This profile measures its base lr: {chosen:g}, chosen from these runs by validation accuracy "
                   f"(data/base_lr.json), is the lr of the momentum and decay studies.")
    elif not math.isclose(chosen, fixed_base_lr):
        out.append(f"This profile keeps the lecture's lr {fixed_base_lr:g} for the momentum and decay studies; "
                   f"validation accuracy here prefers {chosen:g}.")
    return out
