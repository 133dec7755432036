"""Where one training step's time goes: each stage of our step timed on its own, with the functions it calls."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from sgdtricks.bench.timing import timed_ms
from sgdtricks.run import augment, setup
from sgdtricks.run.data import DeviceData
from sgdtricks.run.loop import evaluate, train_step


def breakdown(cfg: DictConfig, data: DeviceData, device: torch.device) -> dict[str, float]:
    """Milliseconds per training batch of each stage of our step, timed one at a time (same functions)."""
    parts = setup.build(cfg, data, device)
    forward, optimizer, autocast = parts.forward, parts.optimizer, parts.autocast
    bs, pad, n = cfg.trainer.batch_size, cfg.data.pad, len(data.train_x)
    batches_per_epoch = -(-n // bs)
    generator = torch.Generator(device=device).manual_seed(0)
    idx = torch.randperm(n, device=device, generator=generator)[:bs]
    padded = augment.pad_images(data.train_x, pad)
    dy, dx, flip = augment.draw_augmentation(n, pad, generator, device)
    crops = augment.crop_flip(padded[idx], dy[idx], dx[idx], flip[idx], data.image_size)
    xb, yb = augment.normalize(crops, data.mean, data.std), data.train_y[idx]
    forward.train()

    def forward_loss() -> torch.Tensor:
        with autocast:
            return F.cross_entropy(forward(xb).float(), yb)

    def backward() -> None:
        optimizer.zero_grad(set_to_none=True)
        forward_loss().backward()

    stages = {
        "pad + draw (per epoch, per batch share)": timed_ms(
            lambda: (augment.pad_images(data.train_x, pad), augment.draw_augmentation(n, pad, generator, device)),
            device) / batches_per_epoch,
        "crop + flip gather": timed_ms(
            lambda: augment.crop_flip(padded[idx], dy[idx], dx[idx], flip[idx], data.image_size), device),
        "normalize (uint8 -> float, channels_last)": timed_ms(lambda: augment.normalize(crops, data.mean, data.std),
                                                              device),
        "forward + loss": timed_ms(forward_loss, device),
    }
    stages["backward"] = timed_ms(backward, device) - stages["forward + loss"]
    stages["optimizer step"] = timed_ms(optimizer.step, device)
    stages["whole train_step"] = timed_ms(lambda: train_step(forward, optimizer, xb, yb, autocast), device)
    eval_ms = timed_ms(lambda: evaluate(forward, data.val_x, data.val_y, data, cfg, autocast), device, repeats=3)
    stages["evaluation (per batch-size images)"] = eval_ms * bs / len(data.val_x)
    return stages
