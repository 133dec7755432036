"""The cpu profile's model candidates: test accuracy after the profile's epochs against seconds per epoch.

    python scripts/candidates.py [--lr 0.015] [--seed 100] [--out reports/cpu] data=npz data.path=FILE.npz [overrides]

Writes candidates.csv and candidates.md into --out (see sgdtricks.study.candidates). Run it on an idle machine:
seconds per epoch measured under other load are upper bounds.
"""

import argparse
import sys
from pathlib import Path

from sgdtricks.study.candidates import run
from sgdtricks.errors import UserError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m sgdtricks.train")
    parser.add_argument("--lr", type=float, default=0.015,
                        help="constant lr of every candidate, momentum 0.9 (default: the best-validation lr of the "
                             "measurements behind the cpu profile, conf/profile/cpu.yaml)")
    parser.add_argument("--seed", type=int, default=100,
                        help="the one seed of every candidate: neither a tuning nor an evidence seed of the studies")
    parser.add_argument("--out", type=Path, default=Path("reports/cpu"), help="folder for candidates.csv and .md")
    args = parser.parse_args()
    try:
        table = run(args.overrides, args.out, args.lr, args.seed)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(table[["candidate", "final_test_acc", "s_per_epoch"]].to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
