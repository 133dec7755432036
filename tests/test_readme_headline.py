"""The README's headline block is filled from the generated report files, never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from sgdtricks.reports.__main__ import main as reports_main
from sgdtricks.reports.page import update_readme_headline


def fake_profile(root: Path) -> None:
    (root / "cpu" / "data").mkdir(parents=True)
    (root / "cpu" / "tables").mkdir()
    info = {"runs": "4 (momentum: 4)", "data": "npz x.npz", "model": "small_cnn", "device": "cpu", "seeds": "momentum: 2"}
    (root / "cpu" / "data" / "provenance.json").write_text(json.dumps(info))
    (root / "cpu" / "tables" / "momentum.md").write_text("| arm | acc |\n| :--- | ---: |\n| β = 0.9 | 47.2 |\n")


def test_headline_block_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    fake_profile(tmp_path / "reports")
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- headline:cpu -->\nstale 12.3\n<!-- /headline -->\n\n## Install\n")
    assert update_readme_headline(readme, tmp_path / "reports", "cpu")
    text = readme.read_text()
    assert "stale 12.3" not in text
    assert "| β = 0.9 | 47.2 |" in text and "reports/cpu/figures/momentum.png" in text
    assert text.startswith("# title\n\n<!-- headline:cpu -->") and text.endswith("<!-- /headline -->\n\n## Install\n")
    once = text
    update_readme_headline(readme, tmp_path / "reports", "cpu")
    assert readme.read_text() == once  # refreshing twice changes nothing


def test_no_markers_or_reports_elsewhere_leave_the_readme_alone(tmp_path: Path) -> None:
    fake_profile(tmp_path / "elsewhere" / "reports")
    readme = tmp_path / "repo" / "README.md"
    readme.parent.mkdir()
    readme.write_text("# no block\n")
    assert not update_readme_headline(readme, tmp_path / "elsewhere" / "reports", "cpu")
    readme.write_text("<!-- headline:cpu -->\n<!-- /headline -->\n")
    assert not update_readme_headline(readme, tmp_path / "elsewhere" / "reports", "cpu")  # not under the repo
    assert readme.read_text() == "<!-- headline:cpu -->\n<!-- /headline -->\n"


def test_the_explicit_step_refreshes_every_profile_with_a_page(tmp_path: Path) -> None:
    """`python -m sgdtricks.reports --no-build --readme README.md`, the step make reproduce and make reports run."""
    fake_profile(tmp_path / "reports")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- headline:cpu -->\nstale\n<!-- /headline -->\n")
    assert reports_main(["--no-build", "--out", str(tmp_path / "reports"), "--readme", str(readme)]) == 0
    assert "stale" not in readme.read_text() and "| β = 0.9 | 47.2 |" in readme.read_text()
