"""The quadratic study's two tables, in the project's table format (sgdtricks.reports.tables: CSV of the
numbers, Markdown and LaTeX of the formatted cells)."""

from __future__ import annotations

import pandas as pd

from sgdtricks.quadratic.study import DROP, TOL_TEXT
from sgdtricks.reports.tables import Table


def formatted(numbers: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The cells of `numbers` as strings: {column: (header, format)}, in that order."""
    return pd.DataFrame({header: [fmt.format(v) for v in numbers[col]] for col, (header, fmt) in columns.items()})


def condition_table(numbers: pd.DataFrame) -> Table:
    """Best rate without and with momentum per kappa (rows of study.condition_rows), iterations to TOL."""
    columns = {
        "kappa": ("κ", "{:g}"),
        "gd_rate_theory": ("GD rate (κ−1)/(κ+1)", "{:.6f}"),
        "gd_rate_measured": ("GD rate measured", "{:.6f}"),
        "gd_iterations": (f"GD iterations to {TOL_TEXT}", "{:d}"),
        "hb_alpha": ("momentum α·λ_max", "{:.4f}"),
        "hb_beta": ("momentum β", "{:.4f}"),
        "hb_rate_theory": ("momentum rate (√κ−1)/(√κ+1)", "{:.6f}"),
        "hb_rate_measured": ("momentum rate measured", "{:.6f}"),
        "hb_iterations": (f"momentum iterations to {TOL_TEXT}", "{:d}"),
        "speedup": ("speed-up", "{:.1f}×"),
    }
    return Table("quadratic_table", "Best rate without and with momentum against the condition number κ, "
                 f"measured from the iterates beside the closed form, and iterations to {TOL_TEXT}.",
                 numbers, formatted(numbers, columns))


def drop_table(numbers: pd.DataFrame) -> Table:
    """Step length of both momentum forms around the StepLR drop (rows of study.drop_rows)."""
    columns = {
        "step_after_drop": ("iteration after the drop", "{:d}"),
        "lr": ("lr", "{:g}"),
        "heavy_ball_step_ratio": ("step / step before, PyTorch form", "{:.3f}"),
        "velocity_step_ratio": ("step / step before, velocity form", "{:.3f}"),
    }
    return Table("momentum_forms_lr_drop", f"Mean step length after a StepLR drop (lr × {DROP['gamma']:g}, "
                 f"β = {DROP['beta']:g}) over the mean step length before it, for both momentum forms.",
                 numbers, formatted(numbers, columns))
