"""The report reader on records it cannot use: each is listed with its reason and the others are read on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import compose_config
from sgdtricks.record.files import METRIC_COLUMNS, RECORD_VERSION, RunRecord
from sgdtricks.record.identity import config_hash, identity
from sgdtricks.reports.collect import read_runs

ROW = {"epoch": 1, "lr": 0.05, "train_loss": 2.0, "train_acc": 0.3, "val_loss": 1.9, "val_acc": 0.35,
       "test_loss": 1.95, "test_acc": 0.33, "epoch_time_s": 1.0, "grad_norm": 1.0, "momentum_norm": 2.0}


def write_record(run_dir: Path, data: Path, seed: int) -> None:
    """A finished one-epoch record as the trainer writes it (without training: only the files matter here)."""
    cfg = compose_config("data=npz", f"data.path={data}", f"seed={seed}", "logger=none")
    record = RunRecord(run_dir)
    record.write_hydra_files({"config.yaml": OmegaConf.to_yaml(cfg)})
    record.write_metrics([ROW])
    record.write_summary({"record_version": RECORD_VERSION, "status": "finished", "config_hash": config_hash(cfg),
                          "identity": identity(cfg), "seed": seed})


DAMAGE = {
    "damaged config": (lambda d: (d / ".hydra" / "config.yaml").write_text("optimizer: [unclosed\n"),
                       ".hydra/config.yaml is damaged"),
    "older metrics.csv": (lambda d: (d / "metrics.csv").write_text(",".join(  # record version 1's columns
        c for c in METRIC_COLUMNS if c not in ("grad_norm", "momentum_norm")) + "\n1,0.05\n"),
                          "metrics.csv lacks the columns grad_norm, momentum_norm"),
    "older record": (lambda d: (d / "summary.json").write_text(json.dumps(
        {**json.loads((d / "summary.json").read_text()), "record_version": 2})), "record version 2"),
    "config rewritten": (lambda d: (d / ".hydra" / "config.yaml").write_text(
        (d / ".hydra" / "config.yaml").read_text().replace("seed: 1", "seed: 7")), "is not the config this run"),
    "binary metrics.csv": (lambda d: (d / "metrics.csv").write_bytes(b"\x00\xff" * 50), "metrics.csv"),
    "no summary": (lambda d: (d / "summary.json").unlink(), "not started"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_an_unreadable_record_is_listed_with_its_reason_and_the_rest_is_read(case: str, small_npz: Path,
                                                                             tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_record(good, small_npz, seed=0)
    write_record(bad, small_npz, seed=1)
    damage, reason = DAMAGE[case]
    damage(bad)
    frame, skipped = read_runs(tmp_path, [good, bad])
    assert list(frame["run"].unique()) == ["good"] and math.isclose(frame["test_acc"].iloc[0], 0.33)
    assert [s.run for s in skipped] == ["bad"] and reason in skipped[0].reason
    assert "\n" not in skipped[0].reason


def test_a_record_is_read_where_its_data_file_is_not(small_npz: Path, tmp_path: Path) -> None:
    """The record carries its data's checksum: reports are built without the data file at hand."""
    data = tmp_path / "data.npz"
    data.write_bytes(small_npz.read_bytes())
    write_record(tmp_path / "run", data, seed=0)
    data.unlink()
    frame, skipped = read_runs(tmp_path, [tmp_path / "run"])
    assert not skipped and len(frame) == 1
