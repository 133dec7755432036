"""What every study's part of the results page is made of: its per-cell table, its table of differences, and
the sentences that compare a difference with what the lecture says."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sgdtricks.reports.stats import cell_table, paired_difference
from sgdtricks.reports.tables import Table, interval, mean_std


@dataclass
class Comparison:
    """cell `a` minus cell `b`, each a {config column: value} selection, paired by seed.

    A comparison with a `claim` tests what the lecture says: a primary comparison, planned before any run, whose
    final test accuracy the lecture predicts the sign of (`expected`: +1 or -1; 0: no sign, whether they differ).
    Every other interval is exploratory and unadjusted for the number of comparisons.
    """

    name: str
    a: dict[str, object]
    b: dict[str, object]
    claim: str | None = None
    expected: int = 0


@dataclass
class Section:
    """One study on the results page: figures (name, one sentence), tables, findings in words, JSON evidence, and
    its primary comparisons with their final-test-accuracy differences."""

    title: str
    intro: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # name -> JSON-able evidence, written as data/<name>.json
    primary: list[tuple[Comparison, dict]] = field(default_factory=list)


def cell_results(runs: pd.DataFrame, cell: list[str], order: list[str], label_title: str, target: float,
                 name: str, caption: str) -> Table:
    """Per cell (one row per label, in `order`): seeds, diverged runs and every per-run metric over seeds."""
    numbers = cell_table(runs, [*cell, "label"])
    numbers = numbers.set_index("label").loc[[o for o in order if o in set(numbers["label"])]].reset_index()
    reached = numbers["epochs_to_target_n"]
    finished = numbers["runs"] - numbers["diverged"]

    def spread(metric: str, **fmt: float) -> list[str]:
        return [mean_std(m, s, **fmt) for m, s in zip(numbers[f"{metric}_mean"], numbers[f"{metric}_std"])]

    display = pd.DataFrame({
        label_title: numbers["label"],
        "seeds": numbers["seeds"],
        "diverged": numbers["diverged"],
        "final test acc (%)": spread("final_test_acc"),
        "best val acc (%)": spread("best_val_acc"),
        "test acc at best val (%)": spread("test_acc_at_best_val"),
        (f"epochs to {100 * target:.0f}% val acc" if math.isfinite(target) else "epochs to target (every run diverged)"): [
            "—" if r == 0 else f"{m:.1f}" + ("" if r == f else f" ({r} of {f})")
            for m, r, f in zip(numbers["epochs_to_target_mean"], reached, finished)],
        "final train loss": spread("final_train_loss", scale=1, digits=3),
        "wall time / run (s)": [f"{m:.0f}" for m in numbers["wall_time_s_mean"]],
    })
    return Table(name, caption, numbers, display)


def differences(runs: pd.DataFrame, comparisons: list[Comparison], name: str, caption: str) -> tuple[Table, dict]:
    """Final test accuracy and final train loss of each comparison, a - b, with 95% t-intervals over seed pairs,
    and where the accuracy interval includes 0, the smallest difference the seeds could have resolved.

    Returns the table and {comparison name: {metric: difference}} for the findings.
    """
    rows, found = [], {}
    for comparison in comparisons:
        found[comparison.name] = {}
        for metric in ("final_test_acc", "final_train_loss"):
            d = paired_difference(runs, comparison.a, comparison.b, metric)
            found[comparison.name][metric] = d
            rows.append({"comparison": comparison.name, "primary": comparison.claim is not None, "metric": metric, **d})
    numbers = pd.DataFrame(rows, columns=["comparison", "primary", "metric", "mean", "lo", "hi", "n", "diverged",
                                          "detectable"])
    accuracy = [found[c.name]["final_test_acc"] for c in comparisons]
    display = pd.DataFrame({
        "comparison": [c.name for c in comparisons],
        "kind": ["primary" if c.claim else "exploratory" for c in comparisons],
        "Δ final test acc (pp), 95% CI": [interval(**_ci(d)) for d in accuracy],
        "smallest resolvable (pp)": [resolvable(d) for d in accuracy],
        "Δ final train loss, 95% CI": [interval(**_ci(found[c.name]["final_train_loss"]), scale=1, digits=3)
                                       for c in comparisons],
        "seed pairs": [d["n"] for d in accuracy],
        "diverged pairs": [d["diverged"] for d in accuracy],
    })
    caption = (f"{caption} Primary: a claim of the lecture, planned; exploratory: unadjusted for the number of "
               f"intervals. Smallest resolvable: where the interval includes 0, the difference these seeds would "
               f"find with 80% power. A pair where either run diverged is counted, not averaged.")
    return Table(name, caption, numbers, display), found


def resolvable(d: dict) -> str:
    """The smallest resolvable difference in pp where the interval includes 0; '—' where it excludes 0 or is missing."""
    return f"{100 * d['detectable']:.1f}" if sign(d) == 0 else "—"


def primary_table(sections: list[Section]) -> Table:
    """The lecture's claims tested here, one row each: the planned comparisons, on final test accuracy."""
    rows = [(c, d) for sec in sections for c, d in sec.primary]
    numbers = pd.DataFrame([{"claim": c.claim, "comparison": c.name, "expected_sign": c.expected, **d} for c, d in rows],
                           columns=["claim", "comparison", "expected_sign", "mean", "lo", "hi", "n", "diverged",
                                    "detectable"])
    display = pd.DataFrame({
        "the lecture's claim": [c.claim for c, _ in rows],
        "comparison": [c.name for c, _ in rows],
        "Δ final test acc (pp), 95% CI": [interval(**_ci(d)) for _, d in rows],
        "smallest resolvable (pp)": [resolvable(d) for _, d in rows],
        "seed pairs": [d["n"] for _, d in rows],
        "diverged pairs": [d["diverged"] for _, d in rows],
        "verdict": [verdict(c, d) for c, d in rows],
    })
    return Table("primary", "Primary comparisons: the lecture's claims, planned before the runs; final test accuracy, "
                            "differences paired by seed with 95% Student-t intervals.", numbers, display)


def verdict(comparison: Comparison, d: dict) -> str:
    """The primary table's last column: against the lecture's sign, or for a claim without a sign which side won."""
    if comparison.expected == 0 and sign(d) in (1, -1):
        return f"resolved: {comparison.name} {'>' if sign(d) > 0 else '<'} 0"
    return against_lecture(d, comparison.expected)


def _ci(d: dict) -> dict[str, float]:
    return {"mean": d["mean"], "lo": d["lo"], "hi": d["hi"]}


def describe(d: dict, scale: float = 100.0, unit: str = " pp", digits: int = 1, smallest: bool = True) -> str:
    """'+2.1 pp [+0.4, +3.8] (95% CI, 5 seeds)'; where the interval includes 0 (and `smallest`), the smallest
    difference these seeds resolve."""
    if d["n"] == 0:
        return "not measured (no seed finished both runs)"
    text = f"{interval(d['mean'], d['lo'], d['hi'], scale=scale, digits=digits)}{unit}"
    if d["n"] == 1:
        return f"{text} (one seed pair, no interval)"
    diverged = f", {d['diverged']} pairs left out: a run diverged" if d.get("diverged") else ""
    if d["lo"] == d["hi"] == 0:  # no spread to test: the two cells ran the same numbers in every seed pair
        return f"{text} ({d['n']} seeds{diverged}): the two cells gave identical results in every seed pair"
    resolvable = (f"; these seeds resolve differences of {scale * d['detectable']:.{digits}f}{unit} or more"
                  if smallest and sign(d) == 0 and math.isfinite(d.get("detectable", math.nan)) else "")
    return f"{text} (95% CI, {d['n']} seeds{diverged}){resolvable}"


def sign(d: dict) -> int | None:
    """+1 or -1 when the 95% interval excludes 0, 0 when it includes 0, None without an interval."""
    if d["n"] < 2 or not math.isfinite(d["lo"]):
        return None
    return 1 if d["lo"] > 0 else -1 if d["hi"] < 0 else 0


def against_lecture(d: dict, expected: int) -> str:
    """Whether a difference the lecture predicts the sign of (`expected`, +1 or -1) agrees with it."""
    side = sign(d)
    if side is None:
        return "too few seeds to tell"
    if side == 0:
        return "not resolved by these seeds (the interval includes 0)"
    return "as the lecture says" if side == expected else "against the lecture"
