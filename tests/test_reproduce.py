"""make reproduce survives: a crash mid-grid finishes only what is missing, a second run trains nothing, a run
directory of another config is refused; the profile choice; the launchers (joblib, submitit)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, run_cli
from sgdtricks.study import reproduce
from sgdtricks.errors import UserError
from sgdtricks.config import grid
from sgdtricks.reports.collect import read_runs, runs_from_records

TINY = ["model.widths=[8,16,32]", "trainer.epochs=3", "logger=none", "optimizer.lr=0.05,0.1"]  # 2 lrs x 2 seeds
ENV = {"OMP_NUM_THREADS": "1"}  # tiny models: a second thread only waits, worse on a busy machine


def reproduce_args(data: Path, runs: Path, *extra: str) -> list[str]:
    return ["--profile", "cpu", "--studies", "lr_tuning", "--jobs", "1", "--data", "npz", "--data-path", str(data),
            "--runs", str(runs), "--no-reports", *TINY, *extra]


def reproduce_cli(*args: str) -> subprocess.Popen:
    """`python -m sgdtricks.reproduce ARGS` in its own process group, stdout a line pipe (read as it comes)."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "sgdtricks.reproduce", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, env=env, start_new_session=True)


def snapshot(runs: Path) -> dict[Path, tuple[str, bytes]]:
    """Every run's status and metrics.csv bytes."""
    return {p.parent: ((p.parent / "summary.json").read_text(), (p.parent / "metrics.csv").read_bytes())
            for p in runs.rglob("summary.json")}


@pytest.fixture(scope="module")
def crashed_then_finished(small_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A reproduce killed (SIGTERM to its process group) during the second run of the grid, then run again."""
    runs = tmp_path_factory.mktemp("runs")
    first = reproduce_cli(*reproduce_args(small_npz, runs))
    finished_one = False
    for line in first.stdout:
        finished_one |= "(status finished)" in line
        if finished_one and line.startswith("epoch   1/3"):  # the second run is training
            os.killpg(first.pid, signal.SIGTERM)
            break
    first.wait(timeout=120)
    after_crash = snapshot(runs)
    with pytest.MonkeyPatch.context() as env:
        for key, value in ENV.items():
            env.setenv(key, value)
        code = reproduce.main(reproduce_args(small_npz, runs, "--jobs", "2"))  # the rest through joblib
    return {"runs": runs, "after_crash": after_crash, "code": code, "after": snapshot(runs)}


def done(snap: dict) -> set[Path]:
    return {d for d, (summary, _) in snap.items() if '"status": "finished"' in summary}


def test_a_crash_mid_grid_leaves_finished_runs_and_the_rerun_finishes_only_the_rest(crashed_then_finished) -> None:
    crashed, after = crashed_then_finished["after_crash"], crashed_then_finished["after"]
    assert crashed_then_finished["code"] == 0
    assert 1 <= len(done(crashed)) < 4, "the crash came mid-grid"
    assert len(done(after)) == 4
    for run_dir in done(crashed):  # finished before the crash: not trained again, not rewritten
        assert after[run_dir][1] == crashed[run_dir][1]


def test_a_second_reproduce_trains_nothing(crashed_then_finished, small_npz: Path) -> None:
    runs = crashed_then_finished["runs"]
    again = reproduce_cli(*reproduce_args(small_npz, runs))
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "lr_tuning: 4 runs done (0 trained now, 4 already done)" in out
    assert "done: 4 of 4" in out and "plan: profile=cpu runs=0 epochs=0 projected_s=0 device=cpu" in out
    assert "epoch " not in out
    assert snapshot(runs) == crashed_then_finished["after"]


def test_other_data_names_other_run_directories(crashed_then_finished, small_npz: Path, tmp_path: Path) -> None:
    """The data is identified by content: the same grid on another file is other runs, in other directories,
    so it never meets (let alone overwrites) the records of the first; the reports pool the grid last launched."""
    runs = crashed_then_finished["runs"]
    other = tmp_path / "other.npz"
    with np.load(small_npz) as npz:
        np.savez(other, **{k: npz[k][::-1] if k.startswith("x_") else npz[k] for k in npz.files})
    keys = lambda data: {r.run_key for r, _ in grid.expand("lr_tuning", "cpu", [  # noqa: E731
        "data=npz", f"data.path={data}", *TINY])}
    mine = keys(small_npz)
    assert mine == {d.name for d in done(crashed_then_finished["after"])}
    assert keys(other).isdisjoint(mine) and len(keys(other)) == len(mine)
    frame, _ = runs_from_records(runs)
    assert set(frame["run"].str.split("/").str[1]) == mine


def test_profile_is_full_with_a_cuda_gpu_else_cpu_and_profile_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    profile, why = reproduce.choose_profile(None)
    assert profile == "cpu" and "no CUDA GPU" in why
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H200")
    assert reproduce.choose_profile(None) == ("full", "a CUDA GPU is present (NVIDIA H200); PROFILE=cpu for the small one")
    assert reproduce.choose_profile("cpu")[0] == "cpu"
    with pytest.raises(UserError, match="profile=gpu does not exist; choose one of cpu, full"):
        reproduce.choose_profile("gpu")


def test_a_measured_base_lr_needs_the_lr_tuning_runs(small_npz: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    code = reproduce.main(["--profile", "cpu", "--studies", "momentum", "--jobs", "1", "--data", "npz", "--data-path",
                           str(small_npz), "--runs", str(tmp_path), "--no-reports"])
    err = capsys.readouterr().err
    assert code == 2 and "make study STUDY=lr_tuning" in err and err.count("\n") == 1


def test_submitit_launcher_runs_a_study_job(small_npz: Path, tmp_path: Path) -> None:
    """The cluster launcher (hydra/launcher=submitit_slurm, see README) through its local twin: one tiny job."""
    result = run_cli("-m", "study=lr_tuning", "profile=cpu", "hydra/launcher=submitit_local", "optimizer.lr=0.05",
                     "seed=0", "data=npz", f"data.path={small_npz}", "model.widths=[8,16,32]", "trainer.epochs=1",
                     "logger=none", f"hydra.sweep.dir={tmp_path}", env=ENV)
    assert result.returncode == 0, result.stderr
    frame, skipped = read_runs(tmp_path, [p.parent for p in tmp_path.rglob("summary.json")])
    assert not skipped and frame["run"].nunique() == 1 and frame["status"].iloc[0] == "finished"
    assert (tmp_path / ".submitit").is_dir()
