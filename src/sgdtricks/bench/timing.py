"""Clocks for the benchmark: device-synchronised timings, and repeats of several paths interleaved."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


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
