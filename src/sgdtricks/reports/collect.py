"""Run records -> one tidy DataFrame: one row per run and epoch, config columns under their dotted keys.

Both sources (local run directories here, W&B runs in wandb_source.py) reduce a run to the same triple
(resolved config, summary, per-epoch metrics) and go through `run_frame`, so a table built from W&B equals
the one built from the same runs' local records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from sgdtricks.config.resolvers import register_resolvers
from sgdtricks.errors import DataError
from sgdtricks.config.grid import GRIDS_FILE, read_grids
from sgdtricks.record.files import DONE_STATUSES, RECORD_VERSION, RunRecord, metric_columns
from sgdtricks.record.identity import config_hash
from sgdtricks.record.tracking import flatten

register_resolvers()  # the configs of the momentum study use ${effective_lr:...}

# Summary fields carried onto every row of a run (the rest of summary.json stays in the record), and the
# package versions as versions.python, versions.torch, ...
SUMMARY_COLUMNS = ["status", "config_hash", "diverged_epoch", "wall_time_s", "images_per_s", "device_name", "git_commit",
                   "train_images", "val_images", "test_images", "started", "updated"]


@dataclass(frozen=True)
class SkippedRun:
    """A run directory left out of the table, and why (incomplete, failed, unreadable)."""

    run: str
    reason: str


def run_frame(run: str, config: dict[str, Any], summary: dict[str, Any], metrics: pd.DataFrame) -> pd.DataFrame:
    """One run's rows: its per-epoch (stability run: per-step) metrics, with its config and summary fields
    repeated on every row."""
    columns = metric_columns(config)
    frame = metrics[columns].copy()
    constants = {"run": run, **{k: summary.get(k) for k in SUMMARY_COLUMNS},
                 **flatten({"versions": summary.get("versions") or {}}), **flatten(config)}
    for column, value in constants.items():
        frame[column] = value
    return frame[list(constants) + columns]


class UnreadableRun(ValueError):
    """A run record the builder cannot use; the message says why and what to do."""


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """The (config, summary, metrics) of one run directory; UnreadableRun when the record is incomplete,
    damaged, of another record version, or its config is not the one it trained with."""
    record = RunRecord(run_dir)
    summary = record.read_summary()
    config_path = run_dir / ".hydra" / "config.yaml"
    if summary is None or not config_path.is_file() or not record.metrics_path.is_file():
        raise UnreadableRun("incomplete record (no readable summary.json, .hydra/config.yaml or metrics.csv)")
    if summary.get("record_version") != RECORD_VERSION:
        raise UnreadableRun(f"record version {summary.get('record_version')}, this code reads {RECORD_VERSION}; "
                            f"re-run it with this code (delete the directory first)")
    try:
        config = OmegaConf.to_container(OmegaConf.load(config_path), resolve=True)
        fingerprint = config_hash(config, content=((summary.get("identity") or {}).get("data") or {}).get("content"))
    except DataError as exc:
        raise UnreadableRun(f"its data cannot be identified ({exc})") from None
    except Exception as exc:  # a damaged YAML file, an interpolation that no longer resolves: not this run's config
        raise UnreadableRun(f".hydra/config.yaml is damaged ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if summary.get("config_hash") != fingerprint:
        raise UnreadableRun(".hydra/config.yaml is not the config this run trained with (a later command with "
                            "another config rewrote it); re-run the run's own command to restore it")
    try:
        metrics = pd.read_csv(record.metrics_path)
    except (OSError, ValueError) as exc:
        raise UnreadableRun(f"metrics.csv is damaged ({type(exc).__name__})") from None
    missing = [c for c in metric_columns(config) if c not in metrics.columns]
    if missing:
        raise UnreadableRun(f"metrics.csv lacks the columns {', '.join(missing)} (an older record version)")
    return config, summary, metrics


def read_runs(root: Path, run_dirs: list[Path],
              statuses: tuple[str, ...] = DONE_STATUSES) -> tuple[pd.DataFrame, list[SkippedRun]]:
    """One frame of the given run directories (named relative to `root`); those not started, not done or
    unreadable are listed as skipped, with the reason."""
    frames, skipped = [], []
    for run_dir in run_dirs:
        name = str(run_dir.relative_to(root))
        if not (run_dir / "summary.json").is_file():
            skipped.append(SkippedRun(name, "not started"))
            continue
        try:
            config, summary, metrics = read_run(run_dir)
        except (UnreadableRun, OSError) as exc:
            skipped.append(SkippedRun(name, str(exc)))
            continue
        if summary.get("status") not in statuses:
            skipped.append(SkippedRun(name, f"status {summary.get('status')}"))
        else:
            frames.append(run_frame(name, config, summary, metrics))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), skipped


def study_runs(profile_dir: Path, study: str,
               statuses: tuple[str, ...] = DONE_STATUSES) -> tuple[pd.DataFrame, list[SkippedRun]]:
    """The runs of `study`'s grid as last launched on this profile (grids.json), `study` and `profile` set; runs
    that hold another config than the grid's (a directory reused by hand) are skipped too."""
    entries = read_grids(profile_dir).get(study, [])
    frame, skipped = read_runs(profile_dir.parent, [profile_dir / e["run_key"] for e in entries], statuses)
    if frame.empty:
        return frame, skipped
    expected = {f"{profile_dir.name}/{e['run_key']}": e["config_hash"] for e in entries}
    foreign = frame.groupby("run")["config_hash"].first().pipe(lambda h: h[h != h.index.map(expected)])
    skipped += [SkippedRun(run, f"holds another config than the {study} grid's") for run in foreign.index]
    return frame[~frame["run"].isin(foreign.index)].assign(study=study, profile=profile_dir.name), skipped


def runs_from_records(root: Path, statuses: tuple[str, ...] = DONE_STATUSES) -> tuple[pd.DataFrame, list[SkippedRun]]:
    """Every study run of every profile under `root` (root/<profile>/grids.json), one row per study that holds it."""
    frames, skipped = [], []
    for grids_file in sorted(Path(root).glob(f"*/{GRIDS_FILE}")):
        for study in read_grids(grids_file.parent):
            frame, left_out = study_runs(grids_file.parent, study, statuses)
            frames.append(frame)
            skipped += [s for s in left_out if s not in skipped]
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), skipped
