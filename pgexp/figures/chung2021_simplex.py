"""Figure ``chung2021_simplex``: the policy of a few seeds on the probability simplex of the 3-armed
bandit, from ``theta_0`` to the end of training, one panel per optimizer x baseline at the middle step size
of each optimizer's grid (Chung et al. 2021, Figure 1).

Corners are the deterministic policies (the report says which arm is optimal); a trajectory starts at the
open circle and ends
at the dot.  Table: ``traces`` (``pgexp curves --traces``: columns ``pi_0_0``, ``pi_0_1``, ``pi_0_2`` of the
decision state).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.chung2021_committal import OPTIMIZER_NAMES
from pgexp.figures.paper_style import PALETTE, eta_label, offset_label
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE = "Policies on the simplex (Chung et al. 2021)"
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def to_plane(p: np.ndarray) -> np.ndarray:
    """Barycentric ``(n, 3)`` -> plane ``(n, 2)`` on the triangle :data:`CORNERS`."""
    return p @ CORNERS


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    traces = tables.get("traces")
    cols = ["pi_0_0", "pi_0_1", "pi_0_2"]
    if traces is None or traces.empty or any(c not in traces for c in cols):
        return no_data(TITLE, "no policy traces of a 3-armed bandit (pgexp train --trace-seeds)")
    middle = {o: sorted(g.unique())[len(g.unique()) // 2] for o, g in traces.groupby("optimizer")["step_size"]}
    traces = traces[traces["step_size"] == traces["optimizer"].map(middle)]
    panels = traces[["optimizer", "baseline_offset", "step_size"]].drop_duplicates().sort_values(
        ["optimizer", "step_size", "baseline_offset"])
    n = len(panels)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    with style():
        fig = new_figure(FIG_WIDTH, 2.3 * nrows + 0.3)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax, (_, p) in zip(axes, panels.iterrows()):
            sub = traces[(traces["optimizer"] == p["optimizer"]) & (traces["baseline_offset"] == p["baseline_offset"])
                         & (traces["step_size"] == p["step_size"])]
            ax.fill(*CORNERS.T, color="0.96", ec="0.6", lw=0.6)
            for k, (_, run) in enumerate(sub.groupby("seed")):
                run = run.sort_values("iteration")
                xy = to_plane(run[cols].to_numpy())
                c = PALETTE[k % len(PALETTE)]
                ax.plot(xy[:, 0], xy[:, 1], color=c, lw=0.8)
                ax.plot(*xy[0], "o", mfc="white", mec=c, ms=3.5)
                ax.plot(*xy[-1], "o", color=c, ms=3.5)
            for name, (x, y), dy in zip(("arm 0", "arm 1", "arm 2"), CORNERS, (-0.1, -0.1, 0.04)):
                ax.text(x, y + dy, name, ha="center", fontsize=6.5, color="0.3")
            ax.set_title(f"{OPTIMIZER_NAMES.get(p['optimizer'], p['optimizer'])}, α = {eta_label(p['step_size'])}, "
                         f"{offset_label(p['baseline_offset'])}", fontsize=8)
            ax.set_xlim(-0.12, 1.12)
            ax.set_ylim(-0.16, 0.95)
            ax.set_aspect("equal")
            ax.set_axis_off()
        for ax in axes[n:]:
            ax.set_axis_off()
        fig.suptitle(TITLE, fontsize=9.5)
    return fig
