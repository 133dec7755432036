"""The dashboard of one profile as plain data: what `--dry-run` prints and what save.py hands to W&B.

Nothing here touches the network or needs an account: it reads conf/ (the study grids), the config keys the
reports compare by (each study's CELL) and the results page reports/<profile>/README.md.

    {"profile": "cpu", "project": "sgdtricks", "entity": null,
     "workspace": {"name": "sgdtricks cpu", "sections": [
        {"name": "momentum", "view": "sgdtricks cpu: momentum",
         "runs": {"config": {"profile": "cpu", "seed": [10, 11, 12, 13, 14]}, "tags": [["constant", "m0", "lr0.05"], ...]},
         "groupby": ["optimizer.momentum", "optimizer.lr"],
         "panels": [{"title": "train loss", "x": "epoch", "y": ["train/loss"], "log_y": true,
                     "groupby": ["optimizer.momentum", "optimizer.lr"], "aggregate": "mean", "band": "stderr"},
                    ...]}]},
     "report": {"title": ..., "description": ..., "blocks": [...]}}

A section's runs are chosen by config values, never by W&B group: a run directory is shared by every study
whose grid holds its config, and its group is only the study that trained it first. A run belongs to a
section when its profile and seed match and it carries every tag of one of the cells of the study's grid as
config.grid expands it (scheduler, momentum and lr: record.tracking.cell_tags). Tags, not the config's dotted
keys: W&B's run filters split config keys at dots, so a flat key such as `optimizer.lr` never matches
(wandb/wandb#3087).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sgdtricks.config import grid, studies
from sgdtricks.errors import UserError
from sgdtricks.record.tracking import EPOCH_AXIS, EPOCH_KEYS, cell_tags
from sgdtricks.reports import decay, lr_tuning, momentum
from sgdtricks.reports.figures import LABELS

# The config keys each study's cells differ in (besides the seed): the reports' own, so the dashboard groups
# runs exactly as the tables and figures of reports/<profile>/ do.
CELLS = {"lr_tuning": lr_tuning.CELL, "momentum": momentum.CELL, "decay": decay.CELL}
# The studies with a live section: those whose runs log per epoch. The stability studies' runs log per step
# (step/sharpness against global_step); their figures reach the report through the results page.
SECTION_STUDIES = tuple(s for s in studies.STUDIES if s not in studies.STABILITY_STUDIES)
SERIES = ("train_loss", "val_loss", "val_acc", "lr")  # metrics.csv columns, one panel each (test: in the summary)
LOG_Y = ("train_loss", "lr")  # as in the paper figures: losses and lrs span decades
AGGREGATE, BAND = "mean", "stderr"  # the line of a group of seeds, and its band


def base_lr_of(profile: str, reports: Path) -> float:
    """The lr the momentum and decay studies ran at: the profile's, or the one measured for it (base_lr.json)."""
    fixed = studies.fixed_base_lr(profile)
    if fixed is not None:
        return fixed
    path = reports / profile / "data" / "base_lr.json"
    if not path.is_file():
        raise UserError(f"profile {profile} measures its base lr and {path} does not exist; run `make reproduce "
                        f"PROFILE={profile}` (or `make reports`) first, or pass --base-lr")
    used = json.loads(path.read_text())["used_by_studies"]
    if len(used) != 1:
        raise UserError(f"{path} lists {len(used) or 'no'} base lrs ({used}); pass the one to show with --base-lr")
    return float(used[0])


def panels(groupby: list[str]) -> list[dict[str, Any]]:
    """One line plot per series against `epoch`: the mean of each group of seeds with a stderr band."""
    return [{"title": LABELS[column].removesuffix(" (%)"),  # W&B shows accuracy as logged: a fraction
             "x": EPOCH_AXIS, "y": [EPOCH_KEYS[column]], "log_y": column in LOG_Y,
             "groupby": groupby, "aggregate": AGGREGATE, "band": BAND} for column in SERIES]


def section(study: str, profile: str, base_lr: float, workspace: str) -> dict[str, Any]:
    """A study's section: its runs (by config values), grouped by its cells, one panel per series."""
    configs = [cfg for _, cfg in grid.expand(study, profile, [f"base_lr={base_lr}"])]
    cells = list(dict.fromkeys(tuple(cell_tags(cfg)) for cfg in configs))
    seeds = sorted({int(cfg.seed) for cfg in configs})
    return {"name": study, "view": f"{workspace}: {study}",
            "runs": {"config": {"profile": profile, "seed": seeds}, "tags": [list(c) for c in cells]},
            "groupby": CELLS[study], "panels": panels(CELLS[study])}


def report_runs(profile: str) -> dict[str, Any]:
    """The runs holding the paper figures of a profile: its report runs (reports/wandb_report.py)."""
    return {"config": {}, "tags": [["report", profile]]}


FIGURE = re.compile(r"!\[[^\]]*\]\(figures/(?P<name>[^)/]+)\.png\)")
STUDY_MARK = re.compile(r"<!-- study:(?P<study>\w+) -->")


def report(page: Path, profile: str, sections: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """reports/<profile>/README.md as report blocks: its text as markdown, each figure as the paper figure
    (the image the study's report run logged) and, after each study's heading, its section's live panels."""
    title, _, rest = page.read_text().partition("\n")
    description, _, body = rest.strip("\n").partition("\n\n")  # the page: its title, a paragraph, the rest
    blocks: list[dict[str, Any]] = []
    text: list[str] = []

    def flush() -> None:
        if "".join(text).strip():
            blocks.append({"type": "markdown", "text": "\n".join(text).strip("\n")})
        text.clear()

    for line in body.splitlines():
        figure, mark = FIGURE.fullmatch(line.strip()), STUDY_MARK.fullmatch(line.strip())
        if line.startswith("## "):
            flush()
            blocks.append({"type": "heading", "text": line.removeprefix("## ")})
        elif figure:
            flush()
            blocks.append({"type": "figure", "name": figure["name"], "key": f"figures/{figure['name']}",
                           "runs": report_runs(profile)})
        elif mark and mark["study"] in sections:
            flush()
            blocks.append({"type": "panels", "section": mark["study"]})
        else:
            text.append(re.sub(r" ?\(\[PDF\]\(figures/[^)]+\)\)", "", line))  # the PDF stays in the artifact
    flush()
    return {"title": title.removeprefix("# "), "description": description, "blocks": blocks}


def dashboard(profile: str, project: str, entity: str | None, base_lr: float, reports: Path) -> dict[str, Any]:
    """The workspace (a section per study) and, when reports/<profile>/README.md exists, the report."""
    name = f"{project} {profile}"
    sections = {study: section(study, profile, base_lr, name) for study in SECTION_STUDIES}
    page = reports / profile / "README.md"
    return {"profile": profile, "project": project, "entity": entity, "base_lr": base_lr,
            "workspace": {"name": name, "sections": list(sections.values())},
            "report": report(page, profile, sections) if page.is_file() else None}
