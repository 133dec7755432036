"""The statistics of the results page on hand-made run tables: intervals, diverged pairs, the smallest resolvable
difference, an all-diverged study, duplicate seeds, and the Markdown and LaTeX writers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sgdtricks.errors import UserError
from sgdtricks.reports.sections import Comparison, cell_results, describe, differences
from sgdtricks.reports.stats import (check_unique_seeds, default_target, detectable_difference, paired_difference,
                                     run_summaries)
from sgdtricks.reports.tables import latex, markdown


def runs_table(cells: dict[float, list[float | None]]) -> pd.DataFrame:
    """One row per run: momentum cell, seed, final test accuracy; None = a diverged run."""
    rows = [{"run": f"m{m}-s{seed}", "optimizer.momentum": m, "seed": seed, "diverged": acc is None,
             "final_test_acc": math.nan if acc is None else acc, "final_train_loss": 1.0}
            for m, accs in cells.items() for seed, acc in enumerate(accs)]
    return pd.DataFrame(rows)


def test_paired_difference_counts_diverged_pairs_and_pairs_the_rest_by_seed() -> None:
    runs = runs_table({0.9: [0.60, 0.62, None, 0.61, 0.64], 0.0: [0.55, 0.58, 0.50, 0.57, None]})
    d = paired_difference(runs, {"optimizer.momentum": 0.9}, {"optimizer.momentum": 0.0}, "final_test_acc")
    pairs = np.array([0.60 - 0.55, 0.62 - 0.58, 0.61 - 0.57])  # seeds 0, 1, 3; seeds 2 and 4 lost a run
    half = stats.t.ppf(0.975, 2) * pairs.std(ddof=1) / math.sqrt(3)
    assert (d["n"], d["diverged"]) == (3, 2)
    assert (d["mean"], d["lo"], d["hi"]) == pytest.approx((pairs.mean(), pairs.mean() - half, pairs.mean() + half))


def test_smallest_resolvable_difference_is_found_four_times_in_five() -> None:
    """A true difference of that size, with the same spread, gives an interval excluding 0 with 80% power."""
    rng = np.random.default_rng(0)
    n, sd = 5, 0.02
    observed = rng.normal(0, 1, n)
    delta = detectable_difference(observed / observed.std(ddof=1) * sd)  # observed spread: exactly sd
    draws = rng.normal(delta, sd, (20_000, n))
    t = draws.mean(1) / (draws.std(1, ddof=1) / math.sqrt(n))
    power = np.mean(t > stats.t.ppf(0.975, n - 1))
    assert power == pytest.approx(0.80, abs=0.02)
    assert math.isnan(detectable_difference(np.array([0.01])))


def test_an_all_diverged_study_gets_no_target_and_no_crash() -> None:
    frame = pd.DataFrame({"run": ["a", "a", "b"], "seed": [0, 0, 1], "epoch": [1, 2, 1], "status": "diverged",
                          "val_acc": [0.1, math.nan, math.nan], "test_acc": [0.1, math.nan, math.nan],
                          "train_loss": [2.0, math.inf, math.nan], "val_loss": [2.0, math.nan, math.nan],
                          "epoch_time_s": 1.0, "optimizer.momentum": 0.9, "lr": 0.05, "train_acc": 0.1,
                          "test_loss": 2.0, "grad_norm": 1.0, "momentum_norm": 1.0})
    target = default_target(frame)
    assert math.isnan(target)
    runs = run_summaries(frame, target).assign(label="β = 0.9")
    table = cell_results(runs, ["optimizer.momentum"], ["β = 0.9"], "arm", target, "x", "caption")
    assert table.display.iloc[0]["diverged"] == 2 and table.display.iloc[0]["final test acc (%)"] == "—"


def test_duplicate_seeds_in_a_cell_are_an_error_naming_the_runs() -> None:
    runs = runs_table({0.9: [0.6, 0.6]}).assign(seed=3)
    with pytest.raises(UserError, match=r"m0\.9-s0, m0\.9-s1 are the same cell and seed"):
        check_unique_seeds(runs, ["optimizer.momentum"], "momentum")
    check_unique_seeds(runs_table({0.9: [0.6, 0.6]}), ["optimizer.momentum"], "momentum")  # seeds 0, 1: fine


def test_difference_table_marks_primary_and_gives_the_resolvable_size_only_where_unresolved() -> None:
    runs = runs_table({0.9: [0.60, 0.62, 0.61, 0.63, 0.64], 0.5: [0.55, 0.66, 0.57, 0.65, 0.60],
                       0.0: [0.50, 0.52, 0.51, 0.53, 0.54]})
    comparisons = [Comparison("0.9 − 0", {"optimizer.momentum": 0.9}, {"optimizer.momentum": 0.0}, "helps", +1),
                   Comparison("0.5 − 0.9", {"optimizer.momentum": 0.5}, {"optimizer.momentum": 0.9})]
    table, found = differences(runs, comparisons, "d", "Differences.")
    shown = table.display.set_index("comparison")
    assert list(shown["kind"]) == ["primary", "exploratory"]
    assert shown.loc["0.9 − 0", "smallest resolvable (pp)"] == "—"  # +10 pp, resolved
    unresolved = found["0.5 − 0.9"]["final_test_acc"]
    assert unresolved["lo"] < 0 < unresolved["hi"]
    assert shown.loc["0.5 − 0.9", "smallest resolvable (pp)"] == f"{100 * unresolved['detectable']:.1f}"


def test_markdown_and_latex_writers() -> None:
    display = pd.DataFrame({"arm": ["β = 0.9", "a | b"], "acc (%)": ["61.0 ± 1.2", "−2"]})
    md = markdown(display).splitlines()
    assert md[1].replace(" ", "").startswith("|:-") and md[1].replace(" ", "").endswith("-:|")
    assert "a \\| b" in md[3] and "61.0 ± 1.2" in md[2]
    tex = latex(display, "Accuracy, 95% CI", "acc")
    assert "\\toprule" in tex and "\\bottomrule" in tex and "\\label{tab:acc}" in tex
    assert "95\\% CI" in tex and "$\\beta$ = 0.9" in tex and "acc (\\%)" in tex and "$-$2" in tex


def decay_frame(constant_curve, seeds: int = 5, epochs: int = 30, step_size: int = 20) -> pd.DataFrame:
    """Per-epoch rows of a decay study at β = 0.9: constant-lr runs whose val accuracy follows `constant_curve`
    (plus a seed's offset), StepLR runs, and plateau runs whose lr drops after epoch 12 + seed."""
    rows = []
    for seed in range(seeds):
        for scheduler in ("constant", "step", "plateau"):
            for epoch in range(1, epochs + 1):
                lr = 0.05 if scheduler == "constant" or epoch <= (step_size if scheduler == "step" else 12 + seed) else 0.005
                acc = constant_curve(epoch) + 0.004 * ((seed * 7 + epoch) % 5 - 2)
                rows.append({"run": f"{scheduler}-s{seed}", "seed": seed, "epoch": epoch, "status": "finished",
                             "scheduler.name": scheduler, "optimizer.momentum": 0.9, "base_lr": 0.05, "lr": lr,
                             "scheduler.step_size": step_size if scheduler == "step" else math.nan,
                             "scheduler.patience": 3 if scheduler == "plateau" else math.nan,
                             "val_acc": acc, "val_loss": 2 - acc, "train_loss": 2 - acc})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("curve", "verdict"), [
    (lambda e: 0.6 * min(e, 10) / 10, "has levelled off by then"),  # flat from epoch 10: the lecture's regime
    (lambda e: 0.02 * e, "is still improving there"),  # +2 points an epoch to the end
])
def test_regime_says_whether_the_constant_run_levelled_off_before_the_drop(curve, verdict, tmp_path: Path) -> None:
    from sgdtricks.plotting import set_paper_style
    from sgdtricks.reports.regime import regime

    set_paper_style()
    name, table, sentences = regime(decay_frame(curve), tmp_path, 0.9)
    assert (tmp_path / f"{name}.pdf").is_file() and (tmp_path / f"{name}.png").is_file()
    assert verdict in sentences[0] and "after epoch 20 of 30" in sentences[0]
    assert "first dropped the lr after epoch 12, 13, 14, 15, 16" in sentences[1]
    gain = table.numbers.iloc[0]
    expected = np.mean([curve(e) for e in (28, 29, 30)]) - np.mean([curve(e) for e in (18, 19, 20)])
    assert gain["gain_mean"] == pytest.approx(expected, abs=0.01) and gain["gain_n"] == 5


def test_regime_needs_a_drop_within_the_run(tmp_path: Path) -> None:
    from sgdtricks.reports.regime import regime

    assert regime(decay_frame(lambda e: 0.5, epochs=10, step_size=20), tmp_path, 0.9) is None


def test_cells_identical_in_every_seed_pair_are_said_to_be_so() -> None:
    """A plateau run that never cut its lr is the constant run: no spread, so no 'smallest resolvable' size."""
    same = runs_table({0.9: [0.60, 0.62, 0.61], 0.0: [0.60, 0.62, 0.61]})
    d = paired_difference(same, {"optimizer.momentum": 0.9}, {"optimizer.momentum": 0.0}, "final_test_acc")
    assert "identical results in every seed pair" in describe(d)
    apart = runs_table({0.9: [0.60, 0.62, 0.61], 0.0: [0.59, 0.63, 0.61]})
    d = paired_difference(apart, {"optimizer.momentum": 0.9}, {"optimizer.momentum": 0.0}, "final_test_acc")
    assert "identical" not in describe(d) and "resolve differences of" in describe(d)
