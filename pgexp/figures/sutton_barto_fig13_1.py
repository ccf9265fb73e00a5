"""Figure ``sutton_barto_fig13_1``: REINFORCE (per-step updates) on the short corridor, as in Sutton & Barto's
Figure 13.1, measured exactly.

Top: for each step size of the ``reinforce`` arm, the exact ``J(theta)`` after each episode -- mean over the
runs still alive, with its 95 % bootstrap band -- and, lighter, the mean total reward of the episode (what
the book plots); dashed, the mean-field path (exact-gradient ascent with the same step, one step per
episode, arm ``mean_field``); grey, the best value of the policy class (arm ``class_optimum``: exact ascent
to convergence).  Bottom: the fraction of runs still alive (not diverged) after each episode.
Tables: ``curves`` (``pgexp curves``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.paper_style import PALETTE, arm_rows, eta_label, final_value
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE = "REINFORCE on the short corridor (Sutton & Barto, Figure 13.1)"


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    curves = tables.get("curves")
    learn = arm_rows(curves, "reinforce")
    if learn.empty:
        return no_data(TITLE, "no runs of the arm 'reinforce' in the learning-curves table")
    mean_field = arm_rows(curves, "mean_field")
    optimum = final_value(curves, "class_optimum")
    etas = sorted(learn["step_size"].unique())
    with style():
        fig = new_figure(FIG_WIDTH, 5.0)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        for k, eta in enumerate(etas):
            c = PALETTE[k % len(PALETTE)]
            g = learn[learn["step_size"] == eta].sort_values("iteration")
            x = g["iteration"].to_numpy()
            top.plot(x, g["return_mean"], color=c, alpha=0.25, lw=0.6)
            top.fill_between(x, g["J_lo"], g["J_hi"], color=c, alpha=0.2, lw=0)
            top.plot(x, g["J"], color=c, label=f"α = {eta_label(eta)}")
            mf = mean_field[mean_field["step_size"] == eta] if not mean_field.empty else mean_field
            if not mf.empty:
                mf = mf.sort_values("iteration")
                top.plot(mf["iteration"], mf["J"], color=c, ls="--", lw=1.0)
            bottom.plot(x, g["alive_fraction"], color=c)
        if np.isfinite(optimum):
            top.axhline(optimum, color="0.4", lw=0.8)
            top.annotate(f"best of the policy class J = {optimum:.2f}", (x.max(), optimum), xytext=(0, -3),
                         textcoords="offset points", ha="right", va="top", fontsize=7.5, color="0.3")
        lo = np.nanmin(learn["J"])
        top.set_ylim(max(lo, -100.0) - 5, (optimum if np.isfinite(optimum) else np.nanmax(learn["J"])) + 3)
        top.set_ylabel("J(θ) after the episode\n(mean over runs alive)")
        top.set_title(TITLE)
        handles, labels = top.get_legend_handles_labels()
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color="0.3", alpha=0.35, lw=0.6), Line2D([], [], color="0.3", ls="--")]
        labels += ["total reward of the episode (mean)", "mean field: exact gradient, same α"]
        top.legend(handles, labels, loc="lower right", ncols=2)
        bottom.set_ylabel("runs alive")
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_xlabel("episode")
    return fig
