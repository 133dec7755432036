"""Weights & Biases for one run: offline by default (no account needed), online when asked.

Mode precedence: `logger.mode` in the config, else the WANDB_MODE variable, else offline. wandb.init's
own arguments override WANDB_* variables, so mode is passed only when configured. When W&B cannot start
(no API key, server out of reach after WANDB_INIT_TIMEOUT seconds, default 90) the run logs offline, or
to the local record only, with a warning: W&B trouble never costs a training run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

EPOCH_PREFIXES = ("train/", "val/", "test/")


class NullTracker:
    """logger=none: the same calls, nothing recorded beyond the local run record."""

    run_id: str | None = None

    def log_epoch(self, row: dict[str, float]) -> None:
        pass

    def set_summary(self, summary: dict[str, Any]) -> None:
        pass


class WandbTracker:
    """Per-epoch metrics under train/ val/ test/ and lr, with `epoch` as their x axis."""

    def __init__(self, run: Any):
        self.run = run
        self.run_id = run.id
        run.define_metric("epoch")
        for prefix in EPOCH_PREFIXES:
            run.define_metric(f"{prefix}*", step_metric="epoch")
        run.define_metric("lr", step_metric="epoch")

    def log_epoch(self, row: dict[str, float]) -> None:
        metrics = {"epoch": row["epoch"], "lr": row["lr"], "epoch_time_s": row["epoch_time_s"]}
        for column, value in row.items():
            split, _, name = column.partition("_")
            if split in ("train", "val", "test"):
                metrics[f"{split}/{name}"] = value
        self.run.log(metrics)

    def set_summary(self, summary: dict[str, Any]) -> None:
        for key in ("status", "epochs_completed", "best_val_acc", "test_acc_at_best_val", "final_test_acc",
                    "wall_time_s", "images_per_s", "diverged_epoch"):
            self.run.summary[key] = summary.get(key)
        if summary["status"] == "diverged" and "diverged" not in self.run.tags:
            self.run.tags = (*self.run.tags, "diverged")


def wandb_mode(configured: str | None) -> str | None:
    """The mode argument for wandb.init: the config's, else None to let WANDB_MODE decide, else offline."""
    if configured:
        return configured
    return None if os.environ.get("WANDB_MODE") else "offline"


def start_run(wandb: Any, **init: Any) -> Any | None:
    """wandb.init; when it fails, warn and try offline, then give up on W&B (None) rather than on the run."""
    try:
        return wandb.init(**init)
    except wandb.Error as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    wandb.teardown()  # the failed attempt still holds the run id
    try:
        run = wandb.init(**{**init, "mode": "offline"})
    except wandb.Error as exc:
        wandb.teardown()
        print(f"warning: W&B could not start ({reason}; offline: {exc}); this run is recorded locally only",
              file=sys.stderr, flush=True)
        return None
    print(f"warning: W&B could not start ({reason}); logging offline instead. "
          f"Upload it later with: wandb sync {Path(run.dir).parent}", file=sys.stderr, flush=True)
    return run


@contextmanager
def open_tracker(cfg: DictConfig, run_dir: Path, resume_id: str | None) -> Iterator[NullTracker | WandbTracker]:
    """One W&B run per training job, closed when the job ends (so multirun jobs never merge)."""
    log_cfg = cfg.logger
    if log_cfg.name == "none":
        yield NullTracker()
        return
    import wandb

    run = start_run(
        wandb,
        project=log_cfg.project,
        entity=log_cfg.entity,
        group=log_cfg.group,
        job_type=log_cfg.job_type,
        name=log_cfg.run_name,
        tags=list(log_cfg.tags),
        config=OmegaConf.to_container(cfg, resolve=True),
        dir=str(run_dir),
        mode=wandb_mode(log_cfg.mode),
        id=resume_id,
        resume="allow" if resume_id else None,
        settings=wandb.Settings(silent=True),
    )
    if run is None:
        yield NullTracker()
        return
    with run:
        yield WandbTracker(run)
