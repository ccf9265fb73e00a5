"""The report section that answers the lecture's question with exact references.

Generated from the tables, never typed: Monte-Carlo variances beside their exact values (points whose
interval misses the exact value are listed), the exact local exponents of variance in the horizon
against the lecture's H^3, paired comparisons on common random numbers, and the variance
decomposition by source.  Each part returns ``(sentences, html)``; :func:`variance_section` joins them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pgexp.report.html import _ci, _e, _fmt, _horizon, _pair, _table

LECTURE_EXPONENT = 3.0


def exact_agreement(metrics: pd.DataFrame) -> tuple[list[str], str]:
    """How many Monte-Carlo variances have their exact value inside their CI; the misses, listed."""
    if "exact_in_ci" not in metrics or metrics["exact_in_ci"].notna().sum() == 0:
        return [], ""
    m = metrics[metrics["exact_in_ci"].notna()]
    inside = m["exact_in_ci"].astype(bool)
    conf = float(m["confidence"].iloc[0]) if "confidence" in m else 0.95
    n, k = len(m), int(inside.sum())
    reps = int(m["replicates"].min()) if "replicates" in m else None
    expected = (1 - conf) * n
    text = (f"Exact vs Monte Carlo: the exact per-trajectory variance lies inside the {conf:.0%} interval of "
            f"{k} of {n} Monte-Carlo points ({k / n:.1%}; about {expected:.0f} misses are expected at this level"
            + (f", more when intervals rest on as few as {reps} replicates, where the bootstrap undercovers" if reps and reps < 100 else "")
            + ").")
    sentences = [text]
    opt = metrics[(metrics["baseline"] == "optimal") & metrics["var_per_traj_exact"].notna()]
    if len(opt):
        ratio = (opt["var_per_traj"] / opt["var_per_traj_exact"]).replace([np.inf, -np.inf], np.nan).dropna()
        by_n = opt.assign(r=opt["var_per_traj"] / opt["var_per_traj_exact"]).groupby("batch_size")["r"].median()
        sentences.append(
            "The optimal baseline fitted on an independent batch (Greensmith et al.) has a per-trajectory variance "
            f"a median {ratio.median():.2f}× the exact oracle optimum b* (by batch size: "
            + ", ".join(f"N = {n}: {r:.2f}×" for n, r in by_n.items())
            + "); the oracle is a lower bound, so these points are not judged against it.")
    text = " ".join(sentences)
    miss = m[~inside].sort_values(["env_name", "estimator", "baseline", "horizon", "batch_size"])
    rows = [[r.env_name, _pair(r.estimator, r.baseline), _horizon(r.horizon), r.batch_size,
             _ci(r.var_per_traj, r.var_per_traj_lo, r.var_per_traj_hi), _fmt(r.var_per_traj_exact)]
            for r in miss.itertuples()]
    body = "".join(f"<p>{_e(t)}</p>" for t in sentences)
    if rows:
        body += ("<p>Monte-Carlo points whose interval misses the exact value (flagged):</p>"
                 + _table(["env", "estimator~baseline", "H", "N", "Monte Carlo [95% CI]", "exact"], rows, {2, 3, 4, 5}))
    return sentences, body


def local_exponents(exact: pd.DataFrame) -> pd.DataFrame:
    """Exact ``d log Var / d log H`` between consecutive horizons, per environment and pair."""
    from pgexp.analysis.aggregate import exact_per_trajectory

    rows = []
    for (env, theta, est, base), g in exact_per_trajectory(exact).groupby(["env_name", "theta_name", "estimator", "baseline"], sort=True):
        g = g[g["var_per_traj_exact"] > 0].sort_values("horizon")
        h, v = g["horizon"].to_numpy(float), g["var_per_traj_exact"].to_numpy(float)
        for i in range(1, len(h)):
            rows.append(dict(env_name=env, theta_name=theta, estimator=est, baseline=base, h_from=int(h[i - 1]),
                             h_to=int(h[i]), exponent=math.log(v[i] / v[i - 1]) / math.log(h[i] / h[i - 1])))
    return pd.DataFrame(rows)


def exponent_findings(exact: pd.DataFrame | None, slopes: pd.DataFrame | None) -> tuple[list[str], str]:
    """The lecture claims E||g - grad J||^2 ≈ H^3 for REINFORCE: the exact local exponents say where."""
    if exact is None or exact.empty:
        return [], ""
    loc = local_exponents(exact)
    if loc.empty:
        return [], ""
    out, rows = [], []
    for (env, theta), g in loc.groupby(["env_name", "theta_name"], sort=True):
        r = g[(g["estimator"] == "reinforce") & (g["baseline"] == "none")]
        if len(r):
            first, last = r.iloc[0], r.iloc[-1]
            verdict = ("close to the lecture's 3" if abs(last.exponent - LECTURE_EXPONENT) < 0.25 else
                       f"{'below' if last.exponent < LECTURE_EXPONENT else 'above'} the lecture's 3")
            out.append(f"{env}: REINFORCE's exact variance grows like H^{first.exponent:.2f} between H = {first.h_from} "
                       f"and {first.h_to}, and like H^{last.exponent:.2f} between H = {last.h_from} and {last.h_to} "
                       f"({verdict}).")
        for est, base in (("reward_to_go", "value_exact"), ("advantage_exact", "none")):
            b = g[(g["estimator"] == est) & (g["baseline"] == base)]
            if len(b):
                out.append(f"{env}: {est}~{base} grows like H^{b.iloc[-1].exponent:.2f} at the longest horizons "
                           f"(H = {b.iloc[-1].h_from} to {b.iloc[-1].h_to}).")
        for rr in g.itertuples():
            rows.append([env, _pair(rr.estimator, rr.baseline), f"{rr.h_from}→{rr.h_to}", f"{rr.exponent:.2f}"])
    text = ("Where the lecture's H³ holds: the claim assumes returns that grow linearly in H (rewards of one "
            "sign) and scores that add up over H steps. A problem whose episodes end (the corridor) or whose "
            "rewards cancel (the garnet's N(0,1) rewards: returns grow like √H) shows smaller exponents; "
            "sparse far rewards (the chain) show larger ones while the reward comes into reach.")
    body = (f"<p>{_e(text)}</p><ul>" + "".join(f"<li>{_e(s)}</li>" for s in out) + "</ul>"
            + "<details><summary>Exact local exponents d log Var / d log H</summary>"
            + _table(["env", "estimator~baseline", "H", "exponent"], rows, {3}) + "</details>")
    return out, body


def comparison_findings(comparisons: pd.DataFrame | None) -> tuple[list[str], str]:
    """Which differences are significant, on common random numbers (paired bootstrap)."""
    if comparisons is None or comparisons.empty:
        return [], ""
    out, blocks = [], []
    for (env, theta, h, n), g in comparisons.groupby(["env_name", "theta_name", "horizon", "batch_size"], sort=True):
        sig = int(g["var_significant"].sum())
        out.append(f"{env} (H = {_horizon(h)}, N = {n}): {sig} of {len(g)} pairwise variance ratios and "
                   f"{int(g['mse_significant'].sum())} MSE differences are significant at the "
                   f"{float(g.get('confidence', pd.Series([0.95])).iloc[0]) if 'confidence' in g else 0.95:.0%} level "
                   f"(paired bootstrap; mean error correlation of paired comparisons "
                   f"{g.loc[g['paired'], 'correlation'].mean():.2f}).")
        ref = g[(g["estimator_a"] == "reinforce") & (g["baseline_a"] == "none")]
        rows = [[_pair(r.estimator_b, r.baseline_b), _ci(r.var_ratio, r.var_ratio_lo, r.var_ratio_hi),
                 "yes" if r.var_significant else "no", _ci(r.mse_diff, r.mse_diff_lo, r.mse_diff_hi),
                 "yes" if r.mse_significant else "no", "paired" if r.paired else "independent"]
                for r in ref.itertuples()]
        same = g[~g["var_significant"]]
        if len(same):
            out.append(f"{env}: not distinguishable in variance: "
                       + "; ".join(f"{_pair(r.estimator_a, r.baseline_a)} vs {_pair(r.estimator_b, r.baseline_b)}"
                                   for r in same.head(8).itertuples()) + ("; …" if len(same) > 8 else "") + ".")
        if rows:
            blocks.append(f"<h4>{_e(env)}: reinforce~none against each pair (H = {_e(_horizon(h))}, N = {_e(n)})</h4>"
                          + _table(["pair", "variance ratio reinforce~none / pair [CI]", "significant",
                                    "MSE difference [CI]", "significant", "comparison"], rows, {1, 3}))
    body = "<ul>" + "".join(f"<li>{_e(s)}</li>" for s in out) + "</ul>" + "".join(blocks)
    return out, body


def decomposition_findings(decomposition: pd.DataFrame | None) -> tuple[list[str], str]:
    """Variance by source: initial state, actions, transitions (exact, time-ordered decomposition)."""
    if decomposition is None or decomposition.empty:
        return [], ""
    d = decomposition[decomposition["total"].notna()]
    if "step" in d.columns:
        d = d[d["step"].isna()]
    if d.empty:
        return [], ""
    out, rows = [], []
    pct = lambda x: "–" if not np.isfinite(x) else f"{x:.0%}"  # noqa: E731
    for (env, theta), g in d.groupby(["env_name", "theta_name"], sort=True):
        h = int(g["horizon"].max())
        at = g[g["horizon"] == h]
        for r in at.itertuples():
            rows.append([env, _horizon(h), _pair(r.estimator, r.baseline), _fmt(r.total), pct(r.initial_state_share),
                         pct(r.actions_share), pct(r.transitions_share)])
        rn = at[(at["estimator"] == "reinforce") & (at["baseline"] == "none")]
        if len(rn) and np.isfinite(rn.iloc[0].actions_share):
            r0 = rn.iloc[0]
            out.append(f"{env} (H = {h}): {r0.actions_share:.0%} of REINFORCE's variance comes from the policy's "
                       f"actions, {r0.transitions_share:.0%} from the transitions and {r0.initial_state_share:.0%} "
                       "from the initial state.")
    text = ("Time-ordered (Doob martingale) decomposition over the trajectory (s0, a0, s1, a1, ...): "
            "tr Cov g = sum_k E[tr Cov(E[g | X0..Xk] | X0..X(k-1))], each term credited to the initial state, an action "
            "or a transition; exact by a moment recursion, at the largest horizon of the study.")
    body = (f"<p>{_e(text)}</p><ul>" + "".join(f"<li>{_e(s)}</li>" for s in out) + "</ul>"
            + _table(["env", "H", "estimator~baseline", "total", "initial state", "actions", "transitions"], rows, {3}))
    return out, body


def variance_section(metrics: pd.DataFrame, slopes: pd.DataFrame | None, exact: pd.DataFrame | None,
                     comparisons: pd.DataFrame | None, decomposition: pd.DataFrame | None) -> tuple[list[str], str]:
    """All parts, as sentences and one HTML block (empty when no table is given)."""
    parts = [exact_agreement(metrics), exponent_findings(exact, slopes), comparison_findings(comparisons),
             decomposition_findings(decomposition)]
    titles = ["Exact variance beside Monte Carlo", "Variance against the horizon: the lecture's H³",
              "Paired comparisons (common random numbers)", "Where the variance comes from"]
    sentences = [s for p in parts for s in p[0]]
    html = "".join(f"<h3>{_e(t)}</h3>{p[1]}" for t, p in zip(titles, parts) if p[1])
    return sentences, html
