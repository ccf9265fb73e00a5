"""The findings of the study ``liu2025_length_bias``: every number from its tables (``pgexp group-curves``,
``pgexp group-variance``), each claim of Liu et al. (2025) stated with whether pgexp reproduces it.

Conventions: a statistic at an iteration is the mean over the sampled runs (seeds) with a 95 % percentile-
bootstrap interval over seeds; a difference between two arms is paired over seeds (same ``theta_0``, same first
batch) with its bootstrap interval; "resolved" means the interval excludes 0.  Exact quantities (the mean-field
path, the group-variance table) carry no interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from pgexp.report.paper_format import fmt
from pgexp.study.paper import Arm, PaperStudy

SUMMARY_COLUMNS = ("label", "iteration", "seeds", "p_correct", "p_correct_lo", "p_correct_hi", "length_correct",
                   "length_correct_lo", "length_correct_hi", "length_wrong", "length_wrong_lo", "length_wrong_hi",
                   "length_wrong_diff", "length_wrong_diff_lo", "length_wrong_diff_hi", "peak_iteration")


def ci(row: Any, key: str, digits: int = 3) -> str:
    return f"{fmt(row[key], digits)} [{fmt(row[f'{key}_lo'], digits)}, {fmt(row[f'{key}_hi'], digits)}]"


def find_arm(study: PaperStudy, estimator: str, length_norm: float | None = None) -> Arm | None:
    for a in study.arms:
        o = a.options
        if o.get("estimator") == estimator and (length_norm is None or float(o.get("length_norm", 1)) == length_norm):
            return a
    return None


def arm_group_size(study: PaperStudy) -> int:
    return int(study.arms[0].options.get("group_size", 1))


def gv_row(gv: pd.DataFrame | None, label: str, G: int) -> pd.Series | None:
    if gv is None or gv.empty:
        return None
    rows = gv[(gv["label"] == label) & (gv["group_size"] == G)]
    return rows.iloc[0] if len(rows) else None


def setup_sentence(study: PaperStudy) -> str:
    from pgexp.problems.problem import build_problem

    p = study.problem
    prob = build_problem(p["env"], features=p.get("features"), theta=p.get("theta"), gamma=p.get("gamma"),
                         horizon=p.get("horizon"))
    arms = "; ".join(
        f"{a.label}: {a.options['estimator']}"
        + "".join(f", {k} = {a.options[k]:g}" for k in ("std_ddof", "eps", "length_norm", "dynamic_sampling")
                  if k in a.options)
        + f", G = {a.options['group_size']}, {a.options['batch_size'] // a.options['group_size']} prompts per batch, "
        f"{a.options.get('optimizer', 'adam')} with step size {a.step_sizes[0]:g}, {a.options['iterations']} updates, "
        f"{len(a.seeds)} seeds" for a in study.arms)
    g = study.group_exact or {}
    return (f"Problem {prob.mdp.name}: {prob.mdp.num_states - 1} prefix states (a tree), {prob.mdp.num_actions} "
            f"actions (the end-of-sequence token and {prob.mdp.num_actions - 1} content tokens), horizon "
            f"{prob.mdp.horizon}, 0/1 reward at the end; policy features {prob.features_spec} (d = {prob.policy.dim}), "
            f"θ₀ = {prob.theta_spec}.  Arms — {arms}.  Every arm's seed s starts from θ₀ with the same first batch "
            f"(common random numbers); the reference of the paired differences is {study.reference_arm}.  The exact "
            f"table: {', '.join(g.get('estimators', ()))} at G = {', '.join(str(x) for x in g.get('group_sizes', ()))} "
            f"with {g.get('prompts', 1)} prompts per batch, at θ₀.")


def _diff_words(row: pd.Series, key: str) -> str:
    lo, hi = row[f"{key}_diff_lo"], row[f"{key}_diff_hi"]
    word = "longer" if lo > 0 else "shorter" if hi < 0 else "no difference resolved"
    return f"{ci(row, key + '_diff')} ({word})"


def length_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> tuple[list[str], str]:
    """The response-level length bias: exact first-order effects, the training runs, and the verdict."""
    gv, ls, lc = tables.get("group_variance"), tables.get("length_summary"), tables.get("length_curves")
    G = arm_group_size(study)
    out = []
    found = {lab: gv_row(gv, lab, G) for lab in ("grpo", "grpo:length_norm=0", "dr_grpo", "rloo")}
    r = {k: v for k, v in found.items() if v is not None}
    if len(r) == len(found):
        out.append(
            "Exact, at θ₀ and G = " + str(G) + ": per unit of J gained along the mean update, the mean length of the "
            f"incorrect responses changes by {fmt(r['grpo']['d_length_wrong_per_dJ'])} tokens with GRPO, by "
            f"{fmt(r['grpo:length_norm=0']['d_length_wrong_per_dJ'])} with GRPO without its 1/|o| term, and by "
            f"{fmt(r['dr_grpo']['d_length_wrong_per_dJ'])} with Dr. GRPO and {fmt(r['rloo']['d_length_wrong_per_dJ'])} "
            "with RLOO (the exact gradient's direction); the expected total length of incorrect responses, "
            f"E[|o| 1{{wrong}}], grows by {fmt(r['grpo']['d_length_wrong_mass_per_dJ'])} per unit of J with GRPO and "
            f"by {fmt(r['dr_grpo']['d_length_wrong_mass_per_dJ'])} with Dr. GRPO.")
    verdict = "not measured"
    grpo, std = find_arm(study, "grpo", 1.0), find_arm(study, "grpo", 0.0)
    ref = study.reference_arm
    if ls is not None and not ls.empty and grpo is not None and ref:
        g = ls[ls["arm"] == grpo.name].sort_values("iteration", key=lambda t: t.where(t >= 0, np.inf))
        parts, longer, shorter_correct = [], [], []
        for _, row in g.iterrows():
            when = (f"at its peak (iteration {fmt(row['peak_iteration'], 3)} on average)" if row["iteration"] < 0
                    else f"after {int(row['iteration'])} updates")
            if "length_wrong_diff" not in row or not math.isfinite(row["length_wrong_diff"]):
                continue
            parts.append(f"{when}: {ci(row, 'length_wrong')} with GRPO, GRPO − {ref} = "
                         f"{_diff_words(row, 'length_wrong')}")
            longer.append(row["length_wrong_diff_lo"] > 0)
            if row["iteration"] >= 0:
                shorter_correct.append(row["length_correct_diff_hi"] < 0)
        if parts:
            out.append(f"Training ({grpo.label} against {ref}, {int(g['seeds'].iloc[0])} paired seeds), mean length "
                       "of incorrect responses " + "; ".join(parts) + ".")
        last = g[g["iteration"] == g["iteration"].max()]
        end = last.iloc[0] if len(last) else None
        if len(last) and "length_correct_diff" in last:
            row = last.iloc[0]
            out.append(f"At the end ({int(row['iteration'])} updates): correct responses GRPO − {ref} = "
                       f"{_diff_words(row, 'length_correct')}; success probability GRPO − {ref} = "
                       f"{ci(row, 'p_correct_diff')} (GRPO {ci(row, 'p_correct')}).")
        if std is not None:
            s = ls[(ls["arm"] == std.name) & (ls["iteration"] == g["iteration"].max())]
            if len(s) and "length_wrong_diff" in s and end is not None:
                total = float(end["length_wrong_diff"])
                share = (f", {fmt(100 * float(s.iloc[0]['length_wrong_diff']) / total, 2)}% of GRPO's difference: the "
                         "rest comes from the length term" if end["length_wrong_diff_lo"] > 0 else "")
                out.append(f"Without GRPO's 1/|o| term ({std.label}), incorrect responses at the end: GRPO(std only) − "
                           f"{ref} = {_diff_words(s.iloc[0], 'length_wrong')}{share}.")
        if longer:
            verdict = ("reproduced" if all(longer) else "partly reproduced" if any(longer) else "not reproduced")
            out.append(f"Verdict on the length bias of incorrect responses: {verdict} — GRPO's incorrect responses are "
                       f"longer than {ref}'s at {sum(longer)} of {len(longer)} checkpoints (intervals above 0).  The "
                       "companion claim, that GRPO shortens correct responses, is "
                       + ("reproduced" if shorter_correct and all(shorter_correct) else
                          "not reproduced on this task (a correct answer here needs enough copies of a token: "
                          "correctness and length go together)") + ".")
    if lc is not None and not lc.empty and grpo is not None and ref:
        mf = {a: lc[lc["arm"] == a].sort_values("iteration") for a in (grpo.name, ref)}
        if all(len(v) for v in mf.values()):
            a, b = mf[grpo.name], mf[ref]
            out.append("Mean-field paths (the same optimizer on the exact mean, no noise): the incorrect responses' "
                       f"mean length goes from {fmt(a['length_wrong_mean_field'].iloc[0])} to a peak of "
                       f"{fmt(a['length_wrong_mean_field'].max())} and ends at "
                       f"{fmt(a['length_wrong_mean_field'].iloc[-1])} with GRPO; with {ref} it ends at "
                       f"{fmt(b['length_wrong_mean_field'].iloc[-1])} "
                       f"(peak {fmt(b['length_wrong_mean_field'].max())}).")
    return out, verdict


def growth_findings(lc: pd.DataFrame | None, study: PaperStudy) -> tuple[list[str], str]:
    """Whether the incorrect responses keep growing along training (the paper's Figure 1 right): per arm, the mean
    over seeds of the incorrect length at θ₀, at the peak of that mean curve and at the end, each with its band.
    The growth stops when the end's band lies wholly below the peak's (two 95 % bands that do not overlap).
    Returns the lines and the verdict for the summary ("" when not measured)."""
    if lc is None or lc.empty or "length_wrong_lo" not in lc:
        return [], ""
    grpo = find_arm(study, "grpo", 1.0)
    parts, stops = [], {}
    for a in study.arms:
        c = lc[lc["arm"] == a.name].sort_values("iteration")
        if not len(c):
            continue
        peak, end = c.loc[c["length_wrong"].idxmax()], c.iloc[-1]
        stops[a.name] = (bool(end["length_wrong_hi"] < peak["length_wrong_lo"]), int(peak["iteration"]))
        parts.append(f"{a.label} from {fmt(c['length_wrong'].iloc[0])} to a peak of {ci(peak, 'length_wrong')} at "
                     f"update {int(peak['iteration'])}, then {ci(end, 'length_wrong')} after {int(end['iteration'])}")
    if not parts:
        return [], ""
    out = ["Along training (the sampled runs, mean over seeds with its band), the incorrect responses' mean length "
           "goes " + "; ".join(parts) + "."]
    verdict = ""
    if grpo is not None and grpo.name in stops:
        stopped, at = stops[grpo.name]
        everyone = all(s for s, _ in stops.values())
        verdict = f"reproduced only up to update {at}" if stopped else "reproduced"
        out.append("The paper's picture of incorrect responses that keep growing with GRPO is "
                   + (f"reproduced only up to update {at}: there GRPO's incorrect length peaks and then falls (the "
                      "end's band lies below the peak's)" if stopped else "reproduced: GRPO's incorrect length "
                      "does not fall back from its peak by the end")
                   + (", and every arm's incorrect responses grow first and shrink later" if stopped and everyone
                      and len(stops) > 1 else "") + ".")
    return out, verdict


def difficulty_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> tuple[list[str], str]:
    """The question-level difficulty bias of GRPO's standard deviation."""
    dw, pw = tables.get("difficulty"), tables.get("prompt_weights")
    out, verdict = [], "not measured"
    if dw is not None and not dw.empty:
        grpo = dw[dw["estimator"] == "grpo"]
        ratios = []
        for G, g in grpo.groupby("group_size"):
            g = g.sort_values("p")
            mid = float(np.interp(0.5, g["p"], g["weight"]))
            ends = (float(np.interp(0.05, g["p"], g["weight"])), float(np.interp(0.95, g["p"], g["weight"])))
            ratios.append((int(G), ends[0] / mid, ends[1] / mid))
        if ratios:
            out.append("GRPO's standard deviation (without its length term) weighs a prompt solved with probability p "
                       "by w(p) relative to RLOO's 1 (exact, 0/1 reward): w(0.05)/w(0.5) = "
                       + ", ".join(f"{fmt(r0, 3)} at G = {G}" for G, r0, _ in ratios)
                       + f"; w(0.95)/w(0.5) the same by symmetry ({fmt(ratios[-1][2], 3)} at G = {ratios[-1][0]}).")
            big = [r for r in ratios if r[0] > 2]
            verdict = ("reproduced" if big and all(r[1] > 1.0 for r in big) else "not reproduced")
            out.append(f"Verdict on the difficulty bias: {verdict} — prompts that are too easy or too hard are "
                       "up-weighted for every G > 2 (at G = 2 the weight is the constant 1/√2: a rescaling).")
    if pw is not None and not pw.empty:
        G = arm_group_size(study)
        rows = pw[pw["group_size"] == G]
        parts, trend = [], {}
        for lab in ("grpo:length_norm=0", "grpo", "dapo_token_mean", "reinforce_pp"):
            r = rows[rows["label"] == lab].sort_values("p_correct")
            if len(r):
                parts.append(f"{lab}: " + ", ".join(f"{fmt(w, 3)} (p = {fmt(p, 2)})"
                                                    for w, p in zip(r["weight"], r["p_correct"])))
                trend[lab] = float(r["weight"].iloc[0] - r["weight"].iloc[-1])  # hardest minus easiest
        if parts:
            flip = trend.get("grpo:length_norm=0", 0.0) > 0 > trend.get("grpo", 0.0)
            out.append(f"The study's prompts at θ₀ (G = {G}), each prompt's weight relative to its own gradient "
                       "(RLOO: 1): " + "; ".join(parts) + "."
                       + ("  With its length term GRPO weighs the hardest prompt least, the reverse of its standard "
                          "deviation alone: on this task the hard prompts' responses are long, and 1/|o| shrinks "
                          "them." if flip else ""))
    return out, verdict


def estimator_findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    """Dr. GRPO's fix, the variance of every estimator at the study's G, dynamic sampling."""
    gv, ls = tables.get("group_variance"), tables.get("length_summary")
    if gv is None or gv.empty:
        return []
    out = []
    dr = gv[gv["label"] == "dr_grpo"].sort_values("group_size")
    if len(dr):
        H = int(dr["horizon"].iloc[0]) if "horizon" in dr else "the horizon"
        worst = float(dr["angle_deg"].max())
        angle = "angle 0 to round-off (at most 1e-5°)" if worst < 1e-5 else f"angle at most {fmt(worst, 2)}°"
        out.append("Dr. GRPO is unbiased up to a positive scalar, exactly: its mean has length k = "
                   + ", ".join(f"{fmt(k, 4)} (G = {int(g)})" for g, k in zip(dr["group_size"], dr["length_k"]))
                   + f" along ∇J, (G − 1)/(G L_max) with L_max = {H}, and {angle}; GRPO's mean is "
                   + ", ".join(f"{fmt(a, 3)}°"
                               for a in gv[gv['label'] == 'grpo'].sort_values('group_size')['angle_deg'])
                   + " away from ∇J at the same G — a change of direction no step size undoes.")
    rloo = find_arm(study, "rloo")
    if ls is not None and not ls.empty and rloo is not None and "length_wrong_diff" in ls:
        r = ls[ls["arm"] == rloo.name]
        if len(r):
            dev = float(np.nanmax(np.abs(r[["length_wrong_diff", "p_correct_diff"]].to_numpy())))
            out.append(f"RLOO against {study.reference_arm} in training: the largest paired difference in P(correct) "
                       "or "
                       f"in the incorrect length over the checkpoints is {fmt(dev, 2)}: Dr. GRPO's weights are RLOO's "
                       "times (G − 1)/(G L_max), and Adam's update does not change with a constant factor.")
    G = arm_group_size(study)
    at = gv[gv["group_size"] == G].sort_values("trace_cov_equal_length")
    if len(at):
        out.append(f"Exact variance at G = {G} ({int(at['prompts'].iloc[0])} prompts × G), tr Cov ĝ raw / at equal "
                   "mean "
                   "length (ĝ/k): " + "; ".join(f"{lab} {fmt(t, 3)} / {fmt(e, 3)}" for lab, t, e in
                                                 zip(at["label"], at["trace_cov"], at["trace_cov_equal_length"]))
                   + ".  Only the estimators with angle 0 are comparable at equal length without a bias.")
    dy, da = gv_row(gv, "dapo_token_mean:dynamic_sampling=1", G), gv_row(gv, "dapo_token_mean", G)
    if dy is not None and da is not None:
        out.append(f"DAPO's dynamic sampling (drop groups whose rewards are all equal) multiplies the token-mean "
                   f"estimator's mean by {fmt(dy['length_k'] / da['length_k'], 4)} at G = {G}: the angle stays "
                   f"{fmt(da['angle_deg'], 3)}° — the selection only rescales.")
    return out


def findings(tables: dict[str, pd.DataFrame], study: PaperStudy) -> list[str]:
    out: list[str] = []
    lc = tables.get("length_curves")
    if lc is not None and not lc.empty:
        r = lc[lc["iteration"] == lc["iteration"].min()].iloc[0]
        out.append(f"At θ₀ (exact): P(correct) = {fmt(r['p_correct'])}, mean length of correct responses "
                   f"{fmt(r['length_correct'])}, of incorrect ones {fmt(r['length_wrong'])} tokens.")
    lengths, v1 = length_findings(tables, study)
    difficulty, v2 = difficulty_findings(tables, study)
    growth, v3 = growth_findings(lc, study)
    out += lengths + growth + difficulty + estimator_findings(tables, study)
    out.append(f"In short: the length bias of incorrect responses is {v1}"
               + (f"; their growth along training is {v3}" if v3 else "")
               + f"; the difficulty bias of the standard deviation is {v2}; Dr. GRPO's mean is exactly a positive "
               "multiple of ∇J.")
    return out
