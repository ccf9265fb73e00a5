"""Figure ``sutton_barto_fig13_2``: REINFORCE with and without the online baseline on the short corridor, as in
Sutton & Barto's Figure 13.2, measured exactly, with the step sizes around the book's.

Left: the exact ``J(theta)`` after each episode (mean over the runs alive, 95 % bootstrap band) at the
book's step sizes -- arms ``reinforce`` (``alpha = 2^-13``) and ``with_baseline`` (``alpha_theta = 2^-9``,
``alpha_w = 2^-6``) -- and at the step size selected on the selection seeds when it differs (dotted).
Right: for every step size of each arm, the mean final ``J`` with its 95 % interval (top) and the
fractions of runs that diverged or stalled (alive, never reached the progress threshold; bottom).
Tables: ``curves``, ``summary`` (``pgexp curves``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.paper_style import PALETTE, arm_rows, eta_label, final_value
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE = "REINFORCE with and without baseline (Sutton & Barto, Figure 13.2)"
ARMS = (("reinforce", 2.0**-13, "REINFORCE"), ("with_baseline", 2.0**-9, "with baseline"))


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    curves, summary = tables.get("curves"), tables.get("summary")
    if all(arm_rows(curves, a).empty for a, _, _ in ARMS):
        return no_data(TITLE, "no runs of the arms 'reinforce' / 'with_baseline' in the learning-curves table")
    optimum = final_value(curves, "class_optimum")
    with style():
        fig = new_figure(FIG_WIDTH, 4.2)
        left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[1.4, 1])[0]
        ax = left.subplots()
        r_top, r_bot = right.subplots(2, 1, sharex=False)
        for k, (arm, book, name) in enumerate(ARMS):
            c = PALETTE[k]
            rows = arm_rows(curves, arm)
            if rows.empty:
                continue
            sel = arm_rows(summary, arm)
            chosen = float(sel.loc[sel["selected"].astype(bool), "step_size"].iloc[0]) if not sel.empty and \
                sel["selected"].astype(bool).any() else book
            for eta, ls in ((book, "-"), (chosen, ":")):
                g = rows[np.isclose(rows["step_size"], eta)].sort_values("iteration")
                if g.empty or (ls == ":" and np.isclose(chosen, book)):
                    continue
                x = g["iteration"].to_numpy()
                ax.fill_between(x, g["J_lo"], g["J_hi"], color=c, alpha=0.18, lw=0)
                what = "book's" if ls == "-" else "selected"
                ax.plot(x, g["J"], color=c, ls=ls, label=f"{name}, α = {eta_label(eta)} ({what})")
            s = sel.sort_values("step_size")
            if not s.empty:
                err = np.vstack([s["final_J"] - s["final_J_lo"], s["final_J_hi"] - s["final_J"]])
                r_top.errorbar(s["step_size"], s["final_J"], yerr=np.abs(err), color=c, marker="o", ms=3, label=name)
                n = s["seeds"].to_numpy(dtype=float)
                stalled = (n - s["diverged_seeds"] - s["reached_threshold"]).clip(lower=0) / n
                r_bot.plot(s["step_size"], s["diverged_seeds"] / n, color=c, marker="x", ms=4,
                           label=f"{name}: diverged")
                r_bot.plot(s["step_size"], stalled, color=c, marker="s", ms=3, ls=":", label=f"{name}: stalled")
        if np.isfinite(optimum):
            for a in (ax, r_top):
                a.axhline(optimum, color="0.4", lw=0.8)
        ax.set_xlabel("episode")
        ax.set_ylabel("J(θ) after the episode (mean over runs alive)")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], -100.0))
        ax.legend(loc="lower right")
        fig.suptitle(TITLE, fontsize=9.5, fontweight="bold")
        for a in (r_top, r_bot):
            a.set_xscale("log", base=2)
        r_top.set_ylabel("final J (mean, 95% CI)")
        r_top.legend(loc="lower left")
        r_bot.set_ylabel("fraction of runs")
        r_bot.set_xlabel("step size α (α_θ with baseline)")
        r_bot.set_ylim(-0.03, 1.03)
        r_bot.legend(loc="upper left", fontsize=6.5)
    return fig
