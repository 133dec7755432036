"""`make sweep` and `make wandb-sync`: a study as a W&B sweep, and the offline runs uploaded.

    python -m sgdtricks.study.wandb_cli sweep decay [--project P] [--entity E]   # prints the `wandb agent` command
    python -m sgdtricks.study.wandb_cli sync [runs]                              # uploads every offline run under runs/

Both need a W&B login (`wandb login` or WANDB_API_KEY) and say so in one line when there is none.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from sgdtricks.errors import UserError
from sgdtricks.paths import CONF



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


def offline_runs(root: Path) -> list[Path]:
    """Every offline W&B run directory under `root` (each run directory keeps them in its wandb/)."""
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir() and p.parent.name == "wandb")


def sync(root: Path) -> int:
    """Upload the offline runs under `root` (already uploaded ones are skipped by `wandb sync`)."""
    runs = offline_runs(root)
    if not runs:
        print(f"no offline W&B runs under {root}/: nothing to sync")
        return 0
    print(f"{len(runs)} offline W&B run(s) under {root}/", flush=True)
    logged_in_api()
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
