"""The local record is the truth and W&B mirrors it: what a W&B run lacks of a run record, logged once.

W&B's offline file is written by its service process, which dies with a SIGKILLed training process before it
flushes (an OOM kill, a node failure, the SIGKILL after a cluster's SIGTERM): the file it leaves can be
7 bytes long although metrics.csv holds every epoch. And each process that resumes a run writes a new offline
folder with the same run id, which `wandb sync` does not join: uploading the later folder replaces the history
of the earlier one (wandb/wandb#3841, #5865). So the W&B run of a resumed process is made whole:

- every epoch of metrics.csv that the W&B run lacks is logged from the record, with its values;
- the per-step points (`step/...`) that earlier offline files of the run kept are logged again, up to the
  last epoch of the record (later points belong to an epoch the kill cut short, which is trained again);
- what the W&B run lacks: for an online resume, the epochs and steps past those the server holds (its
  summary); for a new offline file, everything. So the newest offline folder of a run holds its whole history,
  and `make wandb-sync` uploads that folder alone (wandb_cli.newest_runs).

The per-step series cannot be rebuilt from the record (metrics.csv keeps one row per epoch): after a kill, it
holds the points of the steps whose offline file survived, and none for the steps in between.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from sgdtricks.record.tracking import EPOCH_AXIS, STEP_AXIS, NullTracker, Tracker


NON_FINITE = ("NaN", "Infinity", "-Infinity")  # how W&B's JSON spells the losses of a diverged run


def offline_runs(root: Path) -> list[Path]:
    """Every offline W&B run folder under `root`, oldest first (`offline-run-<start time>-<id>`)."""
    runs = (p for p in Path(root).rglob("offline-run-*") if p.is_dir() and p.parent.name == "wandb")
    return sorted(runs, key=lambda p: p.name)


def run_id(offline_run: Path) -> str:
    return offline_run.name.rsplit("-", 1)[1]


def history(offline_run: Path) -> list[dict[str, Any]]:
    """The history rows W&B reads back from an offline run (`wandb leet inspect`); none from a file cut short
    before its first flush. NaN and infinities come back as strings ("NaN") and are made floats again."""
    result = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(offline_run)],
                            capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [{k: float(v) if v in NON_FINITE else v for k, v in row["history"]["item"].items()}
            for row in rows if row["type"] == "history"]


def steps_through(epochs: int, train_images: int, batch_size: int) -> int:
    """The global step at the end of epoch `epochs` (the loop counts ceil(images / batch) steps an epoch)."""
    return epochs * math.ceil(train_images / batch_size)


def missing(run_dir: Path, record_rows: list[dict[str, float]], held: tuple[int, int], last_step: int,
            this_run: str) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """(step points, epoch rows) the W&B run lacks, each once: `held` is the (epoch, global step) it already
    holds; step points come from the run's earlier offline files (a later file wins a step they share)."""
    epoch, step = held
    points: dict[float, dict[str, float]] = {}
    for folder in offline_runs(run_dir / "wandb"):
        if run_id(folder) == this_run:
            points |= {row[STEP_AXIS]: {k: v for k, v in row.items() if not k.startswith("_")}
                       for row in history(folder) if STEP_AXIS in row and step < row[STEP_AXIS] <= last_step}
    return [points[s] for s in sorted(points)], [row for row in record_rows if row[EPOCH_AXIS] > epoch]


def catch_up(tracker: Tracker, run_dir: Path, record_rows: list[dict[str, float]], last_step: int) -> None:
    """Log to `tracker`'s W&B run what it lacks of the record in `run_dir` (nothing for logger=none)."""
    if isinstance(tracker, NullTracker) or not record_rows:
        return
    steps, epochs = missing(run_dir, record_rows, tracker.held(), last_step, tracker.run_id)
    tracker.replay(steps, epochs)
