"""`python -m sgdtricks.quadratic --out DIR`: the quadratic study, in seconds on a CPU.

Writes into DIR: four figures (PDF + PNG), two tables (Markdown, CSV, LaTeX booktabs), quadratic_rates.csv
(one row per (alpha, beta) evaluated: measured rate beside the closed form) and README.md, the section that
shows them with the provenance. Everything is float64 numpy and deterministic; files appear only when all
of them were built (written in a temporary folder, then moved into DIR).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch

from sgdtricks import plotting
from sgdtricks.record import provenance
from sgdtricks.quadratic import figures, page, study, tables
from sgdtricks.reports.tables import write_table


def build(out: Path, display_out: str) -> None:
    """Every figure, table and the CSV into `out` (an empty folder)."""
    t0 = time.perf_counter()
    meta = {"commit": provenance.git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "device": provenance.device_name(torch.device("cpu")),
            "versions": ", ".join(f"{k} {v}" for k, v in {**provenance.versions(), "numpy": np.__version__,
                                                           "matplotlib": matplotlib.__version__}.items())}
    plotting.set_paper_style()
    best = study.optima()
    figures.trajectories(out, best)
    curve_rows = figures.rate_vs_alpha(out)
    map_rows = figures.rate_map(out, best)
    condition, condition_rates = study.condition_rows()
    offsets, lengths = study.lr_drop()
    figures.lr_drop(out, offsets, lengths)
    drop = study.drop_rows(offsets, lengths)
    markdown = {}
    for table in (tables.condition_table(condition), tables.drop_table(drop)):
        write_table(table, out)
        markdown[table.name] = (out / f"{table.name}.md").read_text()
    rates = pd.concat([curve_rows, map_rows, condition_rates]).drop_duplicates(study.RATE_KEYS)
    rates.sort_values(study.RATE_KEYS).to_csv(out / "quadratic_rates.csv", index=False)
    meta["seconds"] = f"{time.perf_counter() - t0:.1f}"
    page.write_readme(out, display_out, best, rates, markdown["quadratic_table"],
                      markdown["momentum_forms_lr_drop"], drop, meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.quadratic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for figures, tables and CSV")
    args = parser.parse_args(argv)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    except OSError as exc:
        print(f"error: --out {out} cannot be written ({exc.strerror}); choose a writable folder", file=sys.stderr)
        sys.exit(2)
    try:
        build(staging, str(out))
        written = sorted(staging.iterdir())
        for path in written:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"quadratic study: {len(written)} files written to {out} (see {out / 'README.md'})")


if __name__ == "__main__":
    main()
