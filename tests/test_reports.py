"""The report builder on real run records made here: every figure and table, numbers that equal those
recomputed from metrics.csv, diverged runs shown as diverged, broken runs listed and skipped, no runs explained."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml

from sgdtricks.study import reproduce
from sgdtricks.reports.__main__ import main as reports_main
from sgdtricks.reports.figures import curves, palette
from sgdtricks.reports.stats import t_975

TINY = ["model.widths=[8,16,32]", "trainer.epochs=2", "logger=none"]
# Two cells per study (2 seeds each, the cpu profile's): lr 1e30 diverges; momentum 0 vs 0.9; constant vs step.
CELLS = {"lr_tuning": ["optimizer.lr=0.05,1e+30"], "momentum": ["+arm=momentum_0,momentum_09", "seed=10,11"],
         "decay": ["scheduler=constant,step", "optimizer.momentum=0.9", "seed=10,11"]}
# No regime figure here: StepLR's cpu step (20 epochs) does not drop within 2 (test_report_stats.py tests it).
FIGURES = ["lr_tuning", "momentum", "momentum_sweep", "effective_step", "decay_lr", "decay"]
TABLES = ["lr_tuning", "momentum", "momentum_differences", "decay", "decay_differences", "primary"]


@pytest.fixture(scope="module")
def study_runs(small_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/cpu/... of the three studies, made by `make study` as a user runs it (2 epochs, tiny CNN)."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")  # tiny models: a second thread only waits, worse on a busy machine
        for study, cells in CELLS.items():
            code = reproduce.main(["--profile", "cpu", "--studies", study, "--jobs", "1", "--data", "npz",
                                   "--data-path", str(small_npz), "--runs", str(runs), "--no-reports", *TINY, *cells])
            assert code == 0, study
    return runs


@pytest.fixture(scope="module")
def built(study_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    assert reports_main(["--runs", str(study_runs), "--out", str(out)]) == 0
    return out / "cpu"


def records(runs: Path, study: str) -> list[tuple[dict, list[dict]]]:
    """(config, metrics rows) of every run of `study`, read with yaml and csv alone."""
    out = []
    for entry in json.loads((runs / "cpu" / "grids.json").read_text())[study]:
        run_dir = runs / "cpu" / entry["run_key"]
        if (run_dir / "metrics.csv").is_file():
            config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
            with open(run_dir / "metrics.csv") as f:
                rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
            out.append((config, rows))
    return out


def test_every_figure_table_and_page_is_written(built: Path) -> None:
    for name in FIGURES:
        for ext in ("pdf", "png"):
            assert (built / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
        assert f"](figures/{name}.png)" in (built / "README.md").read_text()
    page = (built / "README.md").read_text()
    for name in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (built / "tables" / f"{name}.{ext}").is_file()
        assert (built / "tables" / f"{name}.md").read_text() in page  # the tables are inline
    tex = (built / "tables" / "decay.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    for words in ("## What the runs show", "## Provenance", "| profile | cpu |", "| device |", "| commit |",
                  "| versions |", "| total time |", "base lr"):
        assert words in page
    assert "cpu/README.md" in (built.parent / "README.md").read_text()


def test_runs_csv_holds_every_epoch_of_every_run(built: Path, study_runs: Path) -> None:
    table = pd.read_csv(built / "data" / "runs.csv")
    expected = sum(len(rows) for study in CELLS for _, rows in records(study_runs, study))
    assert len(table) == expected and table["run"].nunique() == 10  # decay's constant/0.9 runs are momentum's 0.9 arm
    assert {"optimizer.momentum", "scheduler.name", "seed", "study", "profile", "test_acc"} <= set(table.columns)


def test_cell_tables_equal_numbers_recomputed_from_metrics_csv(built: Path, study_runs: Path) -> None:
    table = pd.read_csv(built / "tables" / "momentum.csv")
    for momentum in (0.0, 0.9):
        runs = [rows for config, rows in records(study_runs, "momentum") if config["optimizer"]["momentum"] == momentum]
        final = [rows[-1]["test_acc"] for rows in runs]
        best = [max(rows, key=lambda r: (r["val_acc"], -r["epoch"])) for rows in runs]
        row = table[table["optimizer.momentum"] == momentum].iloc[0]
        assert row["seeds"] == len(runs) == 2
        assert row["final_test_acc_mean"] == pytest.approx(statistics.mean(final), abs=1e-12)
        assert row["final_test_acc_std"] == pytest.approx(statistics.stdev(final), abs=1e-12)
        assert row["best_val_acc_mean"] == pytest.approx(statistics.mean(b["val_acc"] for b in best), abs=1e-12)
        assert row["test_acc_at_best_val_mean"] == pytest.approx(statistics.mean(b["test_acc"] for b in best), abs=1e-12)
        assert row["wall_time_s_mean"] == pytest.approx(statistics.mean(sum(r["epoch_time_s"] for r in rows)
                                                                        for rows in runs), abs=1e-9)


def test_differences_are_paired_by_seed_with_a_t_interval(built: Path, study_runs: Path) -> None:
    final = {(c["scheduler"]["name"], c["seed"]): rows[-1]["test_acc"] for c, rows in records(study_runs, "decay")}
    diffs = [final["step", s] - final["constant", s] for s in (10, 11)]
    row = pd.read_csv(built / "tables" / "decay_differences.csv").query(
        "comparison == 'step − constant, β = 0.9' and metric == 'final_test_acc'").iloc[0]
    half = 12.706 * statistics.stdev(diffs) / math.sqrt(2)  # t_{0.975, 1 df}
    assert (row["n"], row["mean"]) == (2, pytest.approx(statistics.mean(diffs), abs=1e-12))
    assert (row["lo"], row["hi"]) == (pytest.approx(statistics.mean(diffs) - half, abs=1e-9),
                                      pytest.approx(statistics.mean(diffs) + half, abs=1e-9))


def test_a_diverged_run_is_counted_not_dropped(built: Path, study_runs: Path) -> None:
    grid = json.loads((study_runs / "cpu" / "grids.json").read_text())["lr_tuning"]
    statuses = [json.loads((study_runs / "cpu" / e["run_key"] / "summary.json").read_text())["status"]
                for e in grid if "-lr1e+30-" in e["run_key"]]
    assert statuses == ["diverged", "diverged"]
    table = pd.read_csv(built / "tables" / "lr_tuning.csv").set_index("optimizer.lr")
    assert table.loc[1e30, "diverged"] == 2 and table.loc[1e30, "runs"] == 2
    assert math.isnan(table.loc[1e30, "final_test_acc_mean"]) and table.loc[0.05, "diverged"] == 0
    assert "| lr 1e+30 | 2 | 2 | — |" in re.sub(r" +", " ", (built / "tables" / "lr_tuning.md").read_text())
    assert "Runs diverged at lr 1e+30" in (built / "README.md").read_text()
    # the base lr is chosen among lrs without a diverged run, by validation accuracy
    assert json.loads((built / "data" / "base_lr.json").read_text())["chosen_by_validation"] == 0.05


def test_a_diverged_run_gets_an_x_where_its_curve_ends(built: Path) -> None:
    frame = pd.read_csv(built / "data" / "runs.csv").query("study == 'lr_tuning'")
    frame = frame.assign(label=frame["optimizer.lr"].map(str))
    fig, ax = plt.subplots()
    curves(ax, frame, "train_loss", palette(sorted(set(frame["label"]))))
    marks = [line for line in ax.lines if line.get_marker() == "x"]
    plt.close(fig)
    assert len(marks) == 2  # lr 1e30, both seeds: non-finite loss in epoch 1, so the x stands at epoch 1
    assert all(list(m.get_xdata()) == [1] for m in marks)


def test_broken_runs_are_listed_and_skipped(study_runs: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(study_runs, runs)
    grid = json.loads((runs / "cpu" / "grids.json").read_text())["momentum"]
    momentum = sorted(runs / "cpu" / e["run_key"] for e in grid if "-s11-" in e["run_key"])
    failed = json.loads((momentum[0] / "summary.json").read_text()) | {"status": "failed"}
    (momentum[0] / "summary.json").write_text(json.dumps(failed))
    (momentum[1] / "metrics.csv").unlink()
    assert reports_main(["--runs", str(runs), "--out", str(tmp_path / "reports")]) == 0
    page = (tmp_path / "reports" / "cpu" / "README.md").read_text()
    assert f"`{momentum[0].relative_to(runs)}`: status failed" in page
    assert f"`{momentum[1].relative_to(runs)}`: incomplete record" in page
    assert set(pd.read_csv(tmp_path / "reports" / "cpu" / "tables" / "momentum.csv")["seeds"]) == {1}


def test_only_runs_of_the_study_grid_are_pooled(study_runs: Path, tmp_path: Path) -> None:
    """A run that carries study=momentum but is not in the grid as launched (a single run, an ad-hoc sweep, a
    copy) never enters the study's table, even with the same config as a grid cell."""
    runs = tmp_path / "runs"
    shutil.copytree(study_runs, runs)
    grid = json.loads((runs / "cpu" / "grids.json").read_text())["momentum"]
    stray = runs / "cpu" / "single-run-with-study-momentum"
    shutil.copytree(runs / "cpu" / grid[0]["run_key"], stray)
    assert reports_main(["--runs", str(runs), "--out", str(tmp_path / "reports")]) == 0
    pooled = pd.read_csv(tmp_path / "reports" / "cpu" / "data" / "runs.csv")
    assert "cpu/single-run-with-study-momentum" not in set(pooled["run"])
    assert set(pooled.query("study == 'momentum'")["run"]) == {f"cpu/{e['run_key']}" for e in grid}


def test_duplicate_seeds_in_a_cell_are_an_error_naming_the_runs(study_runs: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(study_runs, runs)
    grids = json.loads((runs / "cpu" / "grids.json").read_text())
    twin = dict(grids["momentum"][0], run_key="twin-of-a-momentum-run")  # the same config and seed, trained twice
    shutil.copytree(runs / "cpu" / grids["momentum"][0]["run_key"], runs / "cpu" / twin["run_key"])
    grids["momentum"].append(twin)
    (runs / "cpu" / "grids.json").write_text(json.dumps(grids))
    assert reports_main(["--runs", str(runs), "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same cell and seed" in err
    assert f"cpu/{grids['momentum'][0]['run_key']}" in err and "cpu/twin-of-a-momentum-run" in err


def test_a_study_whose_every_run_diverged_builds(study_runs: Path, tmp_path: Path) -> None:
    """No run has a validation accuracy, so there is no target accuracy: the page says so instead of crashing."""
    runs = tmp_path / "runs"
    shutil.copytree(study_runs, runs)
    grids = json.loads((runs / "cpu" / "grids.json").read_text())
    grids = {"lr_tuning": [e for e in grids["lr_tuning"] if "-lr1e+30-" in e["run_key"]]}
    (runs / "cpu" / "grids.json").write_text(json.dumps(grids))
    assert reports_main(["--runs", str(runs), "--out", str(tmp_path / "reports")]) == 0
    page = (tmp_path / "reports" / "cpu" / "README.md").read_text()
    assert "Every lr diverged" in page and "epochs to target (every run diverged)" in page


def test_reports_rebuild_to_the_same_files(built: Path, study_runs: Path, tmp_path: Path) -> None:
    assert reports_main(["--runs", str(study_runs), "--out", str(tmp_path)]) == 0
    files = [p for p in built.rglob("*") if p.is_file()]
    assert len(files) == 2 * len(FIGURES) + 3 * len(TABLES) + 4  # + README, runs.csv, base_lr.json, provenance.json
    for path in files:
        assert path.read_bytes() == (tmp_path / "cpu" / path.relative_to(built)).read_bytes(), path


def test_no_runs_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert reports_main(["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make reproduce" in err and "make study STUDY=lr_tuning" in err
    assert not (tmp_path / "reports").exists()


def test_t_quantiles() -> None:
    assert t_975(1) == pytest.approx(math.tan(0.475 * math.pi), abs=1e-3)  # 1 df: the Cauchy distribution
    assert t_975(2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), abs=1e-3)  # 2 df: closed form
    for df, published in ((31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)):  # beyond the table
        assert t_975(df) == pytest.approx(published, abs=2e-4)
