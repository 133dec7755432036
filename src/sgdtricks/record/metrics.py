"""What a run's completed epochs add up to: its final and best-validation numbers.

One function for the run summary (written each epoch by the trainer) and the report tables, so a number on
the page is the number in summary.json. The best epoch is chosen on validation accuracy only (the test split
never decides anything), the earliest among ties. The trainer evaluates the test split only where these read it:
the last epoch and every epoch that `improves_best_val`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

OUTCOMES = ("final_test_acc", "final_train_loss", "best_val_acc", "best_val_epoch", "test_acc_at_best_val")


def outcome(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """final_* from the last epoch (NaN when it diverged), best_val_* from the epochs with a validation score."""
    result = dict.fromkeys(OUTCOMES, math.nan)
    if not rows:
        return result
    result.update(final_test_acc=float(rows[-1]["test_acc"]), final_train_loss=float(rows[-1]["train_loss"]))
    scored = [r for r in rows if math.isfinite(r["val_acc"])]  # a diverged epoch has no validation score
    if scored:
        best = max(scored, key=lambda r: (r["val_acc"], -r["epoch"]))
        result.update(best_val_acc=float(best["val_acc"]), best_val_epoch=int(best["epoch"]),
                      test_acc_at_best_val=float(best["test_acc"]))
    return result


def improves_best_val(rows: Sequence[Mapping[str, float]], val_acc: float) -> bool:
    """Whether an epoch with this validation accuracy, after `rows`, becomes the best-validation epoch of `outcome`
    (strictly better: the earliest epoch wins a tie)."""
    return math.isfinite(val_acc) and all(val_acc > r["val_acc"] for r in rows if math.isfinite(r["val_acc"]))
