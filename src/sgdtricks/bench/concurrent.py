"""Several runs sharing one device at once, as a joblib launcher's jobs do, each in its own spawned process."""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import OmegaConf

from sgdtricks.bench.paths import ours
from sgdtricks.run import setup
from sgdtricks.run.data import load_data


def together(target: Callable[..., None], args: tuple, k: int, timeout_s: float = 900) -> list[Any]:
    """Run `target(*args, barrier, results)` in k processes at once; each waits at the barrier when ready to be
    timed and puts ("ok", value) or ("error", message) on `results`. Returns the k values; a failed or dead
    process is a RuntimeError naming it."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(k, timeout=timeout_s), context.Queue()
    workers = [context.Process(target=target, args=(*args, barrier, results)) for _ in range(k)]
    for worker in workers:
        worker.start()
    outcomes: list[tuple[str, Any]] = []
    try:
        while len(outcomes) < k:
            try:
                outcomes.append(results.get(timeout=5))
            except queue.Empty:
                dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a concurrent run died with exit code {dead[0]}") from None
    finally:
        for worker in workers:
            if worker.is_alive() and len(outcomes) < k:
                worker.terminate()
            worker.join()
    errors = [value for status, value in outcomes if status == "error"]
    if errors:
        raise RuntimeError(f"a concurrent run failed: {errors[0]}")
    return [value for _, value in outcomes]


def _shared_worker(cfg_yaml: str, n: int, repeats: int, threads: int, barrier: Any, results: Any) -> None:
    """One of K concurrent runs: the `ours` path, clocked between a common start and its own end."""
    sys.stderr = open(os.devnull, "w")  # K progress bars on one terminal are noise; errors go to `results`
    try:
        torch.set_num_threads(threads)
        cfg = OmegaConf.create(cfg_yaml)
        device = setup.pick_device(cfg.trainer.device)
        setup.configure_backends(device)
        repeat = ours(cfg, load_data(cfg.data, device), device, n)
        repeat()  # warm-up
        barrier.wait()
        t0 = time.monotonic()
        for _ in range(repeats):
            repeat()
        results.put(("ok", (n * repeats, t0, time.monotonic())))
    except BaseException as exc:  # report, and release the others from the barrier
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def shared_throughput(cfg_yaml: str, n: int, repeats: int, share: int, threads: int) -> float:
    """Images/s of `share` concurrent runs of our path (a joblib launcher's n_jobs), each with threads // share."""
    outcomes = together(_shared_worker, (cfg_yaml, n, repeats, max(1, threads // share)), share)
    start, end = min(o[1] for o in outcomes), max(o[2] for o in outcomes)
    return sum(o[0] for o in outcomes) / (end - start)
