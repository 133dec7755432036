"""HeavyBall, written from the lecture's two lines, is torch.optim.SGD(momentum=beta) on a real model and data."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from conftest import compose_config
from sgdtricks.run import augment
from sgdtricks.config.checks import check_config
from sgdtricks.run.data import load_data
from sgdtricks.errors import ConfigError
from sgdtricks.models import SmallCNN
from sgdtricks.optim import HeavyBall
from sgdtricks.record.files import RunRecord
from sgdtricks.run.setup import instantiate
from sgdtricks.run.trainer import train

TINY = ["model.widths=[8,16]", "logger=none", "trainer.device=cpu"]


@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_heavy_ball_equals_torch_sgd_across_an_lr_drop(small_npz: Path, weight_decay: float) -> None:
    """Same initial weights and batches; StepLR drops the lr 0.05 -> 0.005 halfway; every parameter, BatchNorm
    buffer and momentum buffer agrees after every step."""
    data = load_data(compose_config("data=npz", f"data.path={small_npz}").data, torch.device("cpu"))
    torch.manual_seed(0)
    ours = SmallCNN(data.in_channels, data.num_classes, widths=(8, 16))
    theirs = copy.deepcopy(ours)
    initial = [p.detach().clone() for p in ours.parameters()]
    runs = []
    for model, cls in ((ours, HeavyBall), (theirs, torch.optim.SGD)):
        optimizer = cls(model.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
        runs.append((model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.1)))
    for start in range(0, 8 * 64, 64):
        xb = augment.normalize(data.train_x[start:start + 64], data.mean, data.std)
        yb = data.train_y[start:start + 64]
        for model, optimizer, scheduler in runs:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    (_, ours_opt, _), (_, theirs_opt, _) = runs
    assert ours_opt.param_groups[0]["lr"] == pytest.approx(0.0005) == theirs_opt.param_groups[0]["lr"]
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(ours_opt.state[p]["z"], theirs_opt.state[q]["momentum_buffer"])
    moved = max((p.detach() - p0).abs().max().item() for p, p0 in zip(ours.parameters(), initial))
    assert moved > 1e-3  # the steps did something to compare


def test_training_run_with_heavy_ball_equals_sgd(small_npz: Path, tmp_path: Path) -> None:
    """`optimizer=heavy_ball` through train.py: the same metrics and weights as `optimizer=sgd`."""
    common = ["data=npz", f"data.path={small_npz}", "trainer.epochs=2", "scheduler=step", "scheduler.step_size=1",
              "optimizer.weight_decay=5e-4", *TINY]
    summaries = {name: train(compose_config(f"optimizer={name}", *common), tmp_path / name)
                 for name in ("heavy_ball", "sgd")}
    assert all(s["status"] == "finished" for s in summaries.values())
    metrics = [pd.read_csv(RunRecord(tmp_path / name).metrics_path).drop(columns="epoch_time_s") for name in summaries]
    pd.testing.assert_frame_equal(*metrics, rtol=1e-5)
    assert metrics[0]["lr"].tolist() == pytest.approx([0.05, 0.005])
    weights = [torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)["model"] for name in summaries]
    torch.testing.assert_close(*weights)


def test_config_builds_heavy_ball_and_checks_its_keys() -> None:
    cfg = compose_config("optimizer=heavy_ball")
    sgd = compose_config("optimizer=sgd").optimizer
    assert set(cfg.optimizer) <= set(sgd) and cfg.optimizer.lr == sgd.lr and cfg.optimizer.momentum == sgd.momentum
    check_config(cfg)
    optimizer = instantiate(cfg.optimizer, [torch.nn.Parameter(torch.zeros(2))])
    assert isinstance(optimizer, HeavyBall)
    assert optimizer.defaults == {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0}
    with pytest.raises(ConfigError, match="optimizer.momentum=1.0"):
        check_config(compose_config("optimizer=heavy_ball", "optimizer.momentum=1.0"))


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"momentum": 1.0}, {"momentum": -0.1}, {"weight_decay": -1e-4}])
def test_heavy_ball_rejects_out_of_range_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        HeavyBall([torch.nn.Parameter(torch.zeros(1))], **kwargs)
