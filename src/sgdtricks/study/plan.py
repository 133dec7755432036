"""make plan: what `make reproduce` would train for a profile and data, and how long it would take on this device.

    python -m sgdtricks.study.plan [--profile cpu|full] [--data npz --data-path FILE] [--jobs N|auto] [OVERRIDES...]

Counted, not guessed: every study's grid is expanded by config.grid (Hydra's own sweep expansion) and a run two
studies share is counted once; a run whose record under runs/<profile>/<run_key> is finished or diverged is
done, an interrupted one only has its missing epochs left. Measured, not assumed: the training step of the
profile's model, optimizer, precision and batch size runs a short burst on random images of the profile's
shape on this device (train_epoch and evaluate themselves, evaluation in the proportion of a real epoch), and
the seconds of one epoch follow from it. The projection is epochs x that, plus each run's start and its
checkpoint writes, for JOBS=1 and for as many jobs at once as this device does best.

The last line is machine-readable: `plan: profile=P runs=N epochs=E projected_s=S device=D` (N runs to train,
E epochs among them, S seconds with the JOBS asked for, or with auto the fastest measured).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from sgdtricks.bench.concurrent import together
from sgdtricks.bench.flops import flops_per_image
from sgdtricks.bench.timing import synchronize
from sgdtricks.config import grid, studies
from sgdtricks.errors import DataError, UserError
from sgdtricks.paths import SRC
from sgdtricks.record import provenance
from sgdtricks.record.files import DONE_STATUSES, RunRecord
from sgdtricks.record.tracking import open_tracker
from sgdtricks.reports.collect import study_runs
from sgdtricks.reports.stats import choose_base_lr, run_summaries
from sgdtricks.models import MLP
from sgdtricks.run import augment, runtime, setup, stability
from sgdtricks.run.data import DeviceData, load_data, split_train_val
from sgdtricks.run.loop import evaluate, train_epoch

PLACEHOLDER_LR = 0.05  # stands in for a base lr that lr_tuning has not measured yet; no run count depends on it
# Images (train, test), channels, side and classes of the torchvision datasets, for a plan made before their
# download: torchvision exposes no sizes without the files (CIFAR: Krizhevsky 2009; Fashion-MNIST: Xiao et al. 2017).
TORCHVISION_SHAPES = {"cifar10": (50_000, 10_000, 3, 32, 10), "cifar100": (50_000, 10_000, 3, 32, 100),
                      "fashion_mnist": (60_000, 10_000, 1, 28, 10)}


@dataclasses.dataclass(frozen=True)
class Shape:
    """What one epoch of a run holds: images per split and their format."""

    train: int
    val: int
    test: int
    channels: int
    side: int
    classes: int


@dataclasses.dataclass
class PlannedRun:
    run: grid.GridRun
    cfg: DictConfig
    epochs_left: int  # 0 when done


@dataclasses.dataclass
class Cost:
    """Seconds of one epoch (training + evaluation) and per run, measured for one kind of run on this device."""

    flops_per_image: float
    train_images_per_s: float
    eval_images_per_s: float
    epoch_s: float
    checkpoint_s: float
    start_s: float


def choose_profile(requested: str | None) -> tuple[str, str]:
    """The profile and why: PROFILE when given, else full on a CUDA GPU and cpu without one."""
    if requested:
        return studies.check_name("profile", requested), "chosen with PROFILE"
    if torch.cuda.is_available():
        return "full", f"a CUDA GPU is present ({torch.cuda.get_device_name(0)}); PROFILE=cpu for the small one"
    return "cpu", "no CUDA GPU (torch.cuda.is_available() is False); PROFILE=full for the lecture's scale"


def measured_base_lr(profile_dir: Path) -> tuple[float | None, pd.DataFrame | None]:
    """The best-validation lr of the profile's finished lr_tuning runs and its evidence; (None, None) before any.
    The lr is None too when every lr diverged."""
    frame, _ = study_runs(profile_dir, "lr_tuning")
    if frame.empty:
        return None, None
    return choose_base_lr(run_summaries(frame))


def data_shape(data: DictConfig) -> tuple[Shape, str]:
    """The splits of the profile's data and where the numbers come from (the files, or the known sizes of a
    torchvision dataset not downloaded yet)."""
    try:
        d = load_data(data, torch.device("cpu"))
        return Shape(len(d.train_x), len(d.val_x), len(d.test_x), d.in_channels, d.image_size[0],
                     d.num_classes), str(data.get("path") or f"{data.name} in {data.root}")
    except DataError:
        if data.name not in TORCHVISION_SHAPES:
            raise
    n_train, n_test, channels, side, classes = TORCHVISION_SHAPES[data.name]
    train_idx, val_idx = split_train_val(n_train, data.val_size, data.split_seed)
    train = min(len(train_idx), data.train_subset) if data.train_subset is not None else len(train_idx)
    return (Shape(train, len(val_idx), n_test, channels, side, classes),
            f"{data.name} (not in {data.root} yet: its published sizes)")


def base_lr_overrides(profile: str, extra: Sequence[str], known: float | None) -> tuple[list[str], str]:
    """base_lr=... for the studies at the base lr, and a sentence on where it comes from."""
    if studies.fixed_base_lr(profile) is not None or any(o.startswith("base_lr=") for o in extra):
        return [], "base lr: fixed by the profile or the command line"
    if known is not None:
        return [f"base_lr={known!r}"], f"base lr: {known:g}, measured by the finished lr_tuning runs"
    return [f"base_lr={PLACEHOLDER_LR}"], (
        f"base lr: measured by lr_tuning, which has not run yet; {PLACEHOLDER_LR} stands in for it here "
        "(no run count, epoch or image count depends on its value)")


def planned_runs(profile: str, profile_dir: Path, extra: Sequence[str], base_lr: Sequence[str],
                 chosen: Sequence[str] = studies.STUDIES) -> tuple[list[PlannedRun], dict[str, int]]:
    """The distinct runs of the chosen studies, in launch order, each with its epochs left; each study's grid size."""
    expanded, sizes = [], {}
    for study in chosen:
        jobs = grid.expand(study, profile, [*extra, *(base_lr if studies.runs_at_base_lr(study) else [])])
        sizes[study] = len(jobs)
        expanded += jobs
    configs = {run.config_hash: cfg for run, cfg in expanded}
    planned = []
    for run in grid.distinct([run for run, _ in expanded]):
        cfg = configs[run.config_hash]
        summary = RunRecord(profile_dir / run.run_key).read_summary() or {}
        done = summary.get("status") in DONE_STATUSES
        left = 1 if is_stability(cfg) else cfg.trainer.epochs - summary.get("epochs_completed", 0)  # one pass
        planned.append(PlannedRun(run, cfg, 0 if done else left))
    return planned, sizes


def is_stability(cfg: DictConfig) -> bool:
    """A run of the stability studies (trainer=stability): steps of a tanh MLP, not epochs of the CNN."""
    return cfg.trainer.get("name") == "stability"


def stability_run_s(cfg: DictConfig, shape: Shape, device: torch.device) -> float:
    """Seconds of one stability run like `cfg`: its first measurement interval (measure_every steps and two
    measurements) timed on random images of its size at a small lr, scaled to its steps. An upper bound for
    the stability map, whose diverging runs stop at once."""
    settings = stability.settings(cfg.trainer)
    n = cfg.trainer.images
    torch.manual_seed(0)
    x = torch.randn(n, shape.channels, shape.side, shape.side, device=device)
    y = torch.nn.functional.one_hot(torch.arange(n, device=device) % shape.classes, shape.classes).float()
    model = MLP(shape.channels, shape.classes, cfg.trainer.widths, cfg.trainer.activation, shape.side).to(device)
    optimizer = setup.instantiate(OmegaConf.merge(cfg.optimizer, {"lr": 1e-3}), model.parameters())
    t0 = time.perf_counter()
    stability.run(model, optimizer, x, y, dataclasses.replace(settings, steps=settings.measure_every), 0)
    return (time.perf_counter() - t0) * settings.steps / settings.measure_every


def synthetic(shape: Shape, train: int, val: int, test: int, device: torch.device) -> DeviceData:
    """Random images and labels of the profile's format: the step's time does not depend on the pixels."""
    generator = torch.Generator().manual_seed(0)

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, shape.channels, shape.side, shape.side), dtype=torch.uint8,
                             generator=generator).to(device)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, shape.classes, (n,), generator=generator).to(device)

    return DeviceData(images(train), labels(train), images(val), labels(val), images(test), labels(test),
                      mean=torch.full((shape.channels,), 0.5, device=device),
                      std=torch.full((shape.channels,), 0.25, device=device),
                      classes=[str(i) for i in range(shape.classes)])


def portion(data: DeviceData, shape: Shape, m: int) -> DeviceData:
    """The first m training images and as many val and test images as an epoch has per m training images."""
    val, test = (max(1, round(m * k / shape.train)) for k in (shape.val, shape.test))
    return dataclasses.replace(data, train_x=data.train_x[:m], train_y=data.train_y[:m], val_x=data.val_x[:val],
                               val_y=data.val_y[:val], test_x=data.test_x[:test], test_y=data.test_y[:test])


def burst(parts: setup.Parts, data: DeviceData, cfg: DictConfig, epoch: int) -> tuple[float, float]:
    """Seconds of one training pass over `data` and of evaluating its val and test images."""
    synchronize(data.train_x.device)
    t0 = time.perf_counter()
    train_epoch(parts.forward, parts.optimizer, data, cfg, epoch, parts.autocast, {"signal": 0})  # ends in a sync
    t1 = time.perf_counter()
    evaluate(parts.forward, data.val_x, data.val_y, data, cfg, parts.autocast)
    evaluate(parts.forward, data.test_x, data.test_y, data, cfg, parts.autocast)
    return t1 - t0, time.perf_counter() - t1


def measure(cfg: DictConfig, shape: Shape, device: torch.device, batches: int, target_s: float = 5.0) -> Cost:
    """One epoch's seconds for runs like `cfg`: a warm-up batch (allocator, cuDNN autotuning, compilation), a
    pilot batch, then a burst of up to `batches` training batches sized by the pilot to last about `target_s`
    (a slow device is not kept waiting for minutes); evaluation in the proportion of an epoch's val + test images:
    an upper bound, as a run evaluates its test split only at the last and each new best-validation epoch."""
    runtime.keep_freed_memory()
    bs = cfg.trainer.batch_size
    n = min(shape.train, batches * bs)
    data = synthetic(shape, n, max(1, round(shape.val * n / shape.train)), max(1, round(shape.test * n / shape.train)),
                     device)
    cfg = OmegaConf.merge(cfg, {"optimizer": {"lr": 1e-3}})  # random labels at a large lr could diverge and
    parts = setup.build(cfg, data, device)                    # stop the burst early; the time is the same
    m = min(bs, n)
    flops = flops_per_image(parts.model, augment.normalize(data.train_x[:m], data.mean, data.std), data.train_y[:m])
    warm = burst(parts, portion(data, shape, m), cfg, 1)
    pilot = burst(parts, portion(data, shape, m), cfg, 2)  # one batch once warm: how many fit in target_s
    k = max(1, min(-(-n // bs), round(target_s / sum(pilot))))
    timed = portion(data, shape, min(n, k * bs))
    train_s, eval_s = burst(parts, timed, cfg, 3)
    with tempfile.TemporaryDirectory(prefix="sgdtricks-plan-") as tmp:  # the record writes of one epoch
        record, t0 = RunRecord(Path(tmp)), time.perf_counter()
        record.save_checkpoint({"model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict()})
        record.write_metrics([])
        record.write_summary({"status": "running"})
        checkpoint_s = time.perf_counter() - t0
    scale = len(timed.train_x) / shape.train
    first_epoch_s = max(0.0, sum(warm) - sum(pilot))  # what the first batch costs more: compilation, autotuning
    return Cost(flops, len(timed.train_x) / train_s, (len(timed.val_x) + len(timed.test_x)) / eval_s,
                (train_s + eval_s) / scale, checkpoint_s, first_epoch_s + run_start_s(cfg, device))


def run_start_s(cfg: DictConfig, device: torch.device) -> float:
    """What a run pays before its first epoch: loading its data (when the files are here), building the model
    and opening its tracker (a W&B run, offline by default), each once."""
    t0 = time.perf_counter()
    with contextlib.suppress(DataError):
        setup.build(cfg, load_data(cfg.data, device), device)
    with tempfile.TemporaryDirectory(prefix="sgdtricks-plan-") as tmp, open_tracker(cfg, Path(tmp), None):
        pass
    return time.perf_counter() - t0


def cost_key(cfg: DictConfig) -> str:
    """What an epoch's time depends on: runs equal in these share one measurement."""
    keys = {k: OmegaConf.select(cfg, k) for k in ("model", "trainer.batch_size", "trainer.precision",
                                                  "trainer.compile", "data.train_subset", "data.augment")}
    return str(OmegaConf.to_container(OmegaConf.create(keys), resolve=True))


def _job_worker(cfg_yaml: str, shape: Shape, device: str, batches: int, threads: int, barrier: Any,
                results: Any) -> None:
    """One of k concurrent measurements (bench.concurrent.together): its epoch seconds while the others run."""
    try:
        torch.set_num_threads(threads)
        setup.configure_backends(torch.device(device))
        barrier.wait()
        results.put(("ok", measure(OmegaConf.create(cfg_yaml), shape, torch.device(device), batches).epoch_s))
    except BaseException as exc:  # report, and release the others from the barrier
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def concurrent_epoch_s(cfg: DictConfig, shape: Shape, device: torch.device, batches: int, jobs: int) -> float:
    """Seconds per epoch of each of `jobs` runs training at once, threads split as make reproduce splits them
    (the slowest of them: a study ends with its last run)."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    return max(together(_job_worker, (OmegaConf.to_yaml(cfg, resolve=True), shape, str(device), batches, threads),
                        jobs))


def job_candidates(device: torch.device) -> list[int]:
    """JOBS values worth measuring besides 1: on a CPU up to one job per core, on a GPU up to 4 sharing it."""
    return [k for k in (2, 4) if device.type == "cuda" or k <= (os.cpu_count() or 1)]


def process_start_s() -> float:
    """Seconds for a Python process to import the trainer: what each study's multirun pays once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sgdtricks.run.trainer"], env=env, check=True)
    return time.perf_counter() - t0


def projected_s(planned: Sequence[PlannedRun], costs: dict[str, Cost], epoch_s: dict[str, float], jobs: int,
                studies_s: float) -> float:
    """Wall seconds: each pending run's epochs and checkpoints plus its start, `jobs` at a time, plus the
    studies' process starts. `epoch_s` is the per-epoch time of one run while `jobs` run at once."""
    work = sum(p.epochs_left * (epoch_s[cost_key(p.cfg)] + costs[cost_key(p.cfg)].checkpoint_s)
               + costs[cost_key(p.cfg)].start_s for p in planned if p.epochs_left)
    return work / jobs + studies_s


def jobs_value(text: str) -> int | None:
    """argparse type of --jobs (make's JOBS): `auto` -> None (the plan picks), else an integer >= 1."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"JOBS={text} is invalid: it must be auto or an integer >= 1")
    return int(text)


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def plan(profile: str, data: Sequence[str], extra: Sequence[str], runs: Path, jobs: int | None,
         known_base_lr: float | None = None, chosen: Sequence[str] = studies.STUDIES,
         candidates: Sequence[int] | None = None, batches: int | None = None) -> dict[str, Any]:
    """Print the plan of `chosen` studies; returns its numbers (runs, epochs, jobs, projected_s, device).

    `candidates`: the JOBS values measured besides 1 (default: what suits this device); `jobs` is always
    measured, and the last line projects for it; None (JOBS=auto) takes the fastest JOBS measured.
    """
    profile_dir = (runs / profile).resolve()
    cfg0 = studies.compose_config(f"profile={profile}", *data, "base_lr=0")
    shape, source = data_shape(cfg0.data)
    device = setup.pick_device(cfg0.trainer.device)
    lr_overrides, lr_note = base_lr_overrides(profile, extra, known_base_lr)
    t0 = time.perf_counter()
    planned, sizes = planned_runs(profile, profile_dir, [*data, *extra], lr_overrides, chosen)
    compose_s = (time.perf_counter() - t0) / sum(sizes.values())  # Hydra composes each job's config once more
    pending = [p for p in planned if p.epochs_left]
    epochs = sum(p.epochs_left for p in pending if not is_stability(p.cfg))
    print(f"plan: data {source}: {shape.train} train / {shape.val} val / {shape.test} test images")
    print(lr_note)
    print("studies: " + ", ".join(f"{s} {n} runs" for s, n in sizes.items())
          + f" -> {len(planned)} distinct runs ({sum(sizes.values()) - len(planned)} shared between studies)")
    print(f"done: {len(planned) - len(pending)} of {len(planned)} in {profile_dir}; to train: {len(pending)} runs, "
          f"{epochs} epochs, {epochs * shape.train:,} training images")
    result = {"runs": len(pending), "epochs": epochs, "jobs": jobs or 1, "projected_s": 0.0, "device": device.type}
    if pending:
        result["jobs"], result["projected_s"] = projection(pending, shape, device, jobs, candidates, batches,
                                                           len(chosen), compose_s)
        if result["projected_s"] > 86400:
            print(f"that is {duration(result['projected_s'])} on this {device.type}: the {profile} profile is meant "
                  f"for a CUDA GPU (scripts/gpu_check.sh measures one); PROFILE=cpu is the small version")
    print(f"plan: profile={profile} runs={result['runs']} epochs={epochs} projected_s={result['projected_s']:.0f} "
          f"device={device.type}")
    return result


def projection(pending: Sequence[PlannedRun], shape: Shape, device: torch.device, jobs: int | None,
               candidates: Sequence[int] | None, batches: int | None, n_studies: int,
               compose_s: float) -> tuple[int, float]:
    """Measure each kind of pending run on this device, print the projections; returns `jobs` (None: the fastest
    JOBS measured) and its projection."""
    steps = [p for p in pending if is_stability(p.cfg)]
    pending = [p for p in pending if not is_stability(p.cfg)]
    probes: dict[str, float] = {}  # runs equal but for lr, momentum and seed share one probe
    steps_s = 0.0
    for p in steps:
        key = str(OmegaConf.to_container(p.cfg.trainer, resolve=True))
        if key not in probes:
            probes[key] = stability_run_s(p.cfg, shape, device)
        steps_s += probes[key]
    if steps:
        print(f"stability studies: {len(steps)} runs of a tanh MLP (sharpness measured as it trains), probed on "
              f"{provenance.device_name(device)}: {duration(steps_s)} (an upper bound: a diverging run stops early)")
    groups = {cost_key(p.cfg): p.cfg for p in pending}
    burst = batches or (50 if device.type == "cuda" else 10)
    costs = {}
    for key, cfg in groups.items():
        cost = measure(cfg, shape, device, burst)
        costs[key] = dataclasses.replace(cost, start_s=cost.start_s + compose_s)
    for key, cfg in groups.items():
        c = costs[key]
        print(f"model {cfg.model.name} ({cfg.trainer.precision}{', compiled' if cfg.trainer.compile else ''}, "
              f"batch {cfg.trainer.batch_size}): {c.flops_per_image / 1e6:,.1f} MFLOPs per training image "
              f"(forward + backward, FlopCounterMode); measured on {provenance.device_name(device)}: "
              f"{c.train_images_per_s:,.0f} training images/s, evaluation {c.eval_images_per_s:,.0f} images/s "
              f"-> {c.epoch_s:.2f} s per epoch, +{c.checkpoint_s:.2f} s record writes, +{c.start_s:.1f} s run start")
    studies_s = n_studies * process_start_s()
    projections = {1: projected_s(pending, costs, {key: c.epoch_s for key, c in costs.items()}, 1, studies_s)
                   + steps_s}
    for k in sorted({*(job_candidates(device) if candidates is None else candidates), jobs or 1} - {1}):
        shared = {key: concurrent_epoch_s(cfg, shape, device, burst, k) for key, cfg in groups.items()}
        projections[k] = projected_s(pending, costs, shared, k, studies_s) + steps_s / k
    best = min(projections, key=projections.get)
    for k, seconds in projections.items():
        print(f"projected with JOBS={k}: {duration(seconds)} ({seconds:.0f} s)"
              + (" <- best on this device" if k == best and len(projections) > 1 else ""))
    if jobs is None:
        print(f"JOBS=auto: {best}, the fastest of those measured")
    return jobs or best, projections[jobs or best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.study.plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="cpu or full (default: full with a CUDA GPU, else cpu)")
    parser.add_argument("--data", help="data group: cifar10 (the default), npz, ...")
    parser.add_argument("--data-path", help="data.path for --data npz")
    parser.add_argument("--jobs", type=jobs_value, default=None,
                        help="the JOBS of the last line's projection; auto (the default): the fastest measured")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where finished runs are looked up")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every job, as for make reproduce")
    args = parser.parse_args(argv)
    try:
        profile, why = choose_profile(args.profile)
        print(f"profile {profile}: {why}")
        data = ([f"data={args.data}"] if args.data else []) + ([f"data.path={args.data_path}"] if args.data_path else [])
        known, _ = measured_base_lr((args.runs / profile).resolve())
        plan(profile, data, args.overrides, args.runs, args.jobs, known)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
