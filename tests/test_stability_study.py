"""The stability studies end to end on data the test makes: their grids, one Hydra multirun of stability runs
into run records, the page's stability section built from those records; and trainer.sharpness_every."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from conftest import make_npz, run_cli
from sgdtricks.config import grid, studies
from sgdtricks.models import SmallCNN
from sgdtricks.record.files import RunRecord
from sgdtricks.record.tracking import EPOCH_KEYS
from sgdtricks.reports.build import build
from sgdtricks.run import augment
from sgdtricks.run.data import load_data
from sgdtricks.sharpness import top_hessian_eigenvalue


def test_grids_at_both_profiles() -> None:
    """cpu: one seed, the study's own scale; full: the evidence seeds and the scale of conf/profile_study/.
    Each job's config as Hydra composes it: the first job of each study (composing all ~200 takes minutes)."""
    sizes = {(profile, study): len(grid.job_overrides(study, profile))
             for profile in ("cpu", "full") for study in studies.STABILITY_STUDIES}
    assert sizes == {("cpu", "stability"): 4, ("cpu", "stability_map"): 44, ("cpu", "stability_sgd"): 4,
                     ("full", "stability"): 3 * 2 * 5, ("full", "stability_map"): 44,
                     ("full", "stability_sgd"): 3 * 2 * 5}
    first = {(profile, study): studies.compose_config(*grid.job_overrides(study, profile)[0])
             for profile, study in (("cpu", "stability_map"), ("full", "stability"), ("full", "stability_sgd"))}
    for cfg in first.values():
        assert cfg.trainer.name == "stability" and cfg.optimizer.weight_decay == 0  # not the profile's 5e-4
    assert (first["cpu", "stability_map"].trainer.steps, first["cpu", "stability_map"].trainer.sharpness) == (200, "none")
    assert (first["full", "stability"].trainer.images, first["full", "stability"].trainer.steps) == (5000, 5000)
    assert first["full", "stability_sgd"].trainer.sharpness == "batch"


@pytest.fixture(scope="module")
def stability_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stability study (4 runs) at a tiny scale: its grid recorded as make reproduce does, then its multirun."""
    root = tmp_path_factory.mktemp("stability")
    data = make_npz(root / "synthetic.npz", n_train=300, n_test=50)
    profile_dir = root / "runs" / "cpu"
    extra = ["data=npz", f"data.path={data}", "trainer.images=64", "trainer.steps=40", "trainer.measure_every=20",
             "logger=none"]
    grid.write_grid(profile_dir, "stability", [run for run, _ in grid.expand("stability", "cpu", extra)])
    result = run_cli("-m", "study=stability", "profile=cpu", f"hydra.sweep.dir={profile_dir}", *extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return root


def test_study_writes_step_records(stability_runs: Path) -> None:
    run_dirs = [p.parent for p in (stability_runs / "runs" / "cpu").glob("*/summary.json")]
    assert len(run_dirs) == 4 and all(d.name.startswith("mlp-64img-full-40steps-") for d in run_dirs)
    for run_dir in run_dirs:
        summary = RunRecord(run_dir).read_summary()
        metrics = pd.read_csv(run_dir / "metrics.csv")
        assert summary["status"] == "finished" and summary["steps_completed"] == 40
        assert list(metrics["step"]) == [0, 20, 40] and metrics["sharpness"].notna().all()


def test_report_builds_the_stability_section(stability_runs: Path) -> None:
    out = stability_runs / "reports"
    (page,) = build("local", stability_runs / "runs", out, ["cpu"])
    table = pd.read_csv(out / "cpu" / "tables" / "stability.csv")
    assert len(table) == 4 and set(table["optimizer"]) == {"gradient descent", "heavy ball"}
    assert (table["sharpness_predicted"] == 2 * (1 + table["beta"]) / table["lr"]).all()
    assert table["sharpness_measured"].gt(0).all()
    text = page.read_text()
    assert "## Why momentum allows larger steps" in text and "(figures/stability_sharpness.png)" in text
    assert (out / "cpu" / "figures" / "stability_sharpness.pdf").is_file()


def test_sharpness_every_logs_the_training_loss_sharpness(tmp_path: Path) -> None:
    """trainer.sharpness_every=1: every epoch's row holds the top eigenvalue of the training loss on the first
    trainer.sharpness_images images, as measured again here from the final checkpoint."""
    data_path = make_npz(tmp_path / "synthetic.npz", n_train=200, n_test=50)
    run_dir = tmp_path / "run"
    result = run_cli("data=npz", f"data.path={data_path}", "trainer.epochs=1", "trainer.sharpness_every=1",
                     "trainer.sharpness_images=64", "model.widths=[8,16]", "logger=none", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert metrics["sharpness"].notna().all() and (metrics["sharpness"] > 0).all()
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    data = load_data(cfg.data, torch.device("cpu"))
    model = SmallCNN(3, 10, widths=[8, 16]).to(memory_format=torch.channels_last)
    model.load_state_dict(RunRecord(run_dir).load_checkpoint()["model"])
    model.train()
    x = augment.normalize(data.train_x[:64], data.mean, data.std)
    again = top_hessian_eigenvalue(model, F.cross_entropy, x, data.train_y[:64])
    assert metrics["sharpness"].iloc[-1] == pytest.approx(again, rel=1e-3)
    assert EPOCH_KEYS["sharpness"] == "train/sharpness"


def test_off_by_default_leaves_the_column_empty(small_npz: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_cli("data=npz", f"data.path={small_npz}", "trainer.epochs=1", "model.widths=[8,16]",
                     "data.train_subset=200", "logger=none", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert math.isnan(pd.read_csv(run_dir / "metrics.csv")["sharpness"].iloc[0])
