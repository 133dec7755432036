"""Every config option composes and builds; the schedulers follow the lecture's schedules."""

from __future__ import annotations

import torch
import pytest

from conftest import CONF, compose_config
from sgdtricks.run.loop import step_scheduler
from sgdtricks.run.setup import instantiate

GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "logger"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_builds(group: str, option: str) -> None:
    cfg = compose_config(f"{group}={option}", "data.path=unused.npz" if option == "npz" else "seed=0")
    assert cfg[group].name == option if "name" in cfg[group] else True
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = instantiate(cfg.optimizer, params)
    instantiate(cfg.scheduler, optimizer)
    model = instantiate(cfg.model, 3, 10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def lrs_per_epoch(scheduler_name: str, epochs: int, val_losses: list[float] | None = None, **overrides) -> list[float]:
    """The lr in force during each epoch when the scheduler steps after the epoch, as train.py does."""
    cfg = compose_config(f"scheduler={scheduler_name}", f"trainer.epochs={epochs}", "optimizer.lr=0.05",
                         *(f"scheduler.{k}={v}" for k, v in overrides.items()))
    optimizer = instantiate(cfg.optimizer, [torch.nn.Parameter(torch.zeros(1))])
    scheduler = instantiate(cfg.scheduler, optimizer)
    used = []
    for epoch in range(epochs):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step_scheduler(scheduler, val_losses[epoch] if val_losses else 0.0)
    return used


def test_step_lr_matches_the_lecture_schedule() -> None:
    lrs = lrs_per_epoch("step", 100)
    expected = [0.05] * 30 + [0.005] * 30 + [0.0005] * 30 + [0.00005] * 10
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected), rtol=1e-9, atol=0)


def test_constant_and_cosine() -> None:
    assert lrs_per_epoch("constant", 10) == [0.05] * 10
    cosine = lrs_per_epoch("cosine", 10)
    assert cosine[0] == 0.05 and all(a > b for a, b in zip(cosine, cosine[1:]))
    torch.testing.assert_close(cosine[5], 0.05 * 0.5, rtol=1e-9, atol=0)  # halfway down at T_max/2


def test_plateau_decisions_equal_torch_defaults() -> None:
    """Our plateau config is torch's defaults: same reductions on a scripted validation-loss sequence."""
    losses = [2.0, 1.5, 1.4] + [1.4] * 12 + [1.0, 0.99995] + [1.0] * 25
    ours = lrs_per_epoch("plateau", len(losses), losses)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    theirs = []
    for loss in losses:
        theirs.append(optimizer.param_groups[0]["lr"])
        reference.step(loss)
    assert ours == theirs
    assert len(set(ours)) >= 3  # several reductions happened: the test exercises the decision rule


def test_plateau_patience_counts_epochs_without_improvement() -> None:
    lrs = lrs_per_epoch("plateau", 8, [1.0] * 8, patience=2)
    # epoch 1 sets the best; epochs 2, 3 are bad; after the 3rd bad epoch (epoch 4) the lr drops
    assert lrs == pytest.approx([0.05] * 4 + [0.005] * 3 + [0.0005], rel=1e-12)
