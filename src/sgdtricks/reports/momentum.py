"""The momentum study: 0 vs 0.9 at the base lr, the sweep of β its profile runs (0 / 0.5 / 0.9 / 0.99 in full, the
cpu profile without 0.5), and the effective-step control."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sgdtricks.plotting import save_figure
from sgdtricks.reports.figures import curve_figure, palette, seeds_note
from sgdtricks.reports.sections import (Comparison, Section, against_lecture, cell_results, describe, differences,
                                         sign)
from sgdtricks.reports.stats import run_summaries
from sgdtricks.config.resolvers import effective_lr

CELL = ["optimizer.momentum", "optimizer.lr"]
VARIES = CELL  # the config columns its runs may differ in, besides the seed
CONTROL_BETA = 0.9  # the control runs momentum 0 at base_lr / (1 - 0.9)


def label(momentum: float, lr: float, base_lr: float) -> str:
    if lr == base_lr:
        return f"β = {momentum:g}"
    return f"β = {momentum:g}, lr {lr:g} = {base_lr:g}/(1−{CONTROL_BETA:g})"


def section(frame: pd.DataFrame, target: float, figures: Path) -> Section:
    base_lr = float(frame["base_lr"].iloc[0])
    control_lr = effective_lr(base_lr, CONTROL_BETA)
    frame = frame.assign(label=[label(m, lr, base_lr) for m, lr in
                                zip(frame["optimizer.momentum"], frame["optimizer.lr"])])
    runs = run_summaries(frame, target)
    sweep = sorted({0.0, CONTROL_BETA} | set(frame.loc[frame["optimizer.lr"] == base_lr, "optimizer.momentum"]))
    beta = {b: label(b, base_lr, base_lr) for b in sweep}
    control = label(0.0, control_lr, base_lr)
    note = seeds_note(frame)
    sec = Section("Momentum", (
        f"Heavy-ball momentum β against none (β = 0) at one constant lr, the base lr {base_lr:g}; and the "
        f"effective-step control: β = 0 at lr {control_lr:g} = {base_lr:g}/(1−{CONTROL_BETA:g}), the step heavy "
        f"ball with β = {CONTROL_BETA:g} takes under a steady gradient."))

    def figure(name: str, labels: list[str], caption: str) -> None:
        present = [lab for lab in labels if lab in set(frame["label"])]
        if not present:
            return
        fig = curve_figure(frame[frame["label"].isin(present)], ["train_loss", "val_acc"], palette(present),
                           f"momentum at lr {base_lr:g}: {note}", "")
        save_figure(fig, figures, name)
        sec.figures.append((name, caption))

    figure("momentum", [beta[0.0], beta[0.9]],
           f"Train loss (log axis) and validation accuracy per epoch with momentum 0.9 and without, at lr {base_lr:g} "
           f"(the test split is evaluated only where a table reads it: the last and the best-validation epoch).")
    figure("momentum_sweep", list(beta.values()),
           f"The same for β = {', '.join(f'{b:g}' for b in sweep[:-1])} and {sweep[-1]:g} at lr {base_lr:g}.")
    figure("effective_step", [beta[0.0], beta[0.9], control],
           f"Momentum 0.9 at lr {base_lr:g} against plain SGD at the same lr and at its effective step {control_lr:g}.")

    sec.tables.append(cell_results(
        runs, CELL, [*beta.values(), control], "arm", target, "momentum",
        "Momentum study: per arm, mean ± std over seeds; a diverged run counts in 'diverged' and not in the means."))
    plain = {"optimizer.momentum": 0.0, "optimizer.lr": base_lr}
    comparisons = [Comparison(f"β = {b:g} − β = 0", {"optimizer.momentum": b, "optimizer.lr": base_lr}, plain,
                              *(("momentum helps at the same lr", +1) if b == CONTROL_BETA else ()))
                   for b in sweep[1:]]
    comparisons.append(Comparison(f"β = {CONTROL_BETA:g} − (β = 0 at lr {control_lr:g})",
                                  {"optimizer.momentum": CONTROL_BETA, "optimizer.lr": base_lr},
                                  {"optimizer.momentum": 0.0, "optimizer.lr": control_lr},
                                  f"momentum is more than a {1 / (1 - CONTROL_BETA):g}x larger step (no sign predicted)"))
    table, found = differences(runs, comparisons, "momentum_differences",
                               "Momentum study: differences paired by seed, with 95% Student-t intervals.")
    sec.tables.append(table)
    sec.primary += [(c, found[c.name]["final_test_acc"]) for c in comparisons if c.claim]

    main, ctrl = found[f"β = {CONTROL_BETA:g} − β = 0"], found[comparisons[-1].name]
    step_answer = {1: "yes: momentum did better than the larger step alone",
                   -1: "no: the larger step alone did better", 0: "not here: the two are within seed noise",
                   None: "too few seeds to tell"}[sign(ctrl["final_test_acc"])]
    sec.findings += [
        f"Momentum 0.9 minus none at lr {base_lr:g}: final train loss "
        f"{describe(main['final_train_loss'], scale=1, unit='', digits=3, smallest=False)}, final test accuracy "
        f"{describe(main['final_test_acc'])}. The lecture says momentum speeds training up; lower train loss "
        f"with momentum: {against_lecture(main['final_train_loss'], -1)}.",
        f"Is momentum more than a {1 / (1 - CONTROL_BETA):g}x larger step? Momentum {CONTROL_BETA:g} at lr "
        f"{base_lr:g} minus plain SGD at lr {control_lr:g}: final test accuracy {describe(ctrl['final_test_acc'])}, "
        f"final train loss {describe(ctrl['final_train_loss'], scale=1, unit='', digits=3, smallest=False)}. Answer: {step_answer}.",
    ]
    return sec
