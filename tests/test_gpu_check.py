"""scripts/gpu_check.sh on a machine without a GPU, and the page it ends with (sgdtricks.gpu_report)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, cli_env
from sgdtricks.bench.report import CSV_COLUMNS
from sgdtricks.bench.gpu_report import main as gpu_report, plan_summary

SCRIPT = REPO / "scripts" / "gpu_check.sh"
GPU_PAGE = REPO / "reports" / "gpu"


def run_check(*args: str, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**cli_env(), "PATH": path})


def page_state() -> float | None:
    """When reports/gpu/README.md was last written (None: absent), to show a refused check leaves it alone."""
    return (GPU_PAGE / "README.md").stat().st_mtime if (GPU_PAGE / "README.md").exists() else None


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="nvidia-smi is here: the script would measure")
def test_without_a_gpu_the_check_refuses_in_one_line_and_touches_nothing() -> None:
    before = page_state()
    result = run_check(path=os.environ["PATH"])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no NVIDIA GPU" in result.stderr
    assert page_state() == before


def test_with_a_gpu_but_no_data_the_check_names_the_file(tmp_path: Path) -> None:
    """A stand-in nvidia-smi that lists a GPU: the next gate is the data file, named in one line."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'GPU 0: stand-in'\n")
    fake.chmod(0o755)
    before = page_state()
    result = run_check(str(tmp_path / "missing.npz"), path=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.npz not found" in result.stderr
    assert page_state() == before


def junit_xml(tmp_path: Path) -> Path:
    """pytest's own JUnit XML of three tests: one passes, one fails, one is skipped."""
    tests = tmp_path / "test_three.py"
    tests.write_text("import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n    assert False\n\n"
                     "@pytest.mark.skip(reason='no GPU')\ndef test_gpu():\n    pass\n")
    xml = tmp_path / "tests.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests),
                    f"--junitxml={xml}"], capture_output=True, cwd=tmp_path, timeout=120)
    return xml


def test_gpu_report_page_holds_the_steps_tests_bench_numbers_and_projection(tmp_path: Path) -> None:
    folder = tmp_path / "gpu"
    (folder / "resnet18").mkdir(parents=True)
    (folder / "steps.tsv").write_text("install\t0\t3\ncuda_tests\t1\t140\nbench_resnet18\t124\t120\n")
    shutil.move(junit_xml(tmp_path), folder / "tests.xml")
    bench = pd.DataFrame([{c: 0 for c in CSV_COLUMNS}, {c: 0 for c in CSV_COLUMNS}])
    bench[["path", "precision", "images_per_s", "mfu"]] = [["ours", "bf16", 12345.6, 0.4321],
                                                             ["model_only", "bf16", 23456.7, 0.8]]
    bench.to_csv(folder / "resnet18" / "bench.csv", index=False)
    (folder / "plan.txt").write_text("50 distinct runs\nplan: profile=full runs=50 epochs=5000 projected_s=9000 "
                                     "device=NVIDIA H200\n")

    assert gpu_report([str(folder)]) == 0
    page = (folder / "README.md").read_text()
    assert "1 passed, 1 failed, 1 skipped" in page
    assert "failed (exit 1)" in page and "ran out of time" in page
    assert "12,345.6" in page and "43.2%" in page
    assert "**2.5 h** (50 runs of 5000 epochs, device NVIDIA H200)" in page


def test_gpu_report_says_what_is_missing(tmp_path: Path) -> None:
    assert gpu_report([str(tmp_path)]) == 0
    page = (tmp_path / "README.md").read_text()
    assert "did not run to its end" in page and "the tests did not run" in page and "did not finish" in page
    assert gpu_report([str(tmp_path / "absent")]) == 2


def test_plan_summary_reads_only_a_well_formed_last_line() -> None:
    assert plan_summary("x\nplan: profile=cpu runs=40 epochs=800 projected_s=612.5 device=cpu")["projected_s"] == \
        "612.5"
    assert plan_summary("plan: profile=cpu runs=40\n") is None and plan_summary("") is None
