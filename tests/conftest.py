"""Shared fixtures: data the suite makes itself (runs anywhere), the real CIFAR-10 subset for the few tests whose
assertion is about learning real images (skipped with a reason where neither it nor torchvision's CIFAR-10 is
present), composed configs, runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sgdtricks.config.studies import compose_config  # noqa: F401  (tests compose configs as the orchestrator does)
from sgdtricks.record.files import SPARSE_COLUMNS
from sgdtricks.record.tracking import EPOCH_KEYS

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


def make_npz(path: Path, n_train: int = 1000, n_test: int = 500, seed: int = 0) -> Path:
    """A CIFAR-shaped npz (uint8 32x32x3, 10 classes) with learnable structure: each class has its own colour
    and a coarse blob pattern (which survives random crops and flips), under pixel noise. A small CNN gets far
    above chance within 2 epochs, so tests of training see a model learn, not noise."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(40, 215, size=(10, 3))
    blobs = rng.uniform(-50, 50, size=(10, 4, 4, 3)).repeat(8, axis=1).repeat(8, axis=2)  # 8x8 blocks

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 10  # every class present, balanced
        rng.shuffle(y)
        x = colours[y, None, None, :] + blobs[y] + rng.normal(0, 40, size=(n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
             classes=np.array([f"class{i}" for i in range(10)]))
    return path


def torchvision_cifar_npz(root: Path, path: Path, n_train: int = 5170, n_test: int = 1017) -> Path | None:
    """torchvision's CIFAR-10, when already in `root` (data.root), as an npz of the subset's size; None if absent."""
    import torchvision

    try:
        train = torchvision.datasets.CIFAR10(str(root), train=True, download=False)
        test = torchvision.datasets.CIFAR10(str(root), train=False, download=False)
    except (OSError, RuntimeError):
        return None
    np.savez(path, x_train=train.data[:n_train], y_train=np.asarray(train.targets[:n_train]),
             x_test=test.data[:n_test], y_test=np.asarray(test.targets[:n_test]), classes=np.asarray(train.classes))
    return path


@pytest.fixture(scope="session")
def cifar_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real CIFAR-10 images, for tests whose assertion is about learning them: the subset shipped beside the
    project (5170 train / 1017 test), else torchvision's CIFAR-10 already in ./data; skipped without either."""
    if CIFAR_SUBSET.is_file():
        return CIFAR_SUBSET
    made = torchvision_cifar_npz(REPO / "data", tmp_path_factory.mktemp("cifar") / "cifar10-from-torchvision.npz")
    if made is None:
        pytest.skip(f"real CIFAR-10 not found: neither the subset at {CIFAR_SUBSET} (set SGDTRICKS_DATASETS to "
                    f"its folder) nor torchvision's CIFAR-10 in {REPO / 'data'}")
    return made


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1000 train and 500 test synthetic CIFAR-shaped images (make_npz): quick epochs, on any machine."""
    return make_npz(tmp_path_factory.mktemp("data") / "synthetic-small.npz")


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


def assert_epoch_mirrored(row: dict, expected: pd.Series) -> None:
    """One W&B history row of an epoch holds that epoch's metrics.csv values; a sparse column (the test split,
    sharpness) is absent exactly where the record has NaN, never logged as a NaN placeholder."""
    for column, key in EPOCH_KEYS.items():
        if column in SPARSE_COLUMNS:
            assert (key in row) == math.isfinite(expected[column]), (column, key)
            if key not in row:
                continue
        assert float(row[key]) == pytest.approx(expected[column], rel=1e-12, nan_ok=True), (column, key)  # "NaN" str
