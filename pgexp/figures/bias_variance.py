"""Figure ``bias_variance``: the MSE of each estimator~baseline at the reference cell, and its squared bias.

One panel per environment (and θ), at most :data:`MAX_COLS` side by side; panels with the same pairs share a
block (:func:`~pgexp.figures.layout.pack_blocks`: in the default study the uniform-policy panels, the
random-policy panels, the rest), one row per pair the block's panels have (the labels once, on the left of
each block), at the reference horizon and batch size (metrics rows with ``sweep == "both"``; the cell most
panels share is stated once, a panel whose cell differs says so under its title), on a log axis (squared
gradient-norm units).  The figure's height follows its rows (:data:`_ROW_IN` per pair, capped at a page):

* filled: ``mse`` = ``E‖ĝ − ∇J‖²`` = ``tr Cov[ĝ] + ‖E ĝ − ∇J‖²`` with its 95 % interval ``[mse_lo, mse_hi]``:
  a point, not a bar, because a bar's length on a log axis means nothing;
* open, same colour: the squared bias ``bias_sq`` = ``‖E ĝ − ∇J‖²`` with its interval, where that interval
  excludes 0 (a bias the replicates resolve).  The gap to the MSE point is the variance's share: touching,
  the bias is the MSE; a decade to the left, the bias is a tenth of it.

Each panel's x range is its points' range with intervals up to a quarter of it further
(:func:`~pgexp.figures.layout.robust_limits`); an interval the axis cuts ends in a triangle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures import data
from pgexp.figures.layout import (
    figure_with_legend,
    fixed_axes,
    legend_height,
    log_ticks,
    pack_blocks,
    panel_label,
    robust_limits,
)
from pgexp.figures.style import FIG_WIDTH, max_height, no_data, pair_label, pair_style, print_scale, style

TITLE = "Bias–variance decomposition at the reference cell"
MAX_COLS = 5  # environments side by side (a 7 pt pair label and five panels fill a page's width)
_ROW_IN = 0.13  # inches per pair, at print size: a 7 pt label and a gap
_HEAD_IN = 0.6  # inches per block for a one-line panel title and the x tick labels, at print size
_TITLE_LINE_IN = 0.15  # inches per further line of a block's tallest panel title, at print size
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
    order = data.pairs(df)
    blocks = pack_blocks([frozenset(data.pairs(sub)) for _, sub in panels], min(len(panels), MAX_COLS))
    block_pairs = [[p for p in order if any(p in set(data.pairs(panels[k][1])) for k in block)] for block in blocks]
    labels = [pair_label(e, b) for e, b in order]
    ncols = max(len(block) for block in blocks)
    label_in = 0.058 * max(len(s) for s in labels)  # the tick labels' width, inches at 7 pt
    width = max(FIG_WIDTH if len(panels) > 1 else 4.6, label_in + 0.3 + _PANEL_IN * ncols)
    scale = print_scale(width)
    cells = [data.reference_cell(sub) for _, sub in panels]
    common = data.common_cell(cells)
    title = f"reference cell: {common}{' unless a panel says otherwise' if set(cells) != {common} else ''}; " \
        "squared gradient-norm units, log scale" if common else None
    with style(scale):
        legend = [(["MSE E‖ĝ − ∇J‖², 95% CI", "squared bias ‖E ĝ − ∇J‖² (where its 95% CI excludes 0)"],
                   [Line2D([], [], color="0.3", marker="o", markersize=4.0 * scale, linewidth=0.8 * scale),
                    Line2D([], [], color="0.3", marker="o", markersize=4.0 * scale, linewidth=0.8 * scale,
                           markerfacecolor="white")])]
        rows = [len(pairs) for pairs in block_pairs]
        titles = [panel_label(t, 14) + ("\n" + c.replace(", ", ",\n") if c and c != common else "")
                  for (t, _), c in zip(panels, cells)]
        heads = [_HEAD_IN + _TITLE_LINE_IN * max(titles[k].count("\n") for k in block) for block in blocks]
        wanted = (sum(heads) + _ROW_IN * sum(rows)) * scale
        room = max_height(width) - legend_height(legend, width, scale, title)
        fig, grid = figure_with_legend(width, min(wanted, room), legend, scale, title=title)
        axes = grid.subplots(len(blocks), ncols, squeeze=False,
                             gridspec_kw={"height_ratios": [n + 0.2 for n in rows]})  # the y limits' span
        fixed_axes(axes)
        for b, (block, pairs) in enumerate(zip(blocks, block_pairs)):
            y = np.arange(len(pairs))[::-1].astype(float)  # the first pair on top
            for c, ax in enumerate(axes[b]):
                if c >= len(block):
                    ax.set_visible(False)
                    continue
                k = block[c]
                plot_panel(ax, reference_rows(panels[k][1], pairs), y, scale)
                ax.set_ylim(-0.6, len(pairs) - 0.4)
                ax.set_yticks(y, [pair_label(*p) for p in pairs] if c == 0 else [""] * len(pairs),
                              fontsize=7.0 * scale)
                ax.tick_params(axis="y", length=0)
                ax.grid(axis="y", visible=False)
                ax.set_title(titles[k])
        grid.supxlabel("MSE and squared bias (squared gradient-norm units, log scale)", fontsize=8.5 * scale)
        return fig
