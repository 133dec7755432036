"""`make dashboard`: the reviewer's W&B workspace and report of one profile, saved to the project.

    python -m sgdtricks.dashboard --profile cpu [--entity E] [--project P] [--base-lr LR] [--reports DIR]
    python -m sgdtricks.dashboard --profile cpu --dry-run     # the spec as JSON: no network, no account

Saving needs a W&B login (`wandb login` or WANDB_API_KEY) and says so in one line when there is none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from sgdtricks.config import studies
from sgdtricks.dashboard.spec import base_lr_of, dashboard
from sgdtricks.errors import UserError
from sgdtricks.paths import CONF


def main(argv: list[str] | None = None) -> int:
    logger = OmegaConf.load(CONF / "logger" / "wandb.yaml")
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", help="the profile whose runs it shows (default: cpu)")
    parser.add_argument("--project", default=logger.project, help=f"default: logger.project ({logger.project})")
    parser.add_argument("--entity", default=logger.entity, help="default: logger.entity, else your default entity")
    parser.add_argument("--base-lr", type=float, help="default: the profile's, or reports/PROFILE/data/base_lr.json")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="where the results pages are")
    parser.add_argument("--dry-run", action="store_true", help="print the spec as JSON; no network, no account")
    args = parser.parse_args(argv)
    try:
        profile = studies.check_name("profile", args.profile)
        base_lr = args.base_lr if args.base_lr is not None else base_lr_of(profile, args.reports)
        spec = dashboard(profile, args.project, args.entity, base_lr, args.reports)
        if args.dry_run:
            print(json.dumps(spec, indent=2))
            return 0
        from sgdtricks.dashboard.save import save
        from sgdtricks.study.wandb_cli import logged_in_api

        api = logged_in_api()
        urls = save(spec, args.entity or api.default_entity, api)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if spec["report"] is None:
        print(f"no {args.reports / profile / 'README.md'}: views saved, no report (run `make reports` first)")
    print("\n".join(urls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
