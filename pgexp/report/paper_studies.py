"""The paper studies' findings and their one-page report: every number comes from the study's tables.

``findings(name, tables, study)`` returns the sentences of one named study (:data:`FINDINGS`); the tables
are ``curves`` and ``summary`` (``pgexp curves``, on the reported seeds, step sizes chosen on the selection
seeds), ``traces`` and ``variance`` (``pgexp baseline-variance``) where the study has them.  Conventions:
``J`` after episode ``t`` is the mean over the runs still alive then, with a 95 % percentile-bootstrap
interval over runs; fractions of runs carry Wilson score intervals, differences of fractions Newcombe's
interval.  :func:`study_html` puts the paper's claim, the setup, the findings, the figures (embedded) and
the summary table on one self-contained page.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pgexp.analysis.curves import newcombe_difference, wilson_interval
from pgexp.figures.paper_style import CENTRE_NAMES, eta_label, offset_label
from pgexp.report import liu2025
from pgexp.report.paper_format import ci, fmt
from pgexp.study.paper import PaperStudy

REPORT_EPISODES = (100, 500, 1000)
OPTIMIZER_NAMES = {"npg": "natural policy gradient", "sga": "vanilla policy gradient", "adam": "Adam"}


# ------------------------------------------------------------------------------------------ formatting

def fraction(k: int, n: int, confidence: float = 0.95) -> str:
    """``k/n = p [lo, hi]`` with the Wilson interval."""
    p, lo, hi = wilson_interval(int(k), int(n), confidence)
    return f"{int(k)}/{int(n)} = {fmt(p, 2)} [{fmt(lo, 2)}, {fmt(hi, 2)}]"


def alpha(eta: float) -> str:
    return f"α = {eta_label(eta)}"


# ------------------------------------------------------------------------------------------ table access

def arm(df: pd.DataFrame | None, name: str) -> pd.DataFrame:
    if df is None or df.empty or "arm" not in df:
        return pd.DataFrame()
    return df[df["arm"] == name]


def at(curves: pd.DataFrame | None, arm_name: str, eta: float, t: int) -> pd.Series | None:
    """The learning-curve row of an arm's step size at iteration ``t`` (``None`` if no run was alive)."""
    rows = arm(curves, arm_name)
    if rows.empty:
        return None
    rows = rows[np.isclose(rows["step_size"], eta) & (rows["iteration"] == t)]
    return rows.iloc[0] if len(rows) else None


def episodes(curves: pd.DataFrame | None, arm_name: str) -> list[int]:
    """:data:`REPORT_EPISODES` within the arm's horizon, and its last iteration."""
    rows = arm(curves, arm_name)
    if rows.empty:
        return []
    last = int(rows["iteration"].max())
    return sorted({t for t in REPORT_EPISODES if t <= last} | {last})


def J_path(curves: pd.DataFrame | None, arm_name: str, eta: float, total: int) -> str:
    """``J after episode 100 = x [lo, hi] (k/n alive), ...`` for one step size."""
    parts = []
    for t in episodes(curves, arm_name):
        r = at(curves, arm_name, eta, t)
        if r is None:
            parts.append(f"after episode {t}: no run alive")
        else:
            alive = f" ({int(r['seeds'])}/{total} alive)" if int(r["seeds"]) < total else ""
            parts.append(f"after episode {t}: {ci(r['J'], r['J_lo'], r['J_hi'])}{alive}")
    return "; ".join(parts)


def summary_row(summary: pd.DataFrame | None, arm_name: str, eta: float) -> pd.Series | None:
    rows = arm(summary, arm_name)
    if rows.empty:
        return None
    rows = rows[np.isclose(rows["step_size"], eta)]
    return rows.iloc[0] if len(rows) else None


def class_optimum(curves: pd.DataFrame | None) -> float:
    rows = arm(curves, "class_optimum")
    return float(rows.sort_values("iteration")["J"].iloc[-1]) if not rows.empty else float("nan")


def stalled(row: pd.Series) -> int:
    """Runs alive at the end that never reached the progress threshold."""
    return max(int(row["seeds"]) - int(row["diverged_seeds"]) - int(row["reached_threshold"]), 0)


def threshold_J(row: pd.Series) -> float:
    """The ``J`` that the progress threshold stands for: ``J_0 + threshold (J* - J_0)``."""
    return float(row["J_0"] + row["threshold"] * (row["J_star"] - row["J_0"]))


# ------------------------------------------------------------------------------------------ per study

def setup_sentence(study: PaperStudy) -> str:
    from pgexp.problems.problem import build_problem

    p = study.problem
    prob = build_problem(p["env"], features=p.get("features"), theta=p.get("theta"), gamma=p.get("gamma"),
                         horizon=p.get("horizon"))
    pi0 = prob.policy.probs(prob.theta)[int(np.argmax(prob.mdp.mu))]
    arms = "; ".join(
        f"{a.label}: {a.options.get('estimator')}"
        + (f" with baseline {a.options['baseline']}" if a.options.get("baseline", "none") != "none" else "")
        + (f" {a.options['baseline_offset']:+g}" if a.options.get("baseline_offset") else "")
        + (f" (α_w = {eta_label(a.options['baseline_step_size'])})" if a.options.get("baseline_step_size") else "")
        + f", {a.options.get('optimizer', 'sga')}, {a.options.get('update', 'per-batch')} updates, step sizes "
        + ", ".join(eta_label(x) for x in a.step_sizes) + f", {a.options['iterations']} iterations, "
        + (lambda n: f"{n} reported seed{'s' if n != 1 else ''}")(len([s for s in a.seeds if s in study.seeds]))
        for a in study.arms)
    horizon = "∞" if prob.mdp.horizon is None else prob.mdp.horizon
    return (f"Problem {prob.mdp.name} (γ = {prob.mdp.gamma:g}, horizon {horizon}), "
            f"θ₀ = ({', '.join(fmt(x, 3) for x in prob.theta)}), so π₀ = ({', '.join(fmt(x, 3) for x in pi0)}) in the "
            f"start state.  Arms — {arms}.  {len(study.seeds)} reported seeds; step sizes are chosen on "
            f"{len(study.selection_seeds)} other seeds.  An iteration is one episode (batch size 1).")


def fig13_1_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    curves, summary = tables.get("curves"), tables.get("summary")
    out = []
    opt = class_optimum(curves)
    learn = arm(summary, "reinforce")
    if math.isfinite(opt):
        J_star = fmt(float(learn["J_star"].iloc[0]), 3) if not learn.empty else "–"
        out.append(f"Exact gradient ascent to convergence reaches J = {fmt(opt, 6)}, the best value of the book's "
                   f"state-blind policy class (the optimum over all policies, J* = {J_star}, is out of its reach).")
    for _, r in learn.sort_values("step_size").iterrows():
        n = int(r["seeds"])
        path = J_path(curves, "reinforce", r["step_size"], n)
        s = (f"REINFORCE with per-step updates, {alpha(r['step_size'])}: J {path} (mean over the runs alive, 95% "
             "CI).  Diverged (the policy became numerically deterministic and an episode never ended, or J stopped "
             f"being finite): {fraction(r['diverged_seeds'], n)}.")
        final = max(episodes(curves, "reinforce") or [1])
        ep = at(curves, "reinforce", r["step_size"], final - 1)  # row t holds the episode sampled at theta_t
        if ep is not None and "return_mean" in ep:
            s += (f"  The total reward of episode {final} itself (what the book plots), averaged over the runs: "
                  f"{ci(ep['return_mean'], ep['return_mean_lo'], ep['return_mean_hi'])}.")
        mf = at(curves, "mean_field", r["step_size"], max(episodes(curves, "reinforce") or [0]))
        if mf is not None:
            s += (f"  The mean-field path (exact gradient, same α, one step per episode) is at J = {fmt(mf['J'], 4)} "
                  f"after episode {int(mf['iteration'])}.")
        out.append(s)
    return out


def _book_check(curves, summary, name: str, label: str, eta: float) -> str:
    r = summary_row(summary, name, eta)
    if r is None:
        return f"{label}, {alpha(eta)}: no runs."
    n = int(r["seeds"])
    return (f"{label} at the book's step size {alpha(eta)}: J {J_path(curves, name, eta, n)}.  Diverged "
            f"{fraction(r['diverged_seeds'], n)}; stalled (alive but never reached J = {fmt(threshold_J(r), 4)}) "
            f"{fraction(stalled(r), n)}.")


def _grid_sentence(summary, name: str, label: str) -> str:
    rows = arm(summary, name).sort_values("step_size")
    if rows.empty:
        return ""
    works = [eta_label(x) for x, d, s in zip(rows["step_size"], rows["diverged_seeds"],
                                             (stalled(r) for _, r in rows.iterrows())) if d == 0 and s == 0]
    per = "; ".join(f"{eta_label(r['step_size'])}: diverged {int(r['diverged_seeds'])}, stalled {stalled(r)}, final J "
                    f"{ci(r['final_J'], r['final_J_lo'], r['final_J_hi'])}" for _, r in rows.iterrows())
    sel = rows[rows["selected"].astype(bool)]
    chosen = ""
    if len(sel):
        s = sel.iloc[0]
        edge = " — at the edge of the grid, so a better step may lie outside it" if bool(s["selected_at_edge"]) else ""
        chosen = (f"  Chosen on {int(s['selection_seeds'])} selection seeds (highest final progress, no divergence): "
                  f"{alpha(s['step_size'])}{edge}.")
    return (f"{label}, every step size (of {int(rows['seeds'].iloc[0])} reported runs): {per}.  Step sizes where no "
            f"run diverged or stalled: {', '.join(works) if works else 'none'}.{chosen}")


def fig13_2_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    curves, summary = tables.get("curves"), tables.get("summary")
    book = (("reinforce", "REINFORCE", 2.0**-13), ("with_baseline", "REINFORCE with baseline", 2.0**-9))
    out = [_book_check(curves, summary, *b) for b in book]
    a, b = (at(curves, name, eta, 100) for name, _, eta in book)
    if a is not None and b is not None:
        relation = ("higher, the intervals do not overlap" if b["J_lo"] > a["J_hi"] else
                    "lower, the intervals do not overlap" if b["J_hi"] < a["J_lo"] else "the intervals overlap")
        out.append(f"After 100 episodes the baseline's J ({ci(b['J'], b['J_lo'], b['J_hi'])}) against REINFORCE's "
                   f"({ci(a['J'], a['J_lo'], a['J_hi'])}): {relation}.")
    for name, label, _ in book:
        s = _grid_sentence(summary, name, label)
        if s:
            out.append(s)
    return out


def _equal(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)


def _variance_list(v: pd.DataFrame, column: str) -> str:
    """``x at b* − 1, y at b*, z at b* + 1`` and whether the offsets ``±e`` are an equal-variance pair."""
    v = v.sort_values("offset")
    name = str(v["baseline"].iloc[0]) if "baseline" in v else "optimal_exact"
    text = ", ".join(f"{fmt(x, 4)} at {offset_label(e, name)}" for e, x in zip(v["offset"], v[column]))
    by = dict(zip(v["offset"], v[column]))
    pairs = [(e, by[e], by[-e]) for e in by if e > 0 and -e in by]
    for e, up, down in pairs:
        c = CENTRE_NAMES.get(name, name)
        text += (f" (equal at {c} ± {e:g})" if _equal(up, down) else
                 f" (not equal at {c} ± {e:g}: {fmt(max(up, down) / min(up, down), 2)}×)")
    return text


def chung_variance_sentence(variance: pd.DataFrame) -> str:
    """b* and b_npg at θ₀, and the exact variance of the update each optimizer applies at each baseline."""
    if "baseline" not in variance:
        variance = variance.assign(baseline="optimal_exact")
    star = variance[variance["baseline"] == "optimal_exact"]
    npg = variance[variance["baseline"] == "optimal_npg_exact"]
    s = f"At θ₀ vanilla PG's minimum-variance constant is b* = {fmt(variance['b_star'].iloc[0], 4)}" \
        if "b_star" in variance else "At θ₀"
    if "b_npg" in variance:
        s += ("; the natural-gradient update's minimum-variance constant (of its policy part: Σ r/π / Σ 1/π) is "
              f"b_npg = {fmt(variance['b_npg'].iloc[0], 4)}")
    s += (".  Exact trace variance at θ₀ of the one-sample update each optimizer applies — vanilla PG, "
          "ψ (r − b): ")
    s += "; ".join(_variance_list(v, "grad_trace_cov") for v in (star, npg) if not v.empty)
    s += ".  Natural PG, e_a (r − b) / π(a), its policy part: "
    s += "; ".join(_variance_list(v, "npg_trace_cov_policy") for v in (star, npg) if not v.empty) + "."
    return s


def committal_counts(r: pd.Series) -> tuple[int, int, int, int]:
    """``(n, suboptimal, optimal, not committed)`` of one summary row: runs whose final policy plays a
    suboptimal arm / the optimal arm with probability at least ``converged_prob``, and runs that have not
    committed to an arm by the last iteration ``T`` (right-censored: where they end is unknown)."""
    n, sub, conv = int(r["seeds"]), int(r["suboptimal_seeds"]), int(r["converged_seeds"])
    return n, sub, conv - sub, n - conv


def committal_verdict(lo: pd.Series, hi: pd.Series) -> tuple[str, tuple[float, float, float]]:
    """Does the lower baseline (``lo``) commit to a suboptimal arm more often than the higher one (``hi``)?

    Newcombe's interval for the difference of the fractions committed to a suboptimal arm, computed three
    ways: as counted, and with the censored runs (not committed by ``T``) assigned against each verdict (the
    lower baseline's all optimal and the higher's all suboptimal, then the reverse).  A verdict is declared
    only when the worst-case assignment still resolves it; ``"censored"`` when only the count as it stands
    does.  Returns the verdict (``more``, ``less``, ``tie``, ``censored``) and the difference as counted."""
    n1, s1, _, c1 = committal_counts(lo)
    n2, s2, _, c2 = committal_counts(hi)
    d = newcombe_difference(s1, n1, s2, n2)
    if newcombe_difference(s1, n1, s2 + c2, n2)[1] > 0:
        return "more", d
    if newcombe_difference(s1 + c1, n1, s2, n2)[2] < 0:
        return "less", d
    return ("censored" if d[1] > 0 or d[2] < 0 else "tie"), d


VERDICT_WORDS = {"more": "the lower baseline commits to a suboptimal arm more often",
                 "less": "the lower baseline commits to a suboptimal arm less often",
                 "tie": "a tie: the interval contains 0",
                 "censored": "unresolved: the runs not committed by T could reverse the difference"}


def chung_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    summary, variance = tables.get("summary"), tables.get("variance")
    out = []
    if variance is not None and not variance.empty:
        out.append(chung_variance_sentence(variance))
    if summary is None or summary.empty:
        return out
    if "baseline" not in summary:
        summary = summary.assign(baseline="optimal_exact")
    converged = float(summary["converged_prob"].iloc[0]) if "converged_prob" in summary else float("nan")
    out.append(f"A run has committed to an arm when its policy after the last iteration T plays that arm with "
               f"probability at least {fmt(converged, 3)}.  Runs that have not committed by T are counted "
               "separately (right-censored: where they would end is unknown), and a difference is declared only "
               "if it holds whichever way they would end.")
    groups = summary.groupby(["optimizer", "baseline", "step_size"], sort=True)
    verdicts: dict[tuple[str, str], list[str]] = {}
    for (opt, base, eta), g in groups:
        g = g.sort_values("baseline_offset")
        T = f" (T = {int(g['iterations'].max())})" if "iterations" in g else ""
        parts = []
        for _, r in g.iterrows():
            n, sub, good, cens = committal_counts(r)
            parts.append(f"{offset_label(r['baseline_offset'], base)}: {fraction(sub, n)} committed to a suboptimal "
                         f"arm, {fraction(good, n)} to the optimal arm, {fraction(cens, n)} not committed by T")
        s = f"{OPTIMIZER_NAMES.get(opt, opt).capitalize()}, {alpha(eta)}{T}: " + "; ".join(parts) + "."
        lo, hi = g.iloc[0], g.iloc[-1]
        if lo["baseline_offset"] < 0 < hi["baseline_offset"]:
            verdict, (d, dlo, dhi) = committal_verdict(lo, hi)
            verdicts.setdefault((opt, base), []).append(verdict)
            s += (f"  Difference {offset_label(lo['baseline_offset'], base)} minus "
                  f"{offset_label(hi['baseline_offset'], base)} in the suboptimal fraction: {ci(d, dlo, dhi, 2)} "
                  f"(Newcombe; the runs share seeds): {VERDICT_WORDS[verdict]}.")
        out.append(s)
    for (opt, base), vs in verdicts.items():
        more, less, tie, cens = (vs.count(k) for k in ("more", "less", "tie", "censored"))
        n = len(vs)
        c = CENTRE_NAMES.get(base, base)
        s = (f"{OPTIMIZER_NAMES.get(opt, opt).capitalize()}, baselines {c} ± 1: the lower baseline commits to a "
             f"suboptimal arm more often at {more} of {n} step sizes, less often at {less}, ties at {tie}, "
             f"unresolved for censoring at {cens}.")
        if opt == "npg":
            word = ("reproduces" if more == n else "partly reproduces" if more else
                    "does not reproduce (no step size resolves a difference in the claimed direction)")
            s += f"  pgexp {word} the paper's claim (about natural PG) that the lower baseline commits more often"
            s += (" — with b_npg, the NPG update's own minimum-variance constant, at which ± 1 do give the NPG update "
                  "equal variance." if base == "optimal_npg_exact" else
                  " — with vanilla PG's b*, at which ± 1 do not give the NPG update equal variance.")
        else:
            s += ("  The paper makes no claim for vanilla PG; these rows are for comparison.  A vanilla PG run near a "
                  "suboptimal arm at T can still leave it later (its expected step there is small, not zero), so "
                  "these counts say how many runs escaped within T, not that the others committed.")
        out.append(s)
    return out


FINDINGS: dict[str, Callable[[dict[str, pd.DataFrame], PaperStudy], list[str]]] = {
    "sutton_barto_fig13_1": fig13_1_findings,
    "sutton_barto_fig13_2": fig13_2_findings,
    "chung2021_committal": chung_findings,
    "liu2025_length_bias": liu2025.findings,
}

def findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    return FINDINGS[study.name](tables, study)


# ------------------------------------------------------------------------------------------ the page

SUMMARY_COLUMNS = ("label", "optimizer", "baseline", "baseline_offset", "step_size", "seeds", "diverged_seeds",
                   "final_J", "final_J_lo", "final_J_hi", "reached_threshold", "converged_seeds", "suboptimal_seeds",
                   "suboptimal_fraction", "suboptimal_fraction_lo", "suboptimal_fraction_hi", "selected",
                   "selected_at_edge")


def _table_html(summary: pd.DataFrame | None, columns: tuple[str, ...] = SUMMARY_COLUMNS) -> str:
    if summary is None or summary.empty:
        return "<p>No summary.</p>"
    cols = [c for c in columns if c in summary]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    def cell(v: Any) -> str:
        return f"<td>{html.escape(fmt(v, 4) if isinstance(v, (float, np.floating)) else str(v))}</td>"

    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in summary[cols].itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def study_html(study: PaperStudy, tables: dict[str, pd.DataFrame], figures: dict[str, Path], captions: dict[str, str],
               provenance: dict[str, Any]) -> str:
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
    if study.kind == "groups":
        setup, table = liu2025.setup_sentence(study), _table_html(tables.get("length_summary"), liu2025.SUMMARY_COLUMNS)
        how = ("Generated from the study's tables: every statistic is exact at the policy of its iteration; over the "
               "sampled runs it is the mean over seeds with a 95% percentile-bootstrap interval, a difference between "
               "arms is paired over seeds (same first batch) with its bootstrap interval; the mean-field paths and "
               "the group-variance table are exact.")
        head = "Summary (sampled runs; iteration −1: each run's peak incorrect length)"
    else:
        setup, table = setup_sentence(study), _table_html(tables.get("summary"))
        how = ("Generated from the study's tables: J after an episode is the mean over the runs still alive with a 95% "
               "bootstrap interval; fractions of runs carry 95% Wilson intervals; step sizes are chosen on selection "
               "seeds that are not reported.")
        head = "Summary (reported seeds)"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(study.name)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(study.name)}</h1>"
            f"<p><b>Paper.</b> {html.escape(study.reference)}</p>"
            f"<h2>The paper's claim</h2><p>{html.escape(study.claim)}</p>"
            f"<h2>Setup</h2><p>{html.escape(setup)}</p>"
            f"<h2>What pgexp measured</h2><p>{html.escape(how)}</p><ul>{items}</ul>{figs}"
            f"<h2>{html.escape(head)}</h2>{table}"
            f"<p style='font-size:.8em;color:#666'>{prov}</p></body></html>")
