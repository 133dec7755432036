"""The plain dashboard spec (spec.py) as W&B objects, saved to the project: the only module here that needs
`wandb login`, and the only one that imports wandb_workspaces.

A W&B saved workspace ("view") has one run set: one filter and one grouping for all its panels, and a line
plot groups by one key at most. A study's section needs its own runs and its own grouping by every key of its
cells, so each section is saved as a view of its own, named as the spec's `view` says ("sgdtricks cpu:
momentum"): its run set filtered to the section's runs and grouped by the section's keys, its panels drawing
each group's mean with a stderr band. In the report every panel grid has its own run set, so there the
sections stay together, in the order of the results page.

Saving again updates the views and the report of the same names instead of adding new ones.
"""

from __future__ import annotations

from typing import Any

import wandb_workspaces.reports.v2 as wr
import wandb_workspaces.workspaces as ws
from wandb_workspaces import expr


def run_filter(runs: dict[str, Any]) -> expr.And:
    """spec `runs` -> W&B filter: every config value (a list: any of them), and every tag of one cell."""
    config = [expr.Config(key).isin(value) if isinstance(value, list) else expr.Config(key) == value
              for key, value in runs["config"].items()]
    cells = [expr.And(*(expr.Tags().isin([tag]) for tag in tags)) for tags in runs["tags"]]
    return expr.And(*config, expr.Or(*cells))


def config_key(key: str) -> str:
    """A flat dotted config key as W&B stores it: {"optimizer.lr": {"value": ...}} -> optimizer.lr.value."""
    return f"{key}.value"


def line_plot(panel: dict[str, Any]) -> wr.LinePlot:
    """The panel; its runs are grouped by the run set it is drawn from (a line plot's own grouping takes one key)."""
    return wr.LinePlot(title=panel["title"], x=panel["x"], y=panel["y"], log_y=panel["log_y"] or None,
                       groupby_aggfunc=panel["aggregate"], groupby_rangefunc=panel["band"])


def views(spec: dict[str, Any], entity: str) -> list[ws.Workspace]:
    """One saved view per section of the spec's workspace."""
    return [ws.Workspace(
        entity=entity, project=spec["project"], name=section["view"],
        settings=ws.WorkspaceSettings(x_axis=section["panels"][0]["x"]),
        runset_settings=ws.RunsetSettings(filters=run_filter(section["runs"]),
                                          groupby=[expr.Config(config_key(k)) for k in section["groupby"]]),
        sections=[ws.Section(name=section["name"], is_open=True, panels=[line_plot(p) for p in section["panels"]],
                             layout_settings=ws.SectionLayoutSettings(columns=3, rows=2))],
    ) for section in spec["workspace"]["sections"]]


def report(spec: dict[str, Any], entity: str) -> wr.Report:
    """The results page as a W&B report: text, the paper figures, and each study's live panels."""
    sections = {s["name"]: s for s in spec["workspace"]["sections"]}

    def runset(runs: dict[str, Any], groupby: list[str], name: str) -> wr.Runset:
        return wr.Runset(entity=entity, project=spec["project"], name=name, filters=run_filter(runs),
                         groupby=[f"config.{config_key(k)}" for k in groupby])

    blocks: list[Any] = []
    for block in spec["report"]["blocks"]:
        if block["type"] == "heading":
            blocks.append(wr.H2(block["text"]))
        elif block["type"] == "markdown":
            blocks.append(wr.MarkdownBlock(block["text"]))
        elif block["type"] == "figure":
            blocks.append(wr.PanelGrid(runsets=[runset(block["runs"], [], "report runs")],
                                       panels=[wr.MediaBrowser(title=block["name"], media_keys=[block["key"]])]))
        else:
            section = sections[block["section"]]
            blocks.append(wr.PanelGrid(runsets=[runset(section["runs"], section["groupby"], section["name"])],
                                       panels=[line_plot(p) for p in section["panels"]]))
    return wr.Report(project=spec["project"], entity=entity, title=spec["report"]["title"],
                     description=spec["report"]["description"], blocks=blocks, width="fluid")


VIEWS = """
query SgdtricksViews($entityName: String, $projectName: String) {
  project(name: $projectName, entityName: $entityName) {
    allViews(viewType: "project-view") { edges { node { id name displayName } } }
  }
}"""


def saved_views(api: Any, entity: str, project: str) -> dict[str, dict[str, str]]:
    """The project's saved views by display name (empty for a project without any)."""
    from wandb_workspaces._graphql import execute_graphql

    found = execute_graphql(api, VIEWS, {"entityName": entity, "projectName": project}).get("project") or {}
    return {edge["node"]["displayName"]: edge["node"] for edge in (found.get("allViews") or {}).get("edges", [])}


def save(spec: dict[str, Any], entity: str, api: Any) -> list[str]:
    """Create the views and the report, or update those of the same names; returns their URLs."""
    urls = []
    existing = saved_views(api, entity, spec["project"])
    for view in views(spec, entity):
        if view.name in existing:  # the same view again: update it in place
            view._internal_name, view._internal_id = existing[view.name]["name"], existing[view.name]["id"]
        urls.append(view.save().url)
    if spec["report"] is not None:
        page = report(spec, entity)
        same = [r for r in api.reports(f"{entity}/{spec['project']}") if r.display_name == page.title]
        if same:
            page.id = same[0].id
        urls.append(page.save().url)
    return urls
