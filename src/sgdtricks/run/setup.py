"""From a config to the objects one run trains with: device, model, optimizer, scheduler, autocast; and what the
run directory holds of earlier attempts.

One function for the trainer and the benchmark, so the benchmark times what a run trains; one start for both
trainers (the epoch loop's and the stability run's), so both check, identify and skip a run the same way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from sgdtricks.config.checks import check_config
from sgdtricks.record.files import DONE_STATUSES, RunRecord
from sgdtricks.record.identity import config_hash, identity
from sgdtricks.run.data import DeviceData


def pick_device(name: str) -> torch.device:
    """`auto` = cuda, then mps, then cpu; anything else as named (cpu, cuda:1, ...)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def configure_backends(device: torch.device) -> None:
    """The CUDA math of every run and measurement in this process, decided once, at the entry points.

    cudnn.benchmark on: a run feeds a handful of fixed shapes (the batch, the epoch's last batch, evaluation's),
    so cuDNN times its convolution algorithms once per shape and keeps the fastest for every later epoch.
    TF32 off for matmuls and convolutions alike (torch's defaults differ: convolutions on, matmuls off):
    trainer.precision=fp32 then is IEEE fp32 throughout, as the record states, and bench's fp32 MFU is
    measured against the fp32 matmul rate the step really runs at (with TF32 convolutions it could pass 100%).
    A GPU's speed comes from bf16 autocast, the full profile's precision, where TF32 plays no part.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.conv.fp32_precision = "ieee"


def instantiate(node: DictConfig, *args: Any) -> Any:
    """hydra.utils.instantiate for a group whose `name` key labels the choice rather than being an argument."""
    params = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "name"}
    return hydra.utils.instantiate(params)(*args)


@dataclass
class Attempt:
    """A run directory as a run finds it: the record, the run's identity, and what earlier attempts left there."""

    record: RunRecord
    identity: dict[str, Any]
    config_hash: str
    previous: dict[str, Any] | None  # summary.json of an earlier attempt
    checkpoint: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return bool(self.previous) and self.previous.get("status") in DONE_STATUSES


def attempt(cfg: DictConfig, run_dir: Path) -> Attempt:
    """Config checks first (a bad value costs nothing), then the identity, then the directory's earlier attempts
    (a directory of another config is refused)."""
    check_config(cfg)
    record, ident, fingerprint = RunRecord(run_dir), identity(cfg), config_hash(cfg)
    previous, checkpoint = record.previous_attempt(fingerprint, ident)
    return Attempt(record, ident, fingerprint, previous, checkpoint)


@dataclass
class Parts:
    """What the loop trains: `model` holds the weights (saved in checkpoints), `forward` is what the loop calls
    (the compiled model with trainer.compile)."""

    model: torch.nn.Module
    forward: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    autocast: contextlib.AbstractContextManager


def build(cfg: DictConfig, data: DeviceData, device: torch.device) -> Parts:
    """Seed, then model (channels_last), optimizer and scheduler from their `_target_` configs."""
    torch.manual_seed(cfg.seed)
    model = instantiate(cfg.model, data.in_channels, data.num_classes).to(device, memory_format=torch.channels_last)
    optimizer = instantiate(cfg.optimizer, model.parameters())
    scheduler = instantiate(cfg.scheduler, optimizer)
    # dynamic=False: one static graph per batch shape (the batch, the epoch's last batch, evaluation's), at most
    # five per run, all built by loop.warm_up before the first epoch; none is rebuilt in later epochs.
    forward = torch.compile(model, dynamic=False) if cfg.trainer.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.trainer.precision == "bf16")
    return Parts(model, forward, optimizer, scheduler, autocast)
