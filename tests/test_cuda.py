"""The GPU path on a real CUDA device: ResNet-18 on the CIFAR-10 subset, kill and resume, bf16, compile.

Marked `cuda` and skipped with the reason where torch sees no CUDA GPU; scripts/gpu_check.sh runs them
(`pytest -m cuda`). Runs go through `python -m sgdtricks.train` as a user starts them. Results on a GPU are
not bitwise reproducible across processes (cuDNN picks among algorithms whose sums differ in order), so
a resumed run is compared with the uninterrupted one through its record, not bit for bit.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import run_cli, start_cli

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() "
                                 "is False); scripts/gpu_check.sh runs these on one")]

ON_GPU = ["data=npz", "trainer.device=cuda", "logger=none"]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def train_cli(data: Path, run_dir: Path, *extra: str) -> pd.DataFrame:
    """A run on the GPU to its end; returns its metrics.csv."""
    result = run_cli(*ON_GPU, f"data.path={data}", f"hydra.run.dir={run_dir}", *extra, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return pd.read_csv(run_dir / "metrics.csv")


def assert_complete_record(run_dir: Path, metrics: pd.DataFrame, epochs: int) -> dict:
    """Every epoch's row, finite numbers, status finished, the GPU named in the summary, a checkpoint."""
    assert metrics["epoch"].tolist() == list(range(1, epochs + 1))
    assert metrics[["train_loss", "val_loss", "test_loss"]].notna().all().all()
    assert metrics["test_acc"].iloc[-1] > 0.15  # chance is 0.1
    s = summary(run_dir)
    assert s["status"] == "finished" and s["epochs_completed"] == epochs
    assert s["device"].startswith("cuda") and s["device_name"] == torch.cuda.get_device_name(0)
    assert s["images_per_s"] > 0 and (run_dir / "checkpoint.pt").stat().st_size > 0
    return s


def test_resnet18_on_the_cifar10_subset_finishes_with_a_complete_record(cifar_npz: Path, tmp_path: Path) -> None:
    metrics = train_cli(cifar_npz, tmp_path, "model=resnet18", "trainer.epochs=2")
    assert_complete_record(tmp_path, metrics, 2)


def test_resnet18_in_bf16_compiled_finishes_learns_and_reports_compile_time_apart(cifar_npz: Path,
                                                                                 tmp_path: Path) -> None:
    """The full profile's precision with torch.compile of training and evaluation: a complete record that
    learns, its graphs compiled before epoch 1 (compile_s in the summary)."""
    metrics = train_cli(cifar_npz, tmp_path, "model=resnet18", "trainer.epochs=2", "trainer.precision=bf16",
                        "trainer.compile=true")
    s = assert_complete_record(tmp_path, metrics, 2)
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    assert s["compile_s"] > 0


def test_sigterm_on_cuda_then_rerun_resumes_from_the_checkpoint(cifar_npz: Path, tmp_path: Path) -> None:
    """SIGTERM inside epoch 2: exit 143, the record holds epoch 1; the same command continues from it (epoch 1's
    row is the checkpoint's, not retrained) and ends where an uninterrupted run ends, within GPU noise."""
    schedule = ["trainer.epochs=3", "scheduler=step", "scheduler.step_size=2"]
    argv = [*ON_GPU, f"data.path={cifar_npz}", *schedule]
    reference = train_cli(cifar_npz, tmp_path / "reference", *schedule)
    run_dir = tmp_path / "killed"
    proc = start_cli(*argv, f"hydra.run.dir={run_dir}")
    for line in proc.stdout:
        if line.startswith("epoch   1/"):
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM
    assert summary(run_dir)["status"] == "interrupted"
    before = pd.read_csv(run_dir / "metrics.csv")
    assert before["epoch"].tolist() == [1]

    result = run_cli(*argv, f"hydra.run.dir={run_dir}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stdout
    after = pd.read_csv(run_dir / "metrics.csv")
    assert_complete_record(run_dir, after, 3)
    pd.testing.assert_frame_equal(after.iloc[:1], before)
    assert after["lr"].tolist() == reference["lr"].tolist() == pytest.approx([0.05, 0.05, 0.005])
    assert after["train_loss"].iloc[-1] == pytest.approx(reference["train_loss"].iloc[-1], rel=0.1)
