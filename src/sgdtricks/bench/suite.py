"""`make bench`: every measurement of the package in one run, written to bench.md and bench.csv."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from sgdtricks.bench.breakdown import breakdown
from sgdtricks.bench.concurrent import shared_throughput
from sgdtricks.bench.flops import matmul_flops_per_s, model_flops_per_image
from sgdtricks.bench.paths import model_only, ours, standard
from sgdtricks.bench.real_run import real_run
from sgdtricks.bench.report import csv_text, data_label, markdown
from sgdtricks.bench.timing import measure
from sgdtricks.config.checks import check_config
from sgdtricks.config.studies import compose_config
from sgdtricks.record import provenance
from sgdtricks.record.files import atomic_write
from sgdtricks.run import runtime, setup
from sgdtricks.run.data import load_data


def checked_config(overrides: Sequence[str]) -> DictConfig:
    """The config `python -m sgdtricks.train OVERRIDES` would train with, range-checked."""
    cfg = compose_config(*overrides)
    check_config(cfg)
    return cfg


def run(overrides: list[str], repeats: int, batches: int, warmup: int, bf16: bool, share: int,
        run_epochs: int, out: Path, threads: int | None) -> dict[str, float]:
    """Measure everything, write out/bench.md and out/bench.csv; returns the two headline ratios."""
    if threads:
        torch.set_num_threads(threads)
    runtime.keep_freed_memory()  # as the trainer's entry point sets it: every path runs under it
    cfg = checked_config(overrides)
    device = setup.pick_device(cfg.trainer.device)
    setup.configure_backends(device)  # the trainer's precision settings: the fp32 rows and the fp32 mm rate agree
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
                            "together": shared_throughput(OmegaConf.to_yaml(cfg, resolve=True), n, repeats, share,
                                                          total_threads)}
    if run_epochs:
        print(f"bench: one real run of {run_epochs} epochs", flush=True)
        context["real_run"] = real_run(overrides, run_epochs)

    out.mkdir(parents=True, exist_ok=True)
    md, table = markdown(rows, ratios, context), csv_text(rows, context)
    atomic_write(out / "bench.csv", lambda f: f.write(table))
    atomic_write(out / "bench.md", lambda f: f.write(md))
    print(md, flush=True)
    return ratios
