"""The report run: figures as images and tables as W&B tables in the study's group, reports/ as an artifact;
read back from the offline run files."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from conftest import wandb_records

from sgdtricks.config.studies import compose_config
from sgdtricks.errors import UserError
from sgdtricks.plotting import save_figure, set_paper_style
from sgdtricks.reports.wandb_report import log_report, report_run_id


def logger(*overrides: str):
    """The `logger` config of training runs composed with `overrides`, as make reproduce hands it over."""
    return compose_config(*overrides).logger


@pytest.fixture
def reports_dir(tmp_path: Path) -> Path:
    """A reports folder as the report builder leaves it: one figure (PDF + PNG) and one table."""
    out = tmp_path / "reports"
    set_paper_style()
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.3, 0.5, 0.6])
    ax.set(xlabel="epoch", ylabel="validation accuracy")
    save_figure(fig, out, "val_acc")
    pd.DataFrame({"scheduler": ["step", "plateau"], "best_val_acc": [0.61, 0.58], "seeds": [3, 3]}).to_csv(
        out / "best.csv", index=False)
    return out


def test_report_run_logs_figures_tables_and_folder(reports_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "report" / "decay"
    run_id = log_report(reports_dir, "decay", [reports_dir / "val_acc.png"], [reports_dir / "best.csv"],
                        run_dir=run_dir, profile="cpu", logger=logger())
    assert run_id == report_run_id("cpu", "decay")
    (wandb_dir,) = (run_dir / "wandb").glob(f"offline-run-*-{run_id}")
    records = wandb_records(wandb_dir)
    info = [r["run"] for r in records if r["type"] == "run"][-1]  # the run record, as last updated
    assert info["run_group"] == "decay" and info["job_type"] == "report" and info["display_name"] == "decay/report"

    (logged,) = [r["history"]["item"] for r in records if r["type"] == "history"]  # media keys come dotted
    png = reports_dir / "val_acc.png"
    assert logged["figures/val_acc._type"] == "image-file" and logged["figures/val_acc.format"] == "png"
    assert logged["figures/val_acc.sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    assert (logged["figures/val_acc.width"], logged["figures/val_acc.height"]) == plt.imread(png).shape[1::-1]
    assert logged["tables/best._type"] == "table-file"
    stored = json.loads((wandb_dir / "files" / logged["tables/best.path"]).read_text())
    expected = pd.read_csv(reports_dir / "best.csv")
    assert stored["columns"] == list(expected.columns) and stored["data"] == expected.values.tolist()

    (artifact,) = [r["artifact"] for r in records if r["type"] == "artifact" and r["artifact"]["name"] == "reports"]
    assert artifact["type"] == "report" and "decay" in artifact["aliases"]
    files = {str(p.relative_to(reports_dir)): p for p in reports_dir.rglob("*") if p.is_file()}
    entries = {entry["path"]: entry["digest"] for entry in artifact["manifest"]["contents"]}
    assert entries.keys() == files.keys() == {"val_acc.pdf", "val_acc.png", "best.csv"}
    for name, path in files.items():
        assert entries[name] == base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def test_missing_figure_fails_before_any_run(reports_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "report"
    with pytest.raises(UserError, match="nope.png does not exist"):
        log_report(reports_dir, "decay", [reports_dir / "nope.png"], [], run_dir=run_dir, profile="cpu",
                   logger=logger())
    assert not run_dir.exists()


def test_report_run_online_without_a_key_falls_back_offline(reports_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    """W&B trouble at the end of `make reproduce` must not cost the reports: warn, log offline."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc, no stored key
    run_dir = tmp_path / "runs" / "report" / "momentum"
    run_id = log_report(reports_dir, "momentum", [reports_dir / "val_acc.png"], [reports_dir / "best.csv"],
                        run_dir=run_dir, profile="cpu", logger=logger("logger.mode=online"))
    assert run_id and len(list((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))) == 1
    assert "warning: W&B could not start" in capsys.readouterr().err


def test_report_runs_follow_the_logger(reports_dir: Path, tmp_path: Path) -> None:
    """logger=none: no report run at all; otherwise the runs' project and entity, and one run per study and
    profile that every rebuild updates (the same id), not a new run each time."""
    figures, tables = [reports_dir / "val_acc.png"], [reports_dir / "best.csv"]
    run_dir = tmp_path / "runs" / "cpu" / "reports-wandb" / "decay"
    assert log_report(reports_dir, "decay", figures, tables, run_dir=run_dir, profile="cpu",
                      logger=logger("logger=none")) is None
    assert not run_dir.exists()
    configured = logger("logger.project=elsewhere", "logger.entity=my-team")
    ids = [log_report(reports_dir, "decay", figures, tables, run_dir=run_dir, profile="cpu", logger=configured)
           for _ in range(2)]
    assert ids == [report_run_id("cpu", "decay")] * 2
    for folder in sorted((run_dir / "wandb").glob("offline-run-*")):
        info = [r["run"] for r in wandb_records(folder) if r["type"] == "run"][-1]
        assert (info["project"], info["entity"], info["run_id"]) == ("elsewhere", "my-team", ids[0])
        assert info["tags"] == ["decay", "report", "cpu"]
