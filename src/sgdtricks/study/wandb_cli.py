"""`make sweep` and `make wandb-sync`: a study as a W&B sweep, and the offline runs uploaded.

    python -m sgdtricks.study.wandb_cli sweep decay [--project P] [--entity E]   # prints the `wandb agent` command
    python -m sgdtricks.study.wandb_cli sync [runs]         # rebuilds cut-short runs, uploads the newest folder of each

Both need a W&B login (`wandb login` or WANDB_API_KEY) and say so in one line when there is none.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import OmegaConf

from sgdtricks.config.resolvers import register_resolvers
from sgdtricks.errors import RecordError, UserError
from sgdtricks.paths import CONF
from sgdtricks.record import mirror
from sgdtricks.record.files import RunRecord
from sgdtricks.record.identity import config_hash
from sgdtricks.record.tracking import open_tracker


def sweep_config(study: str) -> dict[str, Any]:
    """conf/sweep/<study>.yaml as W&B reads it (its `${...}` are W&B command macros, kept as text)."""
    path = CONF / "sweep" / f"{study}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
        raise UserError(f"no sweep for study '{study}': {path} does not exist (known: {known})")
    return yaml.safe_load(path.read_text())


def logged_in_api() -> Any:
    """wandb.Api() of the logged-in user; a UserError (no traceback, no prompt) when there is no login."""
    import wandb

    try:
        return wandb.Api()
    except wandb.errors.UsageError:
        raise UserError("no W&B login: run `wandb login` (or set WANDB_API_KEY) first") from None


def create_sweep(study: str, project: str | None, entity: str | None) -> str:
    """Register the study's sweep; returns `entity/project/sweep_id`, what `wandb agent` takes."""
    config = sweep_config(study)
    api = logged_in_api()
    logger = OmegaConf.load(CONF / "logger" / "wandb.yaml")
    project, entity = project or logger.project, entity or logger.entity or api.default_entity
    import wandb

    sweep_id = wandb.sweep(config, entity=entity, project=project)
    return f"{entity}/{project}/{sweep_id}"


def newest_runs(root: Path) -> list[Path]:
    """The newest offline folder of each W&B run under `root`: the one that holds the run's whole history
    (record/mirror.py). An older folder of the same run would replace that history with a shorter one."""
    newest = {mirror.run_id(folder): folder for folder in mirror.offline_runs(root)}  # oldest first: newest wins
    return sorted(newest.values())


def rebuild_cut_short(root: Path) -> list[Path]:
    """Rebuild from its record every training run under `root` whose newest offline W&B folder lacks an epoch of
    its metrics.csv (killed before W&B flushed, and not resumed since): a new offline folder with the same id,
    config, name and tags, every epoch, the step points earlier folders kept, and the summary. Returns them."""
    rebuilt = []
    for folder in newest_runs(root):
        run_dir = folder.parent.parent
        record = RunRecord(run_dir)
        summary, config = record.read_summary(), run_dir / ".hydra" / "config.yaml"
        if summary is None or not config.is_file() or not record.metrics_path.is_file():
            continue  # not a training run's record (a report run's folder)
        rows = pd.read_csv(record.metrics_path).to_dict("records")
        if {row["epoch"] for row in rows} <= {row["epoch"] for row in mirror.history(folder) if "epoch" in row}:
            continue
        register_resolvers()
        cfg = OmegaConf.load(config)
        if config_hash(cfg) != summary.get("config_hash"):
            print(f"{run_dir}: .hydra/config.yaml is not the config of its record; its W&B run is left as it is")
            continue
        try:
            with record.claim(), open_tracker(cfg, run_dir, mirror.run_id(folder), mode="offline") as tracker:
                mirror.catch_up(tracker, run_dir, rows,
                                mirror.steps_through(len(rows), summary["train_images"], cfg.trainer.batch_size))
                tracker.set_summary(summary)
        except RecordError as exc:  # a job is training there right now: it mirrors the record itself
            print(f"{run_dir}: {exc}; its W&B run is left as it is")
            continue
        rebuilt.append(newest_runs(run_dir)[-1])
        print(f"{run_dir}: W&B run {mirror.run_id(folder)} rebuilt from the record ({len(rows)} epochs)")
    return rebuilt


def sync(root: Path) -> int:
    """Rebuild the runs whose offline file was cut short, then upload the newest offline folder of each run
    (already uploaded ones are skipped by `wandb sync`)."""
    runs = newest_runs(root)
    if not runs:
        print(f"no offline W&B runs under {root}/: nothing to sync")
        return 0
    print(f"{len(runs)} offline W&B run(s) under {root}/ (the newest folder of each)", flush=True)
    logged_in_api()
    rebuild_cut_short(root)
    runs = newest_runs(root)
    return subprocess.run([sys.executable, "-m", "wandb", "sync", *map(str, runs)]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.study.wandb_cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="create the W&B sweep conf/sweep/STUDY.yaml")
    sweep.add_argument("study")
    sweep.add_argument("--project", help="default: logger.project of conf/logger/wandb.yaml")
    sweep.add_argument("--entity", help="default: logger.entity, else your default W&B entity")
    upload = commands.add_parser("sync", help="upload every offline W&B run under ROOT")
    upload.add_argument("root", nargs="?", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)
    try:
        if args.command == "sync":
            return sync(args.root)
        path = create_sweep(args.study, args.project, args.entity)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"sweep created: {path}")
    print("on each machine, in a checkout of this repository (after `make install`), run:")
    print(f"  source .venv/bin/activate && wandb agent {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
