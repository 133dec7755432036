"""make reproduce: the data, every study of one profile (one Hydra multirun each, in order), then the reports.

    python -m sgdtricks.reproduce [--profile cpu|full] [--data npz --data-path FILE] [--jobs N|auto] [OVERRIDES...]

Each job of a study runs in runs/<profile>/<run_key> (config/grid.py): one directory per distinct config, the same
every time, shared by every study whose grid holds that config. There the trainer skips a finished run, resumes an
interrupted one from its checkpoint and refuses one of a different config. So after a crash the same command
finishes only what is missing, after success it trains nothing, and a cell two studies share is trained once. Jobs run one after another, or N at a time through Hydra's joblib launcher (--jobs N; auto, the default: the N the plan measures fastest); any other Hydra
launcher is an override away (hydra/launcher=submitit_slurm ..., see README).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from omegaconf import DictConfig

from sgdtricks.config import grid, studies
from sgdtricks.config.grid import GridRun
from sgdtricks.errors import UserError
from sgdtricks.paths import SRC
from sgdtricks.quadratic.report import main as quadratic_study
from sgdtricks.record.files import DONE_STATUSES, RunRecord, exclusive
from sgdtricks.reports.build import build
from sgdtricks.run.data import load_data
from sgdtricks.study import plan
from sgdtricks.study.plan import choose_profile


def statuses(profile_dir: Path, runs: list[GridRun]) -> dict[str, str]:
    """run_key -> status of each run of a grid ('missing' before it first starts)."""
    return {run.run_key: (RunRecord(profile_dir / run.run_key).read_summary() or {}).get("status", "missing")
            for run in runs}


def check_data(profile: str, overrides: list[str]) -> DictConfig:
    """Load (for torchvision data: download and checksum) the data once, so a data problem stops us first;
    returns the config every job shares (its logger says where the report runs go).

    `overrides` as the jobs get them; sweeps (seed=0,1) and hydra/ ones do not change the data and are left out.
    """
    cfg = studies.compose_config(f"profile={profile}", *grid.fixed_overrides(overrides))
    data = load_data(cfg.data, torch.device("cpu"))
    source = cfg.data.get("path") or f"{cfg.data.name} in {cfg.data.root}"
    print(f"data: {source}: {len(data.train_x)} train / {len(data.val_x)} val / {len(data.test_x)} test images")
    return cfg


def measured_base_lr(profile_dir: Path) -> float:
    """The base lr of a profile that measures it: the best-validation lr of its lr_tuning runs."""
    lr, evidence = plan.measured_base_lr(profile_dir)
    if evidence is None:
        raise UserError(f"this profile takes its base lr from its lr_tuning runs and {profile_dir} holds none "
                        f"finished: run `make study STUDY=lr_tuning` first, or pass base_lr=VALUE")
    if lr is None:
        raise UserError(f"every lr of the lr_tuning runs in {profile_dir} diverged, so none can be the base lr: "
                        f"widen its grid downwards (conf/study/lr_tuning.yaml) or pass base_lr=VALUE")
    best = evidence[evidence["chosen"]].iloc[0]
    print(f"base lr {lr:g}: the best mean validation accuracy of lr_tuning ({100 * best['best_val_acc_mean']:.1f}%, "
          f"seeds: {best['seeds']}); passed to the studies at the base lr as base_lr={lr!r}")
    return lr


def run_study(study: str, args: list[str], profile_dir: Path, jobs: int, place: str) -> int:
    """One Hydra multirun of `study` into profile_dir, its grid recorded first (grids.json); prints how many of
    its runs it trained and how many were already done (by this study or another that holds the same cell)."""
    profile = next(a.split("=", 1)[1] for a in args if a.startswith("profile="))
    runs = [run for run, _ in grid.expand(study, profile, [a for a in args if not a.startswith("profile=")])]
    grid.write_grid(profile_dir, study, runs)
    before = statuses(profile_dir, runs)
    print(f"\n== {place} {study}: {len(runs)} runs in {profile_dir} ==", flush=True)
    launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"] if jobs > 1 else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    if jobs > 1:  # jobs share the cores: one thread pool each, not one per core each
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    cmd = [sys.executable, "-m", "sgdtricks.train", "-m", f"study={study}", f"hydra.sweep.dir={profile_dir}",
           *launcher, *args]
    code = subprocess.run(cmd, env=env).returncode
    after = statuses(profile_dir, runs)
    done = [k for k, s in after.items() if s in DONE_STATUSES]
    already = [k for k in done if before[k] in DONE_STATUSES]
    other = {k: s for k, s in after.items() if s not in DONE_STATUSES}
    print(f"{study}: {len(done)} runs done ({len(done) - len(already)} trained now, {len(already)} already done)"
          + (f", {len(other)} not done: " + ", ".join(f"{k} ({s})" for k, s in other.items()) if other else ""),
          flush=True)
    return code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sgdtricks.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", help="cpu or full (default: full with a CUDA GPU, else cpu)")
    parser.add_argument("--studies", default=",".join(studies.STUDIES), help="comma-separated, run in this order")
    parser.add_argument("--data", help="data group: cifar10 (the default), npz, ...")
    parser.add_argument("--data-path", help="data.path for --data npz")
    parser.add_argument("--jobs", type=plan.jobs_value, default=None,
                        help="jobs at once (Hydra's joblib launcher); auto (the default): the fastest the plan measures")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="run directories go to RUNS/<profile>/<study>")
    parser.add_argument("--reports", type=Path, default=Path("reports"), help="pages go to REPORTS/<profile>/")
    parser.add_argument("--no-reports", action="store_true", help="run the studies only")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every job, e.g. trainer.epochs=2 seed=0")
    return parser.parse_args(argv)


def reproduce(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    profile, why = choose_profile(args.profile)
    print(f"profile {profile}: {why}")
    chosen = [studies.check_name("study", s) for s in args.studies.split(",")]
    data = ([f"data={args.data}"] if args.data else []) + ([f"data.path={args.data_path}"] if args.data_path else [])
    runs = (args.runs / profile).resolve()
    failed = []
    with exclusive(runs / ".reproduce.lock", f"another make reproduce is running on {runs}; wait for it, "
                                             f"or use another RUNS="):
        common = check_data(profile, [*data, *args.overrides])
        print()
        planned = plan.plan(profile, data, args.overrides, args.runs, args.jobs, plan.measured_base_lr(runs)[0],
                            chosen, candidates=None if args.jobs is None else [])  # JOBS given: measure it alone
        jobs = planned["jobs"]
        studies_start = time.perf_counter()
        fixed = studies.fixed_base_lr(profile)
        given = any(o.startswith("base_lr=") for o in args.overrides)
        measured = ""  # "base_lr=VALUE" once measured (after lr_tuning), for the studies at the base lr
        for i, study in enumerate(chosen, 1):
            at_base_lr = fixed is None and not given and studies.runs_at_base_lr(study)
            if at_base_lr and not measured:
                measured = f"base_lr={measured_base_lr(runs)!r}"
            base_lr = [measured] if at_base_lr else []
            code = run_study(study, [f"profile={profile}", *data, *base_lr, *args.overrides], runs,
                             jobs, f"[{i}/{len(chosen)}]")
            if code == 2:  # a UserError in a job (bad value, foreign run directory): the message is above
                return 2
            if code != 0:
                failed.append(study)
        studies_s = time.perf_counter() - studies_start
    if not args.no_reports:
        print()
        quadratic_study(["--out", str(args.reports / "quadratic")])  # before build: its page joins the index
        build("local", args.runs, args.reports, [profile], logger=common.logger)
    if planned["runs"]:
        print(f"\nplan vs actual: projected {planned['projected_s']:.0f} s for {planned['runs']} runs, the studies took "
              f"{studies_s:.0f} s: {studies_s / planned['projected_s']:.2f}x the projection")
    print(f"\nreproduce {profile}: {time.perf_counter() - start:.0f} s"
          + (f"; runs failed in {', '.join(failed)}: the same command retries them" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return reproduce(parse_args(argv))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the same command continues where this one stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
