"""The one-page report of ``tucker2018_mirage``: every number comes from the study's tables.

Tables: ``tucker`` (``pgexp tucker`` on every problem: per-step and summed terms, the whole trajectory's exact
``trace_cov`` and ``cross_time``), ``metrics`` and ``comparisons`` (the Monte-Carlo arm: ``pgexp metrics``, and the
paired ratios of ``pgexp compare``).

**The verdict** on a problem: the claim (an action-dependent baseline removes little) *holds* there when the exact
action-dependent baseline ``q_exact`` -- the best ``b(s, a)`` per step on finite actions, Q-Prop's linear form on a
Gaussian policy -- leaves at least :data:`HOLDS_AT` of the whole trajectory's ``tr Cov g`` of the same estimator with
the exact state baseline, i.e. removes less than 20 %; otherwise it does not.  The per-step shares say why.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from pgexp.report.paper_format import ci, fmt
from pgexp.study.mirage import MirageStudy

HOLDS_AT = 0.8
V = ("reward_to_go", "value_exact")
Q = ("reward_to_go", "q_exact")
Q_OPT = ("reward_to_go", "q_optimal")
ALL = ("all_action", "q_exact")
FITTED_V = ("reward_to_go", "value_learned")
FITTED_Q = ("reward_to_go", "q_fitted")
ALL_FITTED = ("all_action", "q_fitted")


def _whole(tucker: pd.DataFrame, env: str, pair: tuple[str, str]) -> pd.Series | None:
    m = (tucker["env_name"] == env) & (tucker["estimator"] == pair[0]) & (tucker["baseline"] == pair[1])
    rows = tucker[m & tucker["step"].isna()]
    return None if rows.empty else rows.iloc[0]


def _ratio(comp: pd.DataFrame | None, env: str, a: tuple[str, str], b: tuple[str, str]) -> tuple[float, float, float]:
    from pgexp.figures.tucker2018 import paired_ratio

    if comp is None or comp.empty:
        return math.nan, math.nan, math.nan
    return paired_ratio(comp, env, a, b)


def pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.1f}%"


def problem_row(study: MirageStudy, tables: dict[str, pd.DataFrame], env: str) -> dict[str, Any]:
    """One problem's numbers (the summary table's row and the findings' source)."""
    t = tables["tucker"]
    ref = _whole(t, env, study.reference_pair)
    out: dict[str, Any] = {"problem": env, "label": study.problem(env).label}
    if ref is None:
        return out
    base = float(ref["trace_cov"])
    out |= {"sigma_tau_share": ref["sigma_tau_share"], "sigma_a_share": ref["sigma_a_share"],
            "sigma_s_share": ref["sigma_s_share"], "trace_cov": base, "cross_time_share": ref["cross_time"] / base}
    for key, pair in (("q_exact", Q), ("q_optimal", Q_OPT), ("all_action", ALL), ("gae", ("gae", "value_exact")),
                      ("none", ("reward_to_go", "none"))):
        r = _whole(t, env, pair)
        out[f"ratio_{key}"] = float(r["trace_cov"]) / base if r is not None and base > 0 else math.nan
    q = _whole(t, env, Q)
    out["sigma_a_removed"] = (1 - float(q["sigma_a"]) / float(ref["sigma_a"])) if q is not None and \
        float(ref["sigma_a"]) > 0 else math.nan
    for key, pair in (("fitted_q", FITTED_Q), ("fitted_all", ALL_FITTED)):
        v, lo, hi = _ratio(tables.get("comparisons"), env, pair, FITTED_V)
        out[f"mc_{key}"], out[f"mc_{key}_lo"], out[f"mc_{key}_hi"] = v, lo, hi
    m = tables.get("metrics")
    if m is not None and not m.empty:
        rows = m[(m["env_name"] == env) & (m["estimator"] == ALL_FITTED[0]) & (m["baseline"] == ALL_FITTED[1])]
        if not rows.empty:
            r = rows.iloc[0]
            out["all_fitted_bias_z"] = float(r.get("bias_max_z", math.nan))
            out["all_fitted_bias_flagged"] = bool(r.get("bias_flagged", False))
    q_ratio = out.get("ratio_q_exact", math.nan)
    out["verdict"] = ("–" if not math.isfinite(q_ratio) else "holds" if q_ratio >= HOLDS_AT else "does not hold")
    return out


def findings(tables: dict[str, pd.DataFrame], study: MirageStudy) -> list[str]:
    """The report's sentences, one per problem and a summary."""
    out = []
    rows = [problem_row(study, tables, p.name) for p in study.problems]
    for r in rows:
        if "trace_cov" not in r:
            out.append(f"{r['label']}: no decomposition of {'~'.join(study.reference_pair)}.")
            continue
        s = (f"{r['label']}: with the exact state baseline, of the per-step variance summed over steps "
             f"Σ_τ is {pct(r['sigma_tau_share'])}, Σ_a {pct(r['sigma_a_share'])} and Σ_s {pct(r['sigma_s_share'])} "
             f"(covariances between steps add {pct(r['cross_time_share'])} of the trajectory's tr Cov "
             f"{fmt(r['trace_cov'])}). The exact action-dependent baseline leaves {fmt(r['ratio_q_exact'])} of it")
        if math.isfinite(r.get("sigma_a_removed", math.nan)) and r["sigma_a_removed"] < 0.999:
            s += f" (its linear form removes {pct(r['sigma_a_removed'])} of Σ_a)"
        if math.isfinite(r.get("ratio_q_optimal", math.nan)):
            s += f", the whole trajectory's optimal b(s, a) {fmt(r['ratio_q_optimal'])}"
        s += (f"; GAE(λ = {study.lam:g}) with the exact V {fmt(r['ratio_gae'])}, the all-action estimator with the "
              f"exact Q {fmt(r['ratio_all_action'])}.")
        if math.isfinite(r.get("mc_fitted_q", math.nan)):
            s += (f" At equal sample cost (Monte Carlo, N = {study.batch_size}, K = {study.fit_batch_size}), a fitted "
                  f"Q̂ gives {ci(r['mc_fitted_q'], r['mc_fitted_q_lo'], r['mc_fitted_q_hi'])} times the variance of a "
                  f"fitted V̂")
            if math.isfinite(r.get("mc_fitted_all", math.nan)):
                s += (f", the all-action estimator with it "
                      f"{ci(r['mc_fitted_all'], r['mc_fitted_all_lo'], r['mc_fitted_all_hi'])}")
                z = r.get("all_fitted_bias_z", math.nan)
                if math.isfinite(z):
                    s += (f" (biased by the critic's error, and it shows: max |z| = {fmt(z)})"
                          if r.get("all_fitted_bias_flagged") else
                          f" (biased by the critic's error, not detectable at this sample size: max |z| = {fmt(z)})")
            s += "."
        s += f" The claim {r['verdict']} here."
        out.append(s)
    held = [r for r in rows if r.get("verdict") == "holds"]
    failed = [r for r in rows if r.get("verdict") == "does not hold"]
    out.append(f"Summary: the claim holds on {len(held)} of {len(held) + len(failed)} problems"
               + (f" and does not on {', '.join(r['label'] for r in failed)}" if failed else "")
               + f" (criterion: the exact action-dependent baseline leaves at least {HOLDS_AT:g} of the trace).")
    return out


SUMMARY = (("label", "problem"), ("sigma_tau_share", "Σ_τ share"), ("sigma_a_share", "Σ_a share"),
           ("sigma_s_share", "Σ_s share"), ("cross_time_share", "between steps"), ("ratio_q_exact", "Q / V"),
           ("ratio_q_optimal", "b*(s,a) / V"), ("ratio_all_action", "all-action / V"), ("mc_fitted_q", "Q̂ / V̂ (MC)"),
           ("verdict", "claim"))


def summary_html(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in SUMMARY)

    def cell(r: dict[str, Any], key: str) -> str:
        v = r.get(key, "–")
        if key.endswith("share"):
            return pct(float(v)) if isinstance(v, float) else str(v)
        return fmt(v, 3) if isinstance(v, float) else str(v)

    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r, k))}</td>" for k, _ in SUMMARY) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def setup_sentence(study: MirageStudy) -> str:
    probs = "; ".join(f"{p.label} ({p.options['env']}, H = {p.options['horizon']}"
                      + (f", γ = {p.options['gamma']}" if p.options.get("gamma") is not None else "") + ")"
                      for p in study.problems)
    return (f"Problems: {probs}. Exact per-step terms and whole-trajectory variances by pgexp's moment recursions "
            f"(finite MDPs; scalar LQR by Gaussian quadrature) for {', '.join('~'.join(p) for p in study.exact_pairs)}"
            f"; the Monte-Carlo arm runs {', '.join('~'.join(p) for p in study.fitted_pairs)} on the same "
            f"{study.replicates} batches of {study.batch_size} trajectories, every fitted baseline on the same "
            f"independent batch of {study.fit_batch_size} (equal sample cost).")


def mirage_html(study: MirageStudy, tables: dict[str, pd.DataFrame], figures: dict[str, Path],
                captions: dict[str, str], provenance: dict[str, Any]) -> str:
    """One self-contained page: the paper's claim, the setup, what pgexp measured, figures, summary table."""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in findings(tables, study))
    figs = ""
    for name, png in figures.items():
        data = base64.b64encode(Path(png).read_bytes()).decode()
        figs += (f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
                 f"<figcaption>{html.escape(captions.get(name, name))}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.45}"
             "img{max-width:100%}table{border-collapse:collapse;font-size:.8em}td,th{border:1px solid #ccc;"
             "padding:2px 5px}figcaption{font-size:.85em;color:#444}")
    prov = html.escape(", ".join(f"{k}: {v}" for k, v in provenance.items() if k in ("pgexp_version", "command")))
    rows = [problem_row(study, tables, p.name) for p in study.problems]
    skipped = "".join(f"<li>{html.escape(p.label)}: {html.escape(', '.join('~'.join(x) for x in p.skipped))} "
                      "(no exact engine on this track)</li>" for p in study.problems if p.skipped)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(study.name)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(study.name)}</h1>"
            f"<p><b>Paper.</b> {html.escape(study.reference)}</p>"
            f"<h2>The paper's claim</h2><p>{html.escape(study.claim)}</p>"
            f"<h2>Setup</h2><p>{html.escape(setup_sentence(study))}</p>"
            + (f"<p>Left out:</p><ul>{skipped}</ul>" if skipped else "")
            + "<h2>What pgexp measured</h2><p>Generated from the study's tables. The per-step terms and the "
              "whole-trajectory variances are exact; the Monte-Carlo ratios are paired over the same trajectories "
              "(common random numbers) with 95% BCa bootstrap intervals. Shares are of the per-step variance summed "
              f"over steps; 'between steps' is the covariance between steps as a share of the trajectory's "
              f"tr Cov.</p><ul>{items}</ul>{figs}"
            f"<h2>Summary</h2>{summary_html(rows)}"
            f"<p style='font-size:.8em;color:#666'>{prov}</p></body></html>")


__all__ = ["HOLDS_AT", "findings", "mirage_html", "problem_row"]
