"""Figure ``variance_vs_horizon``: per-trajectory variance against the horizon, log-log, as a facet grid.

One row per environment (and policy point θ where an environment has several), one column per
estimator (registry order), one colour and marker per baseline, the same in every panel.  Points:
``var_per_traj`` (squared gradient-norm units) at the reference batch size with the 95 % interval
``[var_per_traj_lo, var_per_traj_hi]``, against ``horizon`` H (steps; finite horizons only).  Dashed:
the slopes table's fit ``exp(intercept) · H^slope`` over ``[h_min, h_max]``.  Thin solid: the exact
variance (table ``exact``: ``var_per_traj_exact``) where given.  Dotted grey: slope 3, the lecture's
H³ claim for REINFORCE, drawn through twice the largest variance at the smallest horizon.  A zero
variance has no place on a log axis and is left out.  Each row has its own y range: the points' range
and the intervals up to a quarter of it further (:func:`~pgexp.figures.layout.robust_limits`), so one
heavy-tailed interval (a fitted baseline's, up to 1e40) cannot flatten a row; the axis cuts it and a
triangle marks the cut.  The figure fits a page: the rows share its height.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures import data
from pgexp.figures.layout import (
    BLANK,
    figure_with_legend,
    fixed_axes,
    legend_height,
    log_ticks,
    outer_labels,
    robust_limits,
    row_titles,
    value_ticks,
)
from pgexp.figures.style import (
    MARKER_PT,
    PANEL_H,
    PANEL_W,
    REF_COLOR,
    VAR_LABEL,
    baseline_label,
    baseline_style,
    estimator_label,
    max_height,
    no_data,
    print_scale,
    style,
)

TITLE = "Per-trajectory variance vs horizon"
LECTURE_SLOPE = 3.0


@dataclass
class Series:
    """What one panel draws for one baseline: Monte-Carlo points, the fitted line, the exact curve."""

    baseline: str
    h: np.ndarray
    v: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    fit: tuple[np.ndarray, np.ndarray] | None
    exact: tuple[np.ndarray, np.ndarray] | None


def _fit(s: pd.DataFrame | None, theta: object, n: float | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The slopes-table line of one panel and pair (``s``: its rows of the slopes table) at batch size ``n``
    (None without a usable fit)."""
    if s is None or s.empty:
        return None
    if theta is not None and "theta_name" in s:
        s = s[s["theta_name"] == theta]
    if n is not None and "batch_size" in s:
        s = s[data.col(s, "batch_size") == n]
    s = s[np.isfinite(data.col(s, "slope")) & np.isfinite(data.col(s, "intercept"))]
    if s.empty:
        return None
    row = s.sort_values([c for c in ("seed",) if c in s]).iloc[0]
    h0, h1 = (float(pd.to_numeric(row.get(k), errors="coerce")) for k in ("h_min", "h_max"))
    if not (np.isfinite(h0) and np.isfinite(h1) and 0 < h0 <= h1):
        return None
    hh = np.geomspace(h0, h1, 40)
    return hh, np.exp(float(row["intercept"])) * hh ** float(row["slope"])


def series(metrics: pd.DataFrame, slopes: pd.DataFrame,
           exact: pd.DataFrame) -> list[tuple[str, dict[str, list[Series]]]]:
    """Per panel row (environment, θ): estimator -> the series of each of its baselines."""
    rows = []
    fits = {env: data.by_pair(g) for env, g in slopes.groupby("env_name")} if len(slopes) else {}
    for label, sub in data.panels(metrics):
        env, theta = str(sub["env_name"].iloc[0]), data.panel_theta(sub)
        n = data.mode_of(sub[sub["sweep"] == "both"], "batch_size") or data.mode_of(sub, "batch_size")
        sub = sub[data.col(sub, "batch_size") == n] if n is not None else sub  # the sweep at the reference N
        ex = exact[exact["env_name"] == env] if len(exact) else pd.DataFrame(columns=["estimator", "baseline",
                                                                                       "horizon"])
        if theta is not None and "theta_name" in ex:
            ex = ex[ex["theta_name"] == theta]
        if "batch_size" in ex and n is not None:  # exact rows per N: the points' (leave-one-out depends on N)
            ex = ex[data.col(ex, "batch_size") == n]
        points, exacts, env_fits = data.by_pair(sub), data.by_pair(ex), fits.get(env, {})
        panel: dict[str, list[Series]] = {}
        for est, base in data.pairs(sub):
            pts = data.one_per(points[(est, base)], "horizon", ["batch_size", "seed"])
            v = data.col(pts, "var_per_traj")
            ok = np.isfinite(v) & (v > 0)
            lo = data.col(pts, "var_per_traj_lo")
            lo = np.where(lo > 0, lo, np.where(np.isfinite(lo), 1e-300, np.nan))  # at 0: reaches the axis (marked)
            e = exacts.get((est, base), ex.iloc[:0]).sort_values("horizon")
            ev = data.col(e, "var_per_traj_exact")
            eh = data.col(e, "horizon")
            keep = (eh > 0) & (ev > 0)
            panel.setdefault(est, []).append(Series(
                base, data.col(pts, "horizon")[ok], v[ok], lo[ok], data.col(pts, "var_per_traj_hi")[ok],
                _fit(env_fits.get((est, base)), theta, n), (eh[keep], ev[keep]) if keep.any() else None))
        rows.append((label, panel))
    return rows


def plot_panel(ax, lines: list[Series], h_max: float, *, ms: float,
               lw: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw one panel's series (baselines dodged sideways) and the H³ guide; returns the values drawn
    (points, exact curves) and the interval ends."""
    drawn: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    first: tuple[float, float] | None = None  # (smallest horizon, largest variance there)
    for i, s in enumerate(lines):
        st = baseline_style(s.baseline)
        if s.v.size:
            dodge = np.exp(0.1 * (i - (len(lines) - 1) / 2))  # keeps the baselines' error bars apart
            ax.errorbar(s.h * dodge, s.v, yerr=data.ci_err(s.v, s.lo, s.hi), color=st["color"], marker=st["marker"],
                        markersize=ms, linestyle="none", markeredgecolor="white", markeredgewidth=0.25 * lw,
                        elinewidth=0.6 * lw, capsize=1.2 * lw, zorder=3)
            drawn.append(s.v)
            ends += [s.lo, s.hi]
            v0 = float(s.v[s.h == s.h.min()].max())
            if first is None or (s.h.min(), -v0) < (first[0], -first[1]):
                first = (float(s.h.min()), v0)
        if s.fit is not None:
            ax.plot(*s.fit, linestyle=(0, (4, 2)), color=st["color"], linewidth=0.8 * lw, alpha=0.9, zorder=2)
        if s.exact is not None:
            ax.plot(*s.exact, linestyle="-", color=st["color"], linewidth=0.7 * lw, alpha=0.9, zorder=1)
            drawn.append(s.exact[1])
    if first is not None:
        hh = np.geomspace(first[0], h_max * 1.4, 40)
        ax.plot(hh, 2.0 * first[1] * (hh / first[0]) ** LECTURE_SLOPE, linestyle=":", color=REF_COLOR,
                linewidth=0.9 * lw, zorder=0)
    return drawn, ends


def _legend(baselines: list[str], has_fit: bool, has_exact: bool, ref_n: str, ms: float, lw: float) -> list:
    base_h = [Line2D([], [], linestyle="none", markersize=1.2 * ms, markeredgecolor="white", markeredgewidth=0.25 * lw,
                     **baseline_style(b)) for b in baselines]
    point = (Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=3 * ms, markeredgewidth=0.6 * lw),
             Line2D([], [], color="0.3", marker="o", linestyle="none", markersize=ms, markeredgecolor="white"))
    key: list[tuple[Any, str]] = [(point, "Monte-Carlo, 95% CI")]
    if has_fit:
        key.append((Line2D([], [], color="0.3", linestyle=(0, (4, 2)), linewidth=0.8 * lw), f"log-log fit{ref_n}"))
    if has_exact:
        key.append((Line2D([], [], color="0.3", linestyle="-", linewidth=0.7 * lw), "exact"))
    key.append((Line2D([], [], color=REF_COLOR, linestyle=":", linewidth=0.9 * lw), "∝ H³ (lecture)"))
    return [(["baseline:", *map(baseline_label, baselines)], [BLANK, *base_h]),
            ([label for _, label in key], [h for h, _ in key])]


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    metrics = data.rows_of(tables.get("metrics"), ("horizon", "both"))
    metrics = metrics[data.col(metrics, "horizon") > 0] if len(metrics) else metrics
    if metrics.empty or not (data.col(metrics, "var_per_traj") > 0).any():
        return no_data(TITLE, "no metrics rows of the horizon sweep with a finite horizon and a positive variance")
    rows = series(metrics, data.rows_of(tables.get("slopes")), data.rows_of(tables.get("exact")))
    cols = data.estimators(metrics)
    h_all = np.unique(data.col(metrics, "horizon"))
    ref_ns = {data.mode_of(metrics[metrics["sweep"] == "both"], "batch_size")} - {None}
    flat = [s for _, panel in rows for lines in panel.values() for s in lines]
    nrows, ncols = len(rows), len(cols)
    width = max(PANEL_W * ncols + 0.75, 4.0)
    scale = print_scale(width)
    ms, lw = MARKER_PT * scale, scale
    with style(scale):
        legend = _legend(data.baselines(metrics), any(s.fit is not None for s in flat),
                         any(s.exact is not None for s in flat),
                         f" (N = {data.fmt_num(next(iter(ref_ns)))})" if len(ref_ns) == 1 else "", ms, lw)
        room = max_height(width) - legend_height(legend, width, scale)
        fig, grid = figure_with_legend(width, min(PANEL_H * nrows + 0.45 * scale, room), legend, scale)
        axes = grid.subplots(nrows, ncols, squeeze=False)
        fixed_axes(axes)
        visible = np.array([[est in panel for est in cols] for _, panel in rows], dtype=bool).reshape(nrows, ncols)
        for r, (_, panel) in enumerate(rows):
            drawn: list[np.ndarray] = []
            ends: list[np.ndarray] = []
            for c, est in enumerate(cols):
                values, intervals = plot_panel(axes[r, c], panel.get(est, []), h_all.max(), ms=ms, lw=lw)
                drawn += values
                ends += intervals
            vals = np.concatenate(drawn) if drawn else np.array([])
            bounds = np.concatenate(ends) if ends else np.array([])
            limits = robust_limits(vals, bounds, bounds, log=True, pad=2.0)
            for ax in axes[r]:
                ax.set_yscale("log")
                if limits is not None:
                    ax.set_ylim(*limits)
                    log_ticks(ax, *limits, max_ticks=4)
        for c, est in enumerate(cols):
            top = np.flatnonzero(visible[:, c])
            if top.size:
                axes[top[0], c].set_title(estimator_label(est), fontweight="normal", fontsize=7.5 * scale)
        for ax in axes.flat:
            ax.set_xscale("log")
            ax.set_xlim(h_all.min() / 1.35, h_all.max() * 1.35)
            value_ticks(ax, h_all, every=2 if len(h_all) > 3 else 1)
        outer_labels(axes, visible)
        row_titles(axes, visible, [label for label, _ in rows])
        size = matplotlib.rcParams["axes.labelsize"]
        grid.supxlabel("horizon H (steps)", fontsize=size)
        grid.supylabel(VAR_LABEL.replace("\n", " "), fontsize=size)
        return fig
