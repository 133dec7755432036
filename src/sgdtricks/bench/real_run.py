"""One real `python -m sgdtricks.train` run, as users start it: wall time, epoch times, peak memory."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sgdtricks.paths import SRC


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
