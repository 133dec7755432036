"""Curves over epochs: the mean over seeds with a 95% t-band, and an x where a diverged run's curve ends."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import matplotlib.transforms as mtransforms
from matplotlib.axis import Axis
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter
import numpy as np
import pandas as pd
import seaborn as sns

from sgdtricks.plotting import PALETTE, SEQUENTIAL
from sgdtricks.reports.stats import t_interval

LABELS = {"train_loss": "train loss", "val_loss": "validation loss", "test_acc": "test accuracy (%)",
          "val_acc": "validation accuracy (%)", "lr": "learning rate"}
# Fewer seeds draw no band: a t-interval over 2 seeds uses t(1) = 12.7 and spans most of the axis.
MIN_BAND_SEEDS = 3
# Dash patterns (matplotlib (on, off, ...) in line widths): each label differs in colour and in dashes.
DASHES = [(1, 0), (4, 1.5), (1, 1), (3, 1, 1, 1), (6, 2), (2, 2, 6, 2), (1, 2), (8, 1, 1, 1)]


def t_band(values: pd.Series) -> tuple[float, float]:
    """seaborn errorbar callable: the 95% t-interval of the mean over seeds (a line without band for one seed)."""
    mean, half = t_interval(values.to_numpy())
    half = 0.0 if not math.isfinite(half) else half
    return mean - half, mean + half


def palette(labels: Sequence[str], sequential: bool = False) -> dict[str, tuple[float, float, float]]:
    colors = sns.color_palette(SEQUENTIAL if sequential else PALETTE, len(labels))
    return dict(zip(labels, colors))


def dashes(colors: dict[str, tuple]) -> dict[str, tuple]:
    return {label: DASHES[i % len(DASHES)] for i, label in enumerate(colors)}


def curves(ax: plt.Axes, frame: pd.DataFrame, y: str, colors: dict[str, tuple], log: bool = False) -> None:
    """`y` per epoch for each label of `colors`: mean over seeds and its 95% t-band where the label has at least
    MIN_BAND_SEEDS seeds, else every seed's curve; x where a diverged run ends.

    A diverged run stops at the epoch of its non-finite loss; that row is left out, so its curve ends at its last
    finite epoch, where the x goes (at the top of the panel when it diverged in its first epoch).
    """
    finite = frame[np.isfinite(frame["train_loss"].to_numpy(dtype=float))]
    if y.endswith("_acc"):
        finite = finite.assign(**{y: 100 * finite[y]})
    seeds = finite.groupby("label")["seed"].nunique()
    style = dict(x="epoch", y=y, hue="label", hue_order=list(colors), palette=colors, style="label",
                 style_order=list(colors), dashes=dashes(colors), ax=ax, legend=False)
    banded = finite["label"].map(seeds) >= MIN_BAND_SEEDS
    if banded.any():
        sns.lineplot(finite[banded], errorbar=t_band, **style)
    if not banded.all():  # too few seeds for an interval: each seed's own curve, thinner, no band
        sns.lineplot(finite[~banded], units="run", estimator=None, linewidth=0.8, **style)
    top = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    diverged = frame.loc[frame["status"] == "diverged", ["label", "run"]].drop_duplicates()
    for label, run in diverged.itertuples(index=False):
        kept = finite[finite["run"] == run].sort_values("epoch")
        x, value, transform = (kept["epoch"].iloc[-1], kept[y].iloc[-1], ax.transData) if len(kept) else (1, 0.97, top)
        ax.plot(x, value, marker="x", markersize=9, markeredgewidth=2, color=colors[label], linestyle="none",
                transform=transform, zorder=5)
    if log:
        log_axis(ax.yaxis)
    if y.endswith("_acc"):
        clip_percent(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(LABELS.get(y, y))


def clip_percent(ax: plt.Axes) -> None:
    """A wide interval over few seeds may reach past 0% or 100%: show only the possible range."""
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, 0), min(high, 100))


def log_axis(axis: Axis) -> None:
    """A log scale labelled with plain numbers (0.05, not 5x10^-2); minor labels too within one decade."""
    axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")
    axis.set_major_formatter(FormatStrFormatter("%g"))
    low, high = axis.get_view_interval()
    axis.set_minor_formatter(FormatStrFormatter("%g") if high / low < 10 else NullFormatter())


def legend(fig: plt.Figure, colors: dict[str, tuple], title: str, diverged: bool) -> None:
    """One legend for the figure, below the panels; an x entry when some run diverged."""
    handles = [plt.Line2D([], [], color=c, lw=2, dashes=d, label=label)
               for (label, c), d in zip(colors.items(), dashes(colors).values())]
    if diverged:
        handles.append(plt.Line2D([], [], color="0.3", marker="x", markeredgewidth=2, linestyle="none",
                                  label="run diverged (its curve ends)"))
    fig.legend(handles=handles, title=title, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)


def curve_figure(frame: pd.DataFrame, metrics: Sequence[str], colors: dict[str, tuple], title: str,
                 legend_title: str, log: Sequence[str] = ("train_loss",)) -> plt.Figure:
    """One panel per metric, side by side, the labels of `colors` as lines."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 3.2), layout="constrained", squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        curves(ax, frame, metric, colors, log=metric in log)
    fig.suptitle(title, fontsize=10)
    legend(fig, colors, legend_title, diverged=(frame["status"] == "diverged").any())
    return fig


def seeds_note(frame: pd.DataFrame, cell: Sequence[str] = ("label",)) -> str:
    """'mean and 95% t-interval over n = 5 seeds' (or 'n = 4-5' when cells differ); 'each seed's curve (n = 2)'
    when no cell has MIN_BAND_SEEDS seeds."""
    seeds = frame.groupby(list(cell))["seed"].nunique()
    n = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}-{seeds.max()}"
    if seeds.max() < MIN_BAND_SEEDS:
        return f"each seed's curve (n = {n} seeds, too few for an interval)"
    fewer = "" if seeds.min() >= MIN_BAND_SEEDS else f"; cells with fewer than {MIN_BAND_SEEDS} seeds: each seed's curve"
    return f"mean and 95% t-interval over n = {n} seeds{fewer}"
