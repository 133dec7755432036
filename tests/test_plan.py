"""make plan: the distinct runs against the study configs, what is already done, the projection's arithmetic,
and one real (tiny) plan end to end. Speeds are not asserted (they belong to make plan on a quiet machine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from conftest import compose_config
from sgdtricks.bench.gpu_report import plan_summary
from sgdtricks.record.files import RunRecord
from sgdtricks.study import plan


def sweep_size(study: str, profile: str) -> int:
    """Jobs of a study's grid read from its config: the product of its sweep values' counts."""
    params = compose_config(f"study={study}", f"profile={profile}", "base_lr=0.05",
                            hydra_node=True).hydra.sweeper.params
    size = 1
    for values in params.values():
        size *= len(str(values).split(","))
    return size


@pytest.mark.parametrize("profile", ["cpu", "full"])
def test_distinct_runs_are_the_grids_less_the_cells_momentum_and_decay_share(profile: str, tmp_path: Path) -> None:
    """momentum's arms beta=0.9 and beta=0 (constant lr at base_lr) are decay's constant cells at the momenta its
    profile sweeps (cpu: 0.9; full: 0 and 0.9): one run each per evidence seed, counted once."""
    planned, sizes = plan.planned_runs(profile, tmp_path / profile, [], ["base_lr=0.05"])
    assert sizes == {study: sweep_size(study, profile) for study in sizes}
    decay = compose_config("study=decay", f"profile={profile}", "base_lr=0.05", hydra_node=True).hydra.sweeper.params
    evidence_seeds, momenta = (len(str(decay[key]).split(",")) for key in ("seed", "optimizer.momentum"))
    assert len(planned) == sum(sizes.values()) - momenta * evidence_seeds  # one constant cell per momentum
    assert len({p.run.run_key for p in planned}) == len(planned)
    epochs = compose_config(f"profile={profile}").trainer.epochs
    assert all(p.epochs_left == (1 if plan.is_stability(p.cfg) else epochs) for p in planned)  # a stability run: one pass


def test_run_counts_do_not_depend_on_the_placeholder_base_lr(tmp_path: Path) -> None:
    counts = {lr: len(plan.planned_runs("cpu", tmp_path, [], [f"base_lr={lr}"], ["momentum"])[0]) for lr in (0.05, 0.2)}
    assert counts[0.05] == counts[0.2]


def test_done_runs_count_as_done_and_an_interrupted_one_keeps_its_missing_epochs(tmp_path: Path) -> None:
    profile_dir = tmp_path / "cpu"
    first, second, *_ = plan.planned_runs("cpu", profile_dir, [], [], ["lr_tuning"])[0]
    RunRecord(profile_dir / first.run.run_key).write_summary({"status": "finished", "epochs_completed": 20})
    RunRecord(profile_dir / second.run.run_key).write_summary({"status": "interrupted", "epochs_completed": 6})
    replanned = {p.run.run_key: p.epochs_left for p in plan.planned_runs("cpu", profile_dir, [], [], ["lr_tuning"])[0]}
    assert replanned[first.run.run_key] == 0
    assert replanned[second.run.run_key] == first.cfg.trainer.epochs - 6


def test_projection_is_epochs_times_their_cost_plus_starts_over_the_jobs(tmp_path: Path) -> None:
    runs = plan.planned_runs("cpu", tmp_path, [], [], ["lr_tuning"])[0][:3]
    runs[0].epochs_left, runs[1].epochs_left, runs[2].epochs_left = 10, 4, 0
    key = plan.cost_key(runs[0].cfg)
    cost = plan.Cost(flops_per_image=1.0, train_images_per_s=1.0, eval_images_per_s=1.0, epoch_s=2.0,
                     checkpoint_s=0.5, start_s=3.0)
    # (10 + 4) epochs x (2 + 0.5) s + 2 starts x 3 s = 41 s of work; the studies' process starts add 7 s
    assert plan.projected_s(runs, {key: cost}, {key: 2.0}, 1, 7.0) == pytest.approx(48.0)
    # two jobs at once, each epoch taking 3 s while both run: (14 x 3.5 + 6) / 2 + 7
    assert plan.projected_s(runs, {key: cost}, {key: 3.0}, 2, 7.0) == pytest.approx(34.5)


def test_torchvision_data_not_downloaded_has_its_published_split_sizes(tmp_path: Path) -> None:
    data = compose_config("profile=full", f"data.root={tmp_path}", "data.download=false").data
    shape, source = plan.data_shape(data)
    assert (shape.train, shape.val, shape.test, shape.channels, shape.side, shape.classes) == \
        (45_000, 5_000, 10_000, 3, 32, 10)
    assert "published sizes" in source


def test_a_tiny_plan_prints_its_counts_its_fastest_jobs_and_an_agreeing_last_line(
        small_npz: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = plan.plan("cpu", ["data=npz", f"data.path={small_npz}"],
                       ["model.widths=[4]", "trainer.epochs=2", "logger=none"], tmp_path, jobs=None,
                       chosen=["lr_tuning"], candidates=[2], batches=1)  # JOBS=auto, choosing between 1 and 2
    out = capsys.readouterr().out
    projected = {int(k): float(s) for k, s in re.findall(r"projected with JOBS=(\d+): .* \((\d+) s\)", out)}
    assert set(projected) == {1, 2}
    assert result["jobs"] == min(projected, key=projected.get) and f"JOBS=auto: {result['jobs']}," in out
    last = re.fullmatch(r"plan: profile=cpu runs=(\d+) epochs=(\d+) projected_s=(\d+) device=cpu",
                        out.strip().splitlines()[-1])
    assert last, out
    runs, epochs = int(last[1]), int(last[2])
    data = ["data=npz", f"data.path={small_npz}", "model.widths=[4]", "trainer.epochs=2", "logger=none"]
    assert runs == result["runs"] == len(plan.planned_runs("cpu", tmp_path / "cpu", data, [], ["lr_tuning"])[0])
    assert epochs == 2 * runs and float(last[3]) == pytest.approx(result["projected_s"], abs=0.5)
    assert "MFLOPs per training image" in out and "stands in for it" in out
    assert plan_summary(out) == {"profile": "cpu", "runs": str(runs), "epochs": str(epochs),
                                 "projected_s": last[3], "device": "cpu"}  # what reports/gpu/README.md reads


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_bad_jobs_value_is_refused_in_one_line(text: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        plan.main(["--jobs", text])
    assert stop.value.code == 2
    assert f"JOBS={text} is invalid: it must be auto or an integer >= 1" in capsys.readouterr().err
    assert plan.jobs_value("auto") is None and plan.jobs_value("3") == 3
