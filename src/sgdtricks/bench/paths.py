"""The three pipelines timed against each other, each as a `Repeat` (one short epoch -> images/s)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from sgdtricks.bench.timing import Repeat, synchronize
from sgdtricks.errors import UserError
from sgdtricks.run import augment, setup
from sgdtricks.run.data import DeviceData
from sgdtricks.run.loop import train_epoch, train_step


def head(data: DeviceData, n: int) -> DeviceData:
    """The first n training images, so a repeat is a short epoch of the real training path."""
    return dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])


def ours(cfg: DictConfig, data: DeviceData, device: torch.device, n: int) -> Repeat:
    """(a) run.loop.train_epoch over the first n training images: each repeat is one (short) epoch."""
    parts = setup.build(cfg, data, device)
    subset, epochs, stop = head(data, n), itertools.count(1), {"signal": 0}

    def repeat() -> float:
        t0 = time.perf_counter()
        loss, _ = train_epoch(parts.forward, parts.optimizer, subset, cfg, next(epochs), parts.autocast, stop)
        seconds = time.perf_counter() - t0
        if not np.isfinite(loss):
            raise UserError(f"training diverged during the benchmark; lower optimizer.lr (now {cfg.optimizer.lr})")
        return n / seconds

    return repeat


class TorchvisionStyleDataset(Dataset):
    """What torchvision.datasets.CIFAR10 does per item: uint8 HWC array -> PIL image -> transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def standard(cfg: DictConfig, data: DeviceData, device: torch.device, n: int) -> Repeat:
    """(b) The standard pipeline on the same n images, written as pytorch-cifar's main.py writes it.

    Workers persist across repeats, so a repeat pays neither worker start-up nor more than one pipeline
    fill: generous to this path, as a full epoch amortises both.
    """
    import torchvision.transforms as T

    images = data.train_x[:n].permute(0, 2, 3, 1).cpu().numpy()
    if images.shape[-1] == 1:
        images = images[..., 0]  # grayscale: PIL mode "L"
    transform = T.Compose([
        T.RandomCrop(data.image_size, padding=cfg.data.pad), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize(data.mean.tolist(), data.std.tolist()),
    ])
    dataset = TorchvisionStyleDataset(images, data.train_y[:n].cpu().numpy(), transform)
    loader = DataLoader(dataset, batch_size=cfg.trainer.batch_size, shuffle=True, num_workers=2,
                        persistent_workers=True)
    torch.manual_seed(cfg.seed)
    net = setup.instantiate(cfg.model, data.in_channels, data.num_classes).to(device)
    optimizer = setup.instantiate(cfg.optimizer, net.parameters())
    criterion = torch.nn.CrossEntropyLoss()

    def repeat() -> float:
        t0 = time.perf_counter()
        net.train()
        train_loss, correct, total = 0.0, 0, 0
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
            _, predicted = outputs.max(1)
            total += targets.size(0)
            correct += predicted.eq(targets).sum().item()
        return total / (time.perf_counter() - t0)

    return repeat


def prepared_batches(data: DeviceData, n: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised channels_last batches on the device, made before any clock starts."""
    return [(augment.normalize(data.train_x[i:i + batch_size], data.mean, data.std), data.train_y[i:i + batch_size])
            for i in range(0, n, batch_size)]


def model_only(cfg: DictConfig, data: DeviceData, device: torch.device, n: int) -> Repeat:
    """(c) run.loop.train_step alone on prepared batches: what any data path could at best reach."""
    parts = setup.build(cfg, data, device)
    parts.forward.train()
    batches = prepared_batches(data, n, cfg.trainer.batch_size)

    def repeat() -> float:
        synchronize(device)
        t0 = time.perf_counter()
        for xb, yb in batches:
            train_step(parts.forward, parts.optimizer, xb, yb, parts.autocast)
        synchronize(device)
        return n / (time.perf_counter() - t0)

    return repeat
