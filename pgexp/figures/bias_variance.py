"""Figure ``bias_variance``: the MSE of each estimator~baseline at the reference cell, and what it is made of.

Per environment (and θ), at the reference horizon and batch size (metrics rows with ``sweep == "both"``),
two axes share one row per pair:

* left, log scale: ``mse`` = ``E‖ĝ − ∇J‖²`` (squared gradient-norm units) with its 95 % interval
  ``[mse_lo, mse_hi]``: a point, not a bar, because a bar's length on a log axis means nothing;
* right, linear ``[0, 1]``: the shares of the MSE, ``tr Cov[ĝ] / (tr Cov[ĝ] + bias²)`` (solid) and
  ``bias² / (tr Cov[ĝ] + bias²)`` (hatched), stacked so that the bar's length is its share.  ``bias_sq``
  is the unbiased estimate of ``‖E ĝ − ∇J‖²``, which can come out negative; it is clipped at 0 here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pgexp.figures import data
from pgexp.figures.layout import figure_with_legend, log_ticks, padded_limits
from pgexp.figures.style import FIG_WIDTH, no_data, pair_label, pair_style, print_scale, style

TITLE = "Bias–variance decomposition at the reference cell"
_ROW_IN = 0.19  # inches per pair


def reference_rows(sub: pd.DataFrame, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per pair (NaN where the panel lacks it), in the order of ``pairs``."""
    keys = [c for c in ("theta_name", "horizon", "batch_size", "seed") if c in sub]
    first = sub.sort_values(keys).drop_duplicates(["estimator", "baseline"]).set_index(["estimator", "baseline"])
    return first.reindex(pd.MultiIndex.from_tuples(pairs, names=["estimator", "baseline"]))


def plot_mse(ax, rows: pd.DataFrame, y: np.ndarray, scale: float) -> None:
    """MSE points with their 95 % intervals, one per row of ``rows`` at height ``y``."""
    mse, lo, hi = (data.col(rows, c) for c in ("mse", "mse_lo", "mse_hi"))
    for j, (est, base) in enumerate(rows.index):
        if not (np.isfinite(mse[j]) and mse[j] > 0):
            continue
        st = pair_style(est, base)
        low = lo[j] if np.isfinite(lo[j]) and lo[j] > 0 else np.nan
        ax.errorbar(mse[j], y[j], xerr=data.ci_err(mse[j:j + 1], np.array([low]), hi[j:j + 1]), color=st["color"],
                    marker=st["marker"], markersize=4.2 * scale, markeredgecolor="white", markeredgewidth=0.3 * scale,
                    elinewidth=0.9 * scale, capsize=2.0 * scale, linestyle="none", zorder=3)
    ax.set_xscale("log")
    limits = padded_limits(np.concatenate([mse, lo, hi]), log=True, pad=1.6)
    if limits is not None:
        ax.set_xlim(*limits)
        log_ticks(ax, *limits, max_ticks=4, axis="x")
    ax.set_xlabel("MSE (log scale)")


def plot_shares(ax, rows: pd.DataFrame, y: np.ndarray, scale: float) -> None:
    """Stacked shares of the MSE: variance (solid) then squared bias (hatched), on ``[0, 1]``."""
    var = np.clip(data.col(rows, "trace_cov"), 0, None)
    bias = np.clip(np.nan_to_num(data.col(rows, "bias_sq")), 0, None)
    total = var + bias
    ok = np.isfinite(total) & (total > 0)
    v_share = np.where(ok, var / np.where(ok, total, 1.0), 0.0)
    for j, (est, base) in enumerate(rows.index):
        if not ok[j]:
            continue
        color = pair_style(est, base)["color"]
        ax.barh(y[j], v_share[j], height=0.66, color=color, edgecolor=color, linewidth=0.5 * scale, zorder=2)
        if v_share[j] < 1:
            ax.barh(y[j], 1 - v_share[j], left=v_share[j], height=0.66, color="white", edgecolor=color,
                    hatch="/////", linewidth=0.7 * scale, zorder=2)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1], ["0", "½", "1"])
    ax.set_xlabel("share of MSE")


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    df = data.rows_of(tables.get("metrics"), ("both",))
    if df.empty or not (data.col(df, "mse") > 0).any():
        return no_data(TITLE, "no metrics rows at the reference cell (sweep 'both') with a positive MSE")
    panels = data.panels(df)
    pairs = data.pairs(df)
    labels = [pair_label(e, b) for e, b in pairs]
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    label_in = 0.066 * max(len(s) for s in labels)  # the tick labels' width, inches at 7.5 pt
    width = max(FIG_WIDTH, label_in + 2.9 * ncols)
    scale = print_scale(width)
    panel_h = (0.55 + _ROW_IN * len(pairs)) * scale
    cells = {data.reference_cell(sub) for _, sub in panels}
    with style(scale):
        legend = [(["MSE with 95% CI", "variance share tr Cov[ĝ] / MSE", "squared-bias share ‖E ĝ − ∇J‖² / MSE"],
                   [Line2D([], [], color="0.3", marker="o", markersize=4.2 * scale, linewidth=0.9 * scale),
                    Patch(facecolor="0.45", edgecolor="0.45"),
                    Patch(facecolor="white", edgecolor="0.45", hatch="/////")])]
        title = f"reference cell: {cells.pop()}" if len(cells) == 1 and "" not in cells else None
        fig, grid = figure_with_legend(width, nrows * panel_h + 0.1, legend, scale, title=title)
        axes = grid.subplots(nrows, 2 * ncols, squeeze=False, gridspec_kw={"width_ratios": [1.5, 1] * ncols})
        y = np.arange(len(pairs))[::-1].astype(float)  # the first pair on top
        for k, (panel_title, sub) in enumerate(panels):
            r, c = divmod(k, ncols)
            ax_m, ax_s = axes[r, 2 * c], axes[r, 2 * c + 1]
            rows = reference_rows(sub, pairs)
            plot_mse(ax_m, rows, y, scale)
            plot_shares(ax_s, rows, y, scale)
            for ax in (ax_m, ax_s):
                ax.set_ylim(-0.6, len(pairs) - 0.4)
                ax.set_yticks(y, labels if ax is ax_m and c == 0 else [""] * len(pairs))
                ax.tick_params(axis="y", length=0)
                ax.grid(axis="y", visible=False)
            where = "" if title else f"  ({data.reference_cell(sub)})"
            ax_m.set_title(f"{panel_title}{where}", loc="left")
        for ax in axes.flat[2 * len(panels):]:
            ax.set_visible(False)
        return fig
