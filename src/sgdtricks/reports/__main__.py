"""make reports: python -m sgdtricks.reports [--source local|wandb] [--runs runs] [--out reports] [--profile P]
                                            [--readme README.md] [--no-build]

Builds reports/<profile>/ from the run records; with --readme, then refreshes that file's generated headline
block (`<!-- headline:PROFILE -->`) from the pages: an explicit step, never a side effect of building a page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sgdtricks.config.studies import compose_config
from sgdtricks.errors import UserError
from sgdtricks.reports.build import build
from sgdtricks.reports.page import update_readme_headline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.reports", description=__doc__)
    parser.add_argument("--source", default="local", help="local: run records under --runs; wandb: a W&B project")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="root of the run directories (local)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="where the pages go: OUT/<profile>/")
    parser.add_argument("--profile", action="append", help="only this profile (repeatable); default: every one found")
    parser.add_argument("--project", default="sgdtricks", help="W&B project (--source wandb)")
    parser.add_argument("--entity", default=None, help="W&B entity (--source wandb)")
    parser.add_argument("--wandb", action="store_true",
                        help="also log each study's figures and tables to its W&B report run, where conf/logger/wandb.yaml "
                             "(with --project, --entity) sends the training runs")
    parser.add_argument("--readme", type=Path, help="refresh this file's headline block from the pages in --out")
    parser.add_argument("--no-build", dest="build", action="store_false", help="only the --readme step")
    args = parser.parse_args(argv)
    try:
        if args.build:
            logger = compose_config("logger=wandb", f"logger.project={args.project}",
                                    f"logger.entity={args.entity or 'null'}").logger if args.wandb else None
            build(args.source, args.runs, args.out, args.profile, args.project, args.entity, logger)
        if args.readme:
            for profile in args.profile or sorted(p.parent.parent.name for p in args.out.glob("*/data/provenance.json")):
                if update_readme_headline(args.readme, args.out, profile):
                    print(f"reports: headline of profile {profile} refreshed in {args.readme}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
