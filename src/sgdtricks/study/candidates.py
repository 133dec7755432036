"""The cpu profile's model, chosen by measurement: test accuracy after the profile's epochs against seconds per epoch.

    python scripts/candidates.py data=npz data.path=../shared/datasets/cifar10-subset.npz

Each candidate (small_cnn widths, training images) trains once with the cpu profile's recipe (its epochs,
batch, weight decay and augmentation) at a constant lr with momentum 0.9, the cell the headline reads, in a
temporary run directory. One seed per candidate: the table ranks sizes and prices them in seconds; seed noise
(about 1-2 points of test accuracy on 1017 test images) is what the studies' 5 evidence seeds measure.
Writes candidates.csv and candidates.md with the CPU, its load, the versions and the commit.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from sgdtricks.config.studies import compose_config
from sgdtricks.record import provenance
from sgdtricks.record.files import RunRecord
from sgdtricks.reports.tables import markdown
from sgdtricks.run.setup import instantiate
from sgdtricks.run.trainer import train


@dataclass(frozen=True)
class Candidate:
    widths: tuple[int, ...]
    train_images: int | None  # None: every training image left after the validation split

    @property
    def name(self) -> str:
        return f"small_cnn {list(self.widths)}, {self.train_images or 'all'} images"


# Three widths on the profile's images, and the profile's widths on fewer and on all images.
CANDIDATES = (Candidate((16, 32, 64), 2000), Candidate((16, 32, 64), 3000), Candidate((16, 32, 64), None),
              Candidate((24, 48, 96), 3000), Candidate((32, 64, 128), 3000))


def measure(candidate: Candidate, overrides: Sequence[str], lr: float, seed: int, root: Path) -> dict[str, object]:
    """Train `candidate` with the cpu profile's recipe in `root`; its accuracies and seconds per epoch."""
    subset = "null" if candidate.train_images is None else str(candidate.train_images)
    cfg = compose_config("profile=cpu", "logger=none", *overrides, f"model.widths=[{','.join(map(str, candidate.widths))}]",
                         f"data.train_subset={subset}", f"optimizer.lr={lr}", "optimizer.momentum=0.9",
                         "scheduler=constant", f"seed={seed}")
    run_dir = root / f"{'-'.join(map(str, candidate.widths))}_{subset}"
    summary = train(cfg, run_dir)
    times = pd.read_csv(RunRecord(run_dir).metrics_path)["epoch_time_s"]
    # The first epoch also pays the process's one-time costs (kernel selection, first allocations).
    per_epoch = statistics.median(times.iloc[1:] if len(times) > 1 else times)
    parameters = sum(p.numel() for p in instantiate(cfg.model, 3, 10).parameters())  # CIFAR: 3 channels, 10 classes
    return {"candidate": candidate.name, "widths": str(list(candidate.widths)), "train_images": summary["train_images"],
            "parameters": parameters, "epochs": len(times),
            "status": summary["status"], "final_test_acc": summary.get("final_test_acc"),
            "best_val_acc": summary.get("best_val_acc"), "s_per_epoch": per_epoch,
            "s_per_run": float(times.sum())}


def run(overrides: Sequence[str], out: Path, lr: float = 0.015, seed: int = 100,
        candidates: Sequence[Candidate] = CANDIDATES) -> pd.DataFrame:
    """Measure every candidate; write out/candidates.csv and out/candidates.md; return the table."""
    load_before = os.getloadavg()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="sgdtricks-candidates-") as root:
        table = pd.DataFrame([measure(c, overrides, lr, seed, Path(root)) for c in candidates])
    load_after = os.getloadavg()
    info = {"cpu": provenance.device_name(torch.device("cpu")), "load (1-min, before / after)":
            f"{load_before[0]:.2f} / {load_after[0]:.2f}",
            "versions": "; ".join(f"{k} {v}" for k, v in provenance.versions().items()),
            "commit": provenance.git_commit(), "date": f"{started} to {datetime.now(timezone.utc).isoformat(timespec='seconds')} (UTC)",
            "recipe": f"profile cpu, constant lr {lr:g}, momentum 0.9, seed {seed}, overrides: {' '.join(overrides) or 'none'}"}
    out.mkdir(parents=True, exist_ok=True)
    table.assign(**{k.split(" ")[0]: v for k, v in info.items()}).to_csv(out / "candidates.csv", index=False)
    display = pd.DataFrame({
        "model, training images": table["candidate"], "parameters": table["parameters"].map("{:,}".format),
        "train images": table["train_images"], "epochs": table["epochs"],
        "final test acc (%)": [f"{100 * a:.1f}" if a is not None else "—" for a in table["final_test_acc"]],
        "best val acc (%)": [f"{100 * a:.1f}" if a is not None else "—" for a in table["best_val_acc"]],
        "s / epoch": table["s_per_epoch"].map("{:.2f}".format), "s / run": table["s_per_run"].map("{:.0f}".format)})
    lines = ["# small_cnn candidates for the cpu profile", "",
             "Generated by `python scripts/candidates.py`: one seed per candidate, the cpu profile's recipe. Seconds "
             "per epoch are the median over epochs 2 on (training, then validation and test evaluation), measured "
             "under the load below: another process on the same cores makes them larger.", "", markdown(display),
             "| | |", "| :--- | :--- |", *[f"| {k} | {v} |" for k, v in info.items()], ""]
    (out / "candidates.md").write_text("\n".join(lines))
    return table
