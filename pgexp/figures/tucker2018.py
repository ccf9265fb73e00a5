"""The figures of ``tucker2018_mirage``: the per-step terms of Tucker et al. (their Figure 1, on every problem) and
what an action-dependent baseline leaves of the whole trajectory's variance.

Tables: ``tucker`` (``pgexp tucker``, the study's ``tucker_terms``) and ``comparisons`` (``pgexp compare`` of the
Monte-Carlo arm).  The pair whose terms are drawn is ``reward_to_go~value_exact`` (the exact state baseline).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from pgexp.figures.paper_style import PALETTE
from pgexp.figures.style import FIG_WIDTH, new_figure, no_data, style

REFERENCE = ("reward_to_go", "value_exact")
TERM_LABELS = {"sigma_tau": "Σ_τ (rest of the trajectory)", "sigma_a": "Σ_a (the action)", "sigma_s": "Σ_s (the state)"}
TERM_COLORS = {"sigma_tau": PALETTE[0], "sigma_a": PALETTE[3], "sigma_s": PALETTE[2]}
EXACT_BARS = (("reward_to_go", "none", "no baseline"), ("reward_to_go", "q_exact", "exact Q (action-dep.)"),
              ("reward_to_go", "q_optimal", "optimal b(s, a)"), ("gae", "value_exact", "GAE(λ), exact V"),
              ("all_action", "q_exact", "all-action, exact Q"))
FLOOR = 1e-4  # the exact ratios' axis starts here; below it a bar is an exact zero, marked "0"
PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
FITTED_BARS = (("reward_to_go", "q_fitted", "fitted Q̂ (action-dep.)"), ("all_action", "q_fitted", "all-action, Q̂"))


def _problems(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["env_name"])) if "env_name" in df else ["problem"]


def _rows(df: pd.DataFrame, env: str, estimator: str, baseline: str) -> pd.DataFrame:
    m = (df["estimator"] == estimator) & (df["baseline"] == baseline)
    if "env_name" in df:
        m &= df["env_name"] == env
    return df[m]


def draw_terms(tables: dict[str, pd.DataFrame]) -> Figure:
    """Per problem, the three terms of each step (log scale) for the exact state baseline; dashed: ``Sigma_a`` with no
    baseline; dotted: with the exact action-dependent baseline where it is not zero (Gaussian: the linear form)."""
    df = tables.get("tucker")
    title = "Per-step variance terms with the exact state baseline (Tucker et al. 2018, Figure 1)"
    if df is None or df.empty:
        return no_data(title, "no Tucker decomposition table")
    steps = df[df["step"].notna()]
    envs = [e for e in _problems(steps) if not _rows(steps, e, *REFERENCE).empty]
    if not envs:
        return no_data(title, "no per-step rows of reward_to_go~value_exact")
    cols = min(4, len(envs))
    rows = math.ceil(len(envs) / cols)
    with style():
        fig = new_figure(FIG_WIDTH, 1.9 * rows + 0.5)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, env in zip(axes, envs):
            ref = _rows(steps, env, *REFERENCE).sort_values("step")
            # exact zeros come out of the recursions as round-off: below 1e-9 of the panel's largest term, not drawn
            floor = 1e-9 * float(np.nanmax(ref[list(TERM_LABELS)].to_numpy(dtype=float), initial=0.0))
            for term, label in TERM_LABELS.items():
                y = ref[term].to_numpy(dtype=float)
                ax.plot(ref["step"], np.where(y > floor, y, np.nan), color=TERM_COLORS[term], label=label, lw=1.2)
            for (est, base), ls, label in ((("reward_to_go", "none"), "--", "Σ_a, no baseline"),
                                           (("reward_to_go", "q_exact"), ":", "Σ_a, exact Q (linear in a)")):
                other = _rows(steps, env, est, base).sort_values("step")
                y = other["sigma_a"].to_numpy(dtype=float) if not other.empty else np.array([])
                if y.size and np.nanmax(y) > floor:
                    ax.plot(other["step"], np.where(y > floor, y, np.nan), color=TERM_COLORS["sigma_a"], ls=ls,
                            lw=1.0, label=label)
            ax.set_yscale("log")
            ax.set_title(env, fontsize=8)
            ax.set_xlabel("time step t", fontsize=7)
        for ax in axes[len(envs):]:
            ax.set_axis_off()
        axes[0].set_ylabel("tr of the term (per trajectory)", fontsize=7)
        handles: dict[str, Any] = {}
        for ax in axes[:len(envs)]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(handles=list(handles.values()), labels=list(handles), loc="outside lower center", ncols=3,
                   fontsize=6.5)
        fig.suptitle(title, fontsize=9)
    return fig


def paired_ratio(comparisons: pd.DataFrame, env: str, a: tuple[str, str],
                 b: tuple[str, str]) -> tuple[float, float, float]:
    """``tr Cov(a) / tr Cov(b)`` with its paired interval from ``pgexp compare`` (either orientation), or NaNs."""
    c = comparisons[comparisons["env_name"] == env] if "env_name" in comparisons else comparisons
    for (x, y), flip in ((a, b), False), ((b, a), True):
        m = c[(c["estimator_a"] == x[0]) & (c["baseline_a"] == x[1]) & (c["estimator_b"] == y[0])
              & (c["baseline_b"] == y[1])]
        if not m.empty:
            r = m.iloc[0]
            if flip:
                return 1 / r["var_ratio"], 1 / r["var_ratio_hi"], 1 / r["var_ratio_lo"]
            return float(r["var_ratio"]), float(r["var_ratio_lo"]), float(r["var_ratio_hi"])
    return math.nan, math.nan, math.nan


def draw_variance(tables: dict[str, pd.DataFrame]) -> Figure:
    """Left: the whole trajectory's exact ``tr Cov g`` of each pair over the exact state baseline's.  Right: Monte
    Carlo at equal sample cost, the fitted action-dependent pairs over the fitted state baseline (paired ratio, CI)."""
    df, comp = tables.get("tucker"), tables.get("comparisons")
    title = "What an action-dependent baseline leaves of the variance"
    if df is None or df.empty:
        return no_data(title, "no Tucker decomposition table")
    whole = df[df["step"].isna()]
    envs = [e for e in _problems(whole) if not _rows(whole, e, *REFERENCE).empty]
    if not envs:
        return no_data(title, "no whole-trajectory rows of reward_to_go~value_exact")
    with style():
        fig = new_figure(FIG_WIDTH, 3.2)
        left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
        width = 0.8 / len(EXACT_BARS)
        for j, (est, base, label) in enumerate(EXACT_BARS):
            xs, ys = [], []
            for i, env in enumerate(envs):
                ref = float(_rows(whole, env, *REFERENCE)["trace_cov"].iloc[0])
                r = _rows(whole, env, est, base)
                if r.empty or ref <= 0:
                    continue
                x, y = i + (j - (len(EXACT_BARS) - 1) / 2) * width, float(r["trace_cov"].iloc[0]) / ref
                if y < FLOOR:  # an exact zero (the all-action estimator where the state is not random)
                    left.text(x, FLOOR * 1.3, "0", ha="center", va="bottom", fontsize=6, color=PALETTE[j])
                    continue
                xs.append(x)
                ys.append(y)
            left.bar(xs, ys, width=width, color=PALETTE[j], label=label)
        left.axhline(1.0, color="0.3", lw=0.8)
        left.set_yscale("log")
        left.set_ylim(FLOOR, None)
        left.yaxis.set_major_formatter(PLAIN)
        left.set_xticks(range(len(envs)), envs, rotation=30, ha="right", fontsize=6.5)
        left.set_ylabel("exact tr Cov g / with exact V", fontsize=7)
        left.set_title("exact, one trajectory", fontsize=8)
        if comp is not None and not comp.empty:
            width = 0.8 / len(FITTED_BARS)
            for j, (est, base, label) in enumerate(FITTED_BARS):
                xs, ys, lo, hi = [], [], [], []
                for i, env in enumerate(envs):
                    v, a, b = paired_ratio(comp, env, (est, base), ("reward_to_go", "value_learned"))
                    if not math.isfinite(v):
                        continue
                    xs.append(i + (j - (len(FITTED_BARS) - 1) / 2) * width)
                    ys.append(v)
                    lo.append(max(v - a, 0.0))
                    hi.append(max(b - v, 0.0))
                right.bar(xs, ys, width=width, color=PALETTE[5 + j], label=label, yerr=[lo, hi], capsize=2,
                          error_kw={"lw": 0.8})
            right.axhline(1.0, color="0.3", lw=0.8)
            right.set_yscale("log")
            right.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            right.yaxis.set_major_formatter(PLAIN)
            right.yaxis.set_minor_formatter(NullFormatter())
            right.set_xticks(range(len(envs)), envs, rotation=30, ha="right", fontsize=6.5)
            right.set_ylabel("tr Cov / with fitted V̂ (95% CI)", fontsize=7)
            right.set_title("Monte Carlo, equal sample cost", fontsize=8)
        else:
            right.set_axis_off()
        handles: dict[str, Any] = {}
        for ax in (left, right):
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(handles=list(handles.values()), labels=list(handles), loc="outside lower center", ncols=4,
                   fontsize=6.5)
        fig.suptitle(title, fontsize=9)
    return fig
