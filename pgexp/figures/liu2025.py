"""The figures of the study ``liu2025_length_bias`` (Liu et al. 2025, "Understanding R1-Zero-like training"):

* ``liu2025_length_bias`` -- the tabular version of the paper's Figure 1 (right): along training with GRPO, Dr.
  GRPO, RLOO (and GRPO without its length term), the exact success probability and the exact mean length of
  correct and of incorrect responses; solid: the mean over seeds with its 95 % bootstrap band; dashed: the
  mean-field path (the same optimizer on the estimator's exact mean).  Table ``length_curves``
  (``pgexp group-curves``).
* ``liu2025_group_variance`` -- against the group size ``G``, for every group estimator: the bias as length
  (``k``, the mean's length along ``grad J``) and direction (the angle to ``grad J``), the exact variance raw and
  at equal mean length, the length bias (the change in the incorrect responses' mean length per unit of ``J``
  gained along the mean update), and the weight GRPO's standard deviation gives a prompt of success probability
  ``p``.  Tables ``group_variance``, ``difficulty_weights`` (``pgexp group-variance``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE_1 = "Response lengths along training (Liu et al. 2025, Fig. 1 right), exact"
TITLE_2 = "Group estimators against the group size G: bias as length and direction, variance, length bias"
PANELS_1 = (("p_correct", "P(correct)"), ("length_correct", "mean length |o|\nof correct responses"),
            ("length_wrong", "mean length |o|\nof incorrect responses"))


PALETTE = sns.color_palette("colorblind", 10)


def colors(labels: list[str]) -> dict[str, tuple]:
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}


def draw_length_bias(tables: dict[str, pd.DataFrame]) -> Figure:
    curves = tables.get("length_curves")
    if curves is None or curves.empty:
        return no_data(TITLE_1, "no length curves")
    labels = list(dict.fromkeys(curves["label"]))
    col = colors(labels)
    with style():
        fig = new_figure(FIG_WIDTH, 2.9)
        axes = fig.subplots(1, 3)
        for ax, (stat, ylabel) in zip(axes, PANELS_1):
            for k, lab in enumerate(labels):
                g = curves[curves["label"] == lab].sort_values("iteration")
                x = g["iteration"].to_numpy()
                ls = ("-", "-.", ":", (0, (5, 1)))[k % 4]
                ax.fill_between(x, g[f"{stat}_lo"], g[f"{stat}_hi"], color=col[lab], alpha=0.2, lw=0)
                ax.plot(x, g[stat], color=col[lab], lw=1.2, ls=ls, label=lab)
                if np.isfinite(g[f"{stat}_mean_field"]).any():
                    ax.plot(x, g[f"{stat}_mean_field"], color=col[lab], lw=0.9, ls="--", alpha=0.8)
            ax.set_xlabel("iteration (update)")
            ax.set_ylabel(ylabel)
        from matplotlib.lines import Line2D

        handles, names = axes[0].get_legend_handles_labels()
        handles += [Line2D([], [], color="0.3", lw=1.2), Line2D([], [], color="0.3", ls="--", lw=0.9)]
        names += ["mean over seeds (95% band)", "mean field (exact mean ĝ)"]
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 3), fontsize=7)
        fig.suptitle(TITLE_1, fontsize=9)
    return fig


def _versus_g(ax, gv: pd.DataFrame, column: str, col: dict, ylabel: str, log: bool = False) -> None:
    for lab, g in gv.groupby("label", sort=False):
        g = g.sort_values("group_size")
        ax.plot(g["group_size"], g[column], marker="o", ms=3, lw=1.0, color=col[lab], label=lab)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(gv["group_size"].unique()), [str(int(x)) for x in sorted(gv["group_size"].unique())])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("group size G")
    ax.set_ylabel(ylabel)


def draw_group_variance(tables: dict[str, pd.DataFrame]) -> Figure:
    gv, dw = tables.get("group_variance"), tables.get("difficulty")
    if gv is None or gv.empty:
        return no_data(TITLE_2, "no group-variance table")
    labels = list(dict.fromkeys(gv["label"]))
    col = colors(labels)
    P = int(gv["prompts"].iloc[0]) if "prompts" in gv else 1
    with style():
        fig = new_figure(FIG_WIDTH, 5.2)
        axes = fig.subplots(2, 3)
        _versus_g(axes[0, 0], gv, "length_k", col, "length along ∇J\nk = ⟨E ĝ, ∇J⟩ / ‖∇J‖²", log=True)
        axes[0, 0].axhline(1.0, color="0.55", lw=0.7, ls=":")
        _versus_g(axes[0, 1], gv, "angle_deg", col, "direction: angle\nbetween E ĝ and ∇J (°)")
        _versus_g(axes[0, 2], gv, "d_length_wrong_per_dJ", col, "length bias: Δ mean length\nof wrong responses / ΔJ")
        _versus_g(axes[1, 0], gv, "trace_cov", col, f"variance tr Cov ĝ\n({P} prompts × G)", log=True)
        _versus_g(axes[1, 1], gv, "trace_cov_equal_length", col, "variance at equal mean\nlength tr Cov(ĝ / k)",
                  log=True)
        ax = axes[1, 2]
        if dw is not None and not dw.empty:
            grpo = dw[dw["estimator"] == "grpo"]
            sizes = sorted(grpo["group_size"].unique())
            shades = np.linspace(0.85, 0.15, max(len(sizes), 1))
            for s, G in zip(shades, sizes):
                g = grpo[grpo["group_size"] == G].sort_values("p")
                ax.plot(g["p"], g["weight"], color=(s, s * 0.6, 0.1), lw=1.0, label=f"G = {G}")
            ax.axhline(1.0, color="0.55", lw=0.7, ls=":")
            ax.set_xlabel("success probability p")
            ax.set_ylabel("GRPO's weight of the prompt\n(std only; RLOO's = 1)")
            ax.legend(fontsize=6, ncols=2)
        else:
            ax.set_axis_off()
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5), fontsize=6.5)
        fig.suptitle(TITLE_2, fontsize=9)
    return fig
