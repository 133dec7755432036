"""`make bench`: training images/s of our path against the pipeline users would otherwise write.

Measured in one process, on the same model, batch size, optimizer and images:

    ours        train.train_epoch itself: uint8 images on the device, batched crop+flip, channels_last
    standard    the pytorch-cifar / pytorch/examples way: a Dataset of PIL images through torchvision's
                RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize and a DataLoader with
                num_workers=2, fp32, default memory format, `.item()` every batch
    model_only  train.train_step on batches already normalised on the device: the ceiling for any data path

Paths are interleaved within each repeat; the median over repeats is reported, and a ratio between two
paths is the median of their ratios within a repeat, so that a burst of load from other processes (which
lasts longer than one repeat) cancels out of it. Around them: the machine's matmul FLOP/s and the model's
FLOPs per image (model FLOP utilisation), where one step's time goes, several runs sharing the device, and
one real training run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

import sgdtricks
from sgdtricks.record import provenance
from sgdtricks.run import augment, runtime
from sgdtricks.config.checks import check_config
from sgdtricks.config.studies import compose_config
from sgdtricks.run.data import DeviceData, load_data
from sgdtricks.errors import UserError
from sgdtricks.paths import SRC
from sgdtricks.record.files import atomic_write
from sgdtricks.run import setup
from sgdtricks.run.loop import evaluate, train_epoch, train_step

TARGETS = {"speedup_vs_dataloader": 2.0, "ceiling_fraction": 0.9}  # issue 6, 2-core CPU, small_cnn, fp32
CSV_COLUMNS = ["path", "precision", "memory_format", "images_per_s", "images_per_s_min", "images_per_s_max",
               "x_standard", "x_model_only",
               "repeats", "images_per_repeat", "batch_size", "model", "data", "device", "device_name", "threads",
               "model_flops_per_image", "matmul_flops_per_s", "mfu"]


@dataclasses.dataclass
class Row:
    """One measured configuration: images/s of each repeat."""

    path: str
    precision: str
    memory_format: str
    samples: list[float] = dataclasses.field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def ratio(self, other: Row) -> float:
        """Median over repeats of self / other, both measured in the same repeat."""
        return statistics.median(a / b for a, b in zip(self.samples, other.samples, strict=True))


Repeat = Callable[[], float]  # runs one repeat, returns its training images/s


def checked_config(overrides: Sequence[str]) -> DictConfig:
    """The config `python -m sgdtricks.train OVERRIDES` would train with, range-checked."""
    cfg = compose_config(*overrides)
    check_config(cfg)
    return cfg


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def head(data: DeviceData, n: int) -> DeviceData:
    """The first n training images, so a repeat is a short epoch of the real training path."""
    return dataclasses.replace(data, train_x=data.train_x[:n], train_y=data.train_y[:n])


def our_model(cfg: DictConfig, data: DeviceData,
              device: torch.device) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.autocast]:
    """Model, optimizer and autocast from the trainer's own setup (run/setup.py)."""
    parts = setup.build(cfg, data, device)
    return parts.forward, parts.optimizer, parts.autocast


def ours(cfg: DictConfig, data: DeviceData, device: torch.device, n: int) -> Repeat:
    """(a) train.train_epoch over the first n training images: each repeat is one (short) epoch."""
    forward, optimizer, autocast = our_model(cfg, data, device)
    subset, epochs, stop = head(data, n), itertools.count(1), {"signal": 0}

    def repeat() -> float:
        t0 = time.perf_counter()
        loss, _ = train_epoch(forward, optimizer, subset, cfg, next(epochs), autocast, stop)  # ends in a sync
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
    """(c) train.train_step alone on prepared batches: what any data path could at best reach."""
    forward, optimizer, autocast = our_model(cfg, data, device)
    forward.train()
    batches = prepared_batches(data, n, cfg.trainer.batch_size)

    def repeat() -> float:
        synchronize(device)
        t0 = time.perf_counter()
        for xb, yb in batches:
            train_step(forward, optimizer, xb, yb, autocast)
        synchronize(device)
        return n / (time.perf_counter() - t0)

    return repeat


def measure(paths: dict[tuple[str, str, str], Repeat], repeats: int, warmup: int) -> list[Row]:
    """Run every path once per repeat, in turn, after `warmup` discarded rounds (allocator, caches, compile)."""
    rows = {key: Row(*key) for key in paths}
    for round_ in range(warmup + repeats):
        for key, repeat in paths.items():
            value = repeat()
            if round_ >= warmup:
                rows[key].samples.append(value)
        if round_ >= warmup:
            print(f"  repeat {round_ - warmup + 1}/{repeats}: "
                  + "  ".join(f"{k[0]}/{k[1]} {rows[k].samples[-1]:.0f}" for k in rows) + " img/s", flush=True)
    return list(rows.values())


def timed_ms(fn: Callable[[], Any], device: torch.device, repeats: int = 7,
             summary: Callable[[list[float]], float] = statistics.median) -> float:
    """Median (or `summary`) of the wall milliseconds of fn(), synchronised, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return summary(times)


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype) -> float:
    """The machine's dense matmul rate: square torch.mm calls (2 n^3 FLOPs each), the fastest of 5 timings.

    The fastest, not the median: this is what the hardware allows, which load from other processes only hides.
    """
    n, calls = (8192, 10) if device.type == "cuda" else (1024, 4)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    ms = timed_ms(lambda: [torch.mm(a, b) for _ in range(calls)], device, repeats=5, summary=min)
    return 2 * n**3 * calls / (ms / 1e3)


def model_flops_per_image(cfg: DictConfig, data: DeviceData, device: torch.device) -> float:
    """Forward + backward FLOPs of one training image, counted by torch's FlopCounterMode (convs, matmuls)."""
    torch.manual_seed(cfg.seed)
    model = setup.instantiate(cfg.model, data.in_channels, data.num_classes).to(device, memory_format=torch.channels_last)
    xb, yb = prepared_batches(data, cfg.trainer.batch_size, cfg.trainer.batch_size)[0]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(xb), yb).backward()
    return counter.get_total_flops() / len(xb)


def breakdown(cfg: DictConfig, data: DeviceData, device: torch.device) -> dict[str, float]:
    """Milliseconds per training batch of each stage of our step, timed one at a time (same functions)."""
    forward, optimizer, autocast = our_model(cfg, data, device)
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


def _shared_worker(overrides: list[str], n: int, repeats: int, threads: int, barrier: Any, results: Any) -> None:
    """One of K concurrent runs: the `ours` path, clocked between a common start and its own end."""
    sys.stderr = open(os.devnull, "w")  # K progress bars on one terminal are noise; errors go to `results`
    try:
        torch.set_num_threads(threads)
        cfg = checked_config(overrides)
        device = setup.pick_device(cfg.trainer.device)
        repeat = ours(cfg, load_data(cfg.data, device), device, n)
        repeat()  # warm-up
        barrier.wait()
        t0 = time.monotonic()
        for _ in range(repeats):
            repeat()
        results.put(("ok", n * repeats, t0, time.monotonic()))
    except BaseException as exc:  # report, and release the others from the barrier
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def shared_throughput(overrides: list[str], n: int, repeats: int, share: int, threads: int) -> float:
    """Images/s of `share` concurrent runs of our path (a joblib launcher's n_jobs), each with threads // share."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(share, timeout=900), context.Queue()
    workers = [context.Process(target=_shared_worker, args=(overrides, n, repeats, max(1, threads // share),
                                                             barrier, results)) for _ in range(share)]
    for worker in workers:
        worker.start()
    outcomes: list[tuple] = []
    try:
        while len(outcomes) < share:
            try:
                outcomes.append(results.get(timeout=5))
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a concurrent benchmark run died with exit code {dead[0]}") from None
    finally:
        for worker in workers:
            if worker.is_alive() and len(outcomes) < share:
                worker.terminate()
            worker.join()
    errors = [o[1] for o in outcomes if o[0] == "error"]
    if errors:
        raise RuntimeError(f"a concurrent benchmark run failed: {errors[0]}")
    start, end = min(o[2] for o in outcomes), max(o[3] for o in outcomes)
    return sum(o[1] for o in outcomes) / (end - start)


def real_run(overrides: list[str], epochs: int) -> dict[str, Any]:
    """One `python -m sgdtricks.train` run as users start it: wall time, epoch times, peak resident memory."""
    keep = [o for o in overrides if o.split("=")[0].lstrip("+~") not in ("logger", "trainer.epochs", "hydra.run.dir")]
    src = str(SRC)  # this code, not another installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
           "WANDB_MODE": "disabled"}
    with tempfile.TemporaryDirectory(prefix="sgdtricks-bench-") as tmp:
        run_dir, log_path = Path(tmp) / "run", Path(tmp) / "log.txt"
        command = [sys.executable, "-m", "sgdtricks.train", *keep, "logger=none", f"trainer.epochs={epochs}",
                   f"hydra.run.dir={run_dir}"]
        t0 = time.perf_counter()
        with open(log_path, "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak RSS, not the DataLoader workers'
            process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if process.returncode != 0:
            tail = log_path.read_text().strip().splitlines()[-3:]
            raise RuntimeError(f"the real training run failed ({' '.join(command)}): {' | '.join(tail)}")
        summary = json.loads((run_dir / "summary.json").read_text())
        with open(run_dir / "metrics.csv") as f:
            epoch_times = [float(r["epoch_time_s"]) for r in csv.DictReader(f)]
    return {"command": "python -m sgdtricks.train " + " ".join([*keep, f"trainer.epochs={epochs}"]),
            "wall_s": wall, "epoch_times_s": epoch_times, "images_per_s": summary["images_per_s"],
            "train_images": summary["train_images"], "peak_rss_mb": usage.ru_maxrss / 1024}


def data_label(cfg: DictConfig) -> str:
    return str(cfg.data.get("path") or cfg.data.name)


def csv_text(rows: list[Row], context: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    by_key = {(r.path, r.precision): r for r in rows}
    for row in rows:
        peak = context["matmul_flops"][row.precision]
        writer.writerow({
            "path": row.path, "precision": row.precision, "memory_format": row.memory_format,
            "images_per_s": f"{row.median:.1f}", "images_per_s_min": f"{min(row.samples):.1f}",
            "images_per_s_max": f"{max(row.samples):.1f}",
            "x_standard": f"{row.ratio(by_key[('standard', 'fp32')]):.3f}",
            "x_model_only": f"{row.ratio(by_key[('model_only', row.precision)]):.3f}", "repeats": len(row.samples),
            "images_per_repeat": context["n"], "batch_size": context["batch_size"], "model": context["model"],
            "data": context["data"], "device": context["device"], "device_name": context["device_name"],
            "threads": context["threads"], "model_flops_per_image": f"{context['flops_per_image']:.4g}",
            "matmul_flops_per_s": f"{peak:.4g}", "mfu": f"{row.median * context['flops_per_image'] / peak:.4f}",
        })
    return buffer.getvalue()


def markdown(rows: list[Row], ratios: dict[str, float], context: dict[str, Any]) -> str:
    """reports/bench.md: what ran where, the table, the ratios against their targets, and the side measurements."""
    c = context
    by_key = {(r.path, r.precision): r for r in rows}
    base = by_key[("standard", "fp32")]
    lines = [
        "# Training throughput: our path vs the standard DataLoader pipeline vs the model alone", "",
        f"Generated by `make bench` (`scripts/bench.py {' '.join(c['overrides'])}`) on {c['date']}; do not edit.", "",
        f"- hardware: **{c['device_name']}** (device `{c['device']}`, {c['threads']} torch threads)",
        f"- versions: {', '.join(f'{k} {v}' for k, v in c['versions'].items())}; git commit `{c['git_commit']}`",
        f"- model `{c['model']}`, data `{c['data']}`, batch size {c['batch_size']}, optimizer as configured "
        f"(lr {c['lr']}, momentum {c['momentum']}); {c['n']} training images ({c['batches']} batches) per repeat, "
        f"{c['warmup']} warm-up round + {c['repeats']} repeats, paths interleaved; median (min-max) reported, "
        "a ratio is the median of the within-repeat ratios",
        "", "## Training images per second", "",
        "| path | precision | memory format | images/s | min-max | x standard | x model-only, same precision | MFU |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ceiling = by_key[("model_only", r.precision)]
        mfu = r.median * c["flops_per_image"] / c["matmul_flops"][r.precision]
        lines.append(f"| {r.path} | {r.precision} | {r.memory_format} | {r.median:,.0f} | "
                     f"{min(r.samples):,.0f}-{max(r.samples):,.0f} | {r.ratio(base):.2f} | "
                     f"{r.ratio(ceiling):.2f} | {mfu:.1%} |")
    lines += [
        "", "- **ours**: `sgdtricks.train.train_epoch` itself (uint8 images on the device, one gather per batch "
        "for crop+flip, each image its own draw, channels_last, syncs only every `trainer.log_every` steps).",
        "- **standard**: the pytorch-cifar/pytorch/examples way: a Dataset returning PIL images through "
        f"`RandomCrop({c['image_size']}, padding={c['pad']})`, `RandomHorizontalFlip()`, `ToTensor()`, "
        "`Normalize(mean, std)`, a `DataLoader(num_workers=2, shuffle=True)` (workers kept alive across repeats: "
        "generous to it), the same architecture, loss and optimizer, fp32, default memory format, `.item()` "
        "every batch.",
        "- **model_only**: `sgdtricks.train.train_step` on batches already normalised on the device: the "
        "ceiling for any data path.",
        "- All three run in one process under the training path's process settings (`sgdtricks.run.runtime`: "
        "glibc keeps freed activation buffers instead of page-faulting them in every step).",
        f"- MFU: images/s x {c['flops_per_image'] / 1e6:,.1f} MFLOPs per image (forward+backward, "
        "`torch.utils.flop_counter.FlopCounterMode`) / the measured matmul rate of the same precision: "
        + ", ".join(f"{p} {v / 1e9:,.0f} GFLOP/s" for p, v in c["matmul_flops"].items())
        + (" (fastest of 5 timings of square `torch.mm`, n=8192)." if c["device"].startswith("cuda")
           else " (fastest of 5 timings of square `torch.mm`, n=1024)."),
        "", "## Ratios", "",
        "| ratio | value | CPU target (issue 6: 2-core CPU, small_cnn, fp32) |", "| --- | ---: | ---: |",
    ]
    for name, value in ratios.items():
        lines.append(f"| {name} | {value:.2f} | >= {TARGETS[name]} |")
    lines += ["", f"## Where one training step's time goes ({c['precision']}, ms per batch of {c['batch_size']})", "",
              "Each stage timed on its own with the functions the training path calls (median of 7).", "",
              "| stage | ms |", "| --- | ---: |"]
    lines += [f"| {stage} | {ms:.2f} |" for stage, ms in c["breakdown"].items()]
    if c.get("share"):
        s = c["share"]
        lines += ["", "## Several runs sharing the device", "",
                  f"{s['runs']} concurrent processes each running our path ({s['threads_each']} torch thread(s) each, "
                  "like a joblib launcher with that many jobs) vs one process alone:", "",
                  "| setting | training images/s (all runs together) |", "| --- | ---: |",
                  f"| 1 run, {c['threads']} threads | {s['single']:,.0f} |",
                  f"| {s['runs']} runs at once | {s['together']:,.0f} |", "",
                  f"Study throughput x{s['together'] / s['single']:.2f} when runs share the device."]
    if c.get("real_run"):
        r = c["real_run"]
        lines += ["", "## One real training run", "",
                  f"`{r['command']} logger=none`: {r['train_images']} training images per epoch, "
                  f"epoch times (train + val + test evaluation) {', '.join(f'{t:.2f}' for t in r['epoch_times_s'])} s "
                  "(the first includes warm-up / compilation), "
                  f"wall time {r['wall_s']:.1f} s including start-up and record writing, "
                  f"peak resident memory {r['peak_rss_mb']:,.0f} MB."]
    return "\n".join(lines) + "\n"


def run(overrides: list[str], repeats: int, batches: int, warmup: int, bf16: bool, share: int,
        run_epochs: int, out: Path, threads: int | None) -> dict[str, float]:
    """Measure everything, write out/bench.md and out/bench.csv; returns the two headline ratios."""
    if threads:
        torch.set_num_threads(threads)
    runtime.keep_freed_memory()  # as the trainer's entry point sets it: every path runs under it
    cfg = checked_config(overrides)
    device = setup.pick_device(cfg.trainer.device)
    data = load_data(cfg.data, device)
    bs = cfg.trainer.batch_size
    n = min(batches * bs, len(data.train_x))
    other = "bf16" if cfg.trainer.precision == "fp32" else "fp32"
    cfg_other = checked_config([*overrides, f"trainer.precision={other}"])
    print(f"bench: {provenance.device_name(device)}, model {cfg.model.name}, data {data_label(cfg)}, "
          f"{n} images x {repeats} repeats", flush=True)

    paths = {
        ("ours", cfg.trainer.precision, "channels_last"): ours(cfg, data, device, n),
        ("standard", "fp32", "contiguous"): standard(cfg, data, device, n),
        ("model_only", cfg.trainer.precision, "channels_last"): model_only(cfg, data, device, n),
    }
    if bf16 or other == "fp32":
        paths[("ours", other, "channels_last")] = ours(cfg_other, data, device, n)
        paths[("model_only", other, "channels_last")] = model_only(cfg_other, data, device, n)
    rows = measure(paths, repeats, warmup)
    del paths  # stops the DataLoader workers before the side measurements
    by_key = {(r.path, r.precision): r for r in rows}
    ours_fp32 = by_key[("ours", "fp32")]
    ratios = {"speedup_vs_dataloader": ours_fp32.ratio(by_key[("standard", "fp32")]),
              "ceiling_fraction": ours_fp32.ratio(by_key[("model_only", "fp32")])}

    print("bench: matmul rate, FLOPs per image, step breakdown", flush=True)
    precisions = sorted({r.precision for r in rows})
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    context: dict[str, Any] = {
        "overrides": overrides, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": str(device), "device_name": provenance.device_name(device), "threads": torch.get_num_threads(),
        "versions": provenance.versions(), "git_commit": provenance.git_commit(), "model": cfg.model.name,
        "data": data_label(cfg), "batch_size": bs, "n": n, "batches": -(-n // bs), "repeats": repeats,
        "warmup": warmup, "lr": cfg.optimizer.lr, "momentum": cfg.optimizer.momentum,
        "image_size": data.image_size[0], "pad": cfg.data.pad, "precision": cfg.trainer.precision,
        "matmul_flops": {p: matmul_flops_per_s(device, dtypes[p]) for p in precisions},
        "flops_per_image": model_flops_per_image(cfg, data, device),
        "breakdown": breakdown(cfg, data, device),
    }
    if share > 1:
        print(f"bench: {share} concurrent runs", flush=True)
        total_threads = torch.get_num_threads()
        context["share"] = {"runs": share, "threads_each": max(1, total_threads // share),
                            "single": by_key[("ours", cfg.trainer.precision)].median,
                            "together": shared_throughput(overrides, n, repeats, share, total_threads)}
    if run_epochs:
        print(f"bench: one real run of {run_epochs} epochs", flush=True)
        context["real_run"] = real_run(overrides, run_epochs)

    out.mkdir(parents=True, exist_ok=True)
    md, table = markdown(rows, ratios, context), csv_text(rows, context)
    atomic_write(out / "bench.csv", lambda f: f.write(table))
    atomic_write(out / "bench.md", lambda f: f.write(md))
    print(md, flush=True)
    return ratios
