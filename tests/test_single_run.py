"""One training run on real data, as a user runs it: a complete record, W&B agreeing with it, determinism."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_epoch_mirrored, compose_config, run_cli, wandb_records
from sgdtricks.record.files import METRIC_COLUMNS, TIME_COLUMNS
from sgdtricks.record.metrics import improves_best_val
from sgdtricks.run.trainer import train

TINY = ["model.widths=[8,16,32]", "logger=none"]


def wandb_history(run_dir: Path) -> list[dict]:
    """Per-epoch rows of the run's offline W&B log, read back with `wandb leet inspect --json`."""
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    rows = [r["history"]["item"] for r in wandb_records(offline) if r["type"] == "history"]
    return [row for row in rows if "epoch" in row]  # not the per-step rows


@pytest.fixture(scope="module")
def cli_run(cifar_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """`python -m sgdtricks.train` for 2 epochs on the real CIFAR-10 subset, W&B offline."""
    run_dir = tmp_path_factory.mktemp("run")
    result = run_cli("data=npz", f"data.path={cifar_npz}", "trainer.epochs=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir, result


def test_run_writes_a_complete_record_and_beats_chance(cli_run) -> None:
    run_dir, result = cli_run
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    assert metrics["epoch"].tolist() == [1, 2]
    for column in ("train_acc", "val_acc", "test_acc"):
        assert metrics[column].between(0, 1).all()
    assert metrics["test_acc"].iloc[-1] > 0.2  # chance is 0.1 on 10 balanced classes
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    assert summary["final_test_acc"] == metrics["test_acc"].iloc[-1]
    assert summary["best_val_acc"] == metrics["val_acc"].max()
    best = metrics.loc[metrics["val_acc"].idxmax()]
    assert summary["test_acc_at_best_val"] == best["test_acc"]
    assert summary["wall_time_s"] > 0 and summary["images_per_s"] > 0
    assert {"python", "torch", "sgdtricks"} <= set(summary["versions"])
    assert summary["git_commit"] and summary["device"] == "cpu"
    assert (run_dir / "checkpoint.pt").stat().st_size > 0
    assert str(run_dir) in result.stdout  # the user is told where the record is


def test_offline_wandb_run_holds_the_same_values(cli_run) -> None:
    run_dir, _ = cli_run
    summary = json.loads((run_dir / "summary.json").read_text())
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert offline.name.endswith(summary["wandb_run_id"])
    history = wandb_history(run_dir)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert [row["epoch"] for row in history] == metrics["epoch"].tolist()
    for row, (_, expected) in zip(history, metrics.iterrows()):
        assert_epoch_mirrored(row, expected)


def test_same_seed_gives_identical_metrics(small_npz: Path, tmp_path: Path) -> None:
    overrides = ["data=npz", f"data.path={small_npz}", "trainer.epochs=2", "scheduler=step",
                 "scheduler.step_size=1", *TINY]
    runs = [train(compose_config(*overrides), tmp_path / name) for name in ("a", "b")]
    assert all(summary["status"] == "finished" for summary in runs)
    a, b = (pd.read_csv(tmp_path / name / "metrics.csv").drop(columns=TIME_COLUMNS) for name in ("a", "b"))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["lr"].tolist() == pytest.approx([0.05, 0.005], rel=1e-12)  # lr column = the rate used that epoch
    other = train(compose_config(*overrides, "seed=1"), tmp_path / "c")
    assert other["final"]["train_loss"] != runs[0]["final"]["train_loss"]  # the seed matters


def test_finished_run_is_not_trained_again(small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = compose_config("data=npz", f"data.path={small_npz}", "trainer.epochs=1", *TINY)
    first = train(cfg, tmp_path)
    before = (tmp_path / "metrics.csv").stat().st_mtime_ns
    assert train(cfg, tmp_path)["updated"] == first["updated"]
    assert (tmp_path / "metrics.csv").stat().st_mtime_ns == before
    assert "already finished" in capsys.readouterr().out


def test_the_test_split_is_evaluated_only_where_a_reported_number_reads_it(small_npz: Path, tmp_path: Path) -> None:
    summary = train(compose_config("data=npz", f"data.path={small_npz}", "trainer.epochs=6", *TINY), tmp_path)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    new_best = metrics["val_acc"] > metrics["val_acc"].cummax().shift(fill_value=-1.0)  # strictly: ties keep the first
    assert metrics["test_acc"].notna().tolist() == (new_best | (metrics["epoch"] == 6)).tolist()
    assert metrics["test_loss"].notna().tolist() == metrics["test_acc"].notna().tolist()
    best = metrics.loc[metrics["val_acc"].idxmax()]  # idxmax: the first of ties
    assert summary["test_acc_at_best_val"] == best["test_acc"] and math.isfinite(best["test_acc"])
    assert summary["final_test_acc"] == metrics["test_acc"].iloc[-1] and math.isfinite(summary["final_test_acc"])


@pytest.mark.parametrize(("earlier", "val_acc", "improves"), [
    ([], 0.1, True), ([0.3, 0.5], 0.5, False), ([0.3, 0.5], 0.51, True), ([0.3, math.nan], 0.4, True),
    ([0.3], math.nan, False)])
def test_a_new_best_validation_epoch_is_strictly_better(earlier: list[float], val_acc: float, improves: bool) -> None:
    assert improves_best_val([{"val_acc": v} for v in earlier], val_acc) is improves
