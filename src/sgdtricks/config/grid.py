"""A study's grid as the runs it holds, and the record of which runs belong to which study of a profile.

A study is a Hydra multirun (conf/study/*.yaml: sweeper params, seeds from the profile). `expand` turns it into
its jobs exactly as Hydra's basic sweeper does (BasicSweeper.split_arguments on the config's params followed by
the command line), composes each job's config and names it by record.identity. Two studies that hold the same
config (the momentum study's beta-0.9 arm is the decay study's constant/0.9 cell) name the same run, so it is
trained once, in runs/<profile>/<run_key>, and read by both.

`runs/<profile>/grids.json` records, per study, the runs its grid held when it was last launched: the report
builder pools a study's table from exactly those runs, so a single run or an ad-hoc sweep that happens to share a
directory tree never enters a study table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from sgdtricks.config.studies import compose_config, compose_configs
from sgdtricks.errors import RecordError
from sgdtricks.record.files import atomic_write
from sgdtricks.record.identity import config_hash, run_key

GRIDS_FILE = "grids.json"


@dataclass(frozen=True)
class GridRun:
    """One job of a study: its overrides as Hydra passes them, and the run it names."""

    study: str
    overrides: tuple[str, ...]
    config_hash: str
    run_key: str


def fixed_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides every job of a multirun gets as given: neither a sweep (seed=0,1) nor Hydra's own
    (hydra/launcher=..., hydra.sweep.dir=...)."""
    return [o.input_line for o in OverridesParser.create().parse_overrides(list(overrides))
            if not (o.is_sweep_override() or o.is_hydra_override())]


def job_overrides(study: str, profile: str, extra: Sequence[str] = ()) -> list[list[str]]:
    """The overrides of every job of `python -m sgdtricks.train -m study=S profile=P EXTRA`, in launch order.

    Hydra's own overrides in `extra` (hydra/launcher=..., hydra.sweep.dir=...) place jobs and are left out.
    """
    parser = OverridesParser.create()
    arguments = [o.input_line for o in parser.parse_overrides([f"study={study}", f"profile={profile}", *extra])
                 if not o.is_hydra_override()]
    sweeper = compose_config(*fixed_overrides(arguments), hydra_node=True).hydra.sweeper
    params = [f"{k}={v}" for k, v in sweeper.params.items()]
    (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides([*params, *arguments]), None)
    return jobs


def expand(study: str, profile: str, extra: Sequence[str] = ()) -> list[tuple[GridRun, DictConfig]]:
    """Every job of the study with its composed config (the config its training job will get)."""
    jobs = job_overrides(study, profile, extra)
    return [(GridRun(study, tuple(overrides), config_hash(cfg), run_key(cfg)), cfg)
            for overrides, cfg in zip(jobs, compose_configs(jobs))]


def distinct(runs: Sequence[GridRun]) -> list[GridRun]:
    """The runs to train: one per config hash, the first study that holds it first."""
    seen: dict[str, GridRun] = {}
    for run in runs:
        seen.setdefault(run.config_hash, run)
    return list(seen.values())


def write_grid(profile_dir: Path, study: str, runs: Sequence[GridRun]) -> None:
    """Record (atomically) the runs of `study` in profile_dir/grids.json, beside the other studies' grids."""
    grids = read_grids(profile_dir)
    grids[study] = [asdict(run) for run in runs]
    text = json.dumps(grids, indent=1, sort_keys=True) + "\n"
    atomic_write(profile_dir / GRIDS_FILE, lambda f: f.write(text))


def read_grids(profile_dir: Path) -> dict[str, list[dict]]:
    """{study: [GridRun as dict, ...]} as last launched; {} when no study of this profile was launched yet."""
    path = profile_dir / GRIDS_FILE
    if not path.is_file():
        return {}
    try:
        grids = json.loads(path.read_text())
        for runs in grids.values():
            for run in runs:
                GridRun(**{**run, "overrides": tuple(run["overrides"])})
        return grids
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise RecordError(f"{path} is damaged ({type(exc).__name__}); delete it and run `make reproduce` again "
                          f"(finished runs are kept and not retrained)") from None
