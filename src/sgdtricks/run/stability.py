"""A stability run: heavy ball on a fixed set of training images, square loss, sharpness measured as it trains.

Why momentum allows larger steps, measured on a network: on a quadratic, heavy ball with step size lr and
momentum beta is stable while the top Hessian eigenvalue (sharpness) stays below 2(1 + beta)/lr; gradient
descent on a network raises its sharpness until it reaches that level and then hovers there (Cohen et al.,
ICLR 2021, "the edge of stability"); minibatch SGD holds the *batch* sharpness at 2(1 -+ beta)/lr (Andreyev
et al. 2026). A run here is the setting of Cohen et al.: a tanh MLP (no BatchNorm, which makes most weights
scale-invariant and hides the edge), the first `trainer.images` training images, square loss, the whole set
as one batch (`trainer.batch: full`) or minibatches of `trainer.batch` images drawn with replacement.

Every `trainer.measure_every` steps (and after the last) a row: the full-set training loss and, per
`trainer.sharpness`, the top Hessian eigenvalue of the full-set loss (`full`), the batch sharpness over
`trainer.sharpness_batches` minibatches (`batch`), or neither (`none`: the stability map's runs, which only
need their final loss). A run diverges when the loss is no longer finite or exceeds `trainer.diverge_factor`
times its initial value; it then stops and says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from sgdtricks.errors import ConfigError
from sgdtricks.models import MLP
from sgdtricks.record import provenance
from sgdtricks.record.files import RECORD_VERSION, STEP_METRIC_COLUMNS
from sgdtricks.record.identity import run_key
from sgdtricks.record.tracking import open_tracker
from sgdtricks.run import augment
from sgdtricks.run.data import load_data
from sgdtricks.run.setup import attempt, instantiate, pick_device
from sgdtricks.sharpness import batch_sharpness, top_hessian_eigenvalue


def square_loss(out: Tensor, target: Tensor) -> Tensor:
    """1/2 |f(x) - onehot(y)|^2 summed over classes, averaged over images (Cohen et al.'s square loss)."""
    return 0.5 * ((out - target) ** 2).sum(1).mean()


def inputs(images: Tensor, labels: Tensor, mean: Tensor, std: Tensor, num_classes: int,
           count: int) -> tuple[Tensor, Tensor]:
    """The first `count` images standardised per channel, as the trainer feeds them, and one-hot targets."""
    x = augment.normalize(images[:count], mean, std).contiguous()  # the MLP flattens: plain NCHW order
    return x, nn.functional.one_hot(labels[:count], num_classes).float()


@dataclass
class Settings:
    """The run's trainer settings (conf/trainer/stability.yaml)."""

    steps: int
    batch: int | None  # None: the full set every step
    measure_every: int
    sharpness: str  # full | batch | none
    sharpness_batches: int
    diverge_factor: float


def measure(model: nn.Module, x: Tensor, y: Tensor, settings: Settings, generator: torch.Generator) -> dict[str, float]:
    """The full-set training loss and the sharpness the settings ask for (NaN where not measured)."""
    with torch.no_grad():
        row = {"train_loss": square_loss(model(x), y).item(), "sharpness": math.nan, "batch_sharpness": math.nan}
    if not math.isfinite(row["train_loss"]):
        return row
    if settings.sharpness == "full":
        row["sharpness"] = top_hessian_eigenvalue(model, square_loss, x, y)
    elif settings.sharpness == "batch":
        picks = torch.randint(len(x), (settings.sharpness_batches, settings.batch), generator=generator)
        row["batch_sharpness"] = batch_sharpness(model, square_loss, [(x[i], y[i]) for i in picks])
    return row


def run(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, settings: Settings,
        seed: int) -> tuple[list[dict[str, float]], str]:
    """Train, measuring every `measure_every` steps and after the last; the rows and the status.

    Diverged: a step's loss (the full set's, or the minibatch's) is non-finite or past diverge_factor times
    the initial full-set loss. It is checked at every step, so a diverging run stops within steps instead of
    running to its next row (the stability map's diverged cells cost almost nothing); its last row is the
    full-set loss at that step, without sharpness.
    """
    batches = torch.Generator(device=x.device).manual_seed(seed)  # minibatch draws
    probes = torch.Generator(device=x.device).manual_seed(seed + 1)  # batch-sharpness draws: never shift training
    lr = optimizer.param_groups[0]["lr"]
    rows = [{"step": 0, "lr": lr, **measure(model, x, y, settings, probes)}]
    limit = settings.diverge_factor * rows[0]["train_loss"]
    for step in range(1, settings.steps + 1):
        xb, yb = x, y
        if settings.batch is not None:
            picks = torch.randint(len(x), (settings.batch,), generator=batches, device=x.device)
            xb, yb = x[picks], y[picks]
        optimizer.zero_grad(set_to_none=True)
        loss = square_loss(model(xb), yb)
        if not loss.item() <= limit:  # also catches NaN
            if rows[-1]["step"] == step - 1:
                rows.pop()  # measured just before: replaced by the row that says it diverged
            rows.append({"step": step - 1, "lr": lr, **measure(model, x, y, replace(settings, sharpness="none"), probes)})
            return rows, "diverged"
        loss.backward()
        optimizer.step()
        if step % settings.measure_every == 0 or step == settings.steps:
            rows.append({"step": step, "lr": lr, **measure(model, x, y, settings, probes)})
    return rows, "finished"


def settings(trainer: DictConfig) -> Settings:
    """The loop's settings from the `trainer` group (conf/trainer/stability.yaml)."""
    return Settings(steps=trainer.steps, batch=None if trainer.batch == "full" else int(trainer.batch),
                    measure_every=trainer.measure_every, sharpness=trainer.sharpness,
                    sharpness_batches=trainer.sharpness_batches, diverge_factor=trainer.diverge_factor)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run the stability run of `cfg` in `run_dir`, or leave it when it is already done; returns its summary.

    A run takes seconds to a minute, so there is no checkpoint: an interrupted run starts over.
    """
    start = attempt(cfg, run_dir)
    if start.done:
        print(f"{run_dir}: already {start.previous['status']}, nothing to do")
        return start.previous
    record = start.record
    device = pick_device(cfg.trainer.device)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg.data, device)
    if len(data.train_x) < cfg.trainer.images:
        raise ConfigError(f"trainer.images={cfg.trainer.images} is more than the {len(data.train_x)} images of the "
                          f"training split; lower trainer.images (or raise data.train_subset)")
    x, y = inputs(data.train_x, data.train_y, data.mean, data.std, data.num_classes, cfg.trainer.images)
    model = MLP(data.in_channels, data.num_classes, cfg.trainer.widths, cfg.trainer.activation,
                data.image_size[0]).to(device)  # after the seed: one initialisation per seed
    optimizer = instantiate(cfg.optimizer, model.parameters())
    base = {"record_version": RECORD_VERSION, "config_hash": start.config_hash, "run_key": run_key(cfg),
            "identity": start.identity,
            "seed": cfg.seed, "device": str(device),
            "device_name": provenance.device_name(device), "versions": provenance.versions(),
            "git_commit": provenance.git_commit(), "train_images": len(x),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with open_tracker(cfg, run_dir, None) as tracker:
        base["wandb_run_id"] = tracker.run_id
        record.write_summary({**base, "status": "running"})
        t0 = time.perf_counter()
        rows, status = run(model, optimizer, x, y, settings(cfg.trainer), cfg.seed)
        for row in rows:
            tracker.log_step(int(row["step"]), row["train_loss"], row["lr"], sharpness=row["sharpness"],
                             batch_sharpness=row["batch_sharpness"])
        record.write_metrics(rows, STEP_METRIC_COLUMNS)
        last = rows[-1]
        summary = {**base, "status": status, "wall_time_s": time.perf_counter() - t0, "steps_completed": last["step"],
                   "final_train_loss": last["train_loss"], "final": last,
                   "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        record.write_summary(summary)
        tracker.set_summary(summary)
    print(f"{run_dir}: {status} after {last['step']} steps, train loss {last['train_loss']:.4g}"
          + (f", sharpness {last['sharpness']:.1f}" if math.isfinite(last["sharpness"]) else ""), flush=True)
    return summary
