"""Figure ``variance_along_training``: estimate quality at checkpoints of the exact gradient-ascent path.

Every estimator is measured at the same policies: the checkpoints of the deterministic exact path.
Two rows by one column per environment; x = the checkpoint's iteration (``checkpoint``, else the
digits of ``theta_name`` ``"ckpt<t>"``).  Top: ``var_per_traj`` (tr Cov[g] of one trajectory's
estimate, squared gradient-norm units, log scale); bottom: ``cosine``, the mean over batches of
cos(ĝ, ∇J) at the table's batch size.  One line per estimator~baseline with 95 % intervals, dodged
sideways.  Where a panel holds several horizons or batch sizes, the most common combination is drawn.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures import data
from pgexp.figures.layout import fixed_axes, log_ticks, robust_limits, wrapped_title
from pgexp.figures.style import (
    COSINE_LABEL,
    FIG_WIDTH,
    VAR_LABEL,
    new_figure,
    no_data,
    pair_label,
    pair_style,
    print_scale,
    style,
)

TITLE = "Gradient-estimate quality along training"


def checkpoints(df: pd.DataFrame) -> np.ndarray:
    """The checkpoint iteration of each row: ``checkpoint``, else the digits of ``theta_name`` ``"ckpt<t>"``."""
    ck = pd.Series(data.col(df, "checkpoint"), index=df.index)
    if "theta_name" in df:
        ck = ck.fillna(pd.to_numeric(df["theta_name"].astype(str).str.extract(r"^ckpt(\d+)$")[0], errors="coerce"))
    return ck.to_numpy(dtype=float)


def common_cell(sub: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the most common ``(horizon, batch_size)`` of a panel, and its ``"H = .., N = .."``."""
    keys = [c for c in ("horizon", "batch_size") if c in sub]
    if not keys:
        return sub, ""
    top = sub[keys].astype(str).value_counts().index[0]
    rows = sub[(sub[keys].astype(str) == pd.Series(top if isinstance(top, tuple) else (top,), index=keys)).all(axis=1)]
    return rows, data.reference_cell(rows)


def plot_panel(ax_v, ax_c, sub: pd.DataFrame, pairs: list[tuple[str, str]],
               scale: float) -> tuple[dict[str, list], dict[str, list]]:
    """One environment's two panels; returns the values drawn and the interval ends, per metric."""
    cks = np.unique(sub["_ck"])
    span = float(cks.max() - cks.min()) if len(cks) > 1 else 1.0
    here = [p for p in pairs if p in set(data.pairs(sub))]
    drawn: dict[str, list] = {"var_per_traj": [], "cosine": []}
    ends: dict[str, list] = {"var_per_traj": [], "cosine": []}
    for i, (est, base) in enumerate(here):
        st = pair_style(est, base)
        pts = data.select(sub, est, base).sort_values("_ck").drop_duplicates("_ck")
        x = pts["_ck"].to_numpy(float) + (i - (len(here) - 1) / 2) * 0.008 * span
        for ax, m in ((ax_v, "var_per_traj"), (ax_c, "cosine")):
            y, lo, hi = (data.col(pts, c) for c in (m, f"{m}_lo", f"{m}_hi"))
            ok = np.isfinite(y) & ((y > 0) if m == "var_per_traj" else True)
            lo = np.where(lo > 0, lo, np.nan) if m == "var_per_traj" else lo
            if ok.any():
                ax.errorbar(x[ok], y[ok], yerr=data.ci_err(y[ok], lo[ok], hi[ok]), color=st["color"],
                            marker=st["marker"], markersize=3.6 * scale, linewidth=0.9 * scale, elinewidth=0.6 * scale,
                            capsize=1.5 * scale, markeredgecolor="white", markeredgewidth=0.3 * scale, zorder=3)
                drawn[m].append(y[ok])
                ends[m] += [lo[ok], hi[ok]]
    ax_c.axhline(1.0, color="0.55", linewidth=0.6 * scale, zorder=0)
    ax_c.set_xticks(cks, [str(int(t)) for t in cks])
    ax_c.set_xlim(cks.min() - 0.06 * span, cks.max() + 0.06 * span)  # one checkpoint: span 1
    ax_v.tick_params(labelbottom=False)
    return drawn, ends


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    df = data.rows_of(tables.get("metrics"))
    if len(df):
        df = df.assign(_ck=checkpoints(df))
        df = df[np.isfinite(df["_ck"])]
    if df.empty:
        return no_data(TITLE, "no metrics rows at training checkpoints (columns checkpoint or theta_name 'ckpt<t>')")
    panels = [(env, *common_cell(sub)) for env, sub in df.groupby(df["env_name"].astype(str), sort=True)]
    cells = {cell for *_, cell in panels}
    pairs = data.pairs(df)
    n = len(panels)
    width = max(FIG_WIDTH if n > 1 else 4.8, 2.3 * n + 0.8)
    scale = print_scale(width)
    labels = [pair_label(e, b) for e, b in pairs]
    ncols = max(1, min(len(labels), 3, int(width / scale // (0.45 + 0.058 * max(map(len, labels))))))
    panels_height = (2 * 1.9 + 0.35) * scale
    legend_height = (0.12 + 0.165 * (math.ceil(len(pairs) / ncols) + 1)) * scale
    with style(scale):
        fig = new_figure(width, panels_height + legend_height)
        grid, strip = fig.subfigures(2, 1, squeeze=False, height_ratios=[panels_height, legend_height],
                                     hspace=0.0)[:, 0]
        axes = grid.subplots(2, n, squeeze=False, sharex="col")
        fixed_axes(axes)
        for k, (env, sub, cell) in enumerate(panels):
            drawn, ends = plot_panel(axes[0, k], axes[1, k], sub, pairs, scale)
            axes[0, k].set_yscale("log")
            flat = {m: (np.concatenate(drawn[m] or [np.array([])]), np.concatenate(ends[m] or [np.array([])]))
                    for m in drawn}
            limits = robust_limits(*flat["var_per_traj"], flat["var_per_traj"][1], log=True, pad=2.0)
            if limits is not None:
                axes[0, k].set_ylim(*limits)
                log_ticks(axes[0, k], *limits)
            cos = robust_limits(*flat["cosine"], flat["cosine"][1], log=False, pad=0.06, min_span=0.1)
            axes[1, k].set_ylim(*((max(-1.05, cos[0]), 1.0 + max(0.03, 0.06 * (1 - cos[0]))) if cos else (-1.05, 1.05)))
            wrapped_title(axes[0, k], env if len(cells) == 1 or not cell else f"{env}\n{cell}", n, scale)
        grid.supxlabel("checkpoint: iteration of the exact gradient-ascent path",
                       fontsize=matplotlib.rcParams["axes.labelsize"])
        axes[0, 0].set_ylabel(VAR_LABEL)
        axes[1, 0].set_ylabel(COSINE_LABEL)
        grid.align_ylabels(axes[:, 0])
        handles = [Line2D([], [], linewidth=scale, markersize=4 * scale, markeredgecolor="white", **pair_style(e, b))
                   for e, b in pairs]
        cell = f"estimates at {cells.pop()}; " if len(cells) == 1 and "" not in cells else ""
        strip.legend(handles, labels, loc="center", ncols=ncols, handlelength=2.4, columnspacing=1.5, borderaxespad=0.0,
                     borderpad=0.1, title=f"{cell}error bars: 95% CIs; points dodged sideways for legibility")
        return fig
