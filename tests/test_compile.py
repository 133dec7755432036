"""torch.compile on CPU: every graph is built before the first epoch and none after, the model leaves the warm-up
as it entered, compile time is reported apart, and images/s counts training time only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch._dynamo.utils import counters

from conftest import compose_config
from sgdtricks.run import setup
from sgdtricks.run.data import load_data
from sgdtricks.run.loop import evaluate, train_epoch, warm_up
from sgdtricks.run.trainer import train

# 900 training images in batches of 64 (a last batch of 4), 100 val and 500 test images in batches of 64: every
# kind of shape the loop sees.
TINY = ["model.widths=[4,8]", "trainer.batch_size=64", "trainer.compile=true", "trainer.device=cpu", "logger=none"]


@pytest.fixture(autouse=True)
def _fresh_compiler() -> None:
    torch._dynamo.reset()
    counters.clear()


def test_warm_up_builds_every_graph_and_epochs_build_none(small_npz: Path) -> None:
    cfg = compose_config("data=npz", f"data.path={small_npz}", *TINY)
    data = load_data(cfg.data, torch.device("cpu"))
    parts = setup.build(cfg, data, torch.device("cpu"))
    before = {k: v.clone() for k, v in parts.model.state_dict().items()}

    assert warm_up(parts.model, parts.forward, data, cfg, parts.autocast) > 0
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 2  # train and eval mode at least
    torch.testing.assert_close(parts.model.state_dict(), before, rtol=0, atol=0)  # weights and BN statistics
    assert all(p.grad is None for p in parts.model.parameters())

    for epoch in (1, 2):
        train_epoch(parts.forward, parts.optimizer, data, cfg, epoch, parts.autocast, {"signal": 0})
        evaluate(parts.forward, data.val_x, data.val_y, data, cfg, parts.autocast)
        evaluate(parts.forward, data.test_x, data.test_y, data, cfg, parts.autocast)
    assert counters["stats"]["unique_graphs"] == graphs


def test_compiled_run_reports_compile_time_apart_and_images_per_s_over_training_time(small_npz: Path,
                                                                                      tmp_path: Path) -> None:
    summary = train(compose_config("data=npz", f"data.path={small_npz}", "trainer.epochs=2", *TINY), tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert summary["status"] == "finished" and summary["compile_s"] > 0
    assert (metrics["train_time_s"] < metrics["epoch_time_s"]).all()
    assert summary["images_per_s"] == pytest.approx(summary["train_images"] * 2 / metrics["train_time_s"].sum(),
                                                    rel=1e-6)
    assert summary["wall_time_s"] == pytest.approx(metrics["epoch_time_s"].sum(), rel=1e-6)
