"""The stability section of the results page, from a frame of runs made here (the columns run records give)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sgdtricks.reports import stability


def run_rows(run: str, kind: str, beta: float, lr: float, batch: str, values: list[float], status: str = "finished",
             step: int = 100) -> pd.DataFrame:
    """One run's rows: `values` are its sharpness (full), batch sharpness (batch) or training loss (none)."""
    steps = np.arange(len(values)) * step
    nan = [math.nan] * len(values)
    column = {"full": "sharpness", "batch": "batch_sharpness", "none": "train_loss"}[kind]
    frame = pd.DataFrame({"step": steps, "lr": lr, "train_loss": np.linspace(0.5, 0.1, len(values)),
                          "sharpness": nan, "batch_sharpness": nan})
    frame[column] = values
    return frame.assign(**{"run": run, "seed": 10, "status": status, "optimizer.lr": lr, "optimizer.momentum": beta,
                           "trainer.batch": batch, "trainer.sharpness": kind})


@pytest.fixture
def frame() -> pd.DataFrame:
    runs = [
        # full batch: rises from 80 to the edge; the second half (steps >= 200) is 104, 110, 106 -> median 106
        run_rows("gd", "full", 0.0, 0.02, "full", [80, 90, 104, 110, 106]),
        run_rows("hb", "full", 0.9, 0.02, "full", [80, 150, 180, 200, 185]),
        run_rows("sgd", "batch", 0.9, 0.02, "32", [60, 30, 12, 11, 10]),
    ]
    for beta, largest in ((0.0, 0.04), (0.9, 0.08)):  # the map: diverged above `largest`
        for lr in (0.02, 0.04, 0.08, 0.16):
            diverged = lr > largest
            runs.append(run_rows(f"map{beta}-{lr}", "none", beta, lr, "full", [0.5, math.inf if diverged else 0.2],
                                 status="diverged" if diverged else "finished", step=200))
    return pd.concat(runs, ignore_index=True)


def test_table_has_the_issue_columns_and_second_half_medians(frame: pd.DataFrame) -> None:
    numbers = stability.table_numbers(frame)
    assert {"optimizer", "beta", "lr", "batch", "sharpness_measured", "sharpness_predicted"} <= set(numbers.columns)
    rows = numbers.set_index("optimizer")
    assert list(numbers["optimizer"]) == ["gradient descent", "heavy ball", "SGD + momentum"]
    assert rows.loc["gradient descent", "sharpness_measured"] == 106
    assert rows.loc["heavy ball", "sharpness_measured"] == 185  # median of 180, 200, 185
    assert rows.loc["heavy ball", "sharpness_predicted"] == pytest.approx(190)
    assert rows.loc["SGD + momentum", "small_batch_predicted"] == pytest.approx(10)
    assert math.isnan(rows.loc["gradient descent", "small_batch_predicted"])
    assert rows.loc["gradient descent", "sharpness_at_init"] == 80


def test_map_boundary_and_lambda_at_init(frame: pd.DataFrame) -> None:
    assert stability.lambda_at_init(frame) == 80
    boundary = stability.network_boundary(stability.map_numbers(frame, 80.0)).set_index("beta")
    assert boundary.loc[0.0, "largest_stable_lr"] == 0.04 and boundary.loc[0.0, "smallest_diverged_lr"] == 0.08
    assert boundary.loc[0.9, "largest_stable_lr"] == 0.08


def test_section_writes_its_figures_and_says_what_agrees(frame: pd.DataFrame, tmp_path: Path) -> None:
    sec = stability.section(frame, tmp_path)
    assert {f"{name}.{ext}" for name, _ in sec.figures for ext in ("pdf", "png")} == {p.name for p in tmp_path.iterdir()}
    assert [name for name, _ in sec.figures] == ["stability_sharpness", "stability_map"]
    assert [t.name for t in sec.tables] == ["stability"]
    text = " ".join(sec.findings)
    assert "2 of 2 runs are within 15%" in text
    assert "1.75x gradient descent's sharpness (β = 0.9, lr 0.02" in text  # 185 / 106
    assert "changed by 2.00x at β = 0.9" in text  # the map's boundary: 0.08 / 0.04


def test_runs_off_the_edge_are_reported_with_how_far(frame: pd.DataFrame) -> None:
    far = pd.concat([frame, run_rows("gd2", "full", 0.0, 0.04, "full", [80, 70, 70, 70, 70])], ignore_index=True)
    text = " ".join(stability.full_batch_findings(stability.table_numbers(far)))
    assert "2 of 3 runs are within 15%" in text and "sit 40-40% away" in text
