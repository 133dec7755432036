"""Training runs on W&B, read back from the offline run files (never from the local record) and compared
with the local record: one W&B run per multirun job with its own name, group, tags and config; per-epoch and
per-step series; divergence surfaced; checkpoints as artifacts; the W&B report source equal to the local one."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from conftest import assert_epoch_mirrored, compose_config, run_cli, wandb_records
from omegaconf import OmegaConf

from sgdtricks.run import diagnostics
from sgdtricks.optim import HeavyBall
from sgdtricks.record.identity import run_key
from sgdtricks.record.tracking import flatten
from sgdtricks.reports.collect import read_runs
from sgdtricks.reports.wandb_source import runs_from_wandb
from sgdtricks.record.tracking import EPOCH_KEYS, run_name

MOMENTA, LRS = (0.0, 0.9), (0.05, 1e30)  # lr 1e30 diverges within the first epoch
EPOCHS, BATCH, LOG_EVERY = 2, 128, 3


@dataclass
class WandbRun:
    """What the offline .wandb file of one run holds, merged as the W&B server merges it."""

    info: dict[str, Any] = field(default_factory=dict)  # the `run` record: id, name, group, job_type, tags
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def read_wandb_run(run_dir: Path) -> WandbRun:
    run = WandbRun()
    for record in wandb_records(run_dir):
        kind = record["type"]
        if kind == "run":
            run.info.update({k: v for k, v in record["run"].items() if k != "config"})
            run.config.update(record["run"].get("config", {}).get("update", {}))
        elif kind == "config":
            run.config.update(record["config"].get("update", {}))
        elif kind == "summary":
            run.summary.update(record["summary"].get("update", {}))
        elif kind == "history":
            run.history.append(record["history"]["item"])
        elif kind == "artifact":
            run.artifacts.append(record["artifact"])
    return run


class StandInRun:
    """A run with the attributes of wandb.apis.public.Run that wandb_source reads, filled from the run files."""

    def __init__(self, run: WandbRun):
        self.id, self.name = run.info["run_id"], run.info["display_name"]
        self.group, self.job_type, self.tags = run.info.get("run_group"), run.info["job_type"], run.info["tags"]
        self.config = {k: v for k, v in run.config.items() if k not in ("_wandb", "wandb_version")}  # as the API
        self.summary = run.summary
        self._history = run.history

    def scan_history(self) -> list[dict[str, Any]]:
        """The public API's contract without `keys`: every row, with the keys it holds."""
        return list(self._history)


class StandInApi:
    def __init__(self, runs: list[WandbRun]):
        self._runs = runs

    def runs(self, path: str) -> list[StandInRun]:
        assert path == "sgdtricks"
        return [StandInRun(run) for run in self._runs]


@pytest.fixture(scope="module")
def multirun(small_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, WandbRun]:
    """A 4-job multirun (momentum x lr; one lr diverges) with W&B offline; run dir -> its W&B run."""
    sweep_dir = tmp_path_factory.mktemp("multirun")
    result = run_cli(
        "-m", "data=npz", f"data.path={small_npz}", "data.train_subset=512", "model.widths=[8,16,32]",
        f"trainer.epochs={EPOCHS}", f"trainer.log_every={LOG_EVERY}", "trainer.device=cpu",
        "logger.group=wbtest", "logger.log_checkpoints=true",
        f"optimizer.momentum={','.join(map(str, MOMENTA))}", f"optimizer.lr={','.join(map(str, LRS))}",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run_dirs = sorted(p.parent for p in sweep_dir.rglob("summary.json"))
    assert len(run_dirs) == 4
    runs = {}
    for run_dir in run_dirs:
        (wandb_dir,) = (run_dir / "wandb").glob("offline-run-*")  # exactly one W&B run per job
        runs[run_dir] = read_wandb_run(wandb_dir)
    return runs


def local(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    config = OmegaConf.to_container(OmegaConf.load(run_dir / ".hydra" / "config.yaml"), resolve=True)
    return config, json.loads((run_dir / "summary.json").read_text()), pd.read_csv(run_dir / "metrics.csv")


def test_one_distinct_run_per_job_with_config_group_name_tags(multirun: dict[Path, WandbRun]) -> None:
    assert len({run.info["run_id"] for run in multirun.values()}) == 4
    assert len({run.info["display_name"] for run in multirun.values()}) == 4
    for run_dir, run in multirun.items():
        config, summary, _ = local(run_dir)
        momentum, lr = config["optimizer"]["momentum"], config["optimizer"]["lr"]
        assert summary["wandb_run_id"] == run.info["run_id"]
        assert run.info["run_group"] == "wbtest" and run.info["job_type"] == "train"
        parts = run.info["display_name"].removeprefix("wbtest/").split("-")
        assert run.info["display_name"] == f"wbtest/{summary['run_key']}"  # named as its directory would be
        assert f"m{momentum:g}" in parts and f"lr{lr:g}" in parts
        diverged = summary["status"] == "diverged"
        assert diverged == (lr > 1)
        assert sorted(run.info["tags"]) == sorted(["npz", "small_cnn", "constant", f"m{momentum:g}", f"lr{lr:g}"]
                                                  + ["diverged"] * diverged)
        flat = {k: v for k, v in run.config.items() if k != "_wandb"}
        assert flat == flatten(config)  # every key, filterable as `optimizer.momentum`, `scheduler.name`, ...
        assert run.summary["status"] == summary["status"]
        assert run.summary.get("diverged_epoch") == summary.get("diverged_epoch")
        assert run.summary.get("best_val_acc") == summary.get("best_val_acc")  # none when epoch 1 diverged


def test_per_epoch_and_per_step_series(multirun: dict[Path, WandbRun]) -> None:
    for run_dir, run in multirun.items():
        config, summary, metrics = local(run_dir)
        epochs = [row for row in run.history if "epoch" in row]
        assert [row["epoch"] for row in epochs] == list(range(1, summary["epochs_completed"] + 1))
        for row, (_, expected) in zip(epochs, metrics.iterrows()):
            assert_epoch_mirrored(row, expected)
        steps = [row for row in run.history if "global_step" in row]
        per_epoch = math.ceil(summary["train_images"] / BATCH)
        expected_steps = [(e - 1) * per_epoch + s + 1 for e in range(1, summary["epochs_completed"] + 1)
                          for s in range(per_epoch) if s % LOG_EVERY == 0 or s == per_epoch - 1]
        if summary["status"] == "diverged":  # the loop stops at the first logged non-finite loss
            expected_steps = expected_steps[:len(steps)]
            assert not math.isfinite(float(steps[-1]["step/train_loss"]))
        assert [row["global_step"] for row in steps] == expected_steps
        assert all(row["step/lr"] == config["optimizer"]["lr"] for row in steps)
        if summary["status"] == "finished":
            assert run.summary["val/acc"] == {"max": metrics["val_acc"].max()}
            assert run.summary["train/loss"] == {"min": metrics["train_loss"].min()}
            assert (metrics["grad_norm"] > 0).all() and (metrics["momentum_norm"] > 0).all()


def test_checkpoint_is_a_model_artifact(multirun: dict[Path, WandbRun]) -> None:
    for run_dir, run in multirun.items():
        (artifact,) = run.artifacts
        assert artifact["type"] == "model" and artifact["name"] == f"model-{run.info['run_id']}"
        (entry,) = artifact["manifest"]["contents"]
        md5 = base64.b64encode(hashlib.md5((run_dir / "checkpoint.pt").read_bytes()).digest()).decode()
        assert entry["path"] == "checkpoint.pt" and entry["digest"] == md5


def test_wandb_source_equals_local_records(multirun: dict[Path, WandbRun]) -> None:
    root = next(iter(multirun)).parent
    from_records, skipped = read_runs(root, list(multirun))
    assert not skipped
    run_ids = {str(d.relative_to(root)): json.loads((d / "summary.json").read_text())["wandb_run_id"] for d in multirun}
    from_records["run"] = from_records["run"].map(run_ids)
    from_wandb = runs_from_wandb("sgdtricks", api=StandInApi(list(multirun.values())))
    assert len(from_wandb) == len(from_records) == 2 * 2 + 2 * 1  # two full runs, two stopped after epoch 1
    order = ["run", "epoch"]
    from_records = from_records.sort_values(order, ignore_index=True)
    from_wandb = from_wandb.sort_values(order, ignore_index=True)
    assert list(from_wandb.dtypes[list(EPOCH_KEYS)]) == list(from_records.dtypes[list(EPOCH_KEYS)])
    # config floats such as 1.0 come back from W&B's JSON as ints: values are compared, not dtypes
    pd.testing.assert_frame_equal(from_wandb, from_records, check_like=True, check_dtype=False, rtol=1e-9)


def test_run_name_is_the_run_key_under_its_group() -> None:
    cfg = compose_config("seed=1", "optimizer.momentum=0.9", "scheduler=step", "logger.mode=online")
    assert run_name("decay", cfg) == f"decay/{run_key(cfg)}"
    assert run_name(None, cfg) == run_key(cfg)
    assert run_key(cfg).startswith("small_cnn-step-lr0.05-m0.9-s1-")
    assert run_key(compose_config("seed=1", "optimizer.momentum=0.9", "scheduler=step", "logger=none")) == run_key(cfg)


@pytest.mark.parametrize("optimizer_cls", [torch.optim.SGD, HeavyBall])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_gradient_and_momentum_norms(optimizer_cls: type, momentum: float) -> None:
    """Against an independent heavy-ball recurrence over the recorded gradients."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    optimizer = optimizer_cls(model.parameters(), lr=0.1, momentum=momentum)
    norms = diagnostics.GradientNorms(optimizer)
    grad_norms, z = [], None
    for _ in range(5):
        x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        g = torch.cat([p.grad.flatten() for p in model.parameters()])
        grad_norms.append(g.norm().item())
        z = g.clone() if z is None else momentum * z + g
        optimizer.step()
    got = norms.epoch_end()
    assert got["grad_norm"] == pytest.approx(sum(grad_norms) / 5, rel=1e-5)
    assert got["momentum_norm"] == pytest.approx(z.norm().item(), rel=1e-5)
    assert norms.steps == 0  # reset for the next epoch
