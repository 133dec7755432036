"""Run records -> reports/<profile>/: figures, tables, data/runs.csv and the results page; reports/README.md.

Runs come from the local records under runs/ or, for teams that trained on several machines, from a W&B
project (both through collect.run_frame, so the table is the same). Runs of no study (runs/single, ad-hoc
multiruns) are left out; incomplete, failed or unreadable runs are listed on the page and skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from sgdtricks.config import studies
from sgdtricks.errors import UserError
from sgdtricks.plotting import set_paper_style
from sgdtricks.record.files import METRIC_COLUMNS, STEP_METRIC_COLUMNS
from sgdtricks.record.identity import PLACEMENT_KEYS
from sgdtricks.reports import decay, lr_tuning, momentum, stability
from sgdtricks.reports.collect import SUMMARY_COLUMNS, SkippedRun, runs_from_records
from sgdtricks.reports.page import provenance, write_index, write_page
from sgdtricks.reports.sections import Section, primary_table
from sgdtricks.reports.stats import check_unique_seeds, default_target
from sgdtricks.reports.tables import write_table
from sgdtricks.reports.wandb_report import log_report

# Columns that may differ between the runs of one study: its cells (each study's VARIES), the seed, where runs
# are logged, and the per-run and per-epoch results. A name ending in "." stands for every column under it.
VARIES = {"lr_tuning": lr_tuning.VARIES, "momentum": momentum.VARIES, "decay": decay.VARIES,
          **{study: stability.VARIES for study in studies.STABILITY_STUDIES}}
CELLS = {"lr_tuning": lr_tuning.CELL, "momentum": momentum.CELL, "decay": decay.CELL}  # pairing by seed within these
NOT_SETTINGS = ["run", "seed", "logger.", "versions.", *PLACEMENT_KEYS, *SUMMARY_COLUMNS, *METRIC_COLUMNS,
                *STEP_METRIC_COLUMNS]


def load_runs(source: str, runs_root: Path, project: str, entity: str | None) -> tuple[pd.DataFrame, list[SkippedRun]]:
    """The tidy run table from `source`: 'local' (run records under runs_root) or 'wandb' (a W&B project)."""
    if source == "local":
        return runs_from_records(runs_root)
    if source == "wandb":
        from sgdtricks.reports.wandb_source import runs_from_wandb  # needs the W&B API only for this source

        return runs_from_wandb(project, entity), []  # it keeps finished and diverged runs only
    raise UserError(f"SOURCE={source} is not a source of runs; use SOURCE=local or SOURCE=wandb")


def check_one_setting(frame: pd.DataFrame, study: str) -> None:
    """A study's runs must differ only in its cells and seeds, or its means would mix different experiments."""
    free = VARIES[study] + NOT_SETTINGS
    fixed = [c for c in frame.columns if not any(c == p or (p.endswith(".") and c.startswith(p)) for p in free)]
    mixed = {c: sorted(frame[c].astype(str).unique()) for c in fixed if frame[c].astype(str).nunique() > 1}
    if mixed:
        detail = "; ".join(f"{c}: {', '.join(v)}" for c, v in mixed.items())
        raise UserError(f"the {study} runs of profile {frame['profile'].iloc[0]} mix settings ({detail}); keep one "
                        f"set: delete the other run directories, or give each set its own RUNS= directory")


def base_lr_text(fixed: float | None, used: list[float]) -> str:
    lrs = ", ".join(f"{v:g}" for v in used) or "no momentum or decay runs yet"
    if fixed is None:
        return f"{lrs}: measured, the best-validation lr of this profile's lr_tuning runs (data/base_lr.json)"
    return f"{lrs}: the profile's base_lr" + (", the lecture's" if used == [0.05] else "")


def log_sections_to_wandb(out: Path, sections: dict[str, Section], run_root: Path, profile: str,
                          logger: DictConfig) -> None:
    """Each study's figures and tables beside its runs: a `report` run in the study's W&B group."""
    for study, sec in sections.items():
        figures = [out / "figures" / f"{name}.png" for name, _ in sec.figures]
        tables = [out / "tables" / f"{table.name}.csv" for table in sec.tables]
        run_id = log_report(out, study, figures, tables, run_dir=run_root / study, profile=profile, logger=logger)
        if run_id:
            print(f"reports: W&B report run {run_id} in group {study}")


def build_profile(frame: pd.DataFrame, skipped: list[SkippedRun], profile: str, out: Path,
                  wandb_root: Path | None = None, logger: DictConfig | None = None) -> Path:
    """Every figure and table of the studies present, data/runs.csv and the page, in `out`; with `logger` (the
    training runs' logger config), also a W&B report run per study (none with logger=none), its files under
    `wandb_root`."""
    figures, data = out / "figures", out / "data"
    fixed = studies.fixed_base_lr(profile) if profile in studies.names("profile") else None
    used = sorted({float(v) for v in frame.loc[frame["study"].isin(["momentum", "decay"]), "base_lr"]})
    present = {s: frame[frame["study"] == s] for s in studies.STUDIES if (frame["study"] == s).any()}
    sections: dict[str, Section] = {}
    for study, runs in present.items():
        check_one_setting(runs, study)
        if study in studies.STABILITY_STUDIES:
            continue  # one section for the three, below
        check_unique_seeds(runs, CELLS[study], study)
        target = default_target(runs)
        if study == "lr_tuning":
            sections[study] = lr_tuning.section(runs, target, figures, fixed, used)
        elif study == "momentum":
            sections[study] = momentum.section(runs, target, figures)
        else:
            sections[study] = decay.section(runs, target, figures)
    stability_runs = [runs for study, runs in present.items() if study in studies.STABILITY_STUDIES]
    if stability_runs:
        sections["stability"] = stability.section(pd.concat(stability_runs), figures)
    tables = [table for sec in sections.values() for table in sec.tables]
    primary = primary_table(list(sections.values()))
    if len(primary.numbers):
        tables.append(primary)
    for table in tables:
        write_table(table, out / "tables")
    data.mkdir(parents=True, exist_ok=True)
    frame.to_csv(data / "runs.csv", index=False)
    for sec in sections.values():
        for name, evidence in sec.data.items():
            (data / f"{name}.json").write_text(json.dumps(evidence, indent=2) + "\n")
    counts = ", ".join(f"{s} ({r['run'].nunique()} runs)" for s, r in present.items())
    missing = ", ".join(s for s in studies.STUDIES if s not in present) or "none"
    head = [f"Runs: {counts}; studies without runs: {missing}."]
    page = write_page(out, sections, provenance(frame, profile, base_lr_text(fixed, used)), head, skipped,
                      primary if len(primary.numbers) else None)
    if wandb_root is not None and logger is not None:
        log_sections_to_wandb(out, sections, wandb_root, profile, logger)
    return page


def build(source: str, runs_root: Path, out_root: Path, profiles: list[str] | None = None,
          project: str = "sgdtricks", entity: str | None = None, logger: DictConfig | None = None) -> list[Path]:
    """Build the pages of `profiles` (default: every profile with runs); returns the pages written.

    With `logger` (the training runs' logger config) each study's figures and tables also go to its W&B report
    run, where the training runs go (none with logger=none), its files under runs_root/<profile>/reports-wandb/
    so `make wandb-sync` uploads them."""
    frame, skipped = load_runs(source, runs_root, project, entity)
    where = f"W&B project {project}" if source == "wandb" else str(runs_root)
    in_study = frame[frame["study"].notna() & frame["profile"].notna()] if len(frame) else frame
    found = sorted(in_study["profile"].unique()) if len(in_study) else []
    wanted = profiles or found
    if not set(wanted) & set(found):
        raise UserError(f"no finished study runs{' of profile ' + ', '.join(wanted) if profiles else ''} in {where}; "
                        f"run `make reproduce` (every study, then these reports) or `make study STUDY=lr_tuning` first")
    set_paper_style()
    pages = []
    for profile in wanted:
        runs = in_study[in_study["profile"] == profile]
        # columns of other profiles' configs go; the metrics stay even where every run diverged (all nan)
        runs = runs[[c for c in runs.columns if c in METRIC_COLUMNS or runs[c].notna().any()]]
        if runs.empty:
            print(f"reports: no finished runs of profile {profile} in {where}; skipped")
            continue
        mine = [s for s in skipped if s.run.startswith(f"{profile}/")] if source == "local" else skipped
        for s in mine:
            print(f"reports: left out {s.run}: {s.reason}")
        wandb_root = runs_root / profile / "reports-wandb"
        pages.append(build_profile(runs, mine, profile, out_root / profile, wandb_root, logger))
        print(f"reports: {pages[-1]} ({runs['run'].nunique()} runs, {len(mine)} left out)")
    write_index(out_root)
    return pages
