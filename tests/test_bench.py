"""make bench end to end on a tiny model: the report files, their internal consistency, the printed ratios.

Numbers are never compared with thresholds here (timings are for `make bench` on a quiet machine).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from conftest import REPO, compose_config
from sgdtricks.bench.flops import model_flops_per_image
from sgdtricks.run.data import load_data

TINY = ["model.widths=[8,16,32]", "trainer.batch_size=32"]


def run_bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), *args], capture_output=True,
                          text=True, timeout=600, env=env, cwd=REPO)


def test_bench_writes_consistent_reports_and_prints_the_ratios(small_npz, tmp_path):
    result = run_bench("data=npz", f"data.path={small_npz}", *TINY, "--batches", "2", "--repeats", "2",
                       "--share", "2", "--run-epochs", "1", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    printed = dict(item.split("=") for item in last.split())
    assert list(printed) == ["speedup_vs_dataloader", "ceiling_fraction"]

    table = pd.read_csv(tmp_path / "bench.csv").set_index(["path", "precision"])
    assert sorted(table.index) == [("model_only", "bf16"), ("model_only", "fp32"), ("ours", "bf16"),
                                   ("ours", "fp32"), ("standard", "fp32")]
    ours = table.loc[("ours", "fp32")]
    assert float(printed["speedup_vs_dataloader"]) == pytest.approx(ours.x_standard, abs=0.006)
    assert float(printed["ceiling_fraction"]) == pytest.approx(ours.x_model_only, abs=0.006)
    assert (table.images_per_s_min <= table.images_per_s).all() and (table.images_per_s <= table.images_per_s_max).all()
    assert table.loc[("standard", "fp32")].x_standard == 1 and table.loc[("model_only", "fp32")].x_model_only == 1
    mfu = table.images_per_s * table.model_flops_per_image / table.matmul_flops_per_s
    assert (mfu - table.mfu).abs().max() < 1e-3 + 1e-3 * mfu.max()
    assert (table.images_per_repeat == 64).all() and (table.batch_size == 32).all() and (table.repeats == 2).all()

    report = (tmp_path / "bench.md").read_text()
    device_name = table.device_name.iloc[0]
    for text in (device_name, f"torch {torch.__version__}", "git commit", "One real training run",
                 "2 runs at once", "peak resident memory"):
        assert text in report


def test_flops_per_image_match_the_convolutions_counted_by_hand(small_npz):
    """Forward + backward of small_cnn: 3x the forward FLOPs, less the first conv's unneeded input gradient."""
    cfg = compose_config("data=npz", f"data.path={small_npz}", *TINY)
    data = load_data(cfg.data, torch.device("cpu"))
    widths, size, c_in, forward = list(cfg.model.widths), 32, 3, []
    for width in widths:
        forward.append(2 * size * size * width * c_in * 9)  # 3x3 conv, stride 1, same padding
        c_in, size = width, size // 2
    forward.append(2 * widths[-1] * size * size * data.num_classes)  # linear head on the flattened 4x4 map
    assert model_flops_per_image(cfg, data, torch.device("cpu")) == pytest.approx(3 * sum(forward) - forward[0])


def test_bad_override_is_one_line_and_exit_2(tmp_path):
    result = run_bench("trainer.batch_size=0", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "trainer.batch_size" in result.stderr
    assert not (tmp_path / "bench.md").exists()
