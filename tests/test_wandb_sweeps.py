"""conf/sweep/*.yaml drive `python -m sgdtricks.train` with overrides that exist in the config and take effect;
`make sweep` / `make wandb-sync` fail in one clear line without a W&B login."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CONF, REPO, compose_config, wandb_records
from omegaconf import OmegaConf

SWEEPS = sorted((CONF / "sweep").glob("*.yaml"))
MACROS = ["${env}", "${interpreter}", "-m", "sgdtricks.train"]


def test_every_study_has_a_sweep() -> None:
    assert {p.stem for p in SWEEPS} >= {"momentum", "lr_tuning", "decay"}


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_runs_the_entry_point_with_existing_keys(path: Path) -> None:
    sweep = yaml.safe_load(path.read_text())
    assert sweep["method"] == "grid" and sweep["name"] == path.stem
    command = sweep["command"]
    assert command[:4] == MACROS and command[-1] == "${args_no_hyphens}"
    fixed = command[4:-1]
    assert f"study={path.stem}" in fixed  # the study's group on the dashboard
    base = compose_config(*fixed)
    assert base.study == path.stem and OmegaConf.select(base, "logger.group") == path.stem
    for key, spec in sweep["parameters"].items():
        values = spec["values"] if "values" in spec else [spec["value"]]
        assert OmegaConf.select(base, key) is not None, f"{path.name}: {key} is not a key of the config"
        for value in values:
            cfg = compose_config(*fixed, f"{key}={value}")  # what `${args_no_hyphens}` passes
            node = OmegaConf.select(cfg, key)
            assert (node.name if OmegaConf.is_dict(node) else node) == value, (key, value)


def test_a_sweep_job_runs_as_the_agent_starts_it(small_npz: Path, tmp_path: Path) -> None:
    """decay.yaml's command with the macros filled as `wandb agent` fills them, plus test-size overrides."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    sweep = yaml.safe_load((CONF / "sweep" / "decay.yaml").read_text())
    params = {"scheduler": {"value": "step"}, "optimizer.momentum": {"value": 0.9}, "seed": {"value": 1}}
    macros = {"${env}": ["/usr/bin/env"], "${interpreter}": [sys.executable],
              "${args_no_hyphens}": create_sweep_command_args({"args": params})["args_no_hyphens"]}
    command = [part for token in sweep["command"] for part in macros.get(token, [token])]
    command += ["data=npz", f"data.path={small_npz}", "data.train_subset=256", "model.widths=[8,16,32]",
                "trainer.epochs=1"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "WANDB_RUN_ID": "sweeprun1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "sweep" / "decay" / "sweeprun1"
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert (config.scheduler.name, config.optimizer.momentum, config.seed, config.study) == ("step", 0.9, 1, "decay")
    (wandb_dir,) = (run_dir / "wandb").glob("offline-run-*-sweeprun1")
    info = [r["run"] for r in wandb_records(wandb_dir) if r["type"] == "run"][-1]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert info["run_group"] == "decay" and info["display_name"] == f"decay/{summary['run_key']}"
    assert summary["run_key"].startswith("resnet18-step-lr0.05-m0.9-s1-")


def wandb_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    """python -m sgdtricks.study.wandb_cli ARGS as `make sweep` / `make wandb-sync` run it, with no W&B login."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HOME": str(home), "NETRC": str(home / ".netrc")}
    return subprocess.run([sys.executable, "-m", "sgdtricks.study.wandb_cli", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=home)


def test_sweep_without_login_says_wandb_login(tmp_path: Path) -> None:
    result = wandb_cli("sweep", "decay", home=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "wandb login" in result.stderr
    assert "Traceback" not in result.stderr


def test_sweep_of_unknown_study_names_the_file(tmp_path: Path) -> None:
    result = wandb_cli("sweep", "nosuch", home=tmp_path)
    assert result.returncode == 2 and "conf/sweep/nosuch.yaml" in result.stderr and "decay" in result.stderr


def test_sync_finds_offline_runs_and_needs_login(tmp_path: Path) -> None:
    empty = wandb_cli("sync", str(tmp_path / "runs"), home=tmp_path)
    assert empty.returncode == 0 and "no offline W&B runs" in empty.stdout
    for run in ("study/a/wandb/offline-run-20260101_000000-aaaa", "single/b/wandb/offline-run-20260101_000001-bbbb",
                "single/c/wandb/run-20260101_000002-cccc"):  # the last one ran online: nothing to upload
        (tmp_path / "runs" / run).mkdir(parents=True)
    result = wandb_cli("sync", str(tmp_path / "runs"), home=tmp_path)
    assert "2 offline W&B run(s)" in result.stdout
    assert result.returncode == 2 and "wandb login" in result.stderr and "Traceback" not in result.stderr
