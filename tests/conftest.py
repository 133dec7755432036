"""Shared fixtures: the real CIFAR-10 subset (skipped with a reason where absent), composed configs, runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sgdtricks.studies import compose_config  # noqa: F401  (tests compose configs as the orchestrator does)

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
DATASETS = Path(os.environ.get("SGDTRICKS_DATASETS", REPO.parent / "shared" / "datasets"))
CIFAR_SUBSET = DATASETS / "cifar10-subset.npz"


@pytest.fixture(scope="session", autouse=True)
def _offline_wandb() -> Iterator[None]:
    """Tests, and the runs they start (module fixtures too), never reach a W&B server nor write W&B files to ~."""
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory(prefix="wandb-home-") as home:
        for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY"):
            patch.delenv(var, raising=False)
        patch.setenv("WANDB_SILENT", "true")
        for var, folder in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config")):
            patch.setenv(var, str(Path(home) / folder))  # staged artifacts, cache, settings
        yield


@pytest.fixture(autouse=True)
def _wandb_teardown() -> Iterator[None]:
    """Never share a W&B process between tests."""
    yield
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()


@pytest.fixture(scope="session")
def cifar_npz() -> Path:
    """The real CIFAR-10 subset shipped beside the project (5170 train / 1017 test images)."""
    if not CIFAR_SUBSET.is_file():
        pytest.skip(f"real CIFAR-10 subset not found at {CIFAR_SUBSET} (set SGDTRICKS_DATASETS to its folder)")
    return CIFAR_SUBSET


@pytest.fixture(scope="session")
def small_npz(cifar_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1000 train and 500 test images of the real subset: real data, quick epochs."""
    path = tmp_path_factory.mktemp("data") / "cifar10-small.npz"
    with np.load(cifar_npz, allow_pickle=False) as full:
        np.savez(path, x_train=full["x_train"][:1000], y_train=full["y_train"][:1000],
                 x_test=full["x_test"][:500], y_test=full["y_test"][:500], classes=full["classes"])
    return path


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: this checkout's code, not another's."""
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}


def run_cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m sgdtricks.train ARGS` as a user runs it; output captured."""
    return subprocess.run([sys.executable, "-m", "sgdtricks.train", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=cli_env(env))


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m sgdtricks.train ARGS` in the background, its stdout a line-buffered pipe: a test reads
    the epoch lines as they come and signals the process at a chosen moment."""
    return subprocess.Popen([sys.executable, "-m", "sgdtricks.train", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, env=cli_env(env))


def wandb_leet(offline_run: Path, *flags: str) -> str:
    """`wandb leet inspect FLAGS --json` on an offline run: W&B itself reading back the run files."""
    wandb_cli = Path(sys.executable).parent / "wandb"  # the CLI of the wandb this Python imports
    return subprocess.run([str(wandb_cli), "leet", "inspect", *flags, "--json", str(offline_run)],
                          capture_output=True, text=True, timeout=120, check=True).stdout


def wandb_run_summary(run_dir: Path) -> dict:
    """The W&B run as W&B itself reads it back from the offline run files."""
    (offline_run,) = (run_dir / "wandb").glob("offline-run-*")
    return json.loads(wandb_leet(offline_run, "--summary"))


def wandb_records(offline_run: Path) -> list[dict]:
    """An offline run's records (run, config, history, summary, artifact, ...), one dict per record."""
    return [json.loads(line) for line in wandb_leet(offline_run).splitlines() if line.strip()]
