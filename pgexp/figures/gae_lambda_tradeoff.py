"""Figure ``gae_lambda_tradeoff``: GAE's exact bias², variance and MSE against lambda, for several N.

One row of panels per (environment, policy point), one column per value function (V = 0, a perturbed
V^pi, V^pi).  In each panel, on log axes against lambda: the squared bias (black dashed; the same for
every N), and for each batch size N the variance of the batch estimate ``tr Cov / N`` (dotted) and the
MSE (solid), with the best lambda (least MSE) marked.  Every number is exact (``pgexp lambda-tradeoff``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures.layout import fixed_axes, log_ticks, panel_label
from pgexp.figures.style import max_height, new_figure, no_data, print_scale, style

ROLE = "tradeoff"  # the registry's table role (table gae_lambda_tradeoff)
VALUE_TITLES = {"none": "V = 0", "perturbed": r"perturbed $V^{\pi}$", "exact": r"$V^{\pi}$", "table": "user's V"}
DECADES = 3  # the y axis shows this many decades below the least MSE: smaller bias² is clipped to the floor


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    """The figure from ``tables["tradeoff"]`` (columns of :mod:`pgexp.cli.lambda_tradeoff`)."""
    df = tables.get(ROLE)
    if df is None or df.empty:
        return no_data("GAE's λ trade-off", "no environment of this study estimates with GAE")
    values = [v for v in VALUE_TITLES if v in set(df["value"])]
    width = 2.4 * len(values) + 1.2
    scale = print_scale(width)
    with style(scale):
        return _draw(df, values, width, scale)


def _draw(df: pd.DataFrame, values: list[str], width: float, scale: float) -> Figure:
    keys = [k for k in ("env_name", "theta_name") if k in df.columns]
    panels = list(df.groupby(keys, sort=True)) if keys else [((), df)]
    sizes = sorted(df["batch_size"].unique())
    colours = {n: c for n, c in zip(sizes, ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00"] * 4)}
    fig = new_figure(width, min(2.1 * len(panels) + 0.6, max_height(width)))  # rows share a page's height
    axes = fig.subplots(len(panels), len(values), squeeze=False)
    fixed_axes(axes)
    lw = scale
    for i, (key, g) in enumerate(panels):
        parts = [str(k) for k in (key if isinstance(key, tuple) else (key,))]
        label = panel_label(f"{parts[0]} (θ: {parts[1]})" if len(parts) == 2 else " / ".join(parts))
        H = int(g["horizon"].iloc[0]) if "horizon" in g.columns else None
        for j, v in enumerate(values):
            ax = axes[i, j]
            gv = g[g["value"] == v].sort_values("lam")
            first = gv[gv["batch_size"] == sizes[0]]
            floor = 10.0 ** -DECADES * float(gv["mse"].min())
            top = 2.0 * float(gv["mse"].max())
            if (first["bias_sq"] > 1e-12 * top).any():
                ax.plot(first["lam"], np.clip(first["bias_sq"], floor, None), "k--", lw=1.2 * lw, label="bias²")
            else:
                ax.text(0.5, 0.04, "bias² = 0 at every λ", transform=ax.transAxes, ha="center", fontsize=7 * scale)
            for n in sizes:
                gn = gv[gv["batch_size"] == n]
                c = colours[n]
                ax.plot(gn["lam"], gn["trace_cov"], ":", color=c, lw=1.2 * lw)
                ax.plot(gn["lam"], gn["mse"], "-", color=c, lw=1.5 * lw, label=f"MSE, N = {n}")
                best = gn[gn["best"]]
                ax.plot(best["lam"], best["mse"], "o", color=c, ms=4 * scale)
            ax.set_yscale("log")
            ax.set_ylim(floor, top)
            ax.set_xlim(-0.04, 1.04)
            log_ticks(ax, floor, top, max_ticks=4)
            if i == 0:
                ax.set_title(VALUE_TITLES[v])
            if j == 0:
                ax.set_ylabel(f"{label}" + (f" (H = {H})" if H is not None and H > 0 else "") + "\nexact, log scale",
                              fontsize=8 * scale)
            if i == len(panels) - 1:
                ax.set_xlabel("GAE λ")
            else:
                ax.tick_params(labelbottom=False)
    handles, labels = [], []
    for ax in axes.flat:  # the first panel may lack the bias² line (V^pi alone)
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    handles.append(Line2D([], [], color="grey", ls=":", lw=1.2 * lw))
    labels.append("variance tr Cov / N")
    handles.append(Line2D([], [], color="grey", ls="", marker="o", ms=4 * scale))
    labels.append("best λ (least MSE)")
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), frameon=False)
    return fig
