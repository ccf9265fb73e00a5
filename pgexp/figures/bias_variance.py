"""Figure ``bias_variance``: the MSE of each estimator~baseline at the reference cell, and its squared bias.

One panel per environment (and θ), at most :data:`MAX_COLS` side by side (more wrap into another block
below), one row per pair (the labels once, on the left of each block), at the reference horizon and batch
size (metrics rows with ``sweep == "both"``), on a log axis (squared gradient-norm units):

* filled: ``mse`` = ``E‖ĝ − ∇J‖²`` = ``tr Cov[ĝ] + ‖E ĝ − ∇J‖²`` with its 95 % interval ``[mse_lo, mse_hi]``:
  a point, not a bar, because a bar's length on a log axis means nothing;
* open, same colour: the squared bias ``bias_sq`` = ``‖E ĝ − ∇J‖²`` with its interval, where that interval
  excludes 0 (a bias the replicates resolve).  The gap to the MSE point is the variance's share: touching,
  the bias is the MSE; a decade to the left, the bias is a tenth of it.

Each panel's x range is its points' range with intervals up to a quarter of it further
(:func:`~pgexp.figures.layout.robust_limits`); an interval the axis cuts ends in a triangle.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures import data
from pgexp.figures.layout import figure_with_legend, fixed_axes, legend_height, log_ticks, panel_label, robust_limits
from pgexp.figures.style import FIG_WIDTH, max_height, no_data, pair_label, pair_style, print_scale, style

TITLE = "Bias–variance decomposition at the reference cell"
MAX_COLS = 5  # environments side by side; more wrap into another block
_ROW_IN = 0.13  # inches per pair, at print size
_PANEL_IN = 1.05  # inches per environment column, at print size


def reference_rows(sub: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per pair (NaN where the panel lacks it), in the order of ``pairs``."""
    keys = [c for c in ("theta_name", "horizon", "batch_size", "seed") if c in sub]
    first = sub.sort_values(keys).drop_duplicates(["estimator", "baseline"]).set_index(["estimator", "baseline"])
    return first.reindex(pd.MultiIndex.from_tuples(pairs, names=["estimator", "baseline"]))


def resolved_bias(rows: pd.DataFrame) -> np.ndarray:
    """Whether each pair's squared bias is resolved: its interval's lower end above 0."""
    return np.isfinite(data.col(rows, "bias_sq")) & (data.col(rows, "bias_sq_lo") > 0)


def plot_panel(ax, rows: pd.DataFrame, y: np.ndarray, scale: float) -> tuple[float, float] | None:
    """MSE points (filled) and resolved squared biases (open), each with its 95 % interval, at heights ``y``;
    sets and returns the x limits."""
    mse, lo, hi = (data.col(rows, c) for c in ("mse", "mse_lo", "mse_hi"))
    bias, b_lo, b_hi = (data.col(rows, c) for c in ("bias_sq", "bias_sq_lo", "bias_sq_hi"))
    shown = resolved_bias(rows)
    ms = 4.0 * scale
    for j, (est, base) in enumerate(rows.index):
        st = pair_style(est, base)
        look = {"color": st["color"], "marker": st["marker"], "markersize": ms, "linestyle": "none",
                "elinewidth": 0.8 * scale, "capsize": 1.6 * scale, "zorder": 3}
        if np.isfinite(mse[j]) and mse[j] > 0:
            low = np.array([lo[j] if lo[j] > 0 else 1e-300])  # a lower end at 0 reaches the axis (marked)
            ax.errorbar(mse[j], y[j], xerr=data.ci_err(mse[j:j + 1], low, hi[j:j + 1]), markeredgecolor="white",
                        markeredgewidth=0.3 * scale, **look)
        if shown[j]:
            ax.errorbar(bias[j], y[j], xerr=data.ci_err(bias[j:j + 1], b_lo[j:j + 1], b_hi[j:j + 1]),
                        markerfacecolor="white", markeredgewidth=0.9 * scale, **{**look, "zorder": 4})
    ax.set_xscale("log")
    points = np.concatenate([mse, np.where(shown, bias, np.nan)])
    ends = np.concatenate([lo, hi, np.where(shown, b_lo, np.nan), np.where(shown, b_hi, np.nan)])
    limits = robust_limits(points, ends, ends, log=True, pad=1.6)
    if limits is not None:
        ax.set_xlim(*limits)
        log_ticks(ax, *limits, max_ticks=3, axis="x")
    return limits


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    df = data.rows_of(tables.get("metrics"), ("both",))
    if df.empty or not (data.col(df, "mse") > 0).any():
        return no_data(TITLE, "no metrics rows at the reference cell (sweep 'both') with a positive MSE")
    panels = data.panels(df)
    pairs = data.pairs(df)
    labels = [pair_label(e, b) for e, b in pairs]
    ncols = min(len(panels), MAX_COLS)
    blocks = math.ceil(len(panels) / ncols)
    label_in = 0.058 * max(len(s) for s in labels)  # the tick labels' width, inches at 7 pt
    width = max(FIG_WIDTH if len(panels) > 1 else 4.6, label_in + 0.3 + _PANEL_IN * ncols)
    scale = print_scale(width)
    cells = {data.reference_cell(sub) for _, sub in panels}
    with style(scale):
        legend = [(["MSE E‖ĝ − ∇J‖², 95% CI", "squared bias ‖E ĝ − ∇J‖² (where its 95% CI excludes 0)"],
                   [Line2D([], [], color="0.3", marker="o", markersize=4.0 * scale, linewidth=0.8 * scale),
                    Line2D([], [], color="0.3", marker="o", markersize=4.0 * scale, linewidth=0.8 * scale,
                           markerfacecolor="white")])]
        title = f"reference cell: {cells.pop()}; squared gradient-norm units, log scale" \
            if len(cells) == 1 and "" not in cells else None
        wanted = blocks * (0.75 + _ROW_IN * len(pairs)) * scale
        room = max_height(width) - legend_height(legend, width, scale, title)
        fig, grid = figure_with_legend(width, min(wanted, room), legend, scale, title=title)
        axes = grid.subplots(blocks, ncols, squeeze=False)
        fixed_axes(axes)
        y = np.arange(len(pairs))[::-1].astype(float)  # the first pair on top
        for k, ax in enumerate(axes.flat):
            if k >= len(panels):
                ax.set_visible(False)
                continue
            panel_title, sub = panels[k]
            plot_panel(ax, reference_rows(sub, pairs), y, scale)
            ax.set_ylim(-0.6, len(pairs) - 0.4)
            ax.set_yticks(y, labels if k % ncols == 0 else [""] * len(pairs), fontsize=7.0 * scale)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="y", visible=False)
            where = "" if title else f"\n{data.reference_cell(sub)}"
            ax.set_title(panel_label(panel_title, 14) + where)
        grid.supxlabel("MSE and squared bias (squared gradient-norm units, log scale)", fontsize=8.5 * scale)
        return fig
