"""W&B runs -> the run table of collect.py, so reports can be built from a W&B project (`SOURCE=wandb`).

Each training run (job_type `train`) is reduced to the triple the local source reads from a run directory:
its config (logged flat, see tracking.py), its summary (summary.json, copied at the end of the run) and its
per-epoch history, mapped back from the W&B keys to the metrics.csv columns; `run_frame` does the rest.
The `run` column holds the W&B run id, which the local record stores as summary.json's `wandb_run_id`.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sgdtricks.record.files import SPARSE_COLUMNS
from sgdtricks.reports.collect import run_frame
from sgdtricks.record.tracking import EPOCH_AXIS, EPOCH_KEYS


def epoch_metrics(run: Any) -> pd.DataFrame:
    """The run's per-epoch history as metrics.csv columns; an epoch logged twice (a resumed run) keeps its last row."""
    dense = [key for column, key in EPOCH_KEYS.items() if column not in SPARSE_COLUMNS]
    rows = [{column: row.get(key, math.nan) for column, key in EPOCH_KEYS.items()}
            for row in run.scan_history() if all(key in row for key in dense)]  # not the per-step rows
    # a sparse column is logged only where measured (NaN elsewhere); JSON gives NaN as "NaN" and integral floats
    # (lr 1.0) as ints: back to metrics.csv's types
    metrics = pd.DataFrame(rows, columns=list(EPOCH_KEYS))
    metrics = metrics.astype({column: "int64" if column == EPOCH_AXIS else "float64" for column in EPOCH_KEYS})
    return metrics.drop_duplicates(EPOCH_AXIS, keep="last").sort_values(EPOCH_AXIS, ignore_index=True)


def runs_from_wandb(project: str, entity: str | None = None, api: Any = None,
                    statuses: tuple[str, ...] = ("finished", "diverged")) -> pd.DataFrame:
    """Every training run of `entity/project` whose summary status is in `statuses`, as one tidy table.

    `api` defaults to `wandb.Api()` (needs `wandb login`); anything with the same `runs(path)` works.
    """
    if api is None:
        import wandb

        api = wandb.Api()
    frames = []
    for run in api.runs(f"{entity}/{project}" if entity else project):
        if run.job_type != "train" or run.summary.get("status") not in statuses:
            continue
        frames.append(run_frame(run.id, dict(run.config), run.summary, epoch_metrics(run)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
