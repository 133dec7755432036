"""One figure style for every report: paper-sized, labelled, colour-blind safe, saved as PDF and PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # reports are built headless
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

PALETTE = "colorblind"  # seaborn's colour-blind-safe qualitative palette (Okabe-Ito-like)
SEQUENTIAL = "viridis"  # perceptually uniform, readable in grey and by colour-blind readers


def set_paper_style() -> None:
    """Seaborn's paper context with a white grid; fonts that stay legible at single-column width."""
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1,
                  rc={"figure.dpi": 150, "savefig.bbox": "tight", "pdf.fonttype": 42, "ps.fonttype": 42})


def save_figure(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """Write `name`.pdf (vector, for the paper) and `name`.png (for README pages and W&B); close the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.pdf", out_dir / f"{name}.png"]
    for path in paths:
        fig.savefig(path, dpi=200 if path.suffix == ".png" else None, metadata={"CreationDate": None}
                    if path.suffix == ".pdf" else None)
    plt.close(fig)
    return paths
