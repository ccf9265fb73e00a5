"""Figure ``performance_profiles``: the score distributions of the training arms (Agarwal et al. 2021).

One panel.  For each estimator~baseline (colour and marker of :func:`~pgexp.figures.style.pair_style`; a
variant's ``label`` appended), the fraction of its runs whose final progress exceeds ``τ``
(:func:`pgexp.analysis.profiles.performance_profiles`: each environment's reported runs at its selected step
size, environments weighted equally) against ``τ`` in ``[0, 1]``, with the stratified-bootstrap band
``[fraction_lo, fraction_hi]``.  Dotted: ``τ = 0.9``, where the report compares the arms.  The legend sits
below the panel, two columns, in the pairs' usual order.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures.style import FIG_WIDTH, REF_COLOR, new_figure, no_data, pair_label, pair_sort_key, pair_style, style

TITLE = "Performance profiles of the training runs"
REPORT_TAU = 0.9  # the τ the report's sentence reads (marked on the axis)
_LEGEND_LINE_IN = 0.16  # inches per legend row


def _arms(profiles: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    """``((estimator, baseline, label), rows sorted by τ)`` per arm, in the pairs' usual order."""
    df = profiles.assign(label=profiles["label"].fillna("").astype(str) if "label" in profiles else "")
    out = [((str(e), str(b), str(lab)), g.sort_values("tau", kind="stable"))
           for (e, b, lab), g in df.groupby(["estimator", "baseline", "label"], sort=False)]
    return sorted(out, key=lambda kv: (*pair_sort_key(kv[0][0], kv[0][1]), kv[0][2]))


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    profiles = tables.get("profiles")
    need = {"estimator", "baseline", "tau", "fraction", "fraction_lo", "fraction_hi"}
    if profiles is None or profiles.empty or not need <= set(profiles.columns):
        return no_data(TITLE, "no performance profiles")
    arms = _arms(profiles)
    envs = int(pd.to_numeric(profiles.get("environments", pd.Series([np.nan])), errors="coerce").max())
    rows = math.ceil(len(arms) / 2)
    panel_h, legend_h = 3.0, 0.15 + _LEGEND_LINE_IN * rows
    with style():
        fig = new_figure(FIG_WIDTH, panel_h + legend_h + 0.3)
        gs = fig.add_gridspec(2, 1, height_ratios=[panel_h, legend_h])
        ax, leg = fig.add_subplot(gs[0]), fig.add_subplot(gs[1])
        handles, labels = [], []
        for i, ((est, base, label), g) in enumerate(arms):
            st = pair_style(est, base)
            tau = g["tau"].to_numpy(dtype=float)
            look = {"color": st["color"], "marker": st["marker"], "markersize": 3.6, "markeredgecolor": "white",
                    "markeredgewidth": 0.3, "linewidth": 1.2}
            ax.step(tau, g["fraction"].to_numpy(dtype=float), where="post", zorder=3 + 0.01 * i, **{
                k: v for k, v in look.items() if not k.startswith("marker")})
            marks = np.linspace(0, tau.size - 1, 6).round().astype(int)[1:-1] + 2 * (i % 5)  # staggered, not stacked
            marks = marks[marks < tau.size]
            ax.plot(tau[marks], g["fraction"].to_numpy(dtype=float)[marks], linestyle="none", zorder=4,
                    **{k: v for k, v in look.items() if k != "linewidth"})
            ax.fill_between(tau, g["fraction_lo"].to_numpy(dtype=float), g["fraction_hi"].to_numpy(dtype=float),
                            step="post", color=st["color"], alpha=0.12, linewidth=0, zorder=2)
            handles.append(Line2D([], [], **look))
            labels.append(pair_label(est, base) + (f" ({label})" if label else ""))
        for level in (0.0, 1.0):  # a fraction's bounds: the axis is the whole range, whatever the bands reach
            ax.axhline(level, color="0.6", linewidth=0.6, zorder=1)
        ax.axvline(REPORT_TAU, color=REF_COLOR, linestyle=":", linewidth=0.9, zorder=1)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("τ: final progress (J − J₀)/(J* − J₀)")
        ax.set_ylabel("fraction of runs with score > τ")
        ax.set_title(f"Performance profiles ({envs} environments, weighted equally)" if envs > 1
                     else "Performance profiles (one environment)")
        leg.set_axis_off()
        leg.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=2, handlelength=2.6,
                   borderaxespad=0.0, borderpad=0.2, labelspacing=0.35)
        return fig
