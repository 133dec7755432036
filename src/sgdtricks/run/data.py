"""Datasets as uint8 arrays, split into train/val/test once, then held on the device as whole tensors.

Every loader returns host arrays (images uint8 NHWC, labels int64); `load_data` validates them, carves the
validation split from the training set (the test set is only ever reported) and moves everything to the
device, where augmentation happens in batches (see `augment.py`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from sgdtricks.errors import DataError

Arrays = dict[str, np.ndarray]


@dataclass
class DeviceData:
    """The three splits on the device (uint8 NCHW images, int64 labels) and what the model needs to know."""

    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: Tensor  # per-channel, of the training split, in [0, 1] units
    std: Tensor
    classes: list[str]

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train_x.shape[2:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _torchvision_arrays(cfg: DictConfig) -> Arrays:
    """CIFAR-10/100 and Fashion-MNIST through torchvision into data.root.

    torchvision checks every download against its published md5, and CIFAR's batch files again at every
    load; Fashion-MNIST's unpacked files are only checked for size, which still catches a half-copied one.
    """
    import torchvision.datasets as tvd

    dataset_cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "fashion_mnist": tvd.FashionMNIST}[cfg.name]
    root = Path(cfg.root)
    try:
        train = dataset_cls(str(root), train=True, download=cfg.download)
        test = dataset_cls(str(root), train=False, download=cfg.download)
    except (OSError, RuntimeError, ValueError, AssertionError) as exc:  # no network, refused download, a
        # missing or damaged file (a Fashion-MNIST file cut short fails a ValueError or assert in torchvision)
        raise DataError(
            f"could not load {cfg.name} from data.root={root} ({type(exc).__name__}{': ' if str(exc) else ''}{exc}); "
            f"delete a damaged file there to download it again, or with no internet put torchvision's "
            f"{cfg.name} files under {root}, or use data=npz data.path=FILE.npz"
        ) from None

    def to_numpy(ds) -> tuple[np.ndarray, np.ndarray]:
        images = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
        labels = ds.targets.numpy() if isinstance(ds.targets, torch.Tensor) else np.asarray(ds.targets)
        return images, labels.astype(np.int64)

    x_train, y_train = to_numpy(train)
    x_test, y_test = to_numpy(test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "classes": np.asarray(train.classes)}


def _npz_arrays(cfg: DictConfig) -> Arrays:
    """An .npz with x_train, y_train, x_test, y_test (and optionally classes); never unpickles."""
    path = Path(cfg.path)
    if not path.is_file():
        raise DataError(f"data.path={path} is not a file; point data.path at an .npz with x_train, y_train, x_test, y_test")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
            if missing:
                raise DataError(f"{path} lacks the arrays {sorted(missing)}; it needs x_train, y_train, x_test, y_test")
            return {key: npz[key] for key in npz.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable .npz ({exc}); re-copy the file or regenerate it") from None


LOADERS = {"cifar10": _torchvision_arrays, "cifar100": _torchvision_arrays,
           "fashion_mnist": _torchvision_arrays, "npz": _npz_arrays}


def _check_arrays(arrays: Arrays, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Shapes, dtypes and label ranges, so a malformed file fails here with its name, not mid-training."""
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8:
            raise DataError(f"{source}: x_{split} has dtype {x.dtype}; images must be uint8 in [0, 255]")
        if x.ndim == 3:  # grayscale NHW
            x = x[..., None]
        if x.ndim != 4 or x.shape[0] == 0 or x.shape[-1] not in (1, 3):
            raise DataError(f"{source}: x_{split} has shape {x.shape}; expected non-empty N x H x W x C with C in (1, 3)")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{source}: y_{split} has shape {y.shape}; expected ({x.shape[0]},), one label per image")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{source}: y_{split} has dtype {y.dtype}; labels must be integers")
        out += [x, y.astype(np.int64)]
    x_train, y_train, x_test, y_test = out
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{source}: train images {x_train.shape[1:]} and test images {x_test.shape[1:]} differ in shape")
    # K classes come from `classes` when present, else from the training labels; either way the labels must be
    # 0..K-1 with every class in training. Taking max + 1 on trust trains 1-based labels or a stray 255 silently
    # with a wrong head (an empty class 0, or 256 outputs).
    k = len(arrays["classes"]) if "classes" in arrays else int(y_train.max()) + 1
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(k)]
    for split, y in (("train", y_train), ("test", y_test)):
        if y.min() < 0 or y.max() >= k:
            raise DataError(f"{source}: y_{split} holds labels outside 0..{k - 1} ({y.min()}..{y.max()}); labels must "
                            f"be 0..K-1" + (" for its classes array" if "classes" in arrays else
                                            "; renumber them, or add a classes array"))
    absent = sorted(set(range(k)) - set(np.unique(y_train).tolist()))
    if absent:
        raise DataError(f"{source}: y_train has no image of class {', '.join(map(str, absent[:10]))}"
                        f"{' ...' if len(absent) > 10 else ''} of 0..{k - 1}; every class must be in training "
                        f"(renumber the labels, or fix the classes array)")
    return x_train, y_train, x_test, y_test, classes


def split_train_val(n: int, val_size: float | int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (train, val): a fixed random val set, the rest kept in their original order.

    `val_size` < 1 is a fraction of the training set, otherwise a count.
    """
    n_val = int(round(val_size * n)) if val_size < 1 else int(val_size)
    if not 0 < n_val < n:
        raise DataError(f"data.val_size={val_size} leaves no train or no val images out of {n}; choose 0 < val_size < {n}")
    order = np.random.default_rng(split_seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_data(cfg: DictConfig, device: torch.device) -> DeviceData:
    """Load, validate and split `cfg` (the `data` group), then put it on `device`."""
    source = str(cfg.get("path") or cfg.name)
    x_train, y_train, x_test, y_test, classes = _check_arrays(LOADERS[cfg.name](cfg), source)
    train_idx, val_idx = split_train_val(len(x_train), cfg.val_size, cfg.split_seed)
    if cfg.train_subset is not None:
        train_idx = train_idx[: cfg.train_subset]

    def to_device(x: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)

    pixels = x_train[train_idx]
    mean = torch.tensor(pixels.mean(axis=(0, 1, 2), dtype=np.float64) / 255.0, dtype=torch.float32, device=device)
    std = torch.tensor(pixels.std(axis=(0, 1, 2), dtype=np.float64) / 255.0, dtype=torch.float32, device=device)
    return DeviceData(
        train_x=to_device(x_train[train_idx]), train_y=torch.from_numpy(y_train[train_idx]).to(device),
        val_x=to_device(x_train[val_idx]), val_y=torch.from_numpy(y_train[val_idx]).to(device),
        test_x=to_device(x_test), test_y=torch.from_numpy(y_test).to(device),
        mean=mean, std=std, classes=classes,
    )
