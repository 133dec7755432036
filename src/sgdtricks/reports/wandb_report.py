"""A study's figures and tables on the dashboard, beside its runs: one `report` run in the study's group.

Each figure PNG is logged as a `wandb.Image` under `figures/<name>`, each table CSV as a `wandb.Table`
under `tables/<name>`, and the whole reports folder as the artifact `reports` (alias = the study).
Offline by default like training runs: `make wandb-sync` uploads it with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sgdtricks.errors import UserError
from sgdtricks.record.tracking import start_run, wandb_mode


def log_report(reports_dir: Path, study: str, figures: Iterable[Path], tables: Iterable[Path], *, run_dir: Path,
               project: str = "sgdtricks", entity: str | None = None, mode: str | None = None) -> str | None:
    """Log `figures` (PNG files) and `tables` (CSV files) of `study` to a new report run; returns its id, or
    None when W&B could not start even offline (tracking.start_run warns; the reports on disk stand).

    `run_dir` receives the W&B run files (put it under runs/ so `make wandb-sync` finds it); `project`,
    `entity` and `mode` are the training runs' `logger.*` settings, so the report lands in their project.
    """
    figures, tables = [Path(p) for p in figures], [Path(p) for p in tables]
    for path in [reports_dir, *figures, *tables]:
        if not Path(path).exists():
            raise UserError(f"{path} does not exist; build the report (make reports) before logging it to W&B")
    import wandb

    media = {f"figures/{p.stem}": wandb.Image(str(p)) for p in figures}
    media |= {f"tables/{p.stem}": wandb.Table(dataframe=pd.read_csv(p)) for p in tables}
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    run = start_run(wandb, project=project, entity=entity, group=study, job_type="report", name=f"{study}/report",
                    tags=[study, "report"], dir=str(run_dir), mode=wandb_mode(mode),
                    settings=wandb.Settings(silent=True))
    if run is None:
        return None
    with run:
        run.log(media)
        artifact = wandb.Artifact("reports", type="report", description=f"reports/ as built for the {study} study")
        artifact.add_dir(str(reports_dir))
        run.log_artifact(artifact, aliases=["latest", study])
        return run.id
