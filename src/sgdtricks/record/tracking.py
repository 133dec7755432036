"""Weights & Biases for one run: offline by default (no account needed), online when asked.

What a run shows on the dashboard:
- name: the group (= the study that trained it) and its run key, e.g. `decay/small_cnn-step-lr0.05-m0.9-s3-1a2b3c4d`;
  group = study, job_type, tags for profile, dataset, model and the cell: scheduler, momentum, lr (+ `diverged`);
- config: the resolved config as flat dotted keys (`optimizer.momentum`, `scheduler.name`, ...): every key
  groups the run table, and the same spelling a W&B sweep uses for its parameters, so a sweep's values never clobber a
  nested group (a sweep parameter `scheduler` next to `scheduler.name`, not instead of it);
- per epoch, against `epoch`: `train/ val/ test/` loss and acc, `train/grad_norm`, `train/momentum_norm`, `lr`,
  `epoch_time_s`, `train/sharpness` (with trainer.sharpness_every); summaries `val/acc` max and `train/loss` min;
  per step, against `global_step`, every `trainer.log_every` steps: `step/train_loss` (that batch's loss) and
  `step/lr`; a stability run logs its measured steps there, with `step/sharpness` or `step/batch_sharpness`;
- summary: summary.json (status, diverged_epoch, best_val_acc, provenance, ...);
- the final checkpoint as a `model` artifact when `logger.log_checkpoints=true`.

Mode precedence: `logger.mode` in the config, else the WANDB_MODE variable, else offline. wandb.init's
own arguments override WANDB_* variables, so mode is passed only when configured. W&B trouble never costs a
training run: when W&B cannot start (no API key, server out of reach after WANDB_INIT_TIMEOUT seconds, default
90, or any other exception) the run logs offline, or to the local record only, with one warning; in a multirun
only the first job waits for a server out of reach. An exception while logging turns W&B off for the rest of
the run with one warning. What a resumed run's W&B run lacks of the record is logged by record/mirror.py.
"""

from __future__ import annotations

import fcntl
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgdtricks.record.files import METRIC_COLUMNS, SPARSE_COLUMNS
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


def cell_tags(cfg: DictConfig) -> list[str]:
    """The tags that name a run's cell: scheduler, momentum and lr, e.g. ['step', 'm0.9', 'lr0.05'].

    The dashboard selects a study's runs by them: W&B's run filters split config keys at dots, so a flat key
    such as `optimizer.lr` cannot be filtered on (wandb/wandb#3087), a tag can."""
    return [str(cfg.scheduler.name), f"m{cfg.optimizer.momentum:g}", f"lr{cfg.optimizer.lr:g}"]


def run_tags(cfg: DictConfig) -> list[str]:
    """Profile, dataset, model, the cell (scheduler, momentum `m0.9`, lr `lr0.05`), then `logger.tags`."""
    tags = [cfg.get("profile"), cfg.data.name, cfg.model.name, *cell_tags(cfg), *cfg.logger.tags]
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


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """W&B trouble while logging never costs the run: the first exception warns once and turns W&B off for the
    rest of the run, which goes on in the local record (`make wandb-sync` rebuilds the W&B run from it)."""
    @functools.wraps(method)
    def call(self: WandbTracker, *args: Any, **kwargs: Any) -> Any:
        if self.failed:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self.failed = True
            warn(f"W&B failed in {method.__name__} ({first_line(exc)}); the rest of this run is recorded locally "
                 f"only (make wandb-sync rebuilds its W&B run from the record)")
            return None
    return call


class WandbTracker:
    """Per-epoch series against `epoch`, per-step series against `global_step`, summary, tags, checkpoint."""

    def __init__(self, run: Any, log_checkpoints: bool = False):
        self.run = run
        self.run_id = run.id
        self.log_checkpoints = log_checkpoints
        self.failed = False
        self.define_axes()

    @guarded
    def define_axes(self) -> None:
        self.run.define_metric(EPOCH_AXIS)
        for key in EPOCH_KEYS.values():
            if key != EPOCH_AXIS:
                self.run.define_metric(key, step_metric=EPOCH_AXIS, summary=SUMMARIES.get(key))
        self.run.define_metric(STEP_AXIS)
        self.run.define_metric("step/*", step_metric=STEP_AXIS)

    @guarded
    def log_step(self, step: int, loss: float, lr: float, **measured: float) -> None:
        """One point of the per-step curves; called only where the loop already syncs with the device.
        `measured`: further series of that step (a stability run's sharpness), logged where finite."""
        extra = {f"step/{name}": value for name, value in measured.items() if math.isfinite(value)}
        self.run.log({STEP_AXIS: step, "step/train_loss": loss, "step/lr": lr, **extra})

    @guarded
    def log_epoch(self, row: dict[str, float]) -> None:
        """The epoch's row; a sparse column (test split, sharpness) only at the epochs that measured it."""
        self.run.log({key: row[column] for column, key in EPOCH_KEYS.items()
                      if column in row and not (column in SPARSE_COLUMNS and math.isnan(row[column]))})

    @guarded
    def set_summary(self, summary: dict[str, Any]) -> None:
        """summary.json into the W&B summary (its `final` row is the history's last point); tag divergence."""
        self.run.summary.update({k: v for k, v in summary.items() if k != "final"})
        if summary.get("status") == "diverged" and "diverged" not in self.run.tags:
            self.run.tags = (*self.run.tags, "diverged")

    @guarded
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

    def held(self) -> tuple[int, int]:
        """(last epoch, last global step) this W&B run holds: the server's for an online resume (its summary),
        none for a new offline file, which knows nothing of the run's earlier files."""
        return int(self.run.summary.get(EPOCH_AXIS) or 0), int(self.run.summary.get(STEP_AXIS) or 0)

    @guarded
    def replay(self, steps: list[dict[str, float]], epochs: list[dict[str, float]]) -> None:
        """Points of the per-step series, then epoch rows of the record (metrics.csv columns), each logged once."""
        for point in steps:
            self.run.log(point)
        for row in epochs:
            self.log_epoch(row)

    @guarded
    def finish(self, exit_code: int) -> None:
        self.run.finish(exit_code=exit_code)


Tracker = NullTracker | WandbTracker


def wandb_mode(configured: str | None) -> str | None:
    """The mode argument for wandb.init: the config's, else None to let WANDB_MODE decide, else offline."""
    if configured:
        return configured
    return None if os.environ.get("WANDB_MODE") else "offline"


UNREACHABLE = ".wandb-unreachable"  # left in a multirun's sweep folder by the job that found W&B out of reach
RETRY_AFTER_S = 3600  # after that, one job of the multirun tries online again


def is_online(mode: str | None) -> bool:
    return (mode or os.environ.get("WANDB_MODE", "")) == "online"


@contextmanager
def one_at_a_time(folder: Path | None) -> Iterator[str | None]:
    """In a multirun (`folder` = its sweep folder), jobs start W&B online one at a time, and once one found it out
    of reach, the others learn why (the marker's text) instead of each waiting the init timeout; None otherwise."""
    if folder is None:
        yield None
        return
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / UNREACHABLE
    with open(folder / ".wandb-init.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel jobs (joblib, submitit) wait here for the one starting W&B
        fresh = marker.is_file() and time.time() - marker.stat().st_mtime < RETRY_AFTER_S
        yield marker.read_text() if fresh else None


def start_run(wandb: Any, sweep: Path | None = None, **init: Any) -> Any | None:
    """wandb.init; when it fails, for whatever reason, warn once and log offline, or give up on W&B (None) rather
    than on the run. `sweep`: the sweep folder of a multirun, where one job's finding that W&B is out of reach
    sends the later jobs offline at once (one_at_a_time)."""
    online = is_online(init.get("mode"))
    with one_at_a_time(sweep if online else None) as known:
        if known:
            reason = f"{known} (found by an earlier job of this multirun)"
        else:
            try:
                return wandb.init(**init)
            except Exception as exc:  # W&B's own errors, the network's, its service's: none may end the run
                reason = first_line(exc)
            if online and sweep is not None:
                (sweep / UNREACHABLE).write_text(reason)
    wandb.teardown()  # a failed attempt still holds the run id
    try:
        run = wandb.init(**{**init, "mode": "offline"})
    except Exception as exc:
        wandb.teardown()
        warn(f"W&B could not start ({reason}; offline: {first_line(exc)}); this run is recorded locally only")
        return None
    warn(f"W&B could not start ({reason}); logging offline instead. "
         f"Upload it later with: wandb sync {Path(run.dir).parent}")
    return run


def sweep_folder() -> Path | None:
    """The sweep folder of this Hydra multirun job; None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir)


@contextmanager
def open_tracker(cfg: DictConfig, run_dir: Path, resume_id: str | None,
                 mode: str | None = None) -> Iterator[Tracker]:
    """One W&B run per training job, closed when the job ends (so multirun jobs never merge). `mode` overrides
    the configured one (a rebuild from the record is written offline, then uploaded)."""
    log_cfg = cfg.logger
    if log_cfg.name == "none":
        yield NullTracker()
        return
    import wandb

    run = start_run(
        wandb,
        sweep=sweep_folder(),
        project=log_cfg.project,
        entity=log_cfg.entity,
        group=log_cfg.group,
        job_type=log_cfg.job_type,
        name=log_cfg.run_name or run_name(log_cfg.group, cfg),
        tags=run_tags(cfg),
        config=flatten(OmegaConf.to_container(cfg, resolve=True)),
        dir=str(run_dir),
        mode=mode or wandb_mode(log_cfg.mode),
        id=resume_id,
        resume="allow" if resume_id else None,
        settings=wandb.Settings(silent=True),
    )
    if run is None:
        yield NullTracker()
        return
    tracker = WandbTracker(run, log_checkpoints=log_cfg.get("log_checkpoints", False))
    try:
        yield tracker
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    tracker.finish(exit_code=0)
