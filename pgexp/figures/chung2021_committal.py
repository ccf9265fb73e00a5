"""Figure ``chung2021_committal``: how often stochastic NPG and vanilla policy gradient commit to a suboptimal arm
of the 3-armed bandit, by baseline (a centre ``b*`` or ``b_npg``, minus 1, itself, plus 1), as in Chung et al. (2021).

Left: per optimizer, centre and step size, the fraction of seeds committed to a suboptimal arm by ``T``, with
95 % Wilson intervals, one bar per offset; hatched on top, the runs not committed by ``T`` (censored: they
could still end either way).  Right: the exact trace variance at ``theta_0`` of the update each optimizer
applies, by offset: vanilla PG at ``b*`` (equal at ``b* +- 1``), NPG's policy part at ``b*`` (not equal) and
at ``b_npg`` (equal).
Tables: ``summary`` (``pgexp curves``), ``variance`` (``pgexp baseline-variance``, optional).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.paper_style import CENTRE_NAMES, PALETTE, eta_label
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

TITLE = "Committal baselines on a 3-armed bandit (Chung et al. 2021)"
OPTIMIZER_NAMES = {"npg": "natural PG", "sga": "vanilla PG"}


def _committal_panel(ax, rows: pd.DataFrame, offsets: list[float], title: str) -> None:
    """One optimizer and centre: per step size, a bar per offset (committed to a suboptimal arm, Wilson CI)
    with the runs not committed by ``T`` hatched on top."""
    etas = sorted(rows["step_size"].unique())
    width = 0.8 / max(len(offsets), 1)
    centre = CENTRE_NAMES.get(str(rows["baseline"].iloc[0]), "b")
    for j, e in enumerate(offsets):
        xs, ys, lo, hi, cens = [], [], [], [], []
        for i, eta in enumerate(etas):
            row = rows[(rows["step_size"] == eta) & (rows["baseline_offset"] == e)]
            if row.empty:
                continue
            r = row.iloc[0]
            xs.append(i + (j - (len(offsets) - 1) / 2) * width)
            ys.append(r["suboptimal_fraction"])
            lo.append(r["suboptimal_fraction"] - r["suboptimal_fraction_lo"])
            hi.append(r["suboptimal_fraction_hi"] - r["suboptimal_fraction"])
            cens.append((r["seeds"] - r["converged_seeds"]) / r["seeds"])
        if not xs:
            continue
        label = f"{centre} {'+' if e > 0 else '−'} {abs(e):g}" if e else centre
        ax.bar(xs, ys, width=width, color=PALETTE[j], label=label, yerr=[lo, hi], capsize=2, error_kw={"lw": 0.8})
        # the runs not committed by T on top, hatched: they could still end either way
        ax.bar(xs, cens, bottom=ys, width=width, color="white", edgecolor=PALETTE[j], hatch="////", linewidth=0.5,
               label="not committed by T" if j == len(offsets) - 1 else None)
    ax.set_xticks(range(len(etas)), [eta_label(a) for a in etas], fontsize=7)
    ax.set_xlabel("step size α")
    ax.set_ylim(0, 1.35)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper center", ncols=2, fontsize=6, borderaxespad=0.2)


def _variance_panel(ax, variance: pd.DataFrame) -> None:
    """The exact variance of the update each optimizer applies, by offset from its centre."""
    if "baseline" not in variance:
        variance = variance.assign(baseline="optimal_exact")
    offs = sorted(variance["offset"].unique())
    x = np.arange(len(offs))
    bars = [("optimal_exact", "grad_trace_cov", "vanilla PG update, b*", "0.7"),
            ("optimal_exact", "npg_trace_cov_policy", "NPG update, b*", "0.4"),
            ("optimal_npg_exact", "npg_trace_cov_policy", "NPG update, b_npg", "0.1")]
    bars = [b for b in bars if (variance["baseline"] == b[0]).any()]
    w = 0.8 / max(len(bars), 1)
    for k, (base, col, label, colour) in enumerate(bars):
        v = variance[variance["baseline"] == base].set_index("offset").reindex(offs)
        ax.bar(x + (k - (len(bars) - 1) / 2) * w, v[col], width=w, color=colour, label=label)
    ax.set_yscale("log")
    ax.set_xticks(x, ["centre" if e == 0 else f"centre {'+' if e > 0 else '−'} {abs(e):g}" for e in offs], fontsize=7)
    ax.set_ylabel("exact tr Cov at θ₀\n(batch of 1)")
    ax.set_title("variance of the update applied", fontsize=8)
    ax.legend(loc="upper center", fontsize=6, ncols=1, borderaxespad=0.2)
    ax.set_ylim(top=ax.get_ylim()[1] * 30)  # room for the legend above the bars


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    summary, variance = tables.get("summary"), tables.get("variance")
    if summary is None or summary.empty or "suboptimal_fraction" not in summary:
        return no_data(TITLE, "no training summary with convergence columns")
    # the centre of the offsets: b* unless the table names another
    summary = summary.assign(baseline=summary["baseline"].fillna("optimal_exact").astype(str)
                             if "baseline" in summary else "optimal_exact")
    summary = summary[np.isfinite(summary["suboptimal_fraction"].to_numpy(dtype=float))]
    offsets = sorted(summary["baseline_offset"].unique())
    groups = summary[["optimizer", "baseline"]].drop_duplicates().sort_values(["optimizer", "baseline"])
    panels = len(groups) + 1
    ncols = 2
    nrows = int(np.ceil(panels / ncols))
    with style():
        fig = new_figure(FIG_WIDTH, 2.6 * nrows + 0.4)
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        for ax, (_, g) in zip(axes, groups.iterrows()):
            rows = summary[(summary["optimizer"] == g["optimizer"]) & (summary["baseline"] == g["baseline"])]
            centre = CENTRE_NAMES.get(g["baseline"], g["baseline"])
            _committal_panel(ax, rows, offsets, f"{OPTIMIZER_NAMES.get(g['optimizer'], g['optimizer'])}, "
                                                f"baselines around {centre}")
        for ax in axes[: len(groups)][::ncols]:
            ax.set_ylabel("seeds committed to a\nsuboptimal arm (95% CI)")
        rest = axes[len(groups):]
        if variance is not None and not variance.empty and len(rest):
            _variance_panel(rest[0], variance)
            rest = rest[1:]
        for ax in rest:
            ax.set_axis_off()
        fig.suptitle(TITLE, fontsize=9.5, fontweight="bold")
    return fig
