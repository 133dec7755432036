"""The epoch loop: evaluation, one SGD step, one epoch of training. Plain code, no framework around it.

Each epoch syncs with the device only every `trainer.log_every` steps (and at its end), so a GPU is never
waiting on the host. The order and augmentation of epoch e depend only on (seed, e): a resumed run sees the
same data as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import time

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from tqdm import tqdm

from sgdtricks.record.tracking import NullTracker, Tracker
from sgdtricks.run import augment
from sgdtricks.run.data import DeviceData


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived: the record is consistent up to the last complete epoch."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def step_scheduler(scheduler, val_loss: float) -> None:
    """After the epoch's optimizer steps (PyTorch >= 1.1 order); plateau watches the validation loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()


def eval_batch_size(cfg: DictConfig, device: torch.device) -> int:
    """trainer.eval_batch_size, capped on a CPU at the training batch size (evaluate says why)."""
    return cfg.trainer.eval_batch_size if device.type != "cpu" else min(cfg.trainer.eval_batch_size,
                                                                          cfg.trainer.batch_size)


@torch.inference_mode()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, data: DeviceData, cfg: DictConfig,
             autocast: contextlib.AbstractContextManager) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split, in large batches, one sync at the end.

    On a CPU the batches are at most the training batch size: larger ones fall out of the cache and
    evaluate 2-2.5x slower per image (small_cnn, 2 cores: 8,400 images/s at 128, 3,400 at 1024).
    """
    model.eval()
    bs = eval_batch_size(cfg, x.device)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(x), bs):
        xb, yb = augment.normalize(x[start:start + bs], data.mean, data.std), y[start:start + bs]
        with autocast:
            logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    return loss_sum.item() / len(x), correct.item() / len(x)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
               autocast: contextlib.AbstractContextManager) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward and one optimizer step on a prepared batch; (loss, logits) stay on the device (no sync).

    Shared by train_epoch and the benchmark's model-only ceiling, so both time the same step.
    """
    with autocast:
        logits = model(xb)
    loss = F.cross_entropy(logits.float(), yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: DeviceData, cfg: DictConfig,
                epoch: int, autocast: contextlib.AbstractContextManager, stop: dict[str, int],
                tracker: Tracker = NullTracker()) -> tuple[float, float]:
    """One pass over the training split in a fresh random order, each image its own crop and flip.

    The order and augmentation of epoch e depend only on (seed, e), so a resumed run sees the same data.
    Returns mean loss and accuracy; the loss is non-finite when any step's was (the epoch then stops early).
    Every `trainer.log_every` steps, where the loop syncs anyway, `tracker` gets that step's loss and lr.
    """
    model.train()
    device = data.train_x.device
    n, bs, pad = len(data.train_x), cfg.trainer.batch_size, cfg.data.pad
    generator = torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch)
    order = torch.randperm(n, device=device, generator=generator)
    if cfg.data.augment:
        images = augment.pad_images(data.train_x, pad)
        dy, dx, flip = augment.draw_augmentation(n, pad, generator, device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(range(0, n, bs), desc=f"epoch {epoch}/{cfg.trainer.epochs}", leave=False, disable=None,
               unit="batch", dynamic_ncols=True)
    for step, start in enumerate(bar):
        idx = order[start:start + bs]
        if cfg.data.augment:
            xb = augment.crop_flip(images, dy[idx], dx[idx], flip[idx], data.image_size, index=idx)
        else:
            xb = data.train_x[idx]
        xb, yb = augment.normalize(xb, data.mean, data.std), data.train_y[idx]
        loss, logits = train_step(model, optimizer, xb, yb, autocast)
        loss_sum += loss * len(idx)
        correct += (logits.argmax(1) == yb).sum()
        seen += len(idx)
        if step % cfg.trainer.log_every == 0 or seen == n:  # the only host syncs of the epoch
            mean_loss = loss_sum.item() / seen
            bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{correct.item() / seen:.3f}",
                            lr=f"{optimizer.param_groups[0]['lr']:.2g}")
            tracker.log_step((epoch - 1) * len(bar) + step + 1, loss.item(), optimizer.param_groups[0]["lr"])
            if not math.isfinite(mean_loss):  # diverged: stop within log_every steps, without a sync per step
                break
        if stop["signal"]:
            raise Interrupted(stop["signal"])
    bar.close()
    return loss_sum.item() / seen, correct.item() / seen


def warm_up(model: torch.nn.Module, forward: torch.nn.Module, data: DeviceData, cfg: DictConfig,
            autocast: contextlib.AbstractContextManager) -> float:
    """Call the compiled `forward` once on every batch shape the epochs will give it, in training (forward and
    backward) and evaluation mode, so torch.compile builds all its graphs here; returns the seconds it took.

    Left to the first epoch, it would count as training time: a compiled small_cnn's first epoch took 26 s on
    2 CPU cores, the next ones 0.15 s. Afterwards the weights, BatchNorm statistics and gradients of `model` are
    as before, and the global RNG was not drawn from.
    """
    device = data.train_x.device
    t0 = time.perf_counter()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    n, bs = len(data.train_x), cfg.trainer.batch_size
    model.train()
    for size in sorted({min(bs, n), n % bs} - {0}):
        xb = augment.normalize(data.train_x[:size], data.mean, data.std)
        with autocast:
            logits = forward(xb)
        F.cross_entropy(logits.float(), data.train_y[:size]).backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    ebs = eval_batch_size(cfg, device)
    with torch.inference_mode(), autocast:
        for x in (data.val_x, data.test_x):
            for size in sorted({min(ebs, len(x)), len(x) % ebs} - {0}):
                forward(augment.normalize(x[:size], data.mean, data.std))
    model.load_state_dict(saved)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0
