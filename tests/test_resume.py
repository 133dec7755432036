"""Kill and resume: a run killed at any moment, run again by the same command, ends with the metrics of a run
never interrupted; damaged, foreign or other-config checkpoints are refused with one line, never half-loaded."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO, compose_config, run_cli, start_cli, wandb_records

from sgdtricks.errors import CheckpointError, RecordError
from sgdtricks.record.files import TIME_COLUMNS, RunRecord, atomic_write
from sgdtricks.run.trainer import train

# 4 epochs of 113 small steps (~0.3 s each on 2 cores). The plateau threshold makes every epoch after the
# first "bad", so with patience 1 the lr drops only after epoch 3: a kill during epoch 3 resumes from a
# checkpoint whose bad-epoch count (1) decides epoch 4's lr, and momentum buffers decide every number.
EPOCHS = 4
# One thread per run: results stay bitwise equal between processes, and tiny steps do not slow to a crawl
# when the test machine's cores are shared (OpenMP threads spinning against each other).
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def args(data: Path, run_dir: Path, *extra: str, logger: str = "none") -> list[str]:
    return ["data=npz", f"data.path={data}", f"trainer.epochs={EPOCHS}", "model.widths=[8,16,32]",
            "trainer.batch_size=8", "scheduler=plateau", "scheduler.patience=1", "scheduler.threshold_mode=abs",
            "scheduler.threshold=100",  # no epoch improves by 100: the plateau cuts after epoch 3, whatever the data
            f"logger={logger}", f"hydra.run.dir={run_dir}", *extra]


def metrics(run_dir: Path) -> pd.DataFrame:
    """metrics.csv without the one column that measures time rather than training."""
    return pd.read_csv(run_dir / "metrics.csv").drop(columns=TIME_COLUMNS)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def wandb_epochs(run_dir: Path) -> tuple[set[str], list[int]]:
    """The run ids of every W&B run file in `run_dir`, and the epochs logged in the newest one, which holds the
    run's whole history (a resumed run's file gets what it lacks of the record first: record/mirror.py)."""
    ids, epochs = set(), []
    for offline_run in sorted((run_dir / "wandb").glob("offline-run-*")):
        records = wandb_records(offline_run)
        ids |= {record["run"]["run_id"] for record in records if record["type"] == "run"}
        epochs = [record["history"]["item"]["epoch"] for record in records  # not the per-step rows
                  if record["type"] == "history" and "epoch" in record["history"]["item"]]
    return ids, epochs


def signal_after_epoch(argv: list[str], epoch: int, sig: signal.Signals) -> tuple[int, str, str]:
    """Start a run, send `sig` as soon as it prints epoch `epoch`'s line (it is then inside epoch + 1)."""
    proc = start_cli(*argv, env=ONE_THREAD)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(f"epoch {epoch:3d}/"):
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=300)
    return proc.returncode, "".join(lines) + out, err


@pytest.fixture(scope="module")
def reference(small_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of the same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("reference")
    result = run_cli(*args(small_npz, run_dir), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    lrs = metrics(run_dir)["lr"].tolist()
    assert lrs[-1] < lrs[-2] == lrs[0], f"the plateau must cut the lr after epoch 3 for this test to bite: {lrs}"
    return run_dir


def test_sigkill_mid_epoch_then_rerun_equals_uninterrupted_run(reference: Path, small_npz: Path, tmp_path: Path):
    rc, out, err = signal_after_epoch(args(small_npz, tmp_path), 2, signal.SIGKILL)
    assert rc == -signal.SIGKILL, err
    assert len(metrics(tmp_path)) == 2, "the kill must land inside epoch 3"
    assert summary(tmp_path)["status"] == "running"  # what a killed process leaves: true up to epoch 2

    result = run_cli(*args(small_npz, tmp_path), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "after epoch 2" in result.stdout
    pd.testing.assert_frame_equal(metrics(tmp_path), metrics(reference), check_exact=True)
    assert summary(tmp_path)["status"] == "finished" and summary(tmp_path)["epochs_completed"] == EPOCHS
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])  # a cluster's preemption; Ctrl-C
def test_stop_signal_ends_cleanly_with_a_consistent_record_then_resumes(sig: signal.Signals, reference: Path,
                                                                        small_npz: Path, tmp_path: Path):
    rc, out, err = signal_after_epoch(args(small_npz, tmp_path, logger="wandb"), 1, sig)
    assert rc == 128 + sig, err  # 143 for SIGTERM, 130 for SIGINT
    assert "Traceback" not in err and f"interrupted by {sig.name}" in out
    done = metrics(tmp_path)
    state = RunRecord(tmp_path).load_checkpoint()
    assert summary(tmp_path)["status"] == "interrupted"
    assert summary(tmp_path)["epochs_completed"] == len(done) == state["epoch"] < EPOCHS
    pd.testing.assert_frame_equal(done, metrics(reference).iloc[:len(done)], check_exact=True)

    result = run_cli(*args(small_npz, tmp_path, logger="wandb"), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(metrics(tmp_path), metrics(reference), check_exact=True)
    ids, epochs = wandb_epochs(tmp_path)
    assert ids == {summary(tmp_path)["wandb_run_id"]}  # one W&B run, continued
    assert epochs == list(range(1, EPOCHS + 1))  # each epoch logged once in the file to upload, interrupted or not


def test_a_different_config_never_reuses_the_directory(reference: Path, small_npz: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = run_cli(*args(small_npz, run_dir, "optimizer.lr=0.1"), env=ONE_THREAD)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {run_dir} holds the run of a different config")
    assert len(result.stderr.splitlines()) == 1
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    after.pop(Path("train.log"))  # Hydra's job log, appended to by every start
    before.pop(Path("train.log"))
    assert after == before  # .hydra/ was rewritten by Hydra with the refused config, then put back
    assert "differs in optimizer.lr" in result.stderr  # says what differs


def test_the_same_run_under_another_spelling_of_its_placement_is_found_done(reference: Path, small_npz: Path,
                                                                            tmp_path: Path):
    """Placement is not identity: the data path spelled relative instead of absolute, the device named."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    relative = os.path.relpath(small_npz, REPO)
    result = run_cli(*args(Path(relative), run_dir, "trainer.device=cpu", "trainer.log_every=5"), env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "already finished, nothing to do" in result.stdout
    pd.testing.assert_frame_equal(metrics(run_dir), metrics(reference), check_exact=True)


def test_a_checkpoint_of_another_device_type_is_refused(reference: Path, small_npz: Path, tmp_path: Path):
    """The data order is drawn on the device: a run begun on CUDA does not continue on the CPU."""
    state = RunRecord(reference).load_checkpoint()
    record = RunRecord(tmp_path)
    record.save_checkpoint({k: v for k, v in state.items() if k != "format"} | {"device_type": "cuda"})
    (tmp_path / "summary.json").write_text(json.dumps({**summary(reference), "status": "interrupted"}))
    result = run_cli(*args(small_npz, tmp_path), env=ONE_THREAD)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {record.checkpoint_path} was written on cuda and this run is on cpu")
    assert len(result.stderr.splitlines()) == 1


# In-process: a 1-epoch run whose final summary write was cut off (status still "running").
@pytest.fixture(scope="module")
def cut_short(small_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("cut_short")
    train(compose_config(*one_epoch(small_npz)), run_dir)
    record = RunRecord(run_dir)
    record.write_summary({**record.read_summary(), "status": "running"})
    return run_dir


def one_epoch(data: Path, *extra: str) -> list[str]:
    return ["data=npz", f"data.path={data}", "trainer.epochs=1", "model.widths=[8,16,32]", "logger=none", *extra]


@pytest.fixture
def attempt(cut_short: Path, small_npz: Path, tmp_path: Path):
    """A fresh copy of `cut_short`, and a function running its config (or another) on it again."""
    run_dir = tmp_path / "run"
    shutil.copytree(cut_short, run_dir)
    return run_dir, lambda *extra: train(compose_config(*one_epoch(small_npz, *extra)), run_dir)


def test_kill_between_checkpoint_and_summary_finishes_without_retraining(attempt):
    run_dir, rerun = attempt
    rows = metrics(run_dir)
    assert rerun()["status"] == "finished"
    pd.testing.assert_frame_equal(metrics(run_dir), rows, check_exact=True)  # epoch 1 neither redone nor doubled


def damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 10)


def damage_foreign_weights(path: Path) -> None:
    torch.save({"state_dict": {"w": torch.zeros(3)}}, path)


def damage_pickled_object(path: Path) -> None:
    torch.save({"format": "sgdtricks-checkpoint-v2", "payload": Path("x")}, path)  # weights_only refuses objects


def damage_older_format(path: Path) -> None:
    torch.save({**torch.load(path, weights_only=True), "format": "sgdtricks-checkpoint-v1"}, path)


@pytest.mark.parametrize("damage, says", [
    (damage_truncate, "is truncated or not an sgdtricks checkpoint"),
    (damage_random_bytes, "is truncated or not an sgdtricks checkpoint"),
    (damage_pickled_object, "is truncated or not an sgdtricks checkpoint"),
    (damage_foreign_weights, "is not an sgdtricks checkpoint"),
    (damage_older_format, "has format sgdtricks-checkpoint-v1"),
])
def test_damaged_or_foreign_checkpoint_is_refused_and_nothing_is_written(attempt, damage, says):
    run_dir, rerun = attempt
    damage(run_dir / "checkpoint.pt")
    before = {name: (run_dir / name).read_bytes() for name in ("checkpoint.pt", "metrics.csv", "summary.json")}
    with pytest.raises(CheckpointError, match=f"{run_dir / 'checkpoint.pt'} {says}.*delete it"):
        rerun()
    assert before == {name: (run_dir / name).read_bytes() for name in before}


def test_checkpoint_the_code_no_longer_fits_is_refused(attempt):
    run_dir, rerun = attempt
    path = run_dir / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["model"].pop(next(iter(state["model"])))  # as if models.py had changed since the checkpoint
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="does not fit this code's model"):
        rerun()
    assert summary(run_dir)["status"] == "running"


def test_checkpoint_of_another_config_is_refused(attempt):
    run_dir, rerun = attempt
    (run_dir / "summary.json").unlink()  # only the checkpoint tells whose run this is
    with pytest.raises(RecordError, match="holds the run of a different config"):
        rerun("optimizer.momentum=0.5")
    assert not (run_dir / "summary.json").exists()


@pytest.mark.parametrize("name", ["summary.json", "checkpoint.pt", "metrics.csv"])
def test_a_directory_where_a_record_file_belongs_is_refused(attempt, name):
    run_dir, rerun = attempt
    (run_dir / name).unlink()
    (run_dir / name).mkdir()
    with pytest.raises(RecordError, match=f"{run_dir / name} is not a file"):
        rerun()


def test_an_interrupted_write_keeps_the_previous_file(tmp_path: Path):
    path = tmp_path / "summary.json"
    path.write_text("previous\n")

    def write_half_then_fail(f) -> None:
        f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, write_half_then_fail)
    assert path.read_text() == "previous\n" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_second_job_on_a_run_directory_is_refused_and_stale_temp_files_go(tmp_path: Path):
    stale = tmp_path / ".checkpoint.pt.abc.tmp"  # what a write cut by SIGKILL leaves
    stale.write_bytes(b"half")
    with RunRecord(tmp_path).claim():
        assert not stale.exists()
        with pytest.raises(RecordError, match="in use by another training process"):
            with RunRecord(tmp_path).claim():
                pass
    with RunRecord(tmp_path).claim():  # released when its holder ends
        pass
