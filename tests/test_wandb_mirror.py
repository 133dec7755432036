"""The record is the truth and W&B mirrors it: after a SIGKILL and a resume the W&B run holds every epoch of
metrics.csv once with its values; `make wandb-sync` rebuilds a run whose offline file was cut short and uploads
only the newest, complete folder of each run. Read back with `wandb leet inspect`."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import assert_epoch_mirrored, make_npz, run_cli, start_cli, wandb_records
from omegaconf import OmegaConf

from sgdtricks.record import mirror, tracking
from sgdtricks.record.identity import run_key
from sgdtricks.study import wandb_cli

EPOCHS, BATCH, LOG_EVERY = 5, 32, 2
TRAIN_IMAGES = 288  # 320 images less the 10% validation split (data=npz)
STEPS = math.ceil(TRAIN_IMAGES / BATCH)  # per epoch
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_npz(tmp_path_factory.mktemp("data") / "synthetic.npz", n_train=320, n_test=64)


def args(data: Path, run_dir: Path) -> list[str]:
    return ["data=npz", f"data.path={data}", f"trainer.epochs={EPOCHS}", "model.widths=[8,16,32]",
            f"trainer.batch_size={BATCH}", f"trainer.log_every={LOG_EVERY}", "logger=wandb",
            f"hydra.run.dir={run_dir}"]


def signal_after_epoch(argv: list[str], epoch: int, sig: signal.Signals) -> int:
    """Start a run and send `sig` as soon as it prints epoch `epoch`'s line (it is then inside epoch + 1)."""
    proc = start_cli(*argv, env=ONE_THREAD)
    for line in proc.stdout:
        if line.startswith(f"epoch {epoch:3d}/"):
            proc.send_signal(sig)
            break
    proc.communicate(timeout=300)
    return proc.returncode


def history(offline_run: Path) -> list[dict[str, Any]]:
    return [r["history"]["item"] for r in wandb_records(offline_run) if r["type"] == "history"]


def newest(run_dir: Path) -> Path:
    return mirror.offline_runs(run_dir / "wandb")[-1]


def assert_mirrors_the_record(offline_run: Path, run_dir: Path) -> list[dict[str, Any]]:
    """Every epoch of metrics.csv once, with its values; returns the step points."""
    rows = history(offline_run)
    epochs = [row for row in rows if "epoch" in row]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert [row["epoch"] for row in epochs] == metrics["epoch"].tolist()
    for row, (_, expected) in zip(epochs, metrics.iterrows()):
        assert_epoch_mirrored(row, expected)
    return [row for row in rows if "global_step" in row]


def logged_steps(epochs: range) -> list[int]:
    """The global steps the loop logs in `epochs`: every LOG_EVERY-th step of an epoch and its last."""
    return [(e - 1) * STEPS + s + 1 for e in epochs for s in range(STEPS) if s % LOG_EVERY == 0 or s == STEPS - 1]


def test_sigkill_then_sync_rebuilds_and_resume_logs_every_epoch_once(synthetic_npz: Path, tmp_path: Path) -> None:
    """Killed after epoch 2: the W&B file is empty. `make wandb-sync` rebuilds the W&B run whole from the record
    (config, epochs, summary, tags) under the same id; the resumed run then holds every epoch once."""
    run_dir = tmp_path / "runs" / "a"
    assert signal_after_epoch(args(synthetic_npz, run_dir), 2, signal.SIGKILL) == -signal.SIGKILL
    (killed,) = mirror.offline_runs(run_dir / "wandb")
    assert history(killed) == []  # W&B's service died with the process before it flushed: the 7 bytes

    (rebuilt,) = wandb_cli.rebuild_cut_short(tmp_path / "runs")
    assert wandb_cli.newest_runs(tmp_path / "runs") == [rebuilt] and mirror.run_id(rebuilt) == mirror.run_id(killed)
    assert_mirrors_the_record(rebuilt, run_dir)
    records = wandb_records(rebuilt)
    info = [r["run"] for r in records if r["type"] == "run"][-1]
    config = {k: v for r in records if r["type"] == "run" for k, v in r["run"].get("config", {}).get("update", {}).items()}
    summary = {k: v for r in records if r["type"] == "summary" for k, v in r["summary"].get("update", {}).items()}
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert info["tags"] == tracking.run_tags(cfg) and info["display_name"] == run_key(cfg)
    assert {k: v for k, v in config.items() if k != "_wandb"} == tracking.flatten(OmegaConf.to_container(cfg, resolve=True))
    record = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == record["status"] and summary["epochs_completed"] == record["epochs_completed"] == 2
    assert wandb_cli.rebuild_cut_short(tmp_path / "runs") == []  # whole now: nothing to rebuild twice

    result = run_cli(*args(synthetic_npz, run_dir), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = newest(run_dir)
    assert resumed not in (killed, rebuilt) and mirror.run_id(resumed) == mirror.run_id(killed)  # the same W&B run
    steps = assert_mirrors_the_record(resumed, run_dir)
    # the steps of epochs 1 and 2 died with the first file; those trained since are there, each once
    assert [row["global_step"] for row in steps] == logged_steps(range(3, EPOCHS + 1))
    assert wandb_cli.rebuild_cut_short(tmp_path / "runs") == []


def test_sigterm_then_resume_keeps_the_earlier_step_points(synthetic_npz: Path, tmp_path: Path) -> None:
    """A file that survived (SIGTERM ends the run cleanly) gives its step points to the resumed run's file,
    up to the last recorded epoch: the newest file alone holds the whole history, each point once."""
    assert signal_after_epoch(args(synthetic_npz, tmp_path), 2, signal.SIGTERM) == 128 + signal.SIGTERM
    result = run_cli(*args(synthetic_npz, tmp_path), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    steps = assert_mirrors_the_record(newest(tmp_path), tmp_path)
    assert [row["global_step"] for row in steps] == logged_steps(range(1, EPOCHS + 1))
