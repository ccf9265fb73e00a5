"""Figure ``chung2021_committal``: how often stochastic NPG and vanilla policy gradient end on a suboptimal arm of
the 3-armed bandit, by baseline (``b* - 1``, ``b*``, ``b* + 1``), as in Chung et al. (2021).

Left: per optimizer and step size, the fraction of seeds that converged to a suboptimal arm, with 95 %
Wilson intervals, one bar per baseline offset.  Right: the exact trace variance at ``theta_0`` of the
gradient estimate (equal at ``b* - 1`` and ``b* + 1``) and of the NPG update, by offset.
Tables: ``summary`` (``pgexp curves``), ``variance`` (``pgexp baseline-variance``, optional).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.paper_style import PALETTE, eta_label, offset_label
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE = "Committal baselines on a 3-armed bandit (Chung et al. 2021)"
OPTIMIZER_NAMES = {"npg": "natural PG", "sga": "vanilla PG"}


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    summary, variance = tables.get("summary"), tables.get("variance")
    if summary is None or summary.empty or "suboptimal_fraction" not in summary:
        return no_data(TITLE, "no training summary with convergence columns")
    offsets = sorted(summary["baseline_offset"].unique())
    groups = summary[["optimizer", "step_size"]].drop_duplicates().sort_values(["optimizer", "step_size"])
    with style():
        fig = new_figure(FIG_WIDTH, 3.4)
        left, right = fig.subplots(1, 2, width_ratios=[1.7, 1])
        width = 0.8 / max(len(offsets), 1)
        for j, e in enumerate(offsets):
            xs, ys, lo, hi = [], [], [], []
            for i, (_, grp) in enumerate(groups.iterrows()):
                row = summary[(summary["optimizer"] == grp["optimizer"]) & (summary["step_size"] == grp["step_size"])
                              & (summary["baseline_offset"] == e)]
                if row.empty:
                    continue
                r = row.iloc[0]
                xs.append(i + (j - (len(offsets) - 1) / 2) * width)
                ys.append(r["suboptimal_fraction"])
                lo.append(r["suboptimal_fraction"] - r["suboptimal_fraction_lo"])
                hi.append(r["suboptimal_fraction_hi"] - r["suboptimal_fraction"])
            left.bar(xs, ys, width=width, color=PALETTE[j], label=offset_label(e), yerr=[lo, hi], capsize=2,
                     error_kw={"lw": 0.8})
        left.set_xticks(range(len(groups)), [eta_label(a) for a in groups["step_size"]], fontsize=7,
                        rotation=40 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center",
                        rotation_mode="anchor")
        opts = groups["optimizer"].to_numpy()
        for o in dict.fromkeys(opts):  # the optimizer under its group of step sizes
            where = np.flatnonzero(opts == o)
            left.annotate(OPTIMIZER_NAMES.get(o, o), xy=(where.mean(), 0), xycoords=("data", "axes fraction"),
                          xytext=(0, -30 if len(groups) > 6 else -20), textcoords="offset points", ha="center",
                          va="top", fontsize=7.5, fontweight="bold")
            if where.min() > 0:
                left.axvline(where.min() - 0.5, color="0.6", linewidth=0.6)
        left.set_xlabel("step size α", labelpad=20 if len(groups) > 6 else 14)
        left.set_ylim(0, 1.2)
        left.set_yticks(np.linspace(0, 1, 6))
        left.set_ylabel("seeds ending on a suboptimal arm\n(fraction, 95% Wilson CI)")
        left.legend(title="baseline", loc="upper center", ncols=len(offsets), title_fontsize=7.5)
        fig.suptitle(TITLE, fontsize=9.5, fontweight="bold")
        if variance is not None and not variance.empty:
            v = variance.sort_values("offset")
            labels = [offset_label(e) for e in v["offset"]]
            x = np.arange(len(v))
            right.bar(x - 0.2, v["grad_trace_cov"], width=0.4, color="0.55", label="gradient estimate")
            right.bar(x + 0.2, v["npg_trace_cov_policy"], width=0.4, color="0.25", label="NPG update (policy part)")
            right.set_yscale("log")
            right.set_xticks(x, labels)
            right.set_ylabel("exact tr Cov at θ₀ (batch of 1)")
            right.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=7, borderaxespad=0.3)
        else:
            right.set_axis_off()
    return fig
