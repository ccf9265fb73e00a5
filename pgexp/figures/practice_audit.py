"""Figure ``practice_audit``: what common implementation choices do to the gradient, against the batch size.

One row per (choice, environment) of the audit table, headed by it; columns: the relative squared bias
``‖E ĝ − ∇J‖²/‖∇J‖²``, the relative MSE ``E‖ĝ − ∇J‖²/‖∇J‖²`` and the cosine of the mean ``cos(E ĝ, ∇J)``,
against ``N`` (log scale).  A normalised-advantages row is not rescaled to ``∇J``'s length (its bias² and MSE
against ``∇J`` would mostly show its other step size): its first two panels show instead the effective step size
``k_i = ⟨ĝ_i, ∇J⟩/‖∇J‖²`` over batches (median, bars from the 10 % to the 90 % quantile; the textbook reference
beside it) and the angle of the mean to ``∇J``, each panel labelled.  (Rows, not columns: a page is taller than
wide, and three panels of a row leave room for every name.)  Points: Monte
Carlo with 95% intervals; thin lines: exact values where the exact engine has them.  Colour: the variant
(black: the textbook estimator each variant replaces), the same in every column; marker: the estimator it
modifies.  Each panel's y range is its points' range with intervals up to a quarter of it further
(:func:`~pgexp.figures.layout.robust_limits`); an interval the axis cuts ends in a triangle.  With the
normalisation-bias table, a last column shows the exact relative bias of normalised advantages on a
problem whose batches can be enumerated against its ``N -> inf`` limit ``L``, with its fitted rate: a last row, its
key beside it.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from pgexp.figures.data import ci_err
from pgexp.figures.layout import (
    BLANK,
    figure_with_legend,
    fixed_axes,
    legend_height,
    log_ticks,
    robust_limits,
    value_ticks,
)
from pgexp.figures.style import FIG_WIDTH, max_height, no_data, style

METRICS = (("rel_bias_sq", "bias² ‖E ĝ − ∇J‖²/‖∇J‖²", True), ("rel_mse", "MSE E‖ĝ − ∇J‖²/‖∇J‖²", True),
           ("cosine_mean", "cosine cos(E ĝ, ∇J)", False))
# a normalised row: (column, y label, log axis, lower / upper bar columns)
NORM_METRICS = (("step_k_median", "step size k", True, "step_k_q10", "step_k_q90"),
                ("angle_deg", "angle to ∇J (°)", False, "angle_deg_lo", "angle_deg_hi"),
                ("cosine_mean", "", False, "cosine_mean_lo", "cosine_mean_hi"))
CHOICE_TITLES = {"common": "no γʰ", "normalize": "normalised adv.", "truncate": "truncated"}
ZERO = 1e-12  # relative squared bias below this is round-off: not drawn
ROW_H = 1.3  # inches per row (print size)
# variant kind -> (colour, legend label); textbook black
KINDS = {"textbook": ("black", "textbook"), "common": ("#e69f00", "no γʰ (…_common)"),
         "norm": ("#cc79a7", "normalised advantages"), "common+norm": ("#d55e00", "no γʰ, normalised"),
         "cut-none": ("#56b4e9", "cut at T, no bootstrap"), "cut-value_exact": ("#0072b2", "cut, exact V bootstrap"),
         "cut-value_learned": ("#009e73", "cut, learned V̂ bootstrap")}
MARKERS = {"reward_to_go": "o", "gae": "s"}
ESTIMATOR_NAMES = {"reward_to_go": "reward-to-go", "gae": "GAE(λ)"}


def _base(estimator: str) -> str:
    return estimator.removesuffix("_common")


def kind(r: pd.Series) -> str:
    """The variant kind of an audit row (its colour)."""
    if r["choice"] == "textbook":
        return "textbook"
    if pd.notna(r.get("truncate")):
        return f"cut-{r.get('truncate_bootstrap')}"
    common = str(r["estimator"]).endswith("_common")
    norm = bool(r.get("normalize_advantages"))
    return "common+norm" if common and norm else "norm" if norm else "common"


def _label(r: pd.Series) -> str:
    est = str(r["estimator"]).replace("reward_to_go", "rtg")
    if bool(r.get("normalize_advantages")):
        est += " +norm"
    if pd.notna(r.get("truncate")):
        est += f" cut {int(r['truncate'])}, {r['truncate_bootstrap']}"
    return est


def draw(tables: dict[str, pd.DataFrame]) -> Figure:
    """The figure from ``tables["audit"]`` (and ``tables["normalization"]`` when given)."""
    df = tables.get("audit")
    if df is None or df.empty:
        return no_data("practice audit", "the study has no practice_audit section")
    return _draw(df, tables.get("normalization"))


def _columns(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    out = []
    for choice in CHOICE_TITLES:
        sub = df[df["choice"] == choice]
        for env in sorted(sub["env_name"].unique()):
            variants = set(sub[sub["env_name"] == env]["variant"])
            refs = set(sub[sub["env_name"] == env]["reference"])
            rows = df[(df["env_name"] == env) & (df["variant"].isin(variants | refs))]
            out.append((choice, env, rows))
    return out


def _legend(df: pd.DataFrame, scale: float) -> list:
    kinds = [k for k in KINDS if k in {kind(r) for _, r in df.iterrows()}]
    ests = [e for e in MARKERS if e in {_base(str(x)) for x in df["estimator"]}]
    ms = 3.5 * scale
    return [(["variant:", *(KINDS[k][1] for k in kinds)],
             [BLANK, *(Line2D([], [], color=KINDS[k][0], marker="o", markersize=ms, linestyle="none") for k in kinds)]),
            (["estimator:", *(ESTIMATOR_NAMES[e] for e in ests), "95% CI", "exact"],
             [BLANK, *(Line2D([], [], color="0.35", marker=MARKERS[e], markersize=ms, linestyle="none") for e in ests),
              Line2D([], [], color="0.35", marker="|", markersize=3 * ms, linestyle="none"),
              Line2D([], [], color="0.35", linewidth=0.9 * scale)])]


def _draw(df: pd.DataFrame, norm: pd.DataFrame | None) -> Figure:
    cols = _columns(df)
    extra = norm is not None and not norm.empty and bool(norm["enumerated"].astype(bool).any())
    n = len(cols) + (1 if extra else 0)
    width = FIG_WIDTH
    with style():
        legend = _legend(df, 1.0)
        room = max_height(width) - legend_height(legend, width, 1.0)
        fig, grid = figure_with_legend(width, min(n * ROW_H + 0.3, room), legend, 1.0)
        axes = grid.subplots(n, len(METRICS), squeeze=False)
        fixed_axes(axes)
        for i, (choice, env, rows) in enumerate(cols):
            _audit_row(axes[i], rows, NORM_METRICS if choice == "normalize" else None)
            axes[i, 1].set_title(f"{CHOICE_TITLES[choice]}: {env}")  # the row's heading, over its middle panel
        if extra:
            for ax in axes[-1, 1:]:
                ax.remove()
            key = grid.add_subplot(axes[0, 0].get_subplotspec().get_gridspec()[n - 1, 1:])
            _normalization_row(axes[-1, 0], key, norm)
        for j, (_, header, _) in enumerate(METRICS):
            axes[0, j].annotate(header, xy=(0.5, 1.0), xycoords="axes fraction", xytext=(0, 16),
                                textcoords="offset points", ha="center", va="bottom", fontstyle="italic",
                                fontsize=matplotlib.rcParams["axes.labelsize"])
        for i, row in enumerate(axes):
            last = i == len(cols) - 1 or (extra and i == n - 1)
            for ax in row:
                ax.tick_params(labelbottom=last)
                if last:
                    ax.set_xlabel("batch size N")
        return fig


def _audit_row(row: np.ndarray, rows: pd.DataFrame, metrics: tuple | None = None) -> None:
    """The three panels of one (choice, environment): :data:`METRICS`, or ``metrics`` (labelled panels:
    :data:`NORM_METRICS`)."""
    spec = metrics or tuple((name, "", log, f"{name}_lo", f"{name}_hi") for name, _, log in METRICS)
    drawn: list[list[np.ndarray]] = [[] for _ in spec]
    ends: list[list[np.ndarray]] = [[] for _ in spec]
    sizes: list[np.ndarray] = []
    for _, g in rows.groupby("variant", sort=True):
        g = g.sort_values("batch_size")
        first = g.iloc[0]
        colour = KINDS.get(kind(first), ("0.5", ""))[0]
        marker = MARKERS.get(_base(str(first["estimator"])), "D")
        N = g["batch_size"].to_numpy(dtype=float)
        sizes.append(N)
        for i, (name, _, log, lo_col, hi_col) in enumerate(spec):
            ax = row[i]
            v, lo, hi = (g[c].to_numpy(dtype=float) if c in g else np.full(N.size, np.nan)
                         for c in (name, lo_col, hi_col))
            keep = np.isfinite(v) & ((v > 0) | (not log))
            if keep.any():
                low = np.where(lo > 0, lo, 1e-300) if log else lo  # a lower end at 0 reaches the axis
                ax.errorbar(N[keep], v[keep], yerr=ci_err(v[keep], low[keep], hi[keep]), fmt=marker, ms=3.5,
                            color=colour, capsize=2, lw=0.9, label=_label(first))
                drawn[i].append(v[keep])
                ends[i] += [lo[keep], hi[keep]]
            ex = g[f"{name}_exact"].to_numpy(dtype=float) if f"{name}_exact" in g else np.full(N.size, np.nan)
            ok = np.isfinite(ex) & ((ex > ZERO) | (not log))  # an exact zero (round-off) has no place on a log axis
            if ok.any():
                ax.plot(N[ok], ex[ok], "-", color=colour, lw=0.9, alpha=0.8)
                drawn[i].append(ex[ok])
    for i, (_, label, log, _, _) in enumerate(spec):
        _limits(row[i], drawn[i], ends[i], log, sizes)
        if label:
            row[i].set_ylabel(label, fontsize=7.5)


def _limits(ax, drawn: list[np.ndarray], ends: list[np.ndarray], log: bool, sizes: list[np.ndarray]) -> None:
    vals = np.concatenate(drawn) if drawn else np.array([])
    bounds = np.concatenate(ends) if ends else np.array([])
    if log:
        ax.set_yscale("log")
        limits = robust_limits(vals, bounds, bounds, log=True, pad=1.8)
    else:
        limits = robust_limits(vals, bounds, bounds, log=False, pad=0.08, min_span=0.01)
    if limits is not None:
        ax.set_ylim(*limits)
        if log:
            log_ticks(ax, *limits, max_ticks=4)
    ns = np.unique(np.concatenate(sizes)) if sizes else np.array([])
    ax.set_xscale("log", base=2)
    if ns.size:
        ax.set_xlim(ns.min() / 1.3, ns.max() * 1.3)
        value_ticks(ax, ns, every=max(1, -(-len(ns) // 5)))  # the batch sizes, in plain numbers


def _normalization_row(ax, key, norm: pd.DataFrame) -> None:
    """Exact relative bias of normalised advantages against N (enumerated batches), MC beside it, in ``ax``;
    its key and the row's heading in ``key``."""
    keys = [k for k in ("problem", "env") if k in norm.columns][:1] or ["env"]
    drawn, ends, sizes = [], [], []
    for k, ((where, est, _), g) in enumerate(norm.groupby([keys[0], "estimator", "baseline"], sort=True)):
        g = g.sort_values("batch_size")
        colour = KINDS["common+norm" if str(est).endswith("_common") else "norm"][0]
        style_ = ["-", "--", ":", "-."][k % 4]
        ex = g[g["enumerated"].astype(bool)]
        slope = ex["rate_slope"].iloc[0] if len(ex) and np.isfinite(ex["rate_slope"].iloc[0]) else None
        label = f"{where}: {est.replace('reward_to_go', 'rtg')}" + (f" (N^{slope:.2f})" if slope is not None else "")
        ax.plot(ex["batch_size"], ex["rel_bias_sq_exact"], style_, color=colour, lw=1.0, label=label)
        drawn.append(ex["rel_bias_sq_exact"].to_numpy(dtype=float))
        sizes.append(g["batch_size"].to_numpy(dtype=float))
        mc = g[np.isfinite(g["rel_bias_sq"].astype(float)) & (g["rel_bias_sq"].astype(float) > 0)]
        if len(mc):
            v = mc["rel_bias_sq"].to_numpy(dtype=float)
            lo, hi = mc["rel_bias_sq_lo"].to_numpy(dtype=float), mc["rel_bias_sq_hi"].to_numpy(dtype=float)
            ax.errorbar(mc["batch_size"], v, yerr=ci_err(v, np.where(lo > 0, lo, 1e-300), hi), fmt="o", ms=3,
                        color=colour, capsize=2, lw=0.8)
            drawn.append(v)
            ends += [lo, hi]
    _limits(ax, drawn, ends, True, sizes)
    ax.set_ylabel("‖E ĝ − L‖²/‖L‖²", fontsize=7.5)
    key.set_axis_off()
    key.set_title("normalisation bias (exact)")
    key.legend(*ax.get_legend_handles_labels(), loc="center", handlelength=2.4, borderaxespad=0.0,
               title="problem: estimator (fitted rate of the exact bias)\npoints: Monte Carlo, 95% CI",
               alignment="left")


__all__ = ["draw"]
