"""Bad input fails before any training with one line naming the key or file and what to do, a non-zero exit,
no traceback, and no record claiming `finished`."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config, run_cli

from sgdtricks.errors import ConfigError, DataError
from sgdtricks.run.trainer import train

SMALL = ["model.widths=[8,16,32]", "trainer.epochs=1", "logger=none"]


@pytest.mark.parametrize("overrides, key", [
    (["optimizer.momentum=1.0"], "optimizer.momentum"),
    (["optimizer.momentum=-0.1"], "optimizer.momentum"),
    (["optimizer.lr=0"], "optimizer.lr"),
    (["optimizer.lr=-0.1"], "optimizer.lr"),
    (["optimizer.lr=inf"], "optimizer.lr"),
    (["trainer.epochs=0"], "trainer.epochs"),
    (["trainer.epochs=2.5"], "trainer.epochs"),
    (["scheduler=step", "scheduler.step_size=0"], "scheduler.step_size"),
    (["scheduler=plateau", "scheduler.patience=-1"], "scheduler.patience"),
    (["scheduler=plateau", "scheduler.factor=1.0"], "scheduler.factor"),
    (["scheduler=plateau", "scheduler.factor=0"], "scheduler.factor"),
    (["trainer.log_every=0"], "trainer.log_every"),
    (["trainer.batch_size=0"], "trainer.batch_size"),
])
def test_out_of_range_config_value_names_its_key(overrides: list[str], key: str, small_npz: Path, tmp_path: Path):
    cfg = compose_config("data=npz", f"data.path={small_npz}", *SMALL, *overrides)
    with pytest.raises(ConfigError, match=rf"^{key}=\S+ is invalid: it must be "):
        train(cfg, tmp_path)
    assert list(tmp_path.iterdir()) == []


# Bad data files, each made from the real subset the way a user would meet it.
def copy_without(key: str) -> Callable[[dict, Path], None]:
    def make(arrays: dict, path: Path) -> None:
        np.savez(path, **{k: v for k, v in arrays.items() if k != key})
    return make


def with_array(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict, Path], None]:
    def make(arrays: dict, path: Path) -> None:
        np.savez(path, **{**arrays, key: change(arrays[key])})
    return make


def nan_images(x: np.ndarray) -> np.ndarray:
    out = x.astype(np.float32)
    out[0, 0, 0, 0] = np.nan
    return out


def truncated(arrays: dict, path: Path) -> None:
    np.savez(path, **arrays)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def bad_member_crc(arrays: dict, path: Path) -> None:
    """The zip directory intact, one array's bytes damaged (a bad sector, a faulty copy)."""
    np.savez(path, **arrays)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("y_test.npy")
    data = bytearray(path.read_bytes())
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


BAD_FILES = {
    "missing file": (None, "is not a file"),
    "a directory": (lambda arrays, path: path.mkdir(), "is not a file"),
    "empty file": (lambda arrays, path: path.write_bytes(b""), "is not a readable .npz"),
    "empty npz": (lambda arrays, path: np.savez(path), "lacks the arrays"),
    "truncated": (truncated, "is not a readable .npz"),
    "damaged array": (bad_member_crc, "is not a readable .npz"),
    "no y_test": (copy_without("y_test"), r"lacks the arrays \['y_test'\]"),
    "NaN in images": (with_array("x_train", nan_images), "x_train has dtype float32; images must be uint8"),
    "float labels": (with_array("y_train", lambda y: y.astype(float)), "y_train has dtype float64"),
    "channels first": (with_array("x_test", lambda x: x.transpose(0, 3, 1, 2)), "x_test has shape"),
    "no images": (with_array("x_train", lambda x: x[:0]), "x_train has shape"),
    "one label short": (with_array("y_test", lambda y: y[1:]), "y_test has shape"),
    "label 10 of 10 classes": (with_array("y_train", lambda y: np.where(y == 0, 10, y)), "labels outside"),
    "negative label": (with_array("y_test", lambda y: y - 1), "labels outside"),
    "pickled objects": (with_array("classes", lambda c: c.astype(object)), "is not a readable .npz"),
    "1-based labels, no classes": (lambda arrays, path: np.savez(path, **{
        **{k: v for k, v in arrays.items() if k != "classes"}, "y_train": arrays["y_train"] + 1,
        "y_test": arrays["y_test"] + 1}), "y_train has no image of class 0 of 0..10"),
    "a stray 255, no classes": (lambda arrays, path: np.savez(path, **{
        **{k: v for k, v in arrays.items() if k != "classes"},
        "y_train": np.where(np.arange(len(arrays["y_train"])) == 0, 255, arrays["y_train"])}),
        "y_train has no image of class 10, 11, 12"),
    "a class absent from training": (with_array("y_train", lambda y: np.where(y == 3, 4, y)),
                                     "y_train has no image of class 3 of 0..9"),
}


@pytest.fixture(scope="module")
def real_arrays(small_npz: Path) -> dict[str, np.ndarray]:
    with np.load(small_npz, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_data_file_names_the_file(case: str, real_arrays: dict, tmp_path: Path):
    make, says = BAD_FILES[case]
    path = tmp_path / "data.npz"
    if make:
        make(real_arrays, path)
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match=says) as raised:
        train(compose_config("data=npz", f"data.path={path}", *SMALL), run_dir)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert not run_dir.exists()


def fashion_mnist_files(root: Path, n: int = 100) -> Path:
    """`n` Fashion-MNIST-shaped images and labels (every class present) as torchvision's unpacked idx files."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    return raw


@pytest.mark.parametrize("name, keep", [("train-images-idx3-ubyte", 5000), ("train-labels-idx1-ubyte", 0),
                                        ("train-labels-idx1-ubyte", 3)])
def test_cut_short_fashion_mnist_file_is_a_data_error(name: str, keep: int, tmp_path: Path):
    """torchvision reads Fashion-MNIST's unpacked files without a checksum; one cut short must fail cleanly."""
    cfg = compose_config("data=fashion_mnist", f"data.root={tmp_path}", "data.val_size=10", *SMALL)
    path = fashion_mnist_files(tmp_path) / name
    assert train(cfg, tmp_path / "intact")["status"] == "finished"  # the files are fine until cut
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DataError, match=f"could not load fashion_mnist from data.root={tmp_path}"):
        train(cfg, tmp_path / "run")


# As a user meets them: the command line, its exit code and what it prints.
@pytest.mark.parametrize("case", ["config value", "data file", "unknown group option", "unknown key"])
def test_command_line_fails_with_a_clear_message(case: str, real_arrays: dict, small_npz: Path, tmp_path: Path):
    data = small_npz
    overrides = {"config value": ["optimizer.momentum=1.5"], "unknown group option": ["scheduler=exponential"],
                 "unknown key": ["optimizer.betas=0.9"], "data file": []}[case]
    if case == "data file":
        data = tmp_path / "nan.npz"
        with_array("x_train", nan_images)(real_arrays, data)
    run_dir = tmp_path / "run"
    result = run_cli("data=npz", f"data.path={data}", *SMALL, *overrides, f"hydra.run.dir={run_dir}",
                     env={"OMP_NUM_THREADS": "1"})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    if case in ("config value", "data file"):  # ours: exactly one line
        assert result.returncode == 2
        expected = {"config value": "error: optimizer.momentum=1.5 is invalid: it must be in [0, 1)",
                    "data file": f"error: {data}: x_train has dtype float32"}[case]
        assert result.stderr.startswith(expected) and len(result.stderr.splitlines()) == 1
    elif case == "unknown group option":  # Hydra's: names the option and lists the valid ones
        assert "Could not find 'scheduler/exponential'" in result.stderr and "plateau" in result.stderr
    else:
        assert "Could not override 'optimizer.betas'" in result.stderr
    assert not (run_dir / "summary.json").exists()
