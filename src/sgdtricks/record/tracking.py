"""Weights & Biases for one run: offline by default (no account needed), online when asked.

What a run shows on the dashboard:
- name: the group (= the study that trained it) and its run key, e.g. `decay/small_cnn-step-lr0.05-m0.9-s3-1a2b3c4d`;
  group = study, job_type, tags for profile, dataset, model, scheduler and momentum (+ `diverged`);
- config: the resolved config as flat dotted keys (`optimizer.momentum`, `scheduler.name`, ...): every key
  filterable, and the same spelling a W&B sweep uses for its parameters, so a sweep's values never clobber a
  nested group (a sweep parameter `scheduler` next to `scheduler.name`, not instead of it);
- per epoch, against `epoch`: `train/ val/ test/` loss and acc, `train/grad_norm`, `train/momentum_norm`, `lr`,
  `epoch_time_s`, `train/sharpness` (with trainer.sharpness_every); summaries `val/acc` max and `train/loss` min;
  per step, against `global_step`, every `trainer.log_every` steps: `step/train_loss` (that batch's loss) and
  `step/lr`; a stability run logs its measured steps there, with `step/sharpness` or `step/batch_sharpness`;
- summary: summary.json (status, diverged_epoch, best_val_acc, provenance, ...);
- the final checkpoint as a `model` artifact when `logger.log_checkpoints=true`.

Mode precedence: `logger.mode` in the config, else the WANDB_MODE variable, else offline. wandb.init's
own arguments override WANDB_* variables, so mode is passed only when configured. When W&B cannot start
(no API key, server out of reach after WANDB_INIT_TIMEOUT seconds, default 90) the run logs offline, or
to the local record only, with a warning: W&B trouble never costs a training run.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgdtricks.record.files import METRIC_COLUMNS
from sgdtricks.record.identity import run_key

SPLITS = ("train", "val", "test")
TRAIN_DIAGNOSTICS = ("grad_norm", "momentum_norm", "sharpness")  # measured on the training set (run/diagnostics.py)
EPOCH_AXIS, STEP_AXIS = "epoch", "global_step"
SUMMARIES = {"val/acc": "max", "train/loss": "min"}  # W&B summary of these series (default: last value)


def wandb_key(column: str) -> str:
    """metrics.csv column -> W&B key: train_loss -> train/loss, grad_norm -> train/grad_norm, lr -> lr."""
    split, _, name = column.partition("_")
    if split in SPLITS:
        return f"{split}/{name}"
    if column in TRAIN_DIAGNOSTICS:
        return f"train/{column}"
    return column


EPOCH_KEYS = {column: wandb_key(column) for column in METRIC_COLUMNS}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optimizer': {'lr': 0.05}} -> {'optimizer.lr': 0.05}; lists become JSON strings so they can be grouped.

    The spelling of config keys on W&B and in the report tables alike.
    """
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def run_name(group: str | None, cfg: DictConfig) -> str:
    """`decay/small_cnn-step-lr0.05-m0.9-s3-1a2b3c4d`: the group, then the run key its directory has."""
    return f"{group}/{run_key(cfg)}" if group else run_key(cfg)


def run_tags(cfg: DictConfig) -> list[str]:
    """Profile, dataset, model, scheduler and momentum (`m0.9`), then the config's own `logger.tags`."""
    tags = [cfg.get("profile"), cfg.data.name, cfg.model.name, cfg.scheduler.name,
            f"m{cfg.optimizer.momentum:g}", *cfg.logger.tags]
    return [str(tag) for tag in dict.fromkeys(tags) if tag is not None]


class NullTracker:
    """logger=none: the same calls, nothing recorded beyond the local run record."""

    run_id: str | None = None

    def log_step(self, step: int, loss: float, lr: float, **measured: float) -> None:
        pass

    def log_epoch(self, row: dict[str, float]) -> None:
        pass

    def set_summary(self, summary: dict[str, Any]) -> None:
        pass

    def log_checkpoint(self, path: Path, summary: dict[str, Any]) -> None:
        pass


class WandbTracker:
    """Per-epoch series against `epoch`, per-step series against `global_step`, summary, tags, checkpoint."""

    def __init__(self, run: Any, log_checkpoints: bool = False):
        self.run = run
        self.run_id = run.id
        self.log_checkpoints = log_checkpoints
        run.define_metric(EPOCH_AXIS)
        for key in EPOCH_KEYS.values():
            if key != EPOCH_AXIS:
                run.define_metric(key, step_metric=EPOCH_AXIS, summary=SUMMARIES.get(key))
        run.define_metric(STEP_AXIS)
        run.define_metric("step/*", step_metric=STEP_AXIS)

    def log_step(self, step: int, loss: float, lr: float, **measured: float) -> None:
        """One point of the per-step curves; called only where the loop already syncs with the device.
        `measured`: further series of that step (a stability run's sharpness), logged where finite."""
        extra = {f"step/{name}": value for name, value in measured.items() if math.isfinite(value)}
        self.run.log({STEP_AXIS: step, "step/train_loss": loss, "step/lr": lr, **extra})

    def log_epoch(self, row: dict[str, float]) -> None:
        self.run.log({key: row[column] for column, key in EPOCH_KEYS.items() if column in row})

    def set_summary(self, summary: dict[str, Any]) -> None:
        """summary.json into the W&B summary (its `final` row is the history's last point); tag divergence."""
        self.run.summary.update({k: v for k, v in summary.items() if k != "final"})
        if summary.get("status") == "diverged" and "diverged" not in self.run.tags:
            self.run.tags = (*self.run.tags, "diverged")

    def log_checkpoint(self, path: Path, summary: dict[str, Any]) -> None:
        """The run's last checkpoint as a `model` artifact (logger.log_checkpoints=true), once per run end."""
        if not self.log_checkpoints or not path.is_file():
            return
        import wandb

        epochs = summary.get("epochs_completed")
        artifact = wandb.Artifact(f"model-{self.run_id}", type="model", metadata={
            k: summary.get(k) for k in ("status", "epochs_completed", "best_val_acc", "config_hash")})
        artifact.add_file(str(path), name=path.name)
        self.run.log_artifact(artifact, aliases=["latest", f"epoch-{epochs}"])


Tracker = NullTracker | WandbTracker


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
def open_tracker(cfg: DictConfig, run_dir: Path, resume_id: str | None) -> Iterator[Tracker]:
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
        name=log_cfg.run_name or run_name(log_cfg.group, cfg),
        tags=run_tags(cfg),
        config=flatten(OmegaConf.to_container(cfg, resolve=True)),
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
        yield WandbTracker(run, log_checkpoints=log_cfg.get("log_checkpoints", False))
