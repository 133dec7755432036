"""HeavyBall, written from the lecture's two lines, is torch.optim.SGD(momentum=beta) on a real model and data."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode  # the mode FlopCounterMode is built on

from conftest import compose_config
from sgdtricks.run import augment
from sgdtricks.config.checks import check_config
from sgdtricks.run.data import load_data
from sgdtricks.errors import ConfigError
from sgdtricks.models import SmallCNN
from sgdtricks.optim import HeavyBall
from sgdtricks.record.files import TIME_COLUMNS, RunRecord
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
    metrics = [pd.read_csv(RunRecord(tmp_path / name).metrics_path).drop(columns=TIME_COLUMNS) for name in summaries]
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


def tiny_problem(seed: int = 0) -> tuple[torch.nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A conv + BatchNorm + linear model and six synthetic batches: no data files needed."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
    return model, [(torch.randn(16, 3, 8, 8), torch.randint(0, 10, (16,))) for _ in range(6)]


def sgd_steps(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for xb, yb in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_heavy_ball_resumed_from_its_state_dict_equals_uninterrupted_torch_sgd(weight_decay: float) -> None:
    """Three steps, a checkpoint round trip of model and optimizer into fresh objects, three more steps:
    weights and momentum buffers equal torch SGD's uninterrupted run exactly (same arithmetic, same order)."""
    theirs, batches = tiny_problem()
    ours = copy.deepcopy(theirs)
    sgd = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    sgd_steps(theirs, sgd, batches)

    first = HeavyBall(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    sgd_steps(ours, first, batches[:3])
    saved = copy.deepcopy({"model": ours.state_dict(), "optimizer": first.state_dict()})
    resumed, _ = tiny_problem(seed=1)  # other initial weights: everything must come from the checkpoint
    resumed.load_state_dict(saved["model"])
    second = HeavyBall(resumed.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    second.load_state_dict(saved["optimizer"])
    sgd_steps(resumed, second, batches[3:])

    torch.testing.assert_close(resumed.state_dict(), theirs.state_dict(), rtol=0, atol=0)
    for p, q in zip(resumed.parameters(), theirs.parameters()):
        torch.testing.assert_close(second.state[p]["z"], sgd.state[q]["momentum_buffer"], rtol=0, atol=0)


class AtenOps(TorchDispatchMode):
    """Records the ATen operators (what becomes kernels on a GPU) called while active; FlopCounterMode's base."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 (torch's protocol)
        if func.namespace == "aten":
            self.ops.append(func.name())
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_heavy_ball_step_is_a_few_multi_tensor_ops_for_any_number_of_parameters(weight_decay: float) -> None:
    """The same operators for 4 or 40 parameter tensors (a per-tensor loop makes 3-4 per tensor)."""
    ops = []
    for n in (4, 40):
        params = [torch.nn.Parameter(torch.randn(3)) for _ in range(n)]
        optimizer = HeavyBall(params, lr=0.1, momentum=0.9, weight_decay=weight_decay)
        for p in params:
            p.grad = torch.ones(3)
        optimizer.step()  # the first step creates z
        with AtenOps() as counter:
            optimizer.step()
        ops.append(counter.ops)
    assert ops[0] == ops[1] and len(ops[0]) == (4 if weight_decay else 3)
    assert all(op.startswith("aten::_foreach_") for op in ops[0])
