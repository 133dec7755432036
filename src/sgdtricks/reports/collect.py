"""Run records -> one tidy DataFrame: one row per run and epoch, config columns under their dotted keys.

Both sources (local run directories here, W&B runs in wandb_source.py) reduce a run to the same triple
(resolved config, summary, per-epoch metrics) and go through `run_frame`, so a table built from W&B equals
the one built from the same runs' local records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from sgdtricks.record import METRIC_COLUMNS, RunRecord
from sgdtricks.resolvers import register_resolvers
from sgdtricks.train import config_hash

register_resolvers()  # the configs of the momentum study use ${effective_lr:...}

# Summary fields carried onto every row of a run (the rest of summary.json stays in the record), and the
# package versions as versions.python, versions.torch, ...
SUMMARY_COLUMNS = ["status", "diverged_epoch", "wall_time_s", "images_per_s", "device_name", "git_commit",
                   "train_images", "val_images", "test_images", "started", "updated"]


@dataclass
class SkippedRun:
    """A run directory left out of the table, and why (incomplete, failed, unreadable)."""

    run: str
    reason: str


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optimizer': {'lr': 0.05}} -> {'optimizer.lr': 0.05}; lists become strings so they can be grouped."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def run_frame(run: str, config: dict[str, Any], summary: dict[str, Any], metrics: pd.DataFrame) -> pd.DataFrame:
    """One run's rows: its per-epoch metrics, with its config and summary fields repeated on every row."""
    frame = metrics[METRIC_COLUMNS].copy()
    constants = {"run": run, **{k: summary.get(k) for k in SUMMARY_COLUMNS},
                 **flatten({"versions": summary.get("versions") or {}}), **flatten(config)}
    for column, value in constants.items():
        frame[column] = value
    return frame[list(constants) + METRIC_COLUMNS]


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """The (config, summary, metrics) of one run directory; raises ValueError when the record is incomplete."""
    record = RunRecord(run_dir)
    summary = record.read_summary()
    config_path = run_dir / ".hydra" / "config.yaml"
    if summary is None or not config_path.is_file() or not record.metrics_path.is_file():
        raise ValueError("incomplete record (no summary.json, .hydra/config.yaml or metrics.csv)")
    config = OmegaConf.to_container(OmegaConf.load(config_path), resolve=True)
    if summary.get("config_hash") not in (None, config_hash(OmegaConf.create(config))):
        raise ValueError(".hydra/config.yaml is not the config this run trained with (a later command with "
                         "another config rewrote it); re-run the run's own command to restore it")
    metrics = pd.read_csv(record.metrics_path)
    return config, summary, metrics


def runs_from_records(root: Path, statuses: tuple[str, ...] = ("finished", "diverged")) -> tuple[pd.DataFrame, list[SkippedRun]]:
    """Every run directory under `root` whose status is in `statuses`; the others are listed as skipped."""
    frames, skipped = [], []
    for summary_path in sorted(Path(root).rglob("summary.json")):
        run_dir = summary_path.parent
        run = str(run_dir.relative_to(root))
        try:
            config, summary, metrics = read_run(run_dir)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            skipped.append(SkippedRun(run, str(exc)))
            continue
        if summary.get("status") not in statuses:
            skipped.append(SkippedRun(run, f"status {summary.get('status')}"))
            continue
        frames.append(run_frame(run, config, summary, metrics))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, skipped
