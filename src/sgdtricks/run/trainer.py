"""One training run = one Hydra job = one run directory (see record/files.py for what it holds).

    python -m sgdtricks.train data=npz data.path=../shared/datasets/cifar10-subset.npz trainer.epochs=3

Read top to bottom: config checks, the run's identity, data and parts from the config, then the epoch loop
(loop.py) that trains, evaluates, steps the scheduler and writes the record. Re-running the same command in
the same run directory continues from the last complete epoch, or does nothing when the run is done.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sgdtricks.config.resolvers import register_resolvers
from sgdtricks.errors import CheckpointError, UserError
from sgdtricks.paths import CONF
from sgdtricks.record import mirror, provenance
from sgdtricks.record.files import RECORD_VERSION, RunRecord
from sgdtricks.record.identity import run_key
from sgdtricks.record.metrics import improves_best_val, outcome
from sgdtricks.record.tracking import open_tracker
from sgdtricks.run import diagnostics, runtime, setup, stability
from sgdtricks.run.data import load_data
from sgdtricks.run.loop import Interrupted, evaluate, step_scheduler, train_epoch, warm_up

register_resolvers()  # before Hydra composes: the configs use ${effective_lr:...} and ${run_key:}

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # a cluster's preemption and Ctrl-C: both end resumably


@contextlib.contextmanager
def stop_signals() -> Iterator[dict[str, int]]:
    """Turn SIGTERM and SIGINT into a flag the loop checks between steps, so the record is never left mid-write.

    The flag holds the signal's number (0 while none came); the run then ends `interrupted`, exit 128 + signal.
    """
    flag = {"signal": 0}

    def handler(signum: int, frame: Any) -> None:
        flag["signal"] = signum

    try:
        previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread (some launchers): keep the default behaviour
        yield flag
        return
    try:
        yield flag
    finally:
        for s, handler_before in previous.items():
            signal.signal(s, handler_before)


def run_status(rows: list[dict[str, float]], epochs: int) -> str:
    """diverged, finished or running, read from the completed epochs alone, so a resumed run agrees."""
    if rows and not (math.isfinite(rows[-1]["train_loss"]) and math.isfinite(rows[-1]["val_loss"])):
        return "diverged"
    return "finished" if len(rows) >= epochs else "running"


def summarize(rows: list[dict[str, float]], status: str, base: dict[str, Any]) -> dict[str, Any]:
    """summary.json: status, progress, final and best-validation metrics (record/metrics.py), throughput."""
    summary = {**base, "status": status, "epochs_completed": len(rows),
               "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if status == "diverged":
        summary["diverged_epoch"] = rows[-1]["epoch"]
    if rows:
        summary.update(final=rows[-1], wall_time_s=sum(r["epoch_time_s"] for r in rows),  # training + evaluation
                       images_per_s=base["train_images"] * len(rows) / sum(r["train_time_s"] for r in rows),
                       **outcome(rows))
    return summary


def rng_states(device: torch.device) -> dict[str, Any]:
    """The global generators a resumed run must continue from. The data order and augmentation need none:
    they are drawn from a generator seeded by (seed, epoch); numpy's and Python's are never drawn from."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore(checkpoint: dict[str, Any], parts: setup.Parts, device: torch.device, path: Path) -> list[dict[str, float]]:
    """Load model, optimizer (momentum buffers), scheduler (plateau's best and bad epochs) and RNG states;
    returns the completed epochs' rows. A checkpoint the current code cannot take is refused, not half-loaded.

    Another device type is refused: the data order is drawn on the device (torch.Generator(device)), and CPU and
    CUDA generators give different orders from the same seed, so the continued run would not be this run.
    """
    trained_on = checkpoint.get("device_type", device.type)
    if trained_on != device.type:
        raise CheckpointError(f"{path} was written on {trained_on} and this run is on {device.type}: its data order "
                              f"would change mid-run; resume with trainer.device={trained_on}, or delete the run "
                              f"directory to start over on {device.type}")
    try:
        parts.model.load_state_dict(checkpoint["model"])
        parts.optimizer.load_state_dict(checkpoint["optimizer"])
        parts.scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if device.type == "cuda" and checkpoint["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"], device)
        return checkpoint["metrics"]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path} does not fit this code's model or optimizer ({type(exc).__name__}); "
                              f"delete it (or the run directory) to start this run over") from None


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Run (or continue) the training described by `cfg` in `run_dir`; returns the final summary."""
    start = setup.attempt(cfg, run_dir)
    if start.done:
        print(f"{run_dir}: already {start.previous['status']}, nothing to do")
        return start.previous
    record, ident, fingerprint, previous, checkpoint = (start.record, start.identity, start.config_hash,
                                                        start.previous, start.checkpoint)

    device = setup.pick_device(cfg.trainer.device)
    data = load_data(cfg.data, device)
    parts = setup.build(cfg, data, device)
    norms = diagnostics.GradientNorms(parts.optimizer)
    rows: list[dict[str, float]] = []
    if checkpoint:
        rows = restore(checkpoint, parts, device, record.checkpoint_path)
        print(f"resuming {run_dir} after epoch {len(rows)}")
    record.write_metrics(rows)  # drop any row newer than the checkpoint
    hydra_files = record.read_hydra_files()
    compile_s = warm_up(parts.model, parts.forward, data, cfg, parts.autocast) if cfg.trainer.compile else 0.0
    if compile_s:
        print(f"compiled in {compile_s:.1f} s, before epoch {len(rows) + 1} and not counted in its time", flush=True)

    base = {
        "record_version": RECORD_VERSION, "config_hash": fingerprint, "run_key": run_key(cfg), "identity": ident,
        "epochs": cfg.trainer.epochs, "seed": cfg.seed, "device": str(device),
        "device_name": provenance.device_name(device), "versions": provenance.versions(),
        "git_commit": provenance.git_commit(), "train_images": len(data.train_x),
        "val_images": len(data.val_x), "test_images": len(data.test_x), "compile_s": compile_s,
        "wandb_run_id": (previous or {}).get("wandb_run_id"),
        "started": (previous or {}).get("started") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    status = run_status(rows, cfg.trainer.epochs)
    with open_tracker(cfg, run_dir, base["wandb_run_id"]) as tracker, stop_signals() as stop:
        base["wandb_run_id"] = tracker.run_id
        last_step = mirror.steps_through(len(rows), len(data.train_x), cfg.trainer.batch_size)
        mirror.catch_up(tracker, run_dir, rows, last_step)  # resumed: W&B first gets what it lacks of the record
        record.write_summary(summarize(rows, status, base))
        try:
            while status == "running":
                epoch = len(rows) + 1
                lr = parts.optimizer.param_groups[0]["lr"]
                t0 = time.perf_counter()
                train_loss, train_acc = train_epoch(parts.forward, parts.optimizer, data, cfg, epoch, parts.autocast,
                                                    stop, tracker)  # ends in a sync: the time is the device's
                train_time = time.perf_counter() - t0
                val_loss = val_acc = test_loss = test_acc = math.nan  # a diverged model's predictions: no measurement
                if math.isfinite(train_loss):
                    val_loss, val_acc = evaluate(parts.forward, data.val_x, data.val_y, data, cfg, parts.autocast)
                    # The test split only where a reported number reads it (record/metrics.py): the last epoch and
                    # each new best validation epoch. Every epoch, it cost 9% of the cpu profile's time (measured).
                    if epoch == cfg.trainer.epochs or improves_best_val(rows, val_acc):
                        test_loss, test_acc = evaluate(parts.forward, data.test_x, data.test_y, data, cfg,
                                                       parts.autocast)
                    step_scheduler(parts.scheduler, val_loss)
                row = dict(epoch=epoch, lr=lr, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                           val_acc=val_acc, test_loss=test_loss, test_acc=test_acc,
                           epoch_time_s=time.perf_counter() - t0, train_time_s=train_time, **norms.epoch_end(),
                           sharpness=math.nan)
                every = cfg.trainer.sharpness_every
                if every and epoch % every == 0 and math.isfinite(train_loss):  # not part of the epoch's time
                    row["sharpness"] = diagnostics.training_sharpness(parts.model, data, cfg.trainer.sharpness_images)
                rows.append(row)
                status = run_status(rows, cfg.trainer.epochs)
                record.save_checkpoint({
                    "config_hash": fingerprint, "identity": ident, "device_type": device.type, "epoch": epoch,
                    "metrics": rows, "model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict(),
                    "scheduler": parts.scheduler.state_dict(), "rng": rng_states(device), "hydra": hydra_files,
                })
                record.write_metrics(rows)
                record.write_summary(summarize(rows, status, base))
                tracker.log_epoch(row)
                print(f"epoch {epoch:3d}/{cfg.trainer.epochs}  lr {lr:.3g}  train loss {train_loss:.4f} "
                      f"acc {train_acc:.3f}  val loss {val_loss:.4f} acc {val_acc:.3f}"
                      + (f"  test acc {test_acc:.3f}" if math.isfinite(test_acc) else "")
                      + f"  {row['epoch_time_s']:.1f}s", flush=True)
                if status == "diverged":
                    print(f"diverged: non-finite loss in epoch {epoch}; run stopped, recorded as diverged", flush=True)
        except Interrupted:
            status = "interrupted"
        except BaseException as exc:
            record.write_summary({**summarize(rows, "failed", base), "error": f"{type(exc).__name__}: {exc}"})
            raise
        summary = summarize(rows, status, base)
        record.write_summary(summary)
        tracker.set_summary(summary)
        tracker.log_checkpoint(record.checkpoint_path, summary)
    if status == "interrupted":
        name = signal.Signals(stop["signal"]).name
        print(f"interrupted by {name} after epoch {len(rows)}; the same command resumes it: {run_dir}", flush=True)
        raise Interrupted(stop["signal"])
    print(f"run record: {run_dir} (status {status})", flush=True)
    return summary


@hydra.main(version_base="1.3", config_path=str(CONF), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns best validation accuracy (for sweepers), None when the run has none."""
    runtime.keep_freed_memory()  # process-wide allocator setting, once per process (runtime.py says why)
    setup.configure_backends(setup.pick_device(cfg.trainer.device))  # CUDA math settings (setup.py says why)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        with RunRecord(run_dir).claim():
            summary = (stability.train if cfg.trainer.get("name") == "stability" else train)(cfg, run_dir)
    except UserError as exc:
        print("error:", " ".join(str(exc).split()), file=sys.stderr, flush=True)  # one line, whatever the cause
        sys.exit(2)
    except Interrupted as stopped:
        sys.exit(128 + stopped.signum)
    best = summary.get("best_val_acc")
    return best if isinstance(best, float) and math.isfinite(best) else None
