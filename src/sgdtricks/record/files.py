"""The run record: the fixed set of files one training run leaves in its run directory.

    .hydra/config.yaml   the composed config (written by Hydra)
    metrics.csv          one row per completed epoch, columns METRIC_COLUMNS; a stability run (trainer=stability,
                         run/stability.py) has one row per measured step instead, columns STEP_METRIC_COLUMNS
    summary.json         status, progress, best/final metrics, provenance
    checkpoint.pt        everything needed to continue after the last completed epoch (and the .hydra files
                         of the config that wrote it)
    wandb/               the W&B run (offline unless configured online)
    .lock                flock'ed by the process training here, so a second job on the directory is refused

Every file is replaced atomically (temp file + os.replace), so a kill at any moment leaves either the
previous or the next complete version, never a half-written one. Reports, resume and the dashboard read
only these files; changing their layout is a breaking change (bump RECORD_VERSION).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from sgdtricks.errors import CheckpointError, RecordError
from sgdtricks.record.identity import differences

RECORD_VERSION = 4  # 2: metrics.csv gained grad_norm, momentum_norm; 3: config_hash of record/identity.py;
# 4: metrics.csv gained train_time_s and sharpness (trainer.sharpness_every), summary.json compile_s (images_per_s is
# training images over training time); stability runs write STEP_METRIC_COLUMNS
CHECKPOINT_FORMAT = "sgdtricks-checkpoint-v2"
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes into .hydra/ at every start
METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "epoch_time_s",
                  "train_time_s", "grad_norm", "momentum_norm", "sharpness"]  # see run/diagnostics.py
# Measured at some epochs only, NaN at the others (which W&B does not get): the test split where a reported number
# reads it (record/metrics.py: the last epoch and each new best validation epoch), sharpness every sharpness_every.
SPARSE_COLUMNS = ("test_loss", "test_acc", "sharpness")
TIME_COLUMNS = ["epoch_time_s", "train_time_s"]  # epoch: training + evaluation; train: the training pass alone
STEP_METRIC_COLUMNS = ["step", "lr", "train_loss", "sharpness", "batch_sharpness"]  # a stability run's rows
STATUSES = ("running", "finished", "diverged", "failed", "interrupted")
DONE_STATUSES = ("finished", "diverged")  # runs that a re-run of the same command leaves alone


def metric_columns(config: dict[str, Any]) -> list[str]:
    """The metrics.csv columns of a run of this (resolved) config: per step for a stability run, else per epoch."""
    return STEP_METRIC_COLUMNS if (config.get("trainer") or {}).get("name") == "stability" else METRIC_COLUMNS


def atomic_write(path: Path, write: Any, binary: bool = False) -> None:
    """Call `write(file)` on a temp file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", newline=None if binary else "") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; records are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    """NaN/inf are not JSON; a diverged run's losses are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@contextmanager
def exclusive(lock_path: Path, busy: str) -> Iterator[None]:
    """Hold an flock on `lock_path` for the block, or raise RecordError(`busy`) when another process holds it.

    An flock dies with its process, so a killed holder leaves no stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecordError(busy) from None
        yield


class RunRecord:
    """Reads and writes the record files of one run directory."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.metrics_path = self.dir / "metrics.csv"
        self.summary_path = self.dir / "summary.json"
        self.checkpoint_path = self.dir / "checkpoint.pt"
        self.hydra_dir = self.dir / ".hydra"

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the run directory for this process, so two jobs never write it at once; the temp files that
        interrupted writes left (never renamed over a record file) are removed once it is held."""
        with exclusive(self.dir / ".lock", f"{self.dir} is in use by another training process; "
                                           f"wait for it to end or choose another hydra.run.dir"):
            for stale in self.dir.glob(".*.tmp"):
                stale.unlink()
            yield

    def previous_attempt(self, config_hash: str,
                         identity: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(summary, checkpoint) left here by earlier attempts of this run, each None when absent (the
        checkpoint also when the run is done: there is nothing to continue, so it is not even read).

        Refuses a directory that holds another config's run. Hydra has already overwritten .hydra/ with
        the refused config by the time this runs, so the run's own files are first put back from its
        checkpoint: the directory stays a truthful record of the run it holds.
        """
        for path in (self.metrics_path, self.summary_path, self.checkpoint_path):
            if path.exists() and not path.is_file():
                raise RecordError(f"{path} is not a file; remove it, or choose another hydra.run.dir")
        summary = self.read_summary()
        if summary and summary.get("config_hash") == config_hash and summary.get("status") in DONE_STATUSES:
            return summary, None
        checkpoint = self.load_checkpoint()
        recorded = (checkpoint or summary or {}).get("config_hash")
        if recorded not in (None, config_hash):
            if checkpoint:
                self.write_hydra_files(checkpoint["hydra"])
            theirs = (checkpoint or summary or {}).get("identity")
            keys = differences(theirs, identity) if theirs and identity else []
            what = f"differs in {', '.join(keys)}" if keys else f"hash {recorded}, this one {config_hash}"
            raise RecordError(f"{self.dir} holds the run of a different config ({what}); "
                              f"choose another hydra.run.dir, or delete that directory to start over")
        return summary, checkpoint

    def read_summary(self) -> dict[str, Any] | None:
        if not self.summary_path.exists():
            return None
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # unreadable: treated as absent; the checkpoint decides where to continue

    def write_summary(self, summary: dict[str, Any]) -> None:
        text = json.dumps(_json_safe(summary), indent=2, sort_keys=True) + "\n"
        atomic_write(self.summary_path, lambda f: f.write(text))

    def write_metrics(self, rows: list[dict[str, float]], columns: list[str] = METRIC_COLUMNS) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.metrics_path, lambda f: f.write(buffer.getvalue()))

    def read_hydra_files(self) -> dict[str, str]:
        """The .hydra/ files of this run's config (none when hydra.output_subdir is null)."""
        return {name: (self.hydra_dir / name).read_text() for name in HYDRA_FILES if (self.hydra_dir / name).is_file()}

    def write_hydra_files(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            atomic_write(self.hydra_dir / name, lambda f, text=text: f.write(text))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        payload = {"format": CHECKPOINT_FORMAT, **state}
        atomic_write(self.checkpoint_path, lambda f: torch.save(payload, f), binary=True)

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's contents, None when there is none; CheckpointError when it is damaged or foreign.

        weights_only: a checkpoint is data (tensors, numbers, strings), never code to run.
        """
        path = self.checkpoint_path
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, foreign pickle, unreadable file: all mean "not ours"
            raise CheckpointError(
                f"{path} is truncated or not an sgdtricks checkpoint ({type(exc).__name__}); "
                f"delete it (or the run directory) to start this run over"
            ) from None
        found = state.get("format") if isinstance(state, dict) else None
        if found != CHECKPOINT_FORMAT:
            what = f"has format {found}, this code reads {CHECKPOINT_FORMAT}" if found else "is not an sgdtricks checkpoint"
            raise CheckpointError(f"{path} {what}; delete it (or the run directory) to start this run over")
        return state
