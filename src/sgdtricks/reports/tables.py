"""Tables: the numbers as CSV, the same table formatted as Markdown (for the README) and LaTeX (booktabs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$",
                 "{": r"\{", "}": r"\}", "±": r"$\pm$", "−": "$-$", "β": r"$\beta$", "Δ": r"$\Delta$",
                 "≥": r"$\geq$", "≤": r"$\leq$", "×": r"$\times$", "—": "---", "α": r"$\alpha$", "γ": r"$\gamma$",
                 "η": r"$\eta$", "κ": r"$\kappa$", "λ": r"$\lambda$", "√": r"$\surd$", "≈": r"$\approx$",
                 "₀": r"$_0$"}


@dataclass
class Table:
    """`numbers` is written as CSV; `display` (formatted strings, same rows) as Markdown and LaTeX."""

    name: str
    caption: str
    numbers: pd.DataFrame
    display: pd.DataFrame


def mean_std(mean: float, std: float, scale: float = 100.0, digits: int = 1) -> str:
    """'45.3 ± 1.2' (std over seeds); '45.3' with one seed; '—' with none."""
    if not math.isfinite(mean):
        return "—"
    text = f"{scale * mean:.{digits}f}"
    return f"{text} ± {scale * std:.{digits}f}" if math.isfinite(std) else text


def interval(mean: float, lo: float, hi: float, scale: float = 100.0, digits: int = 1) -> str:
    """'+2.1 [−0.4, +4.6]'; without an interval (one pair) just '+2.1'."""
    if not math.isfinite(mean):
        return "—"

    def signed(x: float) -> str:
        return f"{scale * x:+.{digits}f}".replace("-", "−")

    return f"{signed(mean)} [{signed(lo)}, {signed(hi)}]" if math.isfinite(lo) else signed(mean)


def markdown(display: pd.DataFrame) -> str:
    """A GitHub table: first column left-aligned, the others right-aligned (they hold numbers); cells as written."""
    align = ["left"] + ["right"] * (len(display.columns) - 1)
    cells = display.astype(str).apply(lambda column: column.str.replace("|", "\\|"))  # a | would split the cell
    return cells.to_markdown(index=False, colalign=align, disable_numparse=True) + "\n"


def latex_escape(text: object) -> str:
    """LaTeX's special characters, and the Unicode symbols of our tables as math (pdflatex has no glyphs for
    β or Δ). pandas' own escape="latex" leaves those symbols, and captions unescaped."""
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table environment (needs \\usepackage{booktabs}), laid out by pandas' Styler."""
    styler = display.style.hide(axis="index").format(latex_escape).format_index(latex_escape, axis=1)
    return styler.to_latex(hrules=True, caption=latex_escape(caption), label=f"tab:{label}", position="t",
                           position_float="centering", column_format="l" + "r" * (len(display.columns) - 1))


def write_table(table: Table, out_dir: Path) -> list[Path]:
    """tables/NAME.csv, NAME.md and NAME.tex."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")]
    table.numbers.to_csv(paths[0], index=False)
    paths[1].write_text(markdown(table.display))
    paths[2].write_text(latex(table.display, table.caption, table.name.replace("_", "-")))
    return paths
