"""The run record: the fixed set of files one training run leaves in its run directory.

    .hydra/config.yaml   the composed config (written by Hydra)
    metrics.csv          one row per completed epoch, columns METRIC_COLUMNS
    summary.json         status, progress, best/final metrics, provenance
    checkpoint.pt        everything needed to continue after the last completed epoch
    wandb/               the W&B run (offline unless configured online)

Every file is replaced atomically (temp file + os.replace), so a kill at any moment leaves either the
previous or the next complete version, never a half-written one. Reports, resume and the dashboard read
only these files; changing their layout is a breaking change (bump RECORD_VERSION).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from sgdtricks.errors import CheckpointError

RECORD_VERSION = 1
CHECKPOINT_FORMAT = "sgdtricks-checkpoint-v1"
METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "epoch_time_s"]
STATUSES = ("running", "finished", "diverged", "failed", "interrupted")
DONE_STATUSES = ("finished", "diverged")  # runs that a re-run of the same command leaves alone


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


class RunRecord:
    """Reads and writes the record files of one run directory."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.metrics_path = self.dir / "metrics.csv"
        self.summary_path = self.dir / "summary.json"
        self.checkpoint_path = self.dir / "checkpoint.pt"

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

    def write_metrics(self, rows: list[dict[str, float]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.metrics_path, lambda f: f.write(buffer.getvalue()))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        payload = {"format": CHECKPOINT_FORMAT, **state}
        atomic_write(self.checkpoint_path, lambda f: torch.save(payload, f), binary=True)

    def load_checkpoint(self, config_hash: str) -> dict[str, Any] | None:
        """The checkpoint's contents, None when there is none; CheckpointError when it is damaged or foreign."""
        path = self.checkpoint_path
        if not path.exists():
            return None
        if not path.is_file():
            raise CheckpointError(f"{path} is not a file; remove it to start this run over")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated zip, foreign pickle, unreadable file: all mean "not ours"
            raise CheckpointError(
                f"{path} is truncated or not an sgdtricks checkpoint ({type(exc).__name__}); "
                f"delete it (or the run directory) to start this run over"
            ) from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not an sgdtricks checkpoint; delete it to start this run over")
        if state.get("config_hash") != config_hash:
            raise CheckpointError(
                f"{path} was written by a different config; use another hydra.run.dir or delete {self.dir}"
            )
        return state
