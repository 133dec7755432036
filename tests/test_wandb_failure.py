"""W&B trouble never kills a run: online with no API key, with a server out of reach, or any other exception
from wandb.init or from logging, the run warns once, logs offline (to `wandb sync` later) or to the local record
only, and leaves a complete local record. In a multirun only the first job waits for a server out of reach."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from conftest import compose_config, run_cli, wandb_run_summary

from sgdtricks.record import tracking
from sgdtricks.record.tracking import NullTracker, WandbTracker, open_tracker, start_run


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("trouble", ["no API key", "server out of reach"])
def test_online_run_without_wandb_falls_back_offline_and_finishes(trouble: str, small_npz: Path, tmp_path: Path):
    env = {"HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}  # no ~/.netrc, no stored key
    if trouble == "server out of reach":
        env |= {"WANDB_API_KEY": "x" * 40, "WANDB_BASE_URL": f"http://127.0.0.1:{closed_port()}",
                "WANDB_INIT_TIMEOUT": "3"}
    run_dir = tmp_path / "run"
    result = run_cli("data=npz", f"data.path={small_npz}", "trainer.epochs=2", "model.widths=[8,16,32]",
                     "logger=wandb", "logger.mode=online", f"hydra.run.dir={run_dir}", env=env)
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning: W&B could not start")]
    assert ("No API key" if trouble == "no API key" else "CommError") in warning
    (offline_run,) = (run_dir / "wandb").glob("offline-run-*")
    assert f"wandb sync {offline_run}" in warning

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_completed"] == 2
    assert pd.read_csv(run_dir / "metrics.csv")["epoch"].tolist() == [1, 2]
    assert offline_run.name.endswith(summary["wandb_run_id"])  # a later resume continues this W&B run
    wandb_run = wandb_run_summary(run_dir)
    assert wandb_run["summary"]["status"] == "finished" and wandb_run["summary"]["epochs_completed"] == 2


class FakeWandb:
    """wandb.init failing with `error` in the modes listed in `failing` (after `delay` s, as a timeout would)."""

    def __init__(self, error: Exception, failing: tuple[str | None, ...], delay: float = 0.0):
        self.error, self.failing, self.delay = error, failing, delay
        self.attempts: list[str | None] = []

    def init(self, **init: Any) -> SimpleNamespace:
        self.attempts.append(init.get("mode"))
        if init.get("mode") in self.failing:
            time.sleep(self.delay)
            raise self.error
        return SimpleNamespace(dir="/somewhere/wandb/offline-run-x/files", mode=init.get("mode"))

    def teardown(self) -> None:
        pass


def warnings(capsys: pytest.CaptureFixture) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("error", [RuntimeError("service died"), OSError("disk full"), ValueError("bad setting")])
def test_any_exception_from_init_falls_back_offline_with_one_warning(error: Exception,
                                                                      capsys: pytest.CaptureFixture) -> None:
    wandb = FakeWandb(error, failing=("online",))
    run = start_run(wandb, mode="online", project="p")
    assert run.mode == "offline" and wandb.attempts == ["online", "offline"]
    (warning,) = warnings(capsys)
    assert f"{type(error).__name__}: {error}" in warning and "logging offline instead" in warning


def test_when_even_offline_fails_the_run_is_recorded_locally(capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import wandb

    def broken(**init: Any) -> None:
        raise RuntimeError("no service")

    monkeypatch.setattr(wandb, "init", broken)
    with open_tracker(compose_config("logger=wandb"), Path("unused"), None) as tracker:
        assert isinstance(tracker, NullTracker)
    (warning,) = warnings(capsys)
    assert "RuntimeError: no service" in warning and "recorded locally only" in warning


class BrokenRun:
    """A W&B run whose every call fails, as after its service process died."""

    id, summary, tags = "abc", {}, ()

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> None:
            raise ConnectionError(f"{name}: service gone")
        return fail


def test_exceptions_while_logging_warn_once_and_leave_the_rest_to_the_record(capsys: pytest.CaptureFixture) -> None:
    tracker = WandbTracker(BrokenRun())  # define_metric fails first
    tracker.log_step(1, 2.3, 0.1)
    tracker.log_epoch({"epoch": 1, "train_loss": 2.3})
    tracker.set_summary({"status": "finished"})
    tracker.finish(exit_code=0)
    (warning,) = warnings(capsys)
    assert "ConnectionError: define_metric: service gone" in warning and "recorded locally only" in warning


def test_a_multirun_waits_for_an_unreachable_server_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two jobs starting together: the first waits its timeout and leaves the marker; the second, held back
    meanwhile, then goes offline at once. After RETRY_AFTER_S a job tries online again."""
    wandb = FakeWandb(ConnectionError("server out of reach"), failing=("online",), delay=1.0)
    jobs = [threading.Thread(target=start_run, args=(wandb, tmp_path), kwargs={"mode": "online"}) for _ in range(2)]
    for job in jobs:
        job.start()
        time.sleep(0.2)
    for job in jobs:
        job.join()
    assert wandb.attempts == ["online", "offline", "offline"]
    first, second = warnings(capsys)
    assert "ConnectionError: server out of reach" in first and "found by an earlier job of this multirun" in second

    stale = time.time() - tracking.RETRY_AFTER_S - 1
    os.utime(tmp_path / tracking.UNREACHABLE, (stale, stale))
    start_run(wandb, tmp_path, mode="online")
    assert wandb.attempts[3:] == ["online", "offline"]
