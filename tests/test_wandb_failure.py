"""W&B trouble never kills a run: online with no API key, or with a server out of reach, the run warns, logs
offline (to `wandb sync` later) and leaves a complete local record."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli, wandb_run_summary


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
