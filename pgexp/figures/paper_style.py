"""What the paper-study figures share: the look (seaborn ``whitegrid``), a fresh figure, step-size labels, a
"no data" figure, and reading curves/summary tables by arm.  Draw functions only draw: ``draw(tables) ->
Figure`` with ``tables`` a dict of DataFrames; nothing here writes files."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH = 7.0  # inches, full text width
PALETTE = sns.color_palette("colorblind", 8)
RC: dict[str, Any] = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper"), "font.family": "sans-serif",
                      "font.sans-serif": ["DejaVu Sans", "Arial", "Liberation Sans", "sans-serif"],
                      "axes.titlesize": 9.5, "axes.labelsize": 9.0, "xtick.labelsize": 8.0, "ytick.labelsize": 8.0,
                      "legend.fontsize": 7.5, "legend.frameon": False, "grid.color": "0.9", "axes.edgecolor": "0.6",
                      "lines.linewidth": 1.2, "pdf.fonttype": 42}


@contextmanager
def style() -> Iterator[None]:
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def no_data(title: str, note: str) -> Figure:
    """A small figure that says there was nothing to draw."""
    with style():
        fig = new_figure(WIDTH, 2.0)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="0.4")
    return fig


def eta_label(x: float) -> str:
    """``2^-13`` for small or large powers of two (``|k| >= 4``), else ``%g`` (``0.5``, ``2``)."""
    k = math.log2(x) if x > 0 else float("nan")
    if np.isfinite(k) and abs(k - round(k)) < 1e-12 and abs(round(k)) >= 4:
        return f"2^{round(k)}"
    return f"{x:g}"


def offset_label(e: float) -> str:
    """``b*``, ``b* + 1``, ``b* − 1``."""
    return "b*" if e == 0 else f"b* {'+' if e > 0 else '−'} {abs(e):g}"


def arm_rows(df: pd.DataFrame | None, arm: str) -> pd.DataFrame:
    """The rows of one arm (empty when the table or the arm is missing)."""
    if df is None or df.empty or "arm" not in df:
        return pd.DataFrame()
    return df[df["arm"] == arm]


def final_value(curves: pd.DataFrame | None, arm: str, column: str = "J") -> float:
    """The value of ``column`` at the last iteration of an arm's (single) configuration, or NaN."""
    rows = arm_rows(curves, arm)
    if rows.empty:
        return float("nan")
    return float(rows.sort_values("iteration")[column].iloc[-1])
