"""Numbers from the tidy run table: one summary row per run, per-cell means over seeds, paired differences.

Every statistic is over seeds, with a Student-t 95% interval (seaborn's bands use the same interval, see
figures.py). A diverged run has no final accuracy: it is counted in `diverged` and left out of the means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sgdtricks.errors import UserError
from sgdtricks.record.files import METRIC_COLUMNS
from sgdtricks.record.metrics import outcome

# Per-run metrics, in the order the tables show them.
RUN_METRICS = ["final_test_acc", "best_val_acc", "test_acc_at_best_val", "final_train_loss", "epochs_to_target",
               "wall_time_s"]


def t_975(df: int) -> float:
    """t_{0.975, df}, the two-sided 95% quantile of Student's t; nan without degrees of freedom."""
    return float(stats.t.ppf(0.975, df)) if df >= 1 else math.nan


def t_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(mean, half-width) of the 95% t-interval over the finite values; half-width nan below 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    return float(x.mean()), t_975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))


def default_target(frame: pd.DataFrame) -> float:
    """The study's target accuracy: 80% of the best validation accuracy any run reached, down to a whole percent;
    nan when no run has a finite validation accuracy (every run diverged)."""
    best = float(frame.loc[frame["status"] != "diverged", "val_acc"].max())
    return math.floor(80 * best) / 100 if math.isfinite(best) else math.nan


def run_summaries(frame: pd.DataFrame, target: float = math.inf) -> pd.DataFrame:
    """One row per run: its config and summary columns, `diverged`, `epochs`, and RUN_METRICS from its epochs.

    final_* are the last epoch's values; best_val_acc the highest validation accuracy and test_acc_at_best_val
    the test accuracy of the first epoch that reached it; epochs_to_target the first epoch with val_acc >=
    `target` (nan if none); wall_time_s the sum of the epoch times (training and evaluation).
    """
    per_run = [c for c in frame.columns if c not in METRIC_COLUMNS]
    rows = []
    for run, epochs in frame.groupby("run", sort=True):
        epochs = epochs.sort_values("epoch")
        row = {**epochs.iloc[0][per_run].to_dict(), "diverged": epochs["status"].iloc[0] == "diverged",
               "epochs": int(epochs["epoch"].max()), "wall_time_s": float(epochs["epoch_time_s"].sum())}
        if row["diverged"]:  # counted in `diverged`, never averaged
            row.update({m: math.nan for m in RUN_METRICS if m != "wall_time_s"})
        else:
            reached = epochs[epochs["val_acc"] >= target]
            rows_of_run = epochs.reindex(columns=METRIC_COLUMNS).to_dict("records")  # an all-NaN column may be dropped
            row.update({k: v for k, v in outcome(rows_of_run).items() if k in RUN_METRICS},
                       epochs_to_target=float(reached["epoch"].iloc[0]) if len(reached) else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def cell_table(runs: pd.DataFrame, cell: list[str]) -> pd.DataFrame:
    """Per cell: seeds, diverged runs, and mean / std / 95% half-width / n of every RUN_METRICS column.

    Means are over the runs that did not diverge; epochs_to_target over the runs that reached the target
    (epochs_to_target_n says how many).
    """
    rows = []
    for key, group in runs.groupby(cell, sort=True, dropna=False):
        row = dict(zip(cell, key if isinstance(key, tuple) else (key,)))
        row.update(seeds=int(group["seed"].nunique()), runs=len(group), diverged=int(group["diverged"].sum()))
        for metric in RUN_METRICS:
            values = group[metric].to_numpy(dtype=float)
            mean, half = t_interval(values)
            finite = values[np.isfinite(values)]
            std = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
            row.update({f"{metric}_mean": mean, f"{metric}_std": std, f"{metric}_ci95": half,
                        f"{metric}_n": len(finite)})
        rows.append(row)
    return pd.DataFrame(rows)


def check_unique_seeds(runs: pd.DataFrame, cell: Sequence[str], study: str) -> None:
    """One run per cell and seed, or a pairing by seed would be ambiguous: a UserError names the runs."""
    for key, group in runs.groupby([*cell, "seed"], sort=True, dropna=False):
        if group["run"].nunique() > 1:  # one row per run, or per run and epoch
            where = ", ".join(f"{c}={v}" for c, v in zip([*cell, "seed"], key))
            raise UserError(f"the {study} runs {', '.join(sorted(group['run'].unique()))} are the same cell and seed ({where}); "
                            f"keep one: delete the other run directories (or give each set its own RUNS= directory)")


def detectable_difference(differences: np.ndarray) -> float:
    """The smallest mean difference these seed pairs could have resolved: the true difference that a two-sided
    paired t-test at the 5% level finds with 80% power, at the observed spread of the differences:
    (t_{0.975, n-1} + t_{0.80, n-1}) * sd / sqrt(n). nan below 2 pairs."""
    n = len(differences)
    if n < 2:
        return math.nan
    quantiles = stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.80, n - 1)
    return float(quantiles * np.std(differences, ddof=1) / math.sqrt(n))


def paired_difference(runs: pd.DataFrame, a: dict[str, object], b: dict[str, object], metric: str) -> dict[str, float]:
    """metric(a) - metric(b) paired by seed (same seed = same initial weights and data order in both cells).

    Returns mean, the 95% t-interval (lo, hi) and n over the seeds both cells finished without diverging;
    `diverged`, the seeds both cells ran where either run diverged (counted, not in the mean); and `detectable`
    (see detectable_difference).
    """
    def select(cell: dict[str, object]) -> pd.DataFrame:
        mask = np.ones(len(runs), dtype=bool)
        for column, value in cell.items():
            mask &= (runs[column] == value).to_numpy()
        return runs[mask].set_index("seed")[[metric, "diverged"]]

    both = pd.concat([select(a), select(b)], axis=1, join="inner", keys=["a", "b"])
    diverged = both[("a", "diverged")].astype(bool) | both[("b", "diverged")].astype(bool)
    pairs = both[~diverged][[("a", metric), ("b", metric)]].dropna()
    differences = (pairs.iloc[:, 0] - pairs.iloc[:, 1]).to_numpy(dtype=float)
    mean, half = t_interval(differences)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": len(pairs), "diverged": int(diverged.sum()),
            "detectable": detectable_difference(differences)}


def choose_base_lr(runs: pd.DataFrame) -> tuple[float | None, pd.DataFrame]:
    """The lr_tuning lr of highest mean best validation accuracy over seeds (never test accuracy).

    An lr with any diverged run is not eligible; ties go to the smaller lr. Returns the lr (None when no lr
    is eligible) and the evidence (per lr: seeds, diverged, mean best val acc, chosen).
    """
    evidence = cell_table(runs, ["optimizer.lr"])[["optimizer.lr", "seeds", "diverged", "best_val_acc_mean"]]
    eligible = evidence[(evidence["diverged"] == 0) & evidence["best_val_acc_mean"].notna()]
    if eligible.empty:
        return None, evidence.assign(chosen=False)
    best = eligible.sort_values(["best_val_acc_mean", "optimizer.lr"], ascending=[False, True]).iloc[0]
    lr = float(best["optimizer.lr"])
    return lr, evidence.assign(chosen=evidence["optimizer.lr"] == lr)
