"""Figure ``quality_vs_batch_size``: how good a batch estimate is, against the batch size N.

Columns: environments (and θ where an environment has several), :data:`MAX_COLS` to a row: more
environments wrap into further blocks of rows below; where those blocks would not fit a page with every
metric row at least :data:`MIN_ROW_IN` tall, a block takes more columns
(:func:`~pgexp.figures.layout.wrap_columns`: the default study's 11 panels in two blocks of six).
Rows, against N (trajectories, log scale), from the
metrics rows of the batch sweep (``sweep`` in ``batch``, ``both``):

1. ``cosine``: the mean over batches of cos(ĝ, ∇J) -- it depends on N (1 = aligned);
2. ``rel_mse``: ``‖ĝ − ∇J‖² / ‖∇J‖²`` (log scale), which is ``1 / SNR`` for an unbiased estimator,
   ``SNR = ‖∇J‖² / tr Cov[ĝ]`` of the batch mean; a dotted ``∝ 1/N`` guide shows an unbiased rate;
3. and 4., when the metrics table has ``work_normalized_variance``: the per-trajectory variance
   ``var_per_traj`` beside the work-normalised variance ``tr Cov[ĝ] × env_steps_mean`` -- the variance
   of an estimate times the environment steps it cost, fitting batches included (Glynn & Whitt's
   efficiency: at an equal sample budget the lower one wins).

Each estimator is drawn once, with its lowest-MSE baseline at the reference cell (``sweep == "both"``;
colour = estimator, marker = baseline), plus ``reinforce~none`` dashed with open markers for
comparison.  Bands: 95 % intervals ``[m_lo, m_hi]``; a metric has the same y range in every column (the
points' range, intervals reaching at most a quarter of it further: :func:`~pgexp.figures.layout.robust_limits`;
a band the axis cuts ends in a triangle).

Exact curves (hook for the exact stream): an optional table ``exact_batch`` with ``env_name``,
``estimator``, ``baseline``, ``batch_size`` (and ``theta_name``) and any of the columns ``<metric>_exact``
for the metrics above is drawn as thin solid lines through the Monte-Carlo points of the same pairs.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pgexp.figures import data
from pgexp.figures.layout import (
    BLANK,
    figure_with_legend,
    fixed_axes,
    legend_height,
    log_ticks,
    panel_label,
    robust_limits,
    value_ticks,
    wrap,
    wrap_columns,
)
from pgexp.figures.style import (
    BATCH_LABEL,
    COSINE_LABEL,
    MARKER_PT,
    MC_COSINE_LABEL,
    MC_REL_MSE_LABEL,
    PANEL_H,
    PANEL_W,
    REF_COLOR,
    REL_MSE_LABEL,
    VAR_LABEL,
    WNV_LABEL,
    baseline_label,
    baseline_style,
    estimator_color,
    estimator_label,
    max_height,
    no_data,
    print_scale,
    style,
)

TITLE = "Estimate quality vs batch size"
MAX_COLS = 5  # environments side by side; more wrap into another block of rows (more columns if a page needs it)
MIN_ROW_IN = 0.85  # printed height of a metric row: room for its two-line y label and three decade ticks
TITLE_CHAR_IN = 0.078  # printed width of a title character: a panel title wraps to its panel's width
BLOCK_HEAD_IN = 0.45  # printed height of a block's panel titles and N tick labels
# the y labels on a row as tall as a grid allows (the caption gives the definitions in full)
SHORT_LABELS = {COSINE_LABEL: "cosine\ncos(ĝ, ∇J)", MC_COSINE_LABEL: "cosine to the\nMC reference",
                REL_MSE_LABEL: "relative MSE\n‖ĝ−∇J‖²/‖∇J‖²", MC_REL_MSE_LABEL: "rel. MSE to the\nMC reference",
                VAR_LABEL: "variance\ntr Cov[g]", WNV_LABEL: "work-norm.\nvariance"}
WNV = "work_normalized_variance"
REFERENCE = ("reinforce", "none")


def best_baselines(sub: pd.DataFrame) -> dict[str, str]:
    """Per estimator, its baseline with the lowest ``mse`` at the reference cell (``sweep == "both"``);
    without reference rows, the lowest mean ``rel_mse`` over the sweep.  Ties: registry order."""
    ref, key = sub[sub["sweep"] == "both"], "mse"
    if ref.empty or not np.isfinite(data.col(ref, key)).any():
        ref, key = sub, "rel_mse"
    values = ref.assign(_k=data.col(ref, key))
    means = values[np.isfinite(values["_k"])].groupby(["estimator", "baseline"])["_k"].mean()
    found = {(str(e), str(b)) for e, b in zip(sub["estimator"], sub["baseline"])}
    out = {}
    for est in data.estimators(sub):
        order = data.baselines(pd.DataFrame({"baseline": [b for e, b in found if e == est]}))
        out[est] = min(order, key=lambda b: (means.get((est, b), np.inf), order.index(b)))
    return out


def lines_of(sub: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """``(estimator, baseline, is_comparison)`` drawn in a panel: reinforce~none first, then one per estimator."""
    has_ref = bool(((sub["estimator"] == REFERENCE[0]) & (sub["baseline"] == REFERENCE[1])).any())
    out = [(*REFERENCE, True)] if has_ref else []
    return out + [(e, b, False) for e, b in best_baselines(sub).items() if not (has_ref and (e, b) == REFERENCE)]


def plot_metric(ax, pts: pd.DataFrame, exact: pd.DataFrame, metric: str, est: str, base: str, is_ref: bool,
                lw: float, ms: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One estimator's points, band and exact curve in one panel; returns the values drawn (points, exact)
    and the interval ends."""
    color, marker = estimator_color(est), baseline_style(base)["marker"]
    log = metric != "cosine"
    x, y, lo, hi = (data.col(pts, c) for c in ("batch_size", metric, f"{metric}_lo", f"{metric}_hi"))
    ok = np.isfinite(y) & ((y > 0) if log else True)
    drawn, ends = [], []
    if ok.any():
        look = ({"linestyle": (0, (4, 2)), "markerfacecolor": "white", "markeredgecolor": color,
                 "markeredgewidth": 0.7 * lw, "zorder": 4} if is_ref
                else {"markeredgecolor": "white", "markeredgewidth": 0.25 * lw, "zorder": 3})
        ax.plot(x[ok], y[ok], color=color, marker=marker, markersize=ms, linewidth=1.2 * lw, **look)
        if log:  # a lower bound at or below 0 runs off a log axis: the band reaches its bottom (and is marked)
            lo = np.where(lo > 0, lo, np.where(np.isfinite(lo), 1e-300, np.nan))
        band = ok & np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x[band], lo[band], hi[band], color=color, alpha=0.15, linewidth=0, zorder=2)
            ends += [lo[band], hi[band]]
        drawn.append(y[ok])
    ex = data.select(exact, est, base).sort_values("batch_size") if f"{metric}_exact" in exact else exact.iloc[:0]
    ey = data.col(ex, f"{metric}_exact")
    if np.isfinite(ey).any():
        ax.plot(data.col(ex, "batch_size"), ey, color=color, linestyle="-", linewidth=0.7 * lw, alpha=0.9, zorder=1)
        drawn.append(ey)
    return drawn, ends


def guide(ax, sub: pd.DataFrame, lines: list[tuple[str, str, bool]], ns: np.ndarray, lw: float) -> list[np.ndarray]:
    """The dotted 1/N rate of an unbiased estimator, from twice the largest relative MSE drawn at the smallest N."""
    drawn = pd.concat([data.select(sub, e, b) for e, b, _ in lines]) if lines else sub.iloc[:0]
    first = data.col(drawn[data.col(drawn, "batch_size") == ns[0]], "rel_mse")
    first = first[np.isfinite(first) & (first > 0)]
    if len(ns) < 2 or not first.size:
        return []
    y = 2.0 * first.max() * ns[0] / ns
    ax.plot(ns, y, linestyle=":", color=REF_COLOR, linewidth=0.9 * lw)
    return [y]


def exact_for(exact: pd.DataFrame, sub: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``exact`` for a panel: its environment, θ and horizon (where ``exact`` has those columns)."""
    if exact.empty:
        return exact
    out = exact[exact["env_name"].astype(str) == str(sub["env_name"].iloc[0])]
    theta = data.panel_theta(sub)
    if theta is not None and "theta_name" in out:
        out = out[out["theta_name"] == theta]
    h = data.mode_of(sub, "horizon")
    return out[data.col(out, "horizon") == h] if h is not None and "horizon" in out else out


def _legend(ests: list[str], bases: list[str], has_ref: bool, has_exact: bool, lw: float, ms: float) -> list:
    est_h: list = [Line2D([], [], color=estimator_color(e), linewidth=1.4 * lw) for e in ests]
    est_l = [estimator_label(e) for e in ests]
    if has_ref:
        c = estimator_color(REFERENCE[0])
        est_h.append(Line2D([], [], color=c, linestyle=(0, (4, 2)), linewidth=1.2 * lw, marker="o", markersize=ms,
                            markerfacecolor="white", markeredgecolor=c))
        est_l.append(f"{estimator_label(REFERENCE[0])}, {baseline_label(REFERENCE[1])} (for comparison)")
    key_h: list = [Line2D([], [], color="0.35", marker=baseline_style(b)["marker"], linestyle="none",
                          markersize=1.6 * ms, markeredgecolor="white") for b in bases]
    key_l = [baseline_label(b) for b in bases] + ["", "95% CI", "∝ 1/N"] + (["exact"] if has_exact else [])
    key_h += [BLANK, Patch(facecolor="0.5", alpha=0.25, linewidth=0),
              Line2D([], [], color=REF_COLOR, linestyle=":", linewidth=0.9 * lw)]
    key_h += [Line2D([], [], color="0.3", linewidth=0.7 * lw)] if has_exact else []
    return [(["estimator:", *est_l], [BLANK, *est_h]), (["baseline:", *key_l], [BLANK, *key_h])]


def quality_figure(metrics: pd.DataFrame | None, exact_batch: pd.DataFrame | None = None, *,
                   truth: str = "exact") -> Figure:
    """The figure (``truth="exact"``: against ∇J; ``"reference"``: against a Monte-Carlo reference gradient)."""
    df = data.rows_of(metrics, ("batch", "both"))
    df = df[data.col(df, "batch_size") > 0] if len(df) else df
    if df.empty:
        return no_data(TITLE, "no metrics rows of the batch-size sweep")
    exact = exact_batch if exact_batch is not None and len(exact_batch) else pd.DataFrame()
    mc = truth != "exact"
    rows = [("cosine", MC_COSINE_LABEL if mc else COSINE_LABEL), ("rel_mse", MC_REL_MSE_LABEL if mc else REL_MSE_LABEL)]
    if np.isfinite(data.col(df, WNV)).any():
        rows += [("var_per_traj", VAR_LABEL), (WNV, WNV_LABEL)]
    rows = [(m, SHORT_LABELS.get(label, label)) for m, label in rows]
    panels = [(title, sub, lines_of(sub)) for title, sub in data.panels(df)]
    ns = np.unique(data.col(df, "batch_size"))
    n = len(panels)
    used = [ln for _, _, lines in panels for ln in lines]
    cells = [data.reference_cell(sub[sub["sweep"] == "both"]) for _, sub, _ in panels]
    common = data.common_cell(cells)
    others = [f"{t}: {c}" for (t, _, _), c in zip(panels, cells) if c and c != common]
    where = f" ({'; '.join([common, *others])})" if common else ""
    title = wrap(f"each estimator with its lowest-MSE baseline at the reference cell{where}", 60 if n == 1 else 110)
    ests = data.estimators(df[df["estimator"].isin([e for e, _, r in used if not r])])
    bases = data.baselines(pd.DataFrame({"baseline": [b for _, b, r in used if not r]}))

    def size(ncols: int, blocks: int) -> tuple[float, float, float, list]:
        """(width, scale, panels' height, legend) of ``blocks`` blocks of ``ncols`` columns, capped at a page."""
        width = max(PANEL_W * ncols + 0.75, 4.0)
        scale = print_scale(width)
        legend = _legend(ests, bases, any(r for *_, r in used), len(exact) > 0, scale, MARKER_PT * scale)
        wanted = blocks * (len(rows) * PANEL_H + BLOCK_HEAD_IN * scale)  # titles and tick labels of each block
        room = max_height(width) - legend_height(legend, width, scale, title)
        return width, scale, min(wanted, room), legend

    def row_in(ncols: int, blocks: int) -> float:
        _, scale, height, _ = size(ncols, blocks)
        return (height / blocks - BLOCK_HEAD_IN * scale) / len(rows) / scale

    ncols = wrap_columns(n, MAX_COLS, row_in, MIN_ROW_IN)
    blocks = -(-n // ncols)
    scale = size(ncols, blocks)[1]
    ms, lw = MARKER_PT * scale, scale
    with style(scale):
        width, scale, panels_height, legend = size(ncols, blocks)  # the legend's handles in the figure's style
        fig, grid = figure_with_legend(width, panels_height, legend, scale, title=title)
        axes = grid.subplots(blocks * len(rows), ncols, squeeze=False)
        fixed_axes(axes)
        drawn: dict[str, list[np.ndarray]] = {m: [] for m, _ in rows}
        ends: dict[str, list[np.ndarray]] = {m: [] for m, _ in rows}
        for k, (label, sub, lines) in enumerate(panels):
            b, c = divmod(k, ncols)
            col = axes[b * len(rows):(b + 1) * len(rows), c]
            ex = exact_for(exact, sub)
            by_pair = data.by_pair(sub)
            for est, base, is_ref in lines:
                pts = data.one_per(by_pair[(est, base)], "batch_size", ["horizon", "seed"])
                for r, (m, _) in enumerate(rows):
                    values, bounds = plot_metric(col[r], pts, ex, m, est, base, is_ref, lw, ms)
                    drawn[m] += values
                    ends[m] += bounds
            drawn["rel_mse"] += guide(col[1], sub, lines, ns, lw)
            col[0].axhline(1.0, color="0.55", linewidth=0.6 * lw, zorder=0)
            col[0].set_title(panel_label(label, max(8, int(PANEL_W / scale / TITLE_CHAR_IN))))
        for r, (m, label) in enumerate(rows):
            _row_limits(axes[r::len(rows)], m, drawn[m], ends[m])
            for b in range(blocks):
                axes[b * len(rows) + r, 0].set_ylabel(label)
        _x_axes(axes, ns, n, len(rows))
        for b in range(blocks):
            grid.align_ylabels(axes[b * len(rows):(b + 1) * len(rows), 0])
        grid.supxlabel(BATCH_LABEL, fontsize=matplotlib.rcParams["axes.labelsize"])
        return fig


def _row_limits(axes: np.ndarray, metric: str, drawn: list[np.ndarray], ends: list[np.ndarray]) -> None:
    """The same y range for a metric in every column: the points' range, intervals a quarter further."""
    vals = np.concatenate(drawn) if drawn else np.array([])
    bounds = np.concatenate(ends) if ends else np.array([])
    log = metric != "cosine"
    if log:
        limits = robust_limits(vals, bounds, bounds, log=True, pad=2.0)
    else:
        limits = robust_limits(vals, bounds, None, log=False, pad=0.06, min_span=0.1)
        limits = None if limits is None else (max(-1.05, limits[0]), 1.0 + max(0.03, 0.06 * (1 - limits[0])))
    for ax in axes.flat:
        if log:
            ax.set_yscale("log")
        if limits is not None:
            ax.set_ylim(*limits)
            if log:
                log_ticks(ax, *limits)


def _x_axes(axes: np.ndarray, ns: np.ndarray, n: int, nrows: int) -> None:
    """Log N axes with ticks at the batch sizes; tick labels on the outer panels; no panel past the ``n``-th."""
    ncols = axes.shape[1]
    for k, ax in enumerate(axes.flat):
        r, c = divmod(k, ncols)
        ax.set_xscale("log")
        if len(ns) > 1:
            ax.set_xlim(ns.min() / 1.3, ns.max() * 1.3)
        value_ticks(ax, ns)
        if (r // nrows) * ncols + c >= n:
            ax.set_visible(False)
        ax.tick_params(labelleft=c == 0, labelbottom=r % nrows == nrows - 1)


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    return quality_figure(tables.get("metrics"), tables.get("exact_batch"))
