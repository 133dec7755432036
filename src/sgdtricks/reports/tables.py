"""Tables: the numbers as CSV, the same table formatted as Markdown (for the README) and LaTeX (booktabs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$",
                 "{": r"\{", "}": r"\}", "±": r"$\pm$", "−": "$-$", "β": r"$\beta$", "Δ": r"$\Delta$",
                 "≥": r"$\geq$", "×": r"$\times$", "—": "---"}


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
    """A GitHub table: first column left-aligned, the others right-aligned (they hold numbers)."""
    header = "| " + " | ".join(display.columns) + " |"
    rule = "| " + " | ".join([":---"] + ["---:"] * (len(display.columns) - 1)) + " |"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in display.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table environment (needs \\usepackage{booktabs})."""
    spec = "l" + "r" * (len(display.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}", rf"\label{{tab:{label}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(c) for c in display.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(v) for v in row) + r" \\" for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(table: Table, out_dir: Path) -> list[Path]:
    """tables/NAME.csv, NAME.md and NAME.tex."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")]
    table.numbers.to_csv(paths[0], index=False)
    paths[1].write_text(markdown(table.display))
    paths[2].write_text(latex(table.display, table.caption, table.name.replace("_", "-")))
    return paths
