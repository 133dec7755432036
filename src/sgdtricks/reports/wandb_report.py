"""A study's figures and tables on the dashboard, beside its runs: one `report` run in the study's group.

Each figure PNG is logged as a `wandb.Image` under `figures/<name>`, each table CSV as a `wandb.Table`
under `tables/<name>`, and the whole reports folder as the artifact `reports` (alias = the study).
Offline by default like training runs: `make wandb-sync` uploads it with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from sgdtricks.errors import UserError
from sgdtricks.record.tracking import start_run, wandb_mode


def report_run_id(profile: str, study: str) -> str:
    """The one W&B run of a study's report in a profile: every rebuild updates it instead of adding a run."""
    return f"report-{profile}-{study}"


def log_report(reports_dir: Path, study: str, figures: Iterable[Path], tables: Iterable[Path], *, run_dir: Path,
               profile: str, logger: DictConfig) -> str | None:
    """Log `figures` (PNG files) and `tables` (CSV files) of `study` to its report run; returns the run id, or
    None with logger=none, or when W&B could not start even offline (tracking.start_run warns; the reports on
    disk stand).

    `run_dir` receives the W&B run files (put it under runs/ so `make wandb-sync` finds it); `logger` is the
    training runs' `logger` config, so the report run goes where they go (project, entity, mode), or nowhere.
    """
    if logger.name == "none":
        return None
    figures, tables = [Path(p) for p in figures], [Path(p) for p in tables]
    for path in [reports_dir, *figures, *tables]:
        if not Path(path).exists():
            raise UserError(f"{path} does not exist; build the report (make reports) before logging it to W&B")
    import wandb

    media = {f"figures/{p.stem}": wandb.Image(str(p)) for p in figures}
    media |= {f"tables/{p.stem}": wandb.Table(dataframe=pd.read_csv(p)) for p in tables}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    run = start_run(wandb, project=logger.project, entity=logger.entity, group=study, job_type="report",
                    name=f"{study}/report", tags=[study, "report", profile], dir=str(run_dir),
                    mode=wandb_mode(logger.mode), id=report_run_id(profile, study), resume="allow",
                    settings=wandb.Settings(silent=True))
    if run is None:
        return None
    with run:
        run.log(media)
        artifact = wandb.Artifact("reports", type="report", description=f"reports/ as built for the {study} study")
        artifact.add_dir(str(reports_dir))
        run.log_artifact(artifact, aliases=["latest", study])
        return run.id
