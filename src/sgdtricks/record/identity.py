"""The one definition of a run's identity: which config values make two runs the same run.

A run is its resolved config minus two kinds of keys:

- labels of the grid that launched it (LABEL_KEYS): the momentum study's beta-0.9 arm and the decay study's
  constant/0.9 cell are one run, trained once and read by both; `base_lr` matters only through optimizer.lr;
- placement (PLACEMENT_KEYS): where the data file lies, which device trains it, how it is logged and how often
  progress is shown. The data enters by content instead: `data.content` is the file's SHA-256 for `npz`, or the
  torchvision dataset name (torchvision checks its files against published checksums).

`config_hash` guards resume and reuse of a run directory, `run_key` names the directory and the W&B run, and the
report builder pools runs by `config_hash`: all three come from `identity`, so they cannot disagree.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sgdtricks.errors import DataError

LABEL_KEYS = ("study", "profile", "base_lr", "seeds", "schedulers")
PLACEMENT_KEYS = ("data.path", "data.root", "data.download", "trainer.device", "trainer.log_every",
                  "trainer.eval_batch_size", "logger")


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Cached per (path, size, mtime): a study composes dozens of configs of one data file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_content(data: Mapping[str, Any]) -> str:
    """What the data is, independent of where it lies: `sha256:<hex>` of an npz file, else `torchvision:<name>`."""
    path = data.get("path")
    if not path:
        return f"torchvision:{data['name']}"
    try:
        stat = os.stat(path)
        return "sha256:" + _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        raise DataError(f"data.path={path} is not a file (or not readable); point data.path at an .npz with x_train, y_train, "
                        f"x_test, y_test") from None


def _drop(tree: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        tree = tree.get(key)
        if not isinstance(tree, dict):
            return
    tree.pop(leaf, None)


def _numbers_as_values(tree: Any) -> Any:
    """0 and 0.0 are one momentum: a float with an integral value is stored as the int (a sweep's `0,0.9`
    and an arm's `0.0` then name the same run)."""
    if isinstance(tree, dict):
        return {k: _numbers_as_values(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_numbers_as_values(v) for v in tree]
    if isinstance(tree, float) and tree.is_integer():
        return int(tree)
    return tree


def identity(cfg: DictConfig | Mapping[str, Any], content: str | None = None) -> dict[str, Any]:
    """The resolved config without labels and placement, with `data.content` in place of the data's location.

    `content` (a record's own `identity.data.content`) stands in for reading the data file: a record can be
    checked where its data file is not.
    """
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else json.loads(json.dumps(cfg))
    tree.pop("hydra", None)
    content = content or data_content(tree["data"])
    for key in (*LABEL_KEYS, *PLACEMENT_KEYS):
        _drop(tree, key)
    tree["data"]["content"] = content
    return _numbers_as_values(tree)


def config_hash(cfg: DictConfig | Mapping[str, Any], content: str | None = None) -> str:
    """16 hex digits of the SHA-256 of the identity (keys sorted)."""
    return hashlib.sha256(json.dumps(identity(cfg, content), sort_keys=True).encode()).hexdigest()[:16]


def run_key(cfg: DictConfig | Mapping[str, Any]) -> str:
    """A run directory's and W&B run's name: the settings a reader scans for, then 8 digits of the hash,
    e.g. `small_cnn-step-lr0.05-m0.9-s3-1a2b3c4d`. The readable part is a subset of the identity; the hash
    makes the name unique when anything else differs."""
    c = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    if c.trainer.get("name") == "stability":  # its own MLP and loop: model and scheduler groups are not used
        shape = f"mlp-{c.trainer.images}img-{c.trainer.batch}-{c.trainer.steps}steps"
    else:
        shape = f"{c.model.name}-{c.scheduler.name}"
    readable = f"{shape}-lr{c.optimizer.lr:g}-m{c.optimizer.momentum:g}-s{c.seed}"
    return f"{readable}-{config_hash(cfg)[:8]}"


def differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two identities: what a refusal names."""
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            out += differences(va, vb, f"{prefix}{key}.")
        elif va != vb:
            out.append(f"{prefix}{key}")
    return out
