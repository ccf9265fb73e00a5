"""The practice-audit section of the report: sentences generated from its tables, with their intervals.

``practice_audit_findings(tables) -> {choice: sentences}`` reads (by key; absent ones are skipped):

* ``practice_audit`` -- the audit table (:mod:`pgexp.audit.table`): per choice and environment, the
  relative bias², the cosine of the mean with ``grad J``, the variance ratio to the textbook estimator and
  the share of the MSE that is bias, at the smallest and largest batch size, Monte Carlo with its 95%
  interval and the exact value beside it.  Normalised advantages are not rescaled (their length is not
  ``grad J``'s): they are stated by direction (cosine and angle of the mean) and effective step size (the
  median and 10-90 % quantiles of ``k_i = <ĝ_i, grad J>/||grad J||²``, beside the unnormalised reference's),
  and by the variance ratio at equal mean length;
* ``practice_audit_normalization`` -- the exact mean of normalised advantages by enumeration: its direction,
  its length relative to its ``N -> inf`` limit and its fitted rate in ``N`` (:mod:`pgexp.audit.normalization`);
* ``practice_audit_sign_flip`` -- the exact search for a common-variant mean pointing away from ``grad J``
  (:mod:`pgexp.audit.signflip`), the fraction with its Wilson interval and the worst problem;
* ``practice_audit_training`` -- training summaries (``pgexp curves --summary``) of the textbook and the
  common estimator.

Every sentence states where its numbers come from; Monte-Carlo numbers carry their interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

CHOICE_TITLES = {"common": "Dropping γ^h (the common variants)", "normalize": "Normalising advantages per batch",
                 "truncate": "Cutting episodes at a time limit"}


def _g(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (``n/a`` when missing)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.{digits}g}"


def _ci(r: pd.Series, col: str, digits: int = 3) -> str:
    lo, hi = r.get(f"{col}_lo"), r.get(f"{col}_hi")
    return f"{_g(r.get(col), digits)} [{_g(lo, digits)}, {_g(hi, digits)}]"


def _exact(r: pd.Series, col: str, digits: int = 3) -> str:
    v = r.get(f"{col}_exact")
    return "" if v is None or not np.isfinite(float(v)) else f" (exact {_g(v, digits)})"


def _where(r: pd.Series) -> str:
    H = int(r["horizon"])
    cut = f", cut at T = {int(r['truncate'])}" if pd.notna(r.get("truncate")) else ""
    return f"{r['env_name']} (γ = {_g(r['gamma'])}, H = {'∞' if H < 0 else H}{cut})"


def _variant_name(r: pd.Series) -> str:
    name = str(r["estimator"])
    if bool(r.get("normalize_advantages")):
        name += " with normalised advantages"
    if pd.notna(r.get("truncate")):
        name += f" cut at T = {int(r['truncate'])} (bootstrap {r['truncate_bootstrap']})"
    return f"{name}~{r['baseline']}"


def _num(r: pd.Series, col: str) -> float:
    """A column's value as a float (NaN when absent)."""
    try:
        return float(r.get(col, np.nan))
    except (TypeError, ValueError):
        return float("nan")


def _split(r: pd.Series) -> str:
    """The bias² split into length along ∇J and direction (empty without the columns)."""
    if not np.isfinite(_num(r, "length_k")):
        return ""
    return (f": (k − 1)² = {_ci(r, 'rel_length_bias_sq')}{_exact(r, 'rel_length_bias_sq')} is length (the mean is "
            f"k = {_ci(r, 'length_k')}{_exact(r, 'length_k')} times as long along ∇J: a step-size change) and "
            f"{_ci(r, 'rel_direction_bias_sq')}{_exact(r, 'rel_direction_bias_sq')} is direction (the mean is "
            f"{_g(r.get('angle_deg'), 2)}°{_exact(r, 'angle_deg', 2)} off ∇J)")


def _bias(r: pd.Series) -> str:
    """The relative squared bias with its interval, or that none is detected (an unbiased estimate of a squared
    bias may fall below zero), split into length and direction."""
    hi = float(r.get("rel_bias_sq_hi", np.nan))
    if np.isfinite(hi) and (hi <= 0 or float(r.get("rel_bias_sq_lo", np.nan)) <= 0):
        return f"no bias is detected (bias² estimate {_ci(r, 'rel_bias_sq')}{_exact(r, 'rel_bias_sq')} times ‖∇J‖²)"
    return f"its bias² is {_ci(r, 'rel_bias_sq')}{_exact(r, 'rel_bias_sq')} times ‖∇J‖²{_split(r)}"


def _variance(r: pd.Series) -> str:
    """The variance ratio to the textbook estimator, and at equal mean length where the table has it."""
    text = f"its variance {_ci(r, 'variance_ratio')}{_exact(r, 'variance_ratio')} times the textbook estimator's"
    if np.isfinite(_num(r, "variance_ratio_equal_length")):
        text += (f" ({_ci(r, 'variance_ratio_equal_length')}{_exact(r, 'variance_ratio_equal_length')} times at "
                 "equal mean length, ĝ/k against the textbook's)")
    return text


def _regime(r: pd.Series) -> str:
    """Whether bias or variance dominates the MSE: exactly where the exact engine has both, else by the
    interval of bias² against the variance (a rare-event problem's sampled variance can fall short)."""
    share = r.get("bias_share_exact")
    if share is not None and np.isfinite(float(share)):
        which = "the bias dominates the MSE" if share > 0.5 else "the variance dominates the MSE"
        direction = _num(r, "rel_direction_bias_sq_exact") / _num(r, "rel_mse_exact")
        if share > 0.5 and np.isfinite(direction) and direction < 0.5:
            which = ("the bias dominates the MSE, but as length: a longer or shorter step along ∇J, which the step "
                     f"size absorbs; the direction error is {_g(100 * direction, 2)}% of the MSE")
            return f"{which} (bias² is {_g(100 * share, 2)}% of it, exact)"
        return f"{which} (bias² is {_g(100 * share, 2)}% of it, exact)"
    lo, var = float(r.get("bias_sq_lo", np.nan)), float(r.get("trace_cov", np.nan))
    hi = float(r.get("bias_sq_hi", np.nan))
    if np.isfinite(lo) and lo > var:
        return "the bias dominates the MSE"
    if np.isfinite(hi) and hi < var:
        return "the variance dominates the MSE"
    return "bias² and variance are of the same order"


def _steps(r: pd.Series) -> str:
    """The effective step size's median and 10-90 % quantiles, with intervals."""
    return (f"median {_ci(r, 'step_k_median')}, 10–90 % {_g(r.get('step_k_q10'))}–{_g(r.get('step_k_q90'))} "
            f"([{_g(r.get('step_k_q10_lo'))}, {_g(r.get('step_k_q10_hi'))}] and [{_g(r.get('step_k_q90_lo'))}, "
            f"{_g(r.get('step_k_q90_hi'))}])")


def _normalized(r: pd.Series, ref: pd.Series | None) -> str:
    """A normalised variant at one batch size: direction, effective step size beside the reference's, and the
    variance at equal mean length (its bias² and MSE against ∇J would mostly measure its other length)."""
    text = (f"at N = {int(r['batch_size'])} the cosine of its mean with ∇J is {_ci(r, 'cosine_mean', 4)}"
            f"{_exact(r, 'cosine_mean', 4)} (angle {_ci(r, 'angle_deg', 2)}°{_exact(r, 'angle_deg', 2)})")
    if ref is not None:
        text += (f" against the unnormalised {_ci(ref, 'cosine_mean', 4)}{_exact(ref, 'cosine_mean', 4)}; its "
                 f"effective step size k = ⟨ĝ, ∇J⟩/‖∇J‖² over batches has {_steps(r)}, the unnormalised "
                 f"estimator's {_steps(ref)}")
    else:
        text += f"; its effective step size k = ⟨ĝ, ∇J⟩/‖∇J‖² over batches has {_steps(r)}"
    if np.isfinite(_num(r, "variance_ratio_equal_length")):
        text += (f"; at equal mean length (ĝ/k) its variance is {_ci(r, 'variance_ratio_equal_length')}"
                 f"{_exact(r, 'variance_ratio_equal_length')} times the textbook estimator's")
    return text


def _reference_row(audit: pd.DataFrame, r: pd.Series) -> pd.Series | None:
    """The audit row of ``r``'s reference at the same environment and batch size, if the table has it."""
    hit = audit[(audit["env_name"] == r["env_name"]) & (audit["variant"] == r["reference"])
                & (audit["batch_size"] == r["batch_size"])]
    return hit.iloc[0] if len(hit) else None


def audit_findings(audit: pd.DataFrame) -> list[tuple[str, str]]:
    """``(choice, sentence)`` per variant of the audit table, at its smallest and largest batch size."""
    out = []
    rows = audit[audit["choice"] != "textbook"]
    for (choice, _, _), g in rows.groupby(["choice", "env_name", "variant"], sort=True):
        g = g.sort_values("batch_size")
        lo, hi = g.iloc[0], g.iloc[-1]
        if choice == "normalize" and "step_k_median" in g:
            parts = [_normalized(r, _reference_row(audit, r)) for r in ((lo, hi) if len(g) > 1 else (hi,))]
            out.append((choice, f"On {_where(hi)}, {_variant_name(hi)} against {hi['reference'].split('~')[0]}, "
                                "standardised per batch as PPO code does (not rescaled, so judged by direction "
                                "and step size): " + "; ".join(parts) + " (Monte Carlo, 95% intervals over "
                                f"{int(hi['replicates'])} replicates, paired on common random numbers)."))
            continue
        parts = []
        for r in (lo, hi):
            length = r.get("mean_norm_ratio")
            long = (f" (its mean {_g(length)} times as long as ∇J)" if length is not None and not _split(r)
                    and np.isfinite(float(length)) and abs(float(length) - 1) > 0.1 else "")
            parts.append(f"at N = {int(r['batch_size'])} {_bias(r)}{long}, the cosine of its mean with ∇J "
                         f"{_ci(r, 'cosine_mean', 4)}"
                         f"{_exact(r, 'cosine_mean', 4)}, {_variance(r)} and its MSE "
                         f"{_ci(r, 'mse_ratio')} times; {_regime(r)}")
        norm, k = _num(hi, "mean_norm_ratio_exact"), _num(hi, "length_k_exact")
        scale = ""
        if choice == "common" and np.isfinite(k):
            scale = (f" Its exact mean is k = {_g(k)} times as long as ∇J along ∇J and "
                     f"{_g(hi.get('angle_deg_exact'), 2)}° off its direction.")
        elif choice == "common" and np.isfinite(norm):
            scale = f" Its exact mean is {_g(norm)} times as long as ∇J."
        out.append((choice, f"On {_where(hi)}, {_variant_name(hi)} against {hi['reference'].split('~')[0]}: "
                            + "; ".join(parts) + " (Monte Carlo, 95% intervals over "
                            f"{int(hi['replicates'])} replicates, paired on common random numbers)." + scale))
    return out


def normalization_findings(norm: pd.DataFrame) -> list[str]:
    """The exact direction and relative length of the normalised mean, the rate of its departure from the
    ``N -> inf`` limit, and Monte Carlo beside the exact values."""
    out = []
    keys = [k for k in ("problem", "env") if k in norm.columns][:1] or ["env"]
    for (where, est, base), g in norm.groupby([keys[0], "estimator", "baseline"], sort=True):
        g = g.sort_values("batch_size")
        ex = g[g["enumerated"].astype(bool)]
        if ex.empty:
            continue
        first, last = ex.iloc[0], ex.iloc[-1]
        n0, n1 = int(first["batch_size"]), int(last["batch_size"])
        text = (f"On {where} (H = {int(first['horizon'])}), {est}~{base} with advantages standardised per batch "
                f"(exact, by enumerating batches): the cosine of its mean with ∇J is "
                f"{_g(first['cosine_mean_exact'], 4)} at N = {n0} and {_g(last['cosine_mean_exact'], 4)} at N = {n1} "
                f"(the N → ∞ limit E g/(s + ε): {_g(first['cosine_limit_exact'], 4)}); along the limit its mean is "
                f"{_g(first['length_ratio_exact'])} and {_g(last['length_ratio_exact'])} times as long, and "
                f"‖E ĝ − limit‖/‖limit‖ = {_g(first['rel_bias_norm_exact'])} and {_g(last['rel_bias_norm_exact'])}; "
                f"its mean's step size along ∇J is k = {_g(first['length_k_exact'])} and "
                f"{_g(last['length_k_exact'])} (the limit's {_g(first['length_k_limit_exact'])})")
        if np.isfinite(float(first.get("rate_slope", np.nan))):
            text += (f"; ‖E ĝ − limit‖ shrinks like N^{_g(first['rate_slope'])} (least squares over N = "
                     f"{int(first['rate_n_min'])}–{int(first['rate_n_max'])}, residual s.e. "
                     f"{_g(first['rate_slope_se'], 2)})")
        mc = g[g["replicates"].notna()] if "replicates" in g else g.iloc[0:0]
        if not mc.empty and np.isfinite(float(mc.iloc[0].get("rel_bias_sq", np.nan))):
            r = mc.iloc[0]
            text += (f"; Monte Carlo at N = {int(r['batch_size'])} ({int(r['replicates'])} replicates): "
                     f"‖E ĝ − limit‖²/‖limit‖² = {_ci(r, 'rel_bias_sq')}{_exact(r, 'rel_bias_sq')}")
            if np.isfinite(_num(r, "cosine_mean")):
                text += f", cosine of the mean with ∇J {_ci(r, 'cosine_mean', 4)}"
        out.append(text + ".")
    return out


def sign_flip_findings(flips: pd.DataFrame) -> list[str]:
    """How often the common variant's mean points away from ∇J, per feature kind and γ, and the worst case."""
    out = []
    for feats, g in flips.groupby("features", sort=False):
        cells = "; ".join(f"γ = {_g(r['gamma'])}: {int(r['flips'])} of {int(r['samples'])} "
                          f"({_g(100 * r['flip_fraction'], 2)}%, Wilson [{_g(100 * r['flip_lo'], 2)}%, "
                          f"{_g(100 * r['flip_hi'], 2)}%]), smallest cosine {_g(r['cosine_min'])}"
                          for _, r in g.sort_values("gamma").iterrows())
        out.append(f"With {feats} features, the exact mean of reward_to_go_common pointed away from ∇J "
                   f"(negative inner product) in {cells} (random garnets with 2–6 states, H = "
                   f"{int(g['horizon'].iloc[0])}).")
    r = flips.iloc[0]
    if "example_env" in flips.columns and isinstance(r.get("example_env"), str):
        text = (f"The worst case found: {r['example_env']} with features {r['example_features']}, θ = "
                f"{r['example_theta']}, γ = {_g(r['example_gamma'])}, H = {int(r['example_horizon'])}: the exact "
                f"cosine of the common mean with ∇J is {_g(r['example_cosine'])} (‖∇J‖ = {_g(r['example_grad_norm'])},"
                f" ‖E g‖ = {_g(r['example_mean_norm'])})")
        if np.isfinite(float(r.get("mc_cosine_mean", np.nan))):
            text += (f"; Monte Carlo confirms it: cosine of the mean {_ci(r, 'mc_cosine_mean')} over "
                     f"{int(r['mc_replicates'])} batches of N = {int(r['mc_batch_size'])}, inner product z = "
                     f"{_g(r['mc_inner_z'])}")
        out.append(text + ".")
    return out


def training_findings(summary: pd.DataFrame) -> list[str]:
    """Textbook against common estimator at their selected step sizes."""
    out = []
    sel = summary[summary["selected"].astype(bool)] if "selected" in summary else summary
    for env, g in sel.groupby("env_name", sort=True):
        parts = []
        for _, r in g.sort_values("estimator").iterrows():
            steps = r.get("steps_to_threshold")
            reach = (f", {int(r['reached_threshold'])} of {int(r['seeds'])} reported seeds reached "
                     f"{_g(100 * r['threshold'], 2)}% "
                     "progress" + (f" after {_ci(r, 'steps_to_threshold')} environment steps"
                                   if steps is not None and np.isfinite(float(steps)) else ""))
            parts.append(f"{r['estimator']} (step size {_g(r['step_size'])}) ends at J/J* = {_ci(r, 'final_J_ratio')} "
                         f"and progress {_ci(r, 'final_progress')}{reach}")
        out.append(f"Training on {env} (θ₀ = 0, each estimator at its selected step size, 95% bootstrap intervals "
                   "over the reported seeds): " + "; ".join(parts) + ".")
    return out


INTRO = ("Each choice against the exact gradient and the textbook estimator it replaces (same baseline, the same "
         "trajectories): relative bias² ‖E ĝ − ∇J‖²/‖∇J‖², split into length along ∇J ((k − 1)², k = ⟨E ĝ, ∇J⟩/‖∇J‖²: "
         "a different step size, which the learning rate absorbs) and direction (the part orthogonal to ∇J, and the "
         "angle), the cosine of the mean E ĝ with ∇J (where the estimator "
         "points on average), the variance and MSE ratios to the textbook estimator (paired; the variance also at "
         "equal mean length, ĝ/k), and whether bias or variance dominates the MSE. "
         "Normalised advantages are standardised per batch as PPO code does, not rescaled: their N → ∞ limit is "
         "E g/(s + ε) (s: the population standard deviation of the step weights), so they are judged by the "
         "direction of their mean and by their effective step size k = ⟨ĝ, ∇J⟩/‖∇J‖² over batches "
         "(docs/estimators.md).")


def practice_audit_findings(tables: dict[str, pd.DataFrame | None]) -> dict[str, list[str]]:
    """The sentences of the practice audit by choice (keys of :data:`CHOICE_TITLES`, in that order; see the
    module docstring for the tables read)."""
    grouped: dict[str, list[str]] = {}
    audit = tables.get("practice_audit")
    if audit is not None and not audit.empty:
        for choice, sentence in audit_findings(audit):
            grouped.setdefault(choice, []).append(sentence)
    flips = tables.get("practice_audit_sign_flip")
    if flips is not None and not flips.empty:
        grouped.setdefault("common", []).extend(sign_flip_findings(flips))
    summary = tables.get("practice_audit_training")
    if summary is not None and not summary.empty:
        grouped.setdefault("common", []).extend(training_findings(summary))
    norm = tables.get("practice_audit_normalization")
    if norm is not None and not norm.empty:
        grouped.setdefault("normalize", []).extend(normalization_findings(norm))
    return {c: grouped[c] for c in CHOICE_TITLES if grouped.get(c)}


__all__ = ["audit_findings", "normalization_findings", "practice_audit_findings", "sign_flip_findings",
           "training_findings"]
