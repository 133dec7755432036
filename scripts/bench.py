"""make bench: training images/s of our path vs the torchvision DataLoader pipeline vs the model alone.

    python scripts/bench.py [--repeats 5] [--batches 20] [HYDRA OVERRIDES: data=npz data.path=FILE model=resnet18 ...]

Writes reports/bench.md and reports/bench.csv; the last line printed is
`speedup_vs_dataloader=<ours/standard> ceiling_fraction=<ours/model-only>`.
"""

import argparse
import sys
from pathlib import Path

from sgdtricks.bench.suite import run
from sgdtricks.errors import UserError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for python -m sgdtricks.train")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per path; the median is reported")
    parser.add_argument("--batches", type=int, default=20, help="training batches per repeat")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds before timing (compile, caches)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 autocast rows")
    parser.add_argument("--share", type=int, default=2, help="concurrent runs sharing the device (1: skip)")
    parser.add_argument("--run-epochs", type=int, default=2, help="epochs of one real training run (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for bench.md and bench.csv")
    args = parser.parse_args()
    for name in ("repeats", "batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    try:
        ratios = run(args.overrides, args.repeats, args.batches, args.warmup, args.bf16, args.share,
                     args.run_epochs, args.out, args.threads)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(" ".join(f"{name}={value:.2f}" for name, value in ratios.items()), flush=True)


if __name__ == "__main__":
    main()
