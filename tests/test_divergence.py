"""Divergence: a non-finite loss stops the run within the epoch, the record and the W&B run say `diverged` with
the epoch, and a multirun goes on to its next job."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import torch
from conftest import compose_config, run_cli, wandb_run_summary

from sgdtricks.run.data import load_data
from sgdtricks.run.loop import train_epoch
from sgdtricks.run.setup import instantiate
from sgdtricks.run.trainer import train

HUGE_LR = 1e20  # real data, plain SGD: the logits overflow in the first steps


def test_diverging_job_is_recorded_and_the_multirun_goes_on(small_npz: Path, tmp_path: Path):
    result = run_cli("-m", "data=npz", f"data.path={small_npz}", "trainer.epochs=3", "model.widths=[8,16,32]",
                     f"optimizer.lr={HUGE_LR},0.05", "logger=wandb", f"hydra.sweep.dir={tmp_path}",
                     env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    runs = {json.loads(p.read_text())["status"]: p.parent for p in tmp_path.rglob("summary.json")}
    assert set(runs) == {"diverged", "finished"}  # the job after the diverged one ran to the end

    diverged = runs["diverged"]
    summary = json.loads((diverged / "summary.json").read_text())
    rows = pd.read_csv(diverged / "metrics.csv")
    assert summary["diverged_epoch"] == summary["epochs_completed"] == len(rows) == rows["epoch"].iloc[-1]
    assert not math.isfinite(rows["train_loss"].iloc[-1])
    assert rows[["val_loss", "val_acc", "test_loss", "test_acc"]].iloc[-1].isna().all()  # no fake numbers
    assert summary["best_val_acc"] is None or summary["best_val_acc"] == rows["val_acc"].max()
    assert f"diverged: non-finite loss in epoch {summary['diverged_epoch']}" in result.stdout

    wandb_run = wandb_run_summary(diverged)
    assert wandb_run["summary"]["status"] == "diverged"
    assert wandb_run["summary"]["diverged_epoch"] == summary["diverged_epoch"]
    assert "diverged" in wandb_run["tags"]
    assert wandb_run_summary(runs["finished"])["summary"]["status"] == "finished"

    # The same command again leaves a diverged run alone instead of training on from NaN weights.
    cfg = compose_config("data=npz", f"data.path={small_npz}", "trainer.epochs=3", "model.widths=[8,16,32]",
                         f"optimizer.lr={HUGE_LR}", "logger=wandb")
    assert train(cfg, diverged)["status"] == "diverged"
    pd.testing.assert_frame_equal(pd.read_csv(diverged / "metrics.csv"), rows)


def test_the_epoch_stops_within_log_every_steps_of_a_non_finite_loss(small_npz: Path):
    cfg = compose_config("data=npz", f"data.path={small_npz}", "model.widths=[8,16,32]", "logger=none",
                         f"optimizer.lr={HUGE_LR}", "trainer.log_every=1", "trainer.batch_size=32")
    data = load_data(cfg.data, torch.device("cpu"))
    model = instantiate(cfg.model, data.in_channels, data.num_classes)
    optimizer = instantiate(cfg.optimizer, model.parameters())
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(1))
    loss, _ = train_epoch(model, optimizer, data, cfg, 1, torch.autocast("cpu", enabled=False), {"signal": 0})
    assert not math.isfinite(loss)
    assert len(steps) < math.ceil(len(data.train_x) / 32) / 2  # far from the whole epoch
