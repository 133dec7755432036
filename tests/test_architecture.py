"""The package's layers (README, "Architecture"): every import of sgdtricks code, lazy ones inside functions too,
points to a lower layer or stays inside its own package. So there is no import cycle between packages, and the
training core never imports the studies or the reports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "src" / "sgdtricks"
# Top-level module or package -> layer; an import must go to a lower layer (or within the same module/package).
LAYERS = {
    "__init__": 0, "errors": 0, "paths": 0, "models": 0, "optim": 0, "sharpness": 0, "plotting": 0,
    "record": 1,
    "config": 2,
    "run": 3,
    "reports": 4, "bench": 4,
    "quadratic": 5,  # its tables go through reports.tables
    "study": 6,
    "train": 7, "reproduce": 7, "dashboard": 7,  # public entry points (the dashboard saves through study.wandb_cli)
}


def top(module: str) -> str:
    """`sgdtricks.run.loop` -> `run`."""
    return module.split(".")[1] if module.count(".") else "__init__"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every `sgdtricks...` import in the file, at any depth of the code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "sgdtricks" else [f"sgdtricks.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("sgdtricks")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("sgdtricks")]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    source = top("sgdtricks." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    assert source in LAYERS, f"{source}: give this new module or package a layer in LAYERS (and in README)"
    wrong = [f"line {line}: {module}" for line, module in imports(path)
             if top(module) != source and LAYERS.get(top(module), 99) >= LAYERS[source]]
    assert not wrong, f"{path.relative_to(PACKAGE)} (layer {LAYERS[source]}) imports upwards or sideways: {wrong}"


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    """A guard for the guard: an import inside a function counts."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from sgdtricks.reports.collect import runs_from_records\n")
    assert imports(probe) == [(2, "sgdtricks.reports.collect")]
