"""The training section: what lower variance buys in gradient ascent, from the training tables.

Per environment: each estimator~baseline at its selected step size (final progress, environment steps
to the threshold), a step size chosen at the edge of the grid flagged, diverged runs, and estimator
quality along the exact gradient-ascent path.  Two configurations are trained on independent runs, so
there is no paired interval of their ratio: both values are given with their intervals, and an
ordering is stated only when the intervals do not overlap; a "lowest" or "fewest" statement names every
configuration whose interval overlaps the winner's as tied with it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pgexp.analysis.compare import combo_order
from pgexp.report.format import ci, finite, flag, fmt, has, num, pair
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section

STEP_SIZE_RULE = (
    "the step size of each estimator is the one with the highest final progress among those where no "
    "seed diverged; ties: the smaller"
)


def _int(x: Any, default: int = 0) -> int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def _order(est: Any, base: Any) -> tuple:
    return (str(est) == "exact", *combo_order((str(est), str(base))))


def _disjoint(a: pd.Series, b: pd.Series, col: str) -> bool:
    """The two rows' intervals of ``col`` do not overlap."""
    lo_a, hi_a, lo_b, hi_b = (float(r.get(f"{col}{s}", np.nan)) for r in (a, b) for s in ("_lo", "_hi"))
    return bool(np.isfinite([lo_a, hi_a, lo_b, hi_b]).all() and (hi_a < lo_b or hi_b < lo_a))


def _ties(best: pd.Series, rows: pd.DataFrame, col: str) -> pd.DataFrame:
    """The other rows of ``rows`` whose interval of ``col`` overlaps ``best``'s (or is unknown): these runs do
    not order them, so a "lowest" or "fewest" statement names them as ties."""
    others = rows.drop(index=best.name, errors="ignore")
    keep = [i for i, r in others.iterrows() if not _disjoint(best, r, col)]
    return others.loc[keep]


def _not_reference(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows other than reinforce~none (compared with the winner in a clause of its own)."""
    return rows[~((rows["estimator"] == "reinforce") & (rows["baseline"] == "none"))]


def _tie_clause(ties: pd.DataFrame, col: str, step_size: bool = True) -> str:
    """``, tied with A (η = ..) v [lo, hi], B ... (the intervals overlap)`` or ``""``."""
    if ties.empty:
        return ""
    names = "; ".join(
        f"{pair(r['estimator'], r['baseline'])}"
        + (f" (η = {fmt(r['step_size'])})" if step_size and "step_size" in r else "")
        + f" {ci(r[col], r.get(f'{col}_lo'), r.get(f'{col}_hi'))}"
        for _, r in ties.iterrows()
    )
    return f", tied with {names} (the intervals overlap: these seeds do not order them)"


def _budget(curves: pd.DataFrame | None, env: str, r: pd.Series) -> float:
    """The largest mean env-step count of a configuration's learning curve (NaN when unknown)."""
    if not has(curves, ["env_name", "estimator", "baseline", "step_size", "env_steps"]):
        return math.nan
    c = curves[
        (curves["env_name"].astype(str) == env)
        & (curves["estimator"] == r["estimator"])
        & (curves["baseline"] == r["baseline"])
    ]
    c = c[np.isclose(num(c, "step_size"), float(r["step_size"]))]
    x = num(c, "env_steps")
    x = x[np.isfinite(x)]
    return float(x.max()) if len(x) else math.nan


def _selected_sentence(env: str, r: pd.Series, thr: str, curves: pd.DataFrame | None, grid: list[float]) -> str:
    p = pair(r["estimator"], r["baseline"])
    seeds, reached = _int(r.get("seeds")), _int(r.get("reached_threshold"))
    final = (
        f"final progress {ci(r['final_progress'], r.get('final_progress_lo'), r.get('final_progress_hi'))}"
        if finite(r.get("final_progress"))
        else "no final progress (no seed ran to the end)"
    )
    if finite(r.get("final_progress_iqm")):
        final += (f" (interquartile mean "
                  f"{ci(r['final_progress_iqm'], r.get('final_progress_iqm_lo'), r.get('final_progress_iqm_hi'))})")
    text = f"{env}: {p} at η = {fmt(r['step_size'])}: {final}"
    if len(grid) > 1 and float(r["step_size"]) in (min(grid), max(grid)):
        edge = "largest" if float(r["step_size"]) == max(grid) else "smallest"
        text += f" (η at the {edge} step size of the grid: the best η may lie beyond it)"
    if seeds and reached >= seeds and finite(r.get("steps_to_threshold")):
        text += (
            f"; progress {thr} reached after "
            f"{ci(r['steps_to_threshold'], r.get('steps_to_threshold_lo'), r.get('steps_to_threshold_hi'))} "
            f"environment steps (mean over seeds)"
        )
    else:
        budget = _budget(curves, env, r)
        within = f" within {fmt(budget)} environment steps" if finite(budget) and budget > 0 else ""
        text += f"; progress {thr} not reached by {max(seeds - reached, 0)} of {seeds} seeds{within}"
    if bool(r.get("all_diverged", False)):
        text += (
            f" -- every step size tried had diverging seeds; shown is the smallest, where "
            f"{_int(r.get('diverged_seeds'))} of {seeds} seeds diverged"
        )
    return text + "."


def _headline(summary: pd.DataFrame | None) -> Finding | None:
    """One summary sentence: per environment, the selected pair with the lowest mean steps to the threshold,
    beside reinforce~none, and whether their intervals separate them."""
    if not has(summary, ["env_name", "estimator", "baseline", "selected", "steps_to_threshold"]):
        return None
    parts = []
    for env, g in summary[flag(summary, "selected") & (summary["estimator"] != "exact")].groupby("env_name", sort=True):
        done = g[(num(g, "reached_threshold") >= num(g, "seeds")) & np.isfinite(num(g, "steps_to_threshold"))]
        if done.empty:
            parts.append(f"{env}: no pair reached it with every seed")
            continue
        best = done.loc[num(done, "steps_to_threshold").idxmin()]
        text = (
            f"{env}: {pair(best['estimator'], best['baseline'])} "
            f"{ci(best['steps_to_threshold'], best['steps_to_threshold_lo'], best['steps_to_threshold_hi'])}"
        )
        text += _tie_clause(_ties(best, _not_reference(done), "steps_to_threshold"), "steps_to_threshold",
                            step_size=False)
        ref = done[(done["estimator"] == "reinforce") & (done["baseline"] == "none")]
        if len(ref) and (best["estimator"], best["baseline"]) != ("reinforce", "none"):
            r = ref.iloc[0]
            sep = "separated" if _disjoint(best, r, "steps_to_threshold") else "intervals overlap"
            text += (
                f" vs reinforce~none "
                f"{ci(r['steps_to_threshold'], r['steps_to_threshold_lo'], r['steps_to_threshold_hi'])}"
                f" ({sep})"
            )
        parts.append(text)
    thr = num(summary, "threshold").dropna().unique()
    goal = f"progress {fmt(thr[0])}" if len(thr) == 1 else "the progress threshold"
    return Finding(f"Training, fewest mean environment steps to {goal}: " + "; ".join(parts) + ".", headline=30)


def _fewest_steps_sentence(env: str, sel: pd.DataFrame, thr: str) -> str:
    done = sel[
        (num(sel, "reached_threshold") >= num(sel, "seeds"))
        & np.isfinite(num(sel, "steps_to_threshold"))
        & ~flag(sel, "all_diverged")
    ]
    if done.empty:
        return f"{env}: no estimator reached progress {thr} with all seeds at its selected step size."
    best = done.loc[num(done, "steps_to_threshold").idxmin()]
    bp = pair(best["estimator"], best["baseline"])
    bs = ci(best["steps_to_threshold"], best.get("steps_to_threshold_lo"), best.get("steps_to_threshold_hi"))
    head = f"{env}: lowest mean environment steps to progress {thr}: {bp} (η = {fmt(best['step_size'])}) with {bs}"
    head += _tie_clause(_ties(best, _not_reference(done), "steps_to_threshold"), "steps_to_threshold")
    ref = sel[(sel["estimator"] == "reinforce") & (sel["baseline"] == "none")]
    if ref.empty or (ref.iloc[0]["estimator"], ref.iloc[0]["baseline"]) == (best["estimator"], best["baseline"]):
        return head + ("" if ref.empty else " -- reinforce~none itself") + "."
    r = ref.iloc[0]
    if not (_int(r.get("reached_threshold")) >= _int(r.get("seeds"), 1) and finite(r.get("steps_to_threshold"))):
        short = max(_int(r.get("seeds")) - _int(r.get("reached_threshold")), 0)
        return head + f"; reinforce~none did not reach it with {short} of {_int(r.get('seeds'))} seeds."
    rs = ci(r["steps_to_threshold"], r.get("steps_to_threshold_lo"), r.get("steps_to_threshold_hi"))
    verdict = (
        "the intervals do not overlap"
        if _disjoint(best, r, "steps_to_threshold")
        else "the intervals overlap: these runs do not order the two"
    )
    return f"{head}; reinforce~none {rs} ({verdict})."


def _improvement_sentence(env: str, sel: pd.DataFrame) -> str | None:
    """``P(X > Y)`` of each selected pair against reinforce~none; an interval that contains 1/2 is a tie."""
    if "improvement_prob" not in sel:
        return None
    rows = sel[np.isfinite(num(sel, "improvement_prob"))
               & ~((sel["estimator"] == "reinforce") & (sel["baseline"] == "none"))]
    if rows.empty:
        return None
    better: list[str] = []
    worse: list[str] = []
    tied: list[str] = []
    for _, r in rows.iterrows():
        p = ci(r["improvement_prob"], r.get("improvement_prob_lo"), r.get("improvement_prob_hi"))
        text = f"{pair(r['estimator'], r['baseline'])} {p}"
        lo, hi = float(r.get("improvement_prob_lo", np.nan)), float(r.get("improvement_prob_hi", np.nan))
        (better if lo > 0.5 else worse if hi < 0.5 else tied).append(text)
    parts = [f"better: {'; '.join(better)}" if better else "", f"worse: {'; '.join(worse)}" if worse else "",
             f"tied with it (the interval contains 1/2): {'; '.join(tied)}" if tied else ""]
    return (f"{env}: probability that a run ends with higher final progress than a reinforce~none run (each at its "
            f"selected η; stratified bootstrap over seeds) — " + " — ".join(p for p in parts if p) + ".")


PROFILE_TAU = 0.9  # the τ of the performance-profile sentence (marked on the figure)


def profile_sentence(profiles: pd.DataFrame | None, tau: float = PROFILE_TAU) -> str | None:
    """The arms' performance profiles at ``τ`` (the grid point nearest it): the highest fraction of runs above
    ``τ``, every arm whose band overlaps its band named as tied with it, then the others, highest first."""
    if profiles is None or not has(profiles, ["estimator", "baseline", "tau", "fraction", "fraction_lo",
                                              "fraction_hi"]):
        return None
    taus = num(profiles, "tau").dropna().unique()
    if not len(taus):
        return None
    at = float(taus[np.argmin(np.abs(taus - tau))])
    rows = profiles[(num(profiles, "tau") == at) & np.isfinite(num(profiles, "fraction"))]
    if "label" in rows:
        rows = rows[rows["label"].fillna("").astype(str) == ""]  # the plain arms (a variant's label is its own)
    if rows.empty:
        return None
    rows = rows.sort_values("fraction", ascending=False, kind="stable")
    best = rows.iloc[0]
    ties = _ties(best, rows, "fraction")
    rest = rows.drop(index=[best.name, *ties.index])
    envs = _int(num(rows, "environments").max(), 0)
    where = f"the {envs} training environments pooled, each weighted equally" if envs > 1 else "one environment"
    head = (f"Performance profiles ({where}; reported seeds at the selected η; a diverged run counts as below "
            f"every τ): the fraction of runs whose final progress exceeds τ = {fmt(at)} is highest for "
            f"{pair(best['estimator'], best['baseline'])} "
            f"{ci(best['fraction'], best.get('fraction_lo'), best.get('fraction_hi'))}")
    tail = "; ".join(f"{pair(r['estimator'], r['baseline'])} "
                     f"{ci(r['fraction'], r.get('fraction_lo'), r.get('fraction_hi'))}" for _, r in rest.iterrows())
    conf = float(num(rows, "confidence").max()) if "confidence" in rows else math.nan
    band = f"{fmt(100 * conf)}% stratified-bootstrap bands" if math.isfinite(conf) else "stratified-bootstrap bands"
    return (head + _tie_clause(ties, "fraction", step_size=False)
            + (f"; below it (the bands do not overlap): {tail}" if tail else "") + f" ({band}).")


def _step_size_sentences(env: str, s_env: pd.DataFrame) -> list[str]:
    keys = sorted(
        {(str(e), str(b)) for e, b in zip(s_env["estimator"], s_env["baseline"]) if e != "exact"},
        key=lambda p: _order(*p),
    )
    diverged = []
    for est, base in keys:
        g = s_env[(s_env["estimator"] == est) & (s_env["baseline"] == base)].sort_values("step_size", kind="stable")
        div = g[num(g, "diverged_seeds") > 0]
        if not div.empty:
            diverged.append(
                f"{pair(est, base)} at η = "
                + ", ".join(
                    f"{fmt(r['step_size'])} ({_int(r['diverged_seeds'])} of {_int(r.get('seeds'))} seeds)"
                    for _, r in div.iterrows()
                )
            )
    return [
        f"{env}: runs with diverged seeds: " + "; ".join(diverged) + "."
        if diverged
        else f"{env}: no training run diverged."
    ]


def _checkpoint_of(df: pd.DataFrame) -> pd.Series:
    ck = num(df, "checkpoint")
    if "theta_name" in df:
        parsed = pd.to_numeric(df["theta_name"].astype(str).str.extract(r"^ckpt(\d+)$")[0], errors="coerce")
        ck = ck.fillna(parsed)
    return ck


def _variance_training_sentences(env: str, tv: pd.DataFrame) -> list[str]:
    tv = tv.assign(_ck=_checkpoint_of(tv))
    tv = tv[np.isfinite(tv["_ck"])]
    keys = [c for c in ("horizon", "batch_size") if c in tv]
    if keys and not tv.empty:  # the most common (horizon, batch size), as in the figure
        top = tv[keys].astype(str).value_counts().index[0]
        top = top if isinstance(top, tuple) else (top,)
        tv = tv[np.logical_and.reduce([tv[k].astype(str) == v for k, v in zip(keys, top)])]
    ref = tv[(tv["estimator"] == "reinforce") & (tv["baseline"] == "none")]
    ref = ref[np.isfinite(num(ref, "var_per_traj"))].sort_values("_ck")
    if ref.empty:
        return []
    a, b = ref.iloc[0], ref.iloc[-1]
    t0, t1 = _int(a["_ck"]), _int(b["_ck"])
    va = ci(a["var_per_traj"], a.get("var_per_traj_lo"), a.get("var_per_traj_hi"))
    out = []
    if t0 == t1:
        out.append(f"{env}: per-trajectory variance of reinforce~none at the only checkpoint (iteration {t0}): {va}.")
    else:
        vb = ci(b["var_per_traj"], b.get("var_per_traj_lo"), b.get("var_per_traj_hi"))
        verdict = (
            "the intervals do not overlap"
            if _disjoint(a, b, "var_per_traj")
            else "the intervals overlap: no change shown"
        )
        out.append(
            f"{env}: per-trajectory variance of reinforce~none along the exact path: {va} at iteration {t0}, "
            f"{vb} at iteration {t1} ({verdict})."
        )
        if np.isfinite(num(ref, "cosine")).all():
            out.append(
                f"{env}: mean cosine to ∇J of reinforce~none (at N = {fmt(a.get('batch_size'))}): "
                f"{ci(a['cosine'], a.get('cosine_lo'), a.get('cosine_hi'))} at iteration {t0}, "
                f"{ci(b['cosine'], b.get('cosine_lo'), b.get('cosine_hi'))} at iteration {t1}."
            )
    last = tv[(tv["_ck"] == b["_ck"]) & np.isfinite(num(tv, "var_per_traj"))]
    if len(last) > 1:
        best = last.loc[num(last, "var_per_traj").idxmin()]
        out.append(
            f"{env}: at iteration {t1} the lowest per-trajectory variance is "
            f"{pair(best['estimator'], best['baseline'])} "
            f"{ci(best['var_per_traj'], best.get('var_per_traj_lo'), best.get('var_per_traj_hi'))}"
            + _tie_clause(_ties(best, last, "var_per_traj"), "var_per_traj", step_size=False)
            + "."
        )
    return out


def training_findings(
    summary: pd.DataFrame | None, curves: pd.DataFrame | None = None, training_variance: pd.DataFrame | None = None
) -> list[Finding]:
    """The training findings, grouped by ``env_name`` (sorted), every number from the tables."""
    envs: set[str] = set()
    for df in (summary, training_variance):
        if df is not None and "env_name" in df:
            envs |= set(df["env_name"].dropna().astype(str))
    # None where a table lacks the columns its findings need
    summary = (summary.assign(selected=flag(summary, "selected"), all_diverged=flag(summary, "all_diverged"))
               if has(summary, ["env_name", "estimator", "baseline", "step_size", "selected"]) else None)
    tv = training_variance if has(training_variance, ["env_name", "estimator", "baseline", "var_per_traj"]) else None
    out: list[Finding] = []
    for env in sorted(envs):
        texts: list[str] = []
        if summary is not None:
            s_env = summary[summary["env_name"].astype(str) == env]
            if not s_env.empty:
                thr_v = num(s_env, "threshold").dropna().unique()
                thr = fmt(thr_v[0]) if len(thr_v) == 1 else "threshold"
                sel = s_env[flag(s_env, "selected") & (s_env["estimator"] != "exact")]
                sel = sel.assign(_o=[_order(e, b) for e, b in zip(sel["estimator"], sel["baseline"])]).sort_values(
                    "_o", kind="stable"
                )
                for _, r in sel.iterrows():
                    g = s_env[(s_env["estimator"] == r["estimator"]) & (s_env["baseline"] == r["baseline"])]
                    texts.append(_selected_sentence(env, r, thr, curves, sorted(num(g, "step_size").dropna().unique())))
                if not sel.empty:
                    texts.append(_fewest_steps_sentence(env, sel, thr))
                    poi = _improvement_sentence(env, sel)
                    if poi:
                        texts.append(poi)
                texts += _step_size_sentences(env, s_env)
                ex = s_env[(s_env["estimator"] == "exact") & flag(s_env, "selected")]
                if not ex.empty:
                    r = ex.iloc[0]
                    texts.append(
                        f"{env}: for reference, the exact-gradient path (η = {fmt(r['step_size'])}, no "
                        f"sampling) reaches final progress {fmt(r.get('final_progress'))}."
                    )
        if tv is not None:
            texts += _variance_training_sentences(env, tv[tv["env_name"].astype(str) == env])
        out += [Finding(t, env) for t in texts]
    return out


@register_section("training", "Training: what lower variance buys", order=70)
def training_section(ctx: ReportContext) -> SectionOutput | None:
    if not (ctx.has("summary") or ctx.has("training_variance")):
        return None
    summary = ctx.tables.get("summary")
    findings = training_findings(summary, ctx.tables.get("curves"), ctx.tables.get("training_variance"))
    if not findings:
        return None
    profile = profile_sentence(ctx.tables.get("profiles"))
    if profile:
        findings.append(Finding(profile, "all training environments"))
    head = _headline(summary)
    findings = ([head] if head else []) + findings
    from pgexp.figures import FIGURES, ordered

    body = "".join(ctx.figure(n) for n in ordered() if FIGURES[n].section == "training")
    if has(summary, ["estimator", "baseline"]):
        s = summary.assign(pair=[pair(e, b) for e, b in zip(summary["estimator"], summary["baseline"])])
        body += ctx.table(
            "summary",
            s,
            [
                "env_name",
                "pair",
                "step_size",
                "selected",
                "seeds",
                "diverged_seeds",
                "final_progress",
                "final_progress_iqm",
                "improvement_prob",
                "steps_to_threshold",
            ],
            title="Every configuration trained",
        )
    intro = (
        "Progress (J − J₀)/(J* − J₀) is 0 at the starting policy and 1 at the optimal one; final progress is the "
        "mean over the last 10% of iterations; environment steps are cumulative over the sampled trajectories; "
        f"intervals are 95% percentile-bootstrap intervals over seeds; the interquartile mean (the mean of the "
        f"middle half of the seeds) is not moved by one stalled run; {STEP_SIZE_RULE}."
    )
    return SectionOutput(findings, body, intro)
