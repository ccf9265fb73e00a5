"""Sections that use the exact references (the coverage of the intervals: :mod:`.coverage`): how variance grows
with the horizon (exact local exponents and the lecture's H³,
with its assumptions checked on each problem), paired comparisons with their multiple-comparison
families, and where the variance comes from (the time-ordered decomposition).

No sentence names a problem's properties from prose: whether rewards share a sign, whether γ = 1,
how likely an episode ends before H -- all are columns of the exact-curves table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgexp.analysis.aggregate import exact_per_trajectory
from pgexp.analysis.slopes import exact_local_exponents
from pgexp.report.format import ci, flag, fmt, fmt2, has, horizon, num, pair, pct, where
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section
from pgexp.report.sections.estimation import env_groups

LECTURE_EXPONENT = 3.0

# ------------------------------------------------------------------------------------------ exponents

ASSUMPTIONS = ("rewards_same_sign", "discount_one", "p_end_before_h")


def _assumption_text(row: pd.Series) -> tuple[bool | None, str]:
    """Whether the H³ argument's assumptions hold at this horizon, and which fail (from the table's columns)."""
    if not set(ASSUMPTIONS) <= set(row.index):
        return None, "its assumptions are not recorded in the exact table"
    failed = []
    if not bool(row["rewards_same_sign"]):
        failed.append("the rewards it can collect are not of one sign")
    if not bool(row["discount_one"]):
        failed.append("γ < 1")
    p_end = float(row["p_end_before_h"])
    if not p_end < 1e-12:
        failed.append(f"an episode ends before H with probability {fmt(p_end)}")
    if failed:
        return False, "the H³ argument does not apply: " + "; ".join(failed)
    return True, "the H³ argument's assumptions hold (rewards of one sign, γ = 1, no episode ends before H)"


H3_TOLERANCE = 0.1  # an exact local exponent this close to 3 is "consistent with H³" (it has no sampling error)


def _reinforce_slope(slopes: pd.DataFrame | None, env: str, theta: str,
                     metrics: pd.DataFrame | None) -> pd.Series | None:
    """REINFORCE~none's fitted Monte-Carlo slope row for one problem at the horizon sweep's batch size, or ``None``."""
    if not has(slopes, ["env_name", "estimator", "baseline", "slope"]):
        return None
    s = slopes[
        (slopes["env_name"].astype(str) == env) & (slopes["estimator"] == "reinforce") & (slopes["baseline"] == "none")
    ]
    if theta and "theta_name" in s:
        s = s[s["theta_name"].astype(str) == theta]
    if has(metrics, ["sweep", "batch_size", "env_name"]) and "batch_size" in s:
        ref = metrics[(metrics["env_name"].astype(str) == env) & metrics["sweep"].isin(["horizon", "both"])]
        if len(ref):
            s = s[s["batch_size"] == ref["batch_size"].iloc[0]]
    return None if s.empty else s.iloc[0]


def _slope_text(slopes: pd.DataFrame | None, env: str, theta: str, metrics: pd.DataFrame | None) -> str:
    r = _reinforce_slope(slopes, env, theta, metrics)
    if r is None:
        return ""
    return (
        f" One log-log line through the Monte-Carlo variances over H = {horizon(r['h_min'])}–{horizon(r['h_max'])} "
        f"has slope {ci(r['slope'], r['slope_lo'], r['slope_hi'], fmt2)}: an average over the regimes above."
    )


def consistent_with_h3(slope: pd.Series | None, exponent: float) -> tuple[bool, str]:
    """Whether REINFORCE's growth is consistent with H³ at the studied horizons, and the evidence.

    The exact local exponent at the longest horizons (``exponent``) decides where there is one: it has no sampling
    error, so "consistent" means within :data:`H3_TOLERANCE` of 3.  The fitted Monte-Carlo exponent's interval
    (``slope``) decides otherwise; it averages over every studied horizon, so where both exist it is quoted
    beside the exact one, not used (on the default study a garnet whose exact exponent is 3.00 at the longest
    horizons has the fitted 2.98 [2.97, 2.99], and a chain at exact 2.20 the fitted 3.31 [3.22, 3.42])."""
    fitted = ""
    if slope is not None and np.isfinite(float(slope.get("slope_lo", np.nan))):
        lo, hi = float(slope["slope_lo"]), float(slope["slope_hi"])
        fitted = f"fitted exponent over all horizons {ci(slope['slope'], lo, hi, fmt2)}"
        if not np.isfinite(exponent):
            return bool(lo <= LECTURE_EXPONENT <= hi), fitted
    if not np.isfinite(exponent):
        return False, "no exponent"
    text = f"exact local exponent {fmt2(exponent)}" + (f", {fitted}" if fitted else "")
    return bool(abs(exponent - LECTURE_EXPONENT) <= H3_TOLERANCE), text


def relative_exponent(exact: pd.DataFrame, env: str, theta: str, est: str, base: str, h_from: int,
                      h_to: int) -> float:
    """The exact local exponent of the *relative* variance ``var_per_traj / ||grad J||²`` between two horizons
    (``||grad J||² = snr_exact · trace_cov_exact``); NaN without those columns.  ``||grad J||²`` grows with H too
    (like H² where the H³ argument applies), so this is what a fixed step size feels."""
    if not {"snr_exact", "trace_cov_exact"} <= set(exact.columns):
        return float("nan")
    g = exact[(exact["env_name"].astype(str) == env) & (exact["estimator"] == est) & (exact["baseline"] == base)]
    if theta and "theta_name" in g:
        g = g[g["theta_name"].astype(str) == theta]
    rel = {}
    for h in (h_from, h_to):
        r = g[g["horizon"] == h]
        if r.empty:
            return float("nan")
        r = r.iloc[0]
        g2 = float(r["snr_exact"]) * float(r["trace_cov_exact"])
        rel[h] = float(r["var_per_traj_exact"]) / g2 if g2 > 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(rel[h_to] / rel[h_from]) / np.log(h_to / h_from))


def h3_headline(hold: list[tuple[str, float, float, int, int]], short: list[tuple[str, float, str]],
                fail: list[tuple[str, float, float, int, int]], relative: list[str]) -> str | None:
    """The Summary's H³ sentence: problems whose assumptions hold *and* whose growth is consistent with H³
    (:func:`consistent_with_h3`), those whose assumptions hold but whose exponent is still below 3 at the studied
    horizons (H³ at most asymptotically), those where the assumptions fail, and the growth relative to ‖∇J‖²."""
    if not (hold or short or fail):
        return None
    if not (hold or short):
        es = [e for _, e, _, _, _ in fail]
        return (f"H³: its assumptions fail in every problem of this study; REINFORCE's exact local "
                f"exponent at the longest horizons is {fmt2(min(es))} to {fmt2(max(es))}.")
    text = (
        "H³: where its assumptions hold and REINFORCE's exact local exponent at the longest horizons is 3 "
        f"(within {H3_TOLERANCE:g}) ("
        + "; ".join(
            f"{lab}: REINFORCE H^{fmt2(e)}"
            + (f", reward_to_go~value_exact H^{fmt2(e2)}" if np.isfinite(e2) else "")
            + f" at H = {a}→{b}"
            for lab, e, e2, a, b in hold
        )
        + ")"
    ) if hold else "H³: consistent with no problem's studied horizons"
    if short:
        text += (
            "; where its assumptions hold but the exponent is not 3, H³ is at most reached asymptotically ("
            + "; ".join(f"{lab}: {ev}" for lab, e, ev in short)
            + ")"
        )
    if fail:
        es = [e for _, e, _, _, _ in fail]
        text += f"; where they fail, REINFORCE's exponent at the longest horizons is {fmt2(min(es))} to {fmt2(max(es))}"
    if relative:
        text += "; relative to ‖∇J‖², which grows with H too, the per-trajectory variance grows like " + "; ".join(
            relative)
    return text + " (exact local exponents)."


def horizon_tables(ctx: ReportContext, loc: pd.DataFrame, slopes: pd.DataFrame | None) -> str:
    """The horizon section's figure and tables: the exact local exponents, the fitted Monte-Carlo slopes."""
    body = ctx.figure("variance_vs_horizon")
    body += ctx.table(
        "exact",
        loc,
        ["env_name", "theta_name", "estimator", "baseline", "h_from", "h_to", "exponent"],
        title="Exact local exponents d log Var / d log H",
    )
    if has(slopes, ["slope"]):
        sl = slopes.assign(
            pair=[pair(e, b) for e, b in zip(slopes["estimator"], slopes["baseline"])],
            h_range=[f"{horizon(a)}–{horizon(b)}" for a, b in zip(slopes["h_min"], slopes["h_max"])],
        )
        body += ctx.table(
            "slopes",
            sl,
            ["env_name", "theta_name", "pair", "batch_size", "slope", "h_range"],
            title="Fitted Monte-Carlo slopes (log-log, per batch size)",
        )
    return body


@register_section("horizon", "Variance against the horizon: where the lecture's H³ holds", order=40, needs=("exact",))
def horizon_section(ctx: ReportContext) -> SectionOutput | None:
    exact, slopes, metrics = ctx.tables["exact"], ctx.tables.get("slopes"), ctx.tables.get("metrics")
    exact = exact_per_trajectory(exact)  # one row per horizon (the exact table may have one per batch size)
    loc = exact_local_exponents(exact)
    if loc.empty:
        return None
    findings: list[Finding] = []
    # per problem: (label, REINFORCE's exponent, reward_to_go~value_exact's, h_from, h_to)
    hold: list[tuple[str, float, float, int, int]] = []
    short: list[tuple[str, float, str]] = []  # assumptions hold, H³ not reached at the studied horizons
    fail: list[tuple[str, float, float, int, int]] = []
    relative: list[str] = []
    for env, theta, label, g in env_groups(loc):
        r = g[(g["estimator"] == "reinforce") & (g["baseline"] == "none")]
        if r.empty:
            continue
        first, last = r.iloc[0], r.iloc[-1]
        ex = exact[(exact["env_name"].astype(str) == env) & (exact["horizon"] == last["h_to"])]
        if theta and "theta_name" in ex:
            ex = ex[ex["theta_name"].astype(str) == theta]
        ok, why = _assumption_text(ex.iloc[0]) if len(ex) else (None, "its assumptions are not recorded")
        text = (
            f"{label}: REINFORCE's exact per-trajectory variance grows like H^{fmt2(last['exponent'])} between "
            f"H = {last['h_from']} and {last['h_to']} (H^{fmt2(first['exponent'])} between H = {first['h_from']} "
            f"and {first['h_to']}); {why}."
        )
        others = []
        for est, base in (("reinforce", "value_exact"), ("reward_to_go", "value_exact"), ("advantage_exact", "none")):
            b = g[(g["estimator"] == est) & (g["baseline"] == base)]
            if len(b):
                others.append(f"{pair(est, base)} H^{fmt2(b.iloc[-1]['exponent'])}")
        if others:
            text += f" At the same horizons: {', '.join(others)}."
        text += _slope_text(slopes, env, theta, metrics)
        findings.append(Finding(text, label))
        rv = g[(g["estimator"] == "reward_to_go") & (g["baseline"] == "value_exact")]
        item = (
            label,
            float(last["exponent"]),
            float(rv.iloc[-1]["exponent"]) if len(rv) else np.nan,
            int(last["h_from"]),
            int(last["h_to"]),
        )
        reached, evidence = consistent_with_h3(_reinforce_slope(slopes, env, theta, metrics), item[1])
        if ok and not reached:
            short.append((label, item[1], evidence))
        elif ok:
            hold.append(item)
        else:
            fail.append(item)
        rel = [(pair(e, b), relative_exponent(exact, env, theta, e, b, item[3], item[4]))
               for e, b in (("reinforce", "none"), ("reward_to_go", "value_exact"))]
        rel = [(n, x) for n, x in rel if np.isfinite(x)]
        if rel and ok:  # the Summary's sentence is about where the H³ argument applies
            relative.append(f"{label}: " + ", ".join(f"{n} H^{fmt2(x)}" for n, x in rel))
    headline = h3_headline(hold, short, fail, relative)
    if headline:
        findings.insert(0, Finding(headline, headline=12))
    body = horizon_tables(ctx, loc, slopes)
    intro = (
        "The lecture claims E‖g − ∇J‖² ≈ H³ for REINFORCE. The argument needs returns that grow linearly in H "
        "(rewards of one sign, no discounting, no episode ending before H) times a score sum whose variance grows "
        "like H. Each problem's exact curves record whether these hold; the exact local exponent d log Var / d log H "
        "between consecutive horizons shows the regime at each horizon, which one fitted line would average away."
    )
    return SectionOutput(findings, body, intro)


# ------------------------------------------------------------------------------------------ comparisons


@register_section(
    "comparisons",
    "Paired comparisons on common random numbers, corrected for multiplicity",
    order=50,
    needs=("comparisons",),
)
def comparisons_section(ctx: ReportContext) -> SectionOutput | None:
    c = ctx.tables["comparisons"]
    if not has(c, ["env_name", "var_ratio", "var_significant"]):
        return None
    findings: list[Finding] = []
    keys = [k for k in ("env_name", "theta_name", "horizon", "batch_size") if k in c]
    multi_theta = "theta_name" in c and c["theta_name"].nunique() > 1
    conf = float(c["confidence"].dropna().iloc[0]) if "confidence" in c and c["confidence"].notna().any() else 0.95
    for key, g in c.groupby(keys, sort=True):
        kv = dict(zip(keys, key))
        label = where(kv["env_name"], kv.get("theta_name", ""), multi_theta)
        m = int(g["family_size"].iloc[0]) if "family_size" in g else len(g)
        col = "var_significant_holm" if "var_significant_holm" in g else "var_significant"
        counts = [f"{int(flag(g, col).sum())} of {m} variance ratios"]
        for test, what in (("work", "work-normalised variance ratios"), ("mse", "MSE differences")):
            if f"{test}_significant_holm" in g:
                counts.append(f"{int(flag(g, f'{test}_significant_holm').sum())} {what}")
        corr = num(g[flag(g, "paired")], "correlation").mean() if "paired" in g else np.nan
        findings.append(
            Finding(
                f"{label} (H = {horizon(kv['horizon'])}, N = {kv['batch_size']}): "
                + ", ".join(counts)
                + f" are differences after Holm's correction (family: the {m} pairs of this cell; family-wise error "
                f"{1 - conf:.0%}; a pair counts only if its own {conf:.0%} interval also excludes 'no difference')"
                + (f"; paired errors correlate {fmt(corr)} on average" if np.isfinite(corr) else "")
                + ".",
                label,
            )
        )
    shown = c.assign(
        pair_a=[pair(e, b) for e, b in zip(c["estimator_a"], c["baseline_a"])],
        pair_b=[pair(e, b) for e, b in zip(c["estimator_b"], c["baseline_b"])],
    )
    body = ctx.table(
        "comparisons",
        shown,
        [
            "env_name",
            "theta_name",
            "pair_a",
            "pair_b",
            "var_ratio",
            "var_significant_holm",
            "work_ratio",
            "work_significant_holm",
            "mse_diff",
            "family_size",
        ],
        title="Every pair of the reference cell",
        page_size=10,
    )
    intro = (
        "Estimators of one cell see the same trajectories, so each ratio or difference gets a paired bootstrap "
        "interval (one resample of replicates for both). The family of a cell is all its pairs; Holm's step-down "
        "correction holds the family-wise error rate for any dependence between them."
    )
    return SectionOutput(findings, body, intro)


# ------------------------------------------------------------------------------------------ decomposition

SOURCES = ("initial_state", "actions", "transitions")


@register_section(
    "decomposition",
    "Where the variance comes from: initial state, actions, transitions",
    order=60,
    needs=("decomposition",),
)
def decomposition_section(ctx: ReportContext) -> SectionOutput | None:
    d = ctx.tables["decomposition"]
    shares = [f"{s}_share" for s in SOURCES]
    if not has(d, ["env_name", "estimator", "baseline", "horizon", "total", *shares]):
        return None
    if "step" in d:
        d = d[d["step"].isna()]
    findings: list[Finding] = []
    for _env, _t, label, g in env_groups(d):
        h = int(g["horizon"].max())
        at = g[g["horizon"] == h]
        for r in at[(at["estimator"] == "reinforce") & (at["baseline"] == "none")].itertuples():
            findings.append(
                Finding(
                    f"{label} (H = {h}): of REINFORCE's per-trajectory variance {fmt(r.total)}, "
                    f"{pct(r.actions_share)} comes from the actions, {pct(r.transitions_share)} from the "
                    f"transitions and {pct(r.initial_state_share)} from the initial state.",
                    label,
                )
            )
    body = ctx.table(
        "decomposition",
        d,
        [
            "env_name",
            "theta_name",
            "estimator",
            "baseline",
            "horizon",
            "total",
            "initial_state_share",
            "actions_share",
            "transitions_share",
        ],
        title="Exact decomposition of the per-trajectory variance",
    )
    intro = (
        "The time-ordered (Doob martingale) decomposition over the trajectory X = (s₀, a₀, s₁, a₁, …): "
        "tr Cov g = Σ_k E[tr Cov(E[g | X₀..X_k] | X₀..X_{k−1})], each term credited to the initial state, an action "
        "or a transition; exact where the trajectories can be enumerated."
    )
    return SectionOutput(findings, body, intro)
