"""Figure ``practice_audit``: what common implementation choices do to the gradient, against the batch size.

One column per (choice, environment) of the audit table; rows: the relative squared bias
``‖E ĝ − ∇J‖²/‖∇J‖²``, the relative MSE ``E‖ĝ − ∇J‖²/‖∇J‖²`` and the cosine of the mean ``cos(E ĝ, ∇J)``,
against ``N`` (log scale).  Points: Monte Carlo with 95% intervals; thin lines: exact values where the exact
engine has them.  Black: the textbook estimator each variant replaces.  With the normalisation-bias table,
a last column shows the exact relative bias of normalised advantages on a problem whose batches can be
enumerated, with its fitted rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pgexp.figures.data import ci_err
from pgexp.figures.style import new_figure, no_data, style

ROWS = (("rel_bias_sq", "bias² / ‖∇J‖²", True), ("rel_mse", "MSE / ‖∇J‖²", True),
        ("cosine_mean", "cos(E ĝ, ∇J)", False))
CHOICE_TITLES = {"common": "no γʰ", "normalize": "normalised adv.", "truncate": "truncated"}
ZERO = 1e-12  # relative squared bias below this is round-off: not drawn
PALETTE = ["#e69f00", "#56b4e9", "#009e73", "#cc79a7", "#d55e00", "#0072b2"]


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
    with style():
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


def _draw(df: pd.DataFrame, norm: pd.DataFrame | None) -> Figure:
    cols = _columns(df)
    extra = norm is not None and not norm.empty and bool(norm["enumerated"].astype(bool).any())
    ncol = len(cols) + (1 if extra else 0)
    fig = new_figure(2.3 * ncol + 0.8, 6.4)
    axes = fig.subplots(len(ROWS), ncol, squeeze=False, sharex="col")
    for j, (choice, env, rows) in enumerate(cols):
        for k, (_, g) in enumerate(rows.groupby("variant", sort=True)):
            g = g.sort_values("batch_size")
            ref = bool((g["choice"] == "textbook").all())
            colour = "k" if ref else PALETTE[k % len(PALETTE)]
            label = _label(g.iloc[0]) + (" (textbook)" if ref else "")
            N = g["batch_size"].to_numpy(dtype=float)
            for i, (col, _, log) in enumerate(ROWS):
                ax = axes[i, j]
                v = g[col].to_numpy(dtype=float)
                lo = g[f"{col}_lo"].to_numpy(dtype=float)
                hi = g[f"{col}_hi"].to_numpy(dtype=float)
                keep = np.isfinite(v) & ((v > 0) | (not log))
                if keep.any():
                    ax.errorbar(N[keep], v[keep], yerr=ci_err(v[keep], lo[keep], hi[keep]), fmt="o", ms=3.5,
                                color=colour, label=label, capsize=2, lw=0.9)
                ex = g[f"{col}_exact"].to_numpy(dtype=float) if f"{col}_exact" in g else np.full(N.size, np.nan)
                ok = np.isfinite(ex) & ((ex > ZERO) | (not log))  # an exact zero (round-off) has no place on a log axis
                if ok.sum() >= 1:
                    ax.plot(N[ok], ex[ok], "-", color=colour, lw=0.9, alpha=0.8)
                if log:
                    ax.set_yscale("log")
                ax.set_xscale("log", base=2)
        axes[0, j].set_title(f"{CHOICE_TITLES[choice]}: {env}", fontsize=8.5)
        axes[-1, j].legend(fontsize=6, loc="best")  # the cosine row always has every variant
        axes[-1, j].set_xlabel("batch size N")
    if extra:
        _normalization_column(axes[:, -1], norm)
    for i, (_, name, _) in enumerate(ROWS):
        axes[i, 0].set_ylabel(name)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    return fig


def _normalization_column(axes: np.ndarray, norm: pd.DataFrame) -> None:
    """Exact relative bias of normalised advantages against N (enumerated batches), MC beside it."""
    ax = axes[0]
    keys = [k for k in ("problem", "env") if k in norm.columns][:1] or ["env"]
    for k, ((where, est, _), g) in enumerate(norm.groupby([keys[0], "estimator", "baseline"], sort=True)):
        g = g.sort_values("batch_size")
        colour = PALETTE[k % len(PALETTE)]
        ex = g[g["enumerated"].astype(bool)]
        slope = ex["rate_slope"].iloc[0] if len(ex) and np.isfinite(ex["rate_slope"].iloc[0]) else None
        label = f"{where}: {est.replace('reward_to_go', 'rtg')}" + (f" (N^{slope:.2f})" if slope is not None else "")
        ax.plot(ex["batch_size"], ex["rel_bias_sq_exact"], "-", color=colour, lw=1.0, label=label)
        mc = g[np.isfinite(g["rel_bias_sq"].astype(float)) & (g["rel_bias_sq"].astype(float) > 0)]
        if len(mc):
            v = mc["rel_bias_sq"].to_numpy(dtype=float)
            ax.errorbar(mc["batch_size"], v, yerr=ci_err(v, mc["rel_bias_sq_lo"].to_numpy(dtype=float),
                                                         mc["rel_bias_sq_hi"].to_numpy(dtype=float)),
                        fmt="o", ms=3, color=colour, capsize=2, lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_title("normalisation bias (exact)", fontsize=8.5)
    ax.set_ylabel("‖E ĝ − E g‖² / ‖E g‖²", fontsize=7)
    ax.set_xlabel("batch size N")
    ax.legend(fontsize=6, loc="best")
    for a in axes[1:]:
        a.set_visible(False)


__all__ = ["draw"]
