"""Figure ``learning_curves``: learning curves of stochastic gradient ascent at the selected step sizes.

One panel per environment.  For each estimator~baseline (colour and marker of
:func:`~pgexp.figures.style.pair_style`), the curve of the step size the training summary selected
(``summary.selected``; the rule is :func:`pgexp.analysis.curves.training_summary`'s, not re-decided
here): mean ``progress`` over the seeds still running, with the 95 % band ``[progress_lo, progress_hi]``,
against the mean cumulative ``env_steps`` (log scale when they span more than two decades).  The
legend gives the step size η and, where some step sizes of the pair had diverging seeds, how many
(``k/n η diverged``).  A pair whose every step size diverged (``all_diverged``) is drawn dashed, an
``×`` where its last seed stopped.  Dotted: the summary's progress ``threshold``.  The ``exact``
gradient path uses no environment steps and is not drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from pgexp.figures import data
from pgexp.figures.layout import wrapped_title
from pgexp.figures.style import (
    FIG_WIDTH,
    PROGRESS_LABEL,
    REF_COLOR,
    new_figure,
    no_data,
    pair_label,
    pair_style,
    style,
)

TITLE = "Learning curves at the selected step sizes"
_LEGEND_LINE_IN = 0.142  # inches per legend line (7.5 pt text)


@dataclass
class Curve:
    estimator: str
    baseline: str
    x: np.ndarray  # mean cumulative environment steps
    y: np.ndarray  # mean progress
    lo: np.ndarray
    hi: np.ndarray
    label: str
    dead: bool  # every step size of the pair diverged


def _flag(df: pd.DataFrame, column: str) -> np.ndarray:
    """A boolean column (``"True"`` strings as from a CSV read as True; missing = False)."""
    if column not in df:
        return np.zeros(len(df), dtype=bool)
    return df[column].map(lambda v: str(v).strip().lower() in ("true", "1", "1.0", "yes")).to_numpy(bool)


def panels_of(curves: pd.DataFrame, summary: pd.DataFrame,
              max_chars: int = 46) -> list[tuple[str, list[Curve], float | None]]:
    """Per environment: the curve of each pair at its selected step size, and the progress threshold.

    A legend label longer than ``max_chars`` puts its divergence note on a second line."""
    out = []
    for env, sub in curves[curves["estimator"].astype(str) != "exact"].groupby("env_name", sort=True):
        s_env = summary[summary["env_name"] == env]
        lines = []
        for est, base in data.pairs(sub):
            s_pair = data.select(s_env, est, base)
            chosen = s_pair[_flag(s_pair, "selected")]
            if chosen.empty:
                continue
            eta = float(chosen["step_size"].iloc[0])
            c = data.select(sub, est, base)
            c = c[np.isclose(data.col(c, "step_size"), eta)].sort_values("iteration")
            x, y = data.col(c, "env_steps"), data.col(c, "progress")
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            n_div = int((data.col(s_pair, "diverged_seeds") > 0).sum())
            label = f"{pair_label(est, base)}, η = {eta:.3g}"
            note = f"({n_div}/{s_pair['step_size'].nunique()} η diverged)" if n_div else ""
            label += ("\n  " if len(label) + len(note) > max_chars else " ") + note if note else ""
            lines.append(Curve(est, base, x[ok], y[ok], data.col(c, "progress_lo")[ok],
                               data.col(c, "progress_hi")[ok], label, bool(_flag(chosen, "all_diverged")[0])))
        thr = np.unique(data.col(s_env, "threshold")[np.isfinite(data.col(s_env, "threshold"))])
        if lines:
            out.append((str(env), lines, float(thr[0]) if len(thr) == 1 else None))
    return out


def plot_curves(ax, lines: list[Curve], log_x: bool, lw: float) -> tuple[list, list[str]]:
    """Draw the curves and bands of one panel; returns its legend handles and labels."""
    handles, labels, ys = [], [], [np.array([0.0, 1.0])]
    for i, ln in enumerate(lines):
        st = pair_style(ln.estimator, ln.baseline)
        keep = ln.x > 0 if log_x else np.ones(ln.x.size, dtype=bool)
        x, y, lo, hi = ln.x[keep], ln.y[keep], ln.lo[keep], ln.hi[keep]
        look = {"color": st["color"], "linestyle": (0, (3.5, 1.8)) if ln.dead else "-", "linewidth": lw,
                    "marker": st["marker"], "markersize": 3.6, "markeredgecolor": "white", "markeredgewidth": 0.3}
        ax.plot(x, y, markevery=(0.03 + 0.011 * i, 0.16), zorder=3 + 0.01 * i, **look)
        band = np.isfinite(lo) & np.isfinite(hi)
        if band.any():
            ax.fill_between(x[band], lo[band], hi[band], color=st["color"], alpha=0.12, linewidth=0, zorder=2)
            ys += [lo[band], hi[band]]
        ys.append(y)
        if ln.dead and x.size:
            ax.plot(x[-1], y[-1], marker="x", color=st["color"], markersize=7, markeredgewidth=1.6, zorder=5)
        handles.append(Line2D([], [], **look))
        labels.append(ln.label)
    if any(ln.dead for ln in lines):
        handles.append(Line2D([], [], color="0.3", marker="x", linestyle="none", markersize=6, markeredgewidth=1.4))
        labels.append("last seed stopped (all η diverged)")
    vals = np.concatenate(ys)
    vals = vals[np.isfinite(vals)]
    pad = 0.05 * (vals.max() - vals.min())
    ax.set_ylim(vals.min() - pad, vals.max() + pad)
    return handles, labels


def learning_curves_figure(curves: pd.DataFrame | None, summary: pd.DataFrame | None, *,
                           progress_label: str = PROGRESS_LABEL, title: str = TITLE) -> Figure:
    """The figure from a learning-curves table and its training summary (``progress_label``: the y axis)."""
    if curves is None or summary is None or curves.empty or summary.empty:
        return no_data(title, "no learning curves or no training summary")
    n = curves["env_name"].nunique()
    ncols = min(n, 2)
    width = FIG_WIDTH if n > 1 else 4.6
    panels = panels_of(curves, summary, max_chars=int((width / ncols - 0.6) * 72 / (0.6 * 7.5)))
    if not panels:
        return no_data(title, "no curve at a selected step size")
    n = len(panels)
    n_lines = max(sum(ln.label.count("\n") + 1 for ln in lines) + any(ln.dead for ln in lines)
                  for _, lines, _ in panels)
    panel_h, legend_h = 2.5, 0.12 + _LEGEND_LINE_IN * n_lines
    with style():
        fig = new_figure(width, math.ceil(n / ncols) * (panel_h + legend_h))
        gs = fig.add_gridspec(2 * math.ceil(n / ncols), ncols, height_ratios=[panel_h, legend_h] * math.ceil(n / ncols))
        for k, (env, lines, thr) in enumerate(panels):
            r, c = divmod(k, ncols)
            ax, leg = fig.add_subplot(gs[2 * r, c]), fig.add_subplot(gs[2 * r + 1, c])
            x = np.concatenate([ln.x for ln in lines])
            x = x[x > 0]
            log_x = x.size > 1 and x.max() / x.min() > 100.0
            handles, labels = plot_curves(ax, lines, log_x, matplotlib.rcParams["lines.linewidth"])
            if log_x:
                ax.set_xscale("log")
            for level in (0.0, 1.0):
                ax.axhline(level, color="0.6", linewidth=0.6, zorder=1)
            if thr is not None:
                ax.axhline(thr, color=REF_COLOR, linestyle=":", linewidth=0.9, zorder=1)
                ax.text(0.015, thr, f"threshold {thr:g}", ha="left",
                        transform=blended_transform_factory(ax.transAxes, ax.transData), va="bottom", fontsize=7,
                        color="0.35", zorder=6,
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
            wrapped_title(ax, env, ncols)
            ax.set_xlabel("environment steps" + (" (log scale)" if log_x else ""))
            if c == 0:
                ax.set_ylabel(progress_label)
            leg.set_axis_off()
            leg.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=1, handlelength=2.6,
                       borderaxespad=0.0, borderpad=0.2, labelspacing=0.35)
        return fig


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    return learning_curves_figure(tables.get("curves"), tables.get("summary"))
