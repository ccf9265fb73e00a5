"""A self-contained HTML report of a study: setup, findings generated from the tables, figures, tables, provenance.

The report is one HTML file that opens offline: figures are embedded as base64 PNGs (the ``.png``
written beside each figure's ``.pdf``), the stylesheet is inline, nothing is fetched.  Every number in
the "Findings" section is computed here from the metrics and slopes tables (:func:`findings`); none is
typed by hand, so the text cannot drift from the data.  All text is escaped with :func:`html.escape`;
the HTML of ``extra_sections`` is inserted as given.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import norm

from pgexp.figures import FIGURES, ordered
from pgexp.io import atomic_write_text

__all__ = ["Finding", "bias_bound", "build_report", "findings", "structured_findings",
           "structured_training_findings", "training_findings"]

LECTURE_SLOPE = 3.0
BIAS_ALPHA = 1e-4  # family-wise false-alarm rate of the bias test (two-sided, Bonferroni over coordinates)

TRAINING_TITLE = "Training: what lower variance buys"
STEP_SIZE_RULE = ("the step size of each estimator is the one with the highest final progress among those where no "
                  "seed diverged; ties: the smaller")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1000px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ccc; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .15em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .7em; overflow-x: auto; font-size: .85em; }
code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .82em; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #e9e9e9; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f5f5f5; }
.scroll { overflow-x: auto; }
.wrap { word-break: break-all; }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; margin-top: .4em; }
li.warning, p.warning { color: #8a1c1c; background: #fdecec; border-left: 4px solid #c0392b; padding: .2em .5em;
                        list-style: none; margin-left: -1.2em; }
.muted { color: #777; }
"""


# ------------------------------------------------------------------------------------- numbers


def _fmt(x: Any) -> str:
    """3 significant digits; integers as they are; missing as an en dash."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "–" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    r = float(f"{v:.3g}")
    if 100 <= abs(r) < 1e6:
        return str(int(r))  # 4210, not 4.21e+03
    return f"{v:.3g}"


def _ci(v: Any, lo: Any, hi: Any, fmt=_fmt) -> str:
    return f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]"


def _slope_fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{v:.2f}" if math.isfinite(v) else "–"


def _horizon(h: Any) -> str:
    try:
        return "∞" if int(h) < 0 else str(int(h))
    except (TypeError, ValueError):
        return "–"


def _pair(est: Any, base: Any) -> str:
    return f"{est}~{base}"


def bias_bound(dim: int, alpha: float = BIAS_ALPHA) -> float:
    """Bonferroni bound on the largest per-coordinate ``|z|``: ``norm.isf(alpha / (2 * dim))``."""
    return float(norm.isf(alpha / (2 * max(int(dim), 1))))


# ------------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    """One sentence of the findings: ``env_name`` it is about, plain ``text``, ``level`` ``"info"``/``"warning"``."""

    env_name: str
    text: str
    level: str = "info"


def _has(df: pd.DataFrame | None, cols: list[str]) -> bool:
    return df is not None and not df.empty and set(cols) <= set(df.columns)


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)


def _slope_findings(env: str, sl: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    keys = [c for c in ("theta_name", "batch_size", "seed") if c in sl]
    sl = sl.sort_values(keys, kind="stable")
    multi_theta = "theta_name" in sl and sl["theta_name"].nunique() > 1
    for _, r in sl.iterrows():
        where = f" (θ: {r['theta_name']})" if multi_theta else ""
        hr = ""
        if "h_min" in r and "h_max" in r and pd.notna(r["h_min"]) and pd.notna(r["h_max"]):
            n_h = f", {int(r['n_horizons'])} horizons" if "n_horizons" in r and pd.notna(r["n_horizons"]) else ""
            hr = f" over H = {_horizon(r['h_min'])}–{_horizon(r['h_max'])}{n_h}"
        out.append(Finding(env, f"{env}{where}: variance-vs-horizon slope of {_pair(r['estimator'], r['baseline'])}: "
                                f"{_ci(r['slope'], r['slope_lo'], r['slope_hi'], _slope_fmt)} (log-log fit of "
                                f"per-trajectory variance{hr})."))
    # the lecture's H^3 claim is about vanilla REINFORCE; other baselines only where it was not run
    reinforce = sl[sl["estimator"] == "reinforce"]
    if (reinforce["baseline"] == "none").any():
        reinforce = reinforce[reinforce["baseline"] == "none"]
    for _, r in reinforce.iterrows():
        where = f" (θ: {r['theta_name']})" if multi_theta else ""
        s, lo, hi = (float(r[c]) for c in ("slope", "slope_lo", "slope_hi"))
        measured = _ci(s, lo, hi, _slope_fmt)
        pair = _pair("reinforce", r["baseline"])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            text = (f"{env}{where}: REINFORCE ({pair}) slope {measured} has no confidence interval; "
                    f"no comparison with the lecture's H³ claim.")
        elif lo <= LECTURE_SLOPE <= hi:
            text = (f"{env}{where}: REINFORCE ({pair}) variance slope {measured} is consistent with H³ "
                    f"(the lecture's claim of ≈3 lies in the 95% CI).")
        else:
            text = (f"{env}{where}: REINFORCE ({pair}) disagrees with the lecture's H³ claim: measured {measured}"
                    f" ({'shallower' if hi < LECTURE_SLOPE else 'steeper'} than 3).")
        out.append(Finding(env, text))
    return out


def _reference_findings(env: str, ref: pd.DataFrame) -> list[Finding]:
    ref = ref[np.isfinite(_num(ref, "var_per_traj"))]
    if ref.empty:
        return []
    best = ref.loc[_num(ref, "var_per_traj").idxmin()]
    cell = ""
    if {"horizon", "batch_size"} <= set(ref.columns):
        cell = f" (H = {_horizon(best['horizon'])}, N = {_fmt(best['batch_size'])})"
    out = [_lowest_variance(env, ref, best, f"{env}: at the reference cell{cell} the lowest per-trajectory variance is")]
    if "unbiased" in ref and not bool(best["unbiased"]):
        unb = ref[ref["unbiased"].astype(bool)]
        if not unb.empty:
            best_u = unb.loc[_num(unb, "var_per_traj").idxmin()]
            out.append(_lowest_variance(env, ref, best_u, f"{env}: among the estimators claimed unbiased, the lowest "
                                                          f"per-trajectory variance at the reference cell is"))
    return out


def _ratio(a, b) -> float:
    """``a / b`` as a float: ``inf`` for a positive ``a`` over zero, ``nan`` when undefined (never raises)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.float64(a), np.float64(b)))


def _lowest_variance(env: str, ref: pd.DataFrame, best: pd.Series, head: str) -> Finding:
    bp = _pair(best["estimator"], best["baseline"])
    bv = _ci(best["var_per_traj"], best.get("var_per_traj_lo"), best.get("var_per_traj_hi"))
    biased = " (biased by construction)" if "unbiased" in best and not bool(best["unbiased"]) else ""
    head = f"{head} {bp}{biased}: {bv}"
    base = ref[(ref["estimator"] == "reinforce") & (ref["baseline"] == "none")]
    if base.empty:
        return Finding(env, head + " (reinforce~none was not run, so no factor is given).")
    b = base.iloc[0]
    if b["estimator"] == best["estimator"] and b["baseline"] == best["baseline"]:
        return Finding(env, head + " -- reinforce~none itself.")
    rv = _ci(b["var_per_traj"], b.get("var_per_traj_lo"), b.get("var_per_traj_hi"))
    factor = float(b["var_per_traj"]) / float(best["var_per_traj"]) if float(best["var_per_traj"]) > 0 else math.inf
    text = f"{head}, {_fmt(factor)}× lower than reinforce~none: {rv}"
    lo_f = _ratio(b.get("var_per_traj_lo", np.nan), best.get("var_per_traj_hi", np.nan))
    hi_f = _ratio(b.get("var_per_traj_hi", np.nan), best.get("var_per_traj_lo", np.nan))
    if math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f > 0:
        text += f" (factor between {_fmt(lo_f)}× and {_fmt(hi_f)}× given both CIs)"
    return Finding(env, text + ".")


def _cosine_findings(env: str, sub: pd.DataFrame) -> list[Finding]:
    if not _has(sub, ["batch_size", "cosine"]):
        return []
    sub = sub[np.isfinite(_num(sub, "cosine"))]
    if sub.empty:
        return []
    n_max = _num(sub, "batch_size").max()
    at = sub[_num(sub, "batch_size") == n_max]
    best = at.loc[_num(at, "cosine").idxmax()]
    h = f", H = {_horizon(best['horizon'])}" if "horizon" in best else ""
    return [Finding(env, f"{env}: at the largest batch size (N = {_fmt(n_max)}{h}) the best cosine similarity to the "
                         f"exact gradient is {_ci(best['cosine'], best.get('cosine_lo'), best.get('cosine_hi'))}, "
                         f"by {_pair(best['estimator'], best['baseline'])}.")]


def _bias_findings(env: str, sub: pd.DataFrame) -> list[Finding]:
    if not _has(sub, ["bias_max_z", "dim"]):
        return []
    z = _num(sub, "bias_max_z")
    bound = np.array([bias_bound(d) if pd.notna(d) else np.nan for d in _num(sub, "dim")])
    flagged = sub[(z.to_numpy() > bound) & np.isfinite(bound)]
    if flagged.empty:
        tested = int(np.isfinite(z).sum())
        return [Finding(env, f"{env}: no estimator flagged biased (max |z| of the mean error below the Bonferroni "
                             f"bound norm.isf(1e-4/(2·dim)) in all {tested} cells).")]
    out: list[Finding] = []
    expected: list[str] = []
    for (est, base), g in flagged.groupby(["estimator", "baseline"], sort=True):
        worst = g.loc[_num(g, "bias_max_z").idxmax()]
        claimed = bool(g["unbiased"].astype(bool).any()) if "unbiased" in g else False
        n_cells = int(((sub["estimator"] == est) & (sub["baseline"] == base)).sum())
        detail = (f"max |z| = {_fmt(worst['bias_max_z'])} > bound {_fmt(bias_bound(worst['dim']))} for dim = "
                  f"{_fmt(worst['dim'])}, in {len(g)} of {n_cells} cells")
        if claimed:
            kurt = float(worst.get("bias_kurtosis", np.nan)) if "bias_kurtosis" in worst else np.nan
            tail = (f" The worst coordinate's replicate means have excess kurtosis {_fmt(kurt)}: the z-test assumes a "
                    f"near-normal mean, and rare large contributions (heavy tails) make isolated false alarms likely; "
                    f"rerun that cell with more replicates before concluding."
                    if np.isfinite(kurt) and kurt > 3 else " Check the estimator or the exact reference.")
            out.append(Finding(env, f"WARNING {env}: {_pair(est, base)} is claimed unbiased by the estimator registry "
                                    f"but is flagged biased: {detail}, worst at H = {_horizon(worst.get('horizon'))}, "
                                    f"N = {_fmt(worst.get('batch_size'))}.{tail}", "warning"))
        else:
            expected.append(f"{_pair(est, base)} ({detail}; registry: biased, as expected)")
    if expected:
        out.insert(0, Finding(env, f"{env}: flagged biased: " + "; ".join(expected) + "."))
    return out


def _reference_batch_size(metrics: pd.DataFrame, env: str) -> int | None:
    """The batch size of an environment's horizon sweep (its cells labelled ``horizon``/``both``)."""
    if not _has(metrics, ["env_name", "sweep", "batch_size"]):
        return None
    ref = metrics[(metrics["env_name"].astype(str) == env) & metrics["sweep"].isin(["horizon", "both"])]
    return int(ref["batch_size"].iloc[0]) if len(ref) else None


def structured_findings(metrics: pd.DataFrame, slopes: pd.DataFrame) -> list[Finding]:
    """The findings as :class:`Finding` objects, grouped by ``env_name`` (sorted), warnings marked."""
    metrics = metrics if metrics is not None else pd.DataFrame()
    slopes = slopes if slopes is not None else pd.DataFrame()
    envs = set()
    for df in (metrics, slopes):
        if "env_name" in df:
            envs |= set(df["env_name"].dropna().astype(str))
    out: list[Finding] = []
    for env in sorted(envs):
        if _has(slopes, ["env_name", "estimator", "baseline", "slope", "slope_lo", "slope_hi"]):
            env_slopes = slopes[slopes["env_name"].astype(str) == env]
            ref_n = _reference_batch_size(metrics, env)
            if ref_n is not None and "batch_size" in env_slopes:  # the slopes the figure draws: one per pair
                env_slopes = env_slopes[env_slopes["batch_size"] == ref_n]
            out += _slope_findings(env, env_slopes)
        if _has(metrics, ["env_name", "estimator", "baseline"]):
            env_rows = metrics[metrics["env_name"].astype(str) == env]
            thetas = sorted(env_rows["theta_name"].dropna().unique()) if "theta_name" in env_rows else []
            groups = ([(f"{env} (θ: {t})", env_rows[env_rows["theta_name"] == t]) for t in thetas]
                      if len(thetas) > 1 else [(env, env_rows)])
            for label, sub in groups:  # label: how the sentences name the env (and θ, where several)
                found: list[Finding] = []
                if "sweep" in sub and "var_per_traj" in sub:
                    found += _reference_findings(label, sub[sub["sweep"] == "both"])
                batch = sub[sub["sweep"].isin(["batch", "both"])] if "sweep" in sub else sub
                found += _cosine_findings(label, batch if not batch.empty else sub)
                found += _bias_findings(label, sub)
                out += [replace(f, env_name=env) for f in found]
    return out


def findings(metrics: pd.DataFrame, slopes: pd.DataFrame) -> list[str]:
    """The findings sentences (plain text), every number generated from the tables.

    Per ``env_name``: the variance-vs-horizon slope with 95% CI of each ``estimator~baseline``; whether
    REINFORCE's slope is consistent with the lecture's ``H^3`` (3 inside the CI); the pair with the
    lowest ``var_per_traj`` at the reference cell (``sweep == "both"``) and the factor versus
    ``reinforce~none`` (with both CIs); the best cosine similarity at the largest batch size; and the
    pairs whose ``bias_max_z`` exceeds the Bonferroni bound ``norm.isf(1e-4 / (2 * dim))``, with a
    sentence starting ``WARNING`` for each one the registry claims unbiased.
    """
    return [f.text for f in structured_findings(metrics, slopes)]


# ---------------------------------------------------------------------------- training findings


def _pair_order(est: Any, base: Any) -> tuple:
    from pgexp.figures.style import pair_sort_key  # lazy: matplotlib only when training is reported

    return (str(est) == "exact", *pair_sort_key(str(est), str(base)))


def _bool(df: pd.DataFrame, col: str) -> pd.Series:
    """A boolean column (``"True"``/``"False"`` strings, as from a CSV, read as booleans; missing = False)."""
    if col not in df:
        return pd.Series(False, index=df.index)
    v = df[col]
    if v.dtype == object:
        return v.map(lambda x: str(x).strip().lower() in ("true", "1", "yes")).astype(bool)
    return v.fillna(False).astype(bool)


def _int(x: Any, default: int = 0) -> int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return int(v) if math.isfinite(v) else default


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _eta(x: Any) -> str:
    return f"η = {_fmt(x)}"


def _budget(curves: pd.DataFrame | None, env: str, r: pd.Series) -> float:
    """The largest mean env-step count of a configuration's learning curve (NaN when unknown)."""
    if not _has(curves, ["env_name", "estimator", "baseline", "step_size", "env_steps"]):
        return math.nan
    c = curves[(curves["env_name"].astype(str) == env) & (curves["estimator"] == r["estimator"])
               & (curves["baseline"] == r["baseline"])]
    c = c[np.isclose(_num(c, "step_size"), float(r["step_size"]))]
    x = _num(c, "env_steps")
    x = x[np.isfinite(x)]
    return float(x.max()) if len(x) else math.nan


def _selected_sentence(env: str, r: pd.Series, thr: str, curves: pd.DataFrame | None) -> str:
    pair = _pair(r["estimator"], r["baseline"])
    seeds, reached = _int(r.get("seeds")), _int(r.get("reached_threshold"))
    if _finite(r.get("final_progress")):
        final = f"final progress {_ci(r['final_progress'], r.get('final_progress_lo'), r.get('final_progress_hi'))}"
    else:
        final = "no final progress (no seed ran to the end)"
    text = f"{env}: {pair} at {_eta(r['step_size'])}: {final}"
    if seeds and reached >= seeds and _finite(r.get("steps_to_threshold")):
        text += (f"; progress {thr} reached after "
                 f"{_ci(r['steps_to_threshold'], r.get('steps_to_threshold_lo'), r.get('steps_to_threshold_hi'))} "
                 f"environment steps (mean over seeds)")
    else:
        budget = _budget(curves, env, r)
        within = f" within {_fmt(budget)} environment steps" if _finite(budget) and budget > 0 else ""
        text += f"; progress {thr} not reached by {max(seeds - reached, 0)} of {seeds} seeds{within}"
    if bool(r.get("all_diverged", False)):
        text += (f" -- every step size tried had diverging seeds; shown is the smallest, where "
                 f"{_int(r.get('diverged_seeds'))} of {seeds} seeds diverged")
    return text + "."


def _fewest_steps_sentence(env: str, sel: pd.DataFrame, thr: str) -> str:
    done = sel[(_num(sel, "reached_threshold") >= _num(sel, "seeds")) & np.isfinite(_num(sel, "steps_to_threshold"))
               & ~_bool(sel, "all_diverged")]
    if done.empty:
        return f"{env}: no estimator reached progress {thr} with all seeds at its selected step size."
    best = done.loc[_num(done, "steps_to_threshold").idxmin()]
    bp = _pair(best["estimator"], best["baseline"])
    bs = _ci(best["steps_to_threshold"], best.get("steps_to_threshold_lo"), best.get("steps_to_threshold_hi"))
    head = f"{env}: fewest environment steps to progress {thr}: {bp} ({_eta(best['step_size'])}) with {bs}"
    ref = sel[(sel["estimator"] == "reinforce") & (sel["baseline"] == "none")]
    if ref.empty:
        return head + " (reinforce~none was not trained, so no factor is given)."
    r = ref.iloc[0]
    if (r["estimator"], r["baseline"]) == (best["estimator"], best["baseline"]):
        return head + " -- reinforce~none itself."
    if not (_int(r.get("reached_threshold")) >= _int(r.get("seeds"), 1) and _finite(r.get("steps_to_threshold"))):
        short = max(_int(r.get("seeds")) - _int(r.get("reached_threshold")), 0)
        return head + f"; reinforce~none did not reach it with {short} of {_int(r.get('seeds'))} seeds, so no factor is given."
    rs = _ci(r["steps_to_threshold"], r.get("steps_to_threshold_lo"), r.get("steps_to_threshold_hi"))
    factor = _ratio(r["steps_to_threshold"], best["steps_to_threshold"])
    text = f"{head}, {_fmt(factor)}× fewer than reinforce~none: {rs}"
    lo_f = _ratio(r.get("steps_to_threshold_lo", np.nan), best.get("steps_to_threshold_hi", np.nan))
    hi_f = _ratio(r.get("steps_to_threshold_hi", np.nan), best.get("steps_to_threshold_lo", np.nan))
    if math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f > 0:
        text += f" (factor between {_fmt(lo_f)}× and {_fmt(hi_f)}× given both CIs)"
    return text + "."


def _step_size_sentences(env: str, s_env: pd.DataFrame) -> list[str]:
    keys = sorted({(str(e), str(b)) for e, b in zip(s_env["estimator"], s_env["baseline"]) if e != "exact"},
                  key=lambda p: _pair_order(*p))
    chosen, tried, diverged = [], set(), []
    for est, base in keys:
        g = s_env[(s_env["estimator"] == est) & (s_env["baseline"] == base)].sort_values("step_size", kind="stable")
        tried.add(int(g["step_size"].nunique()))
        sel = g[_bool(g, "selected")]
        if not sel.empty:
            chosen.append((est, base, sel.iloc[0], int(g["step_size"].nunique())))
        div = g[_num(g, "diverged_seeds") > 0]
        if not div.empty:
            diverged.append(f"{_pair(est, base)} at η = " + ", ".join(
                f"{_fmt(r['step_size'])} ({_int(r['diverged_seeds'])} of {_int(r.get('seeds'))} seeds)"
                for _, r in div.iterrows()))
    out = []
    if chosen:
        same = len(tried) == 1
        items = [f"{_pair(e, b)} {_fmt(r['step_size'])}" + (" (all diverged)" if bool(r.get("all_diverged", False))
                                                            else "") + ("" if same else f" (of {n} tried)")
                 for e, b, r, n in chosen]
        n_tried = f", of {tried.pop()} step sizes tried per pair" if same else ""
        out.append(f"{env}: selected step sizes η{n_tried} ({STEP_SIZE_RULE}): " + "; ".join(items) + ".")
    out.append(f"{env}: runs with diverged seeds: " + "; ".join(diverged) + "." if diverged
               else f"{env}: no training run diverged.")
    return out


def _checkpoint_of(df: pd.DataFrame) -> pd.Series:
    ck = _num(df, "checkpoint")
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
    if tv.empty:
        return []
    ref = tv[(tv["estimator"] == "reinforce") & (tv["baseline"] == "none")]
    ref = ref[np.isfinite(_num(ref, "var_per_traj"))].sort_values("_ck")
    if ref.empty:
        return [f"{env}: reinforce~none has no estimates at the checkpoints; no change along training is given."]
    a, b = ref.iloc[0], ref.iloc[-1]
    t0, t1 = _int(a["_ck"]), _int(b["_ck"])
    va = _ci(a["var_per_traj"], a.get("var_per_traj_lo"), a.get("var_per_traj_hi"))
    vb = _ci(b["var_per_traj"], b.get("var_per_traj_lo"), b.get("var_per_traj_hi"))
    out = []
    if t0 == t1:
        out.append(f"{env}: per-trajectory variance of reinforce~none at the only checkpoint (iteration {t0}): {va}.")
    else:
        f = _ratio(b["var_per_traj"], a["var_per_traj"])
        text = (f"{env}: per-trajectory variance of reinforce~none along the exact path: {va} at iteration {t0}, "
                f"{vb} at iteration {t1}; a factor {_fmt(f)} (last/first) from iteration {t0} to {t1}")
        lo_f = _ratio(b.get("var_per_traj_lo", np.nan), a.get("var_per_traj_hi", np.nan))
        hi_f = _ratio(b.get("var_per_traj_hi", np.nan), a.get("var_per_traj_lo", np.nan))
        if math.isfinite(lo_f) and math.isfinite(hi_f) and lo_f > 0:
            text += f" (between {_fmt(lo_f)} and {_fmt(hi_f)} given both CIs)"
        out.append(text + ".")
        if np.isfinite(_num(ref, "cosine")).all():
            out.append(f"{env}: cosine to ∇J of reinforce~none: "
                       f"{_ci(a['cosine'], a.get('cosine_lo'), a.get('cosine_hi'))} at iteration {t0}, "
                       f"{_ci(b['cosine'], b.get('cosine_lo'), b.get('cosine_hi'))} at iteration {t1}.")
    last = tv[(tv["_ck"] == b["_ck"]) & np.isfinite(_num(tv, "var_per_traj"))]
    if len(last) > 1:
        out.append(_lowest_variance(env, last, last.loc[_num(last, "var_per_traj").idxmin()],
                                    f"{env}: at iteration {t1} the lowest per-trajectory variance is").text)
    return out


def structured_training_findings(summary: pd.DataFrame | None, curves: pd.DataFrame | None = None,
                                 training_variance: pd.DataFrame | None = None) -> list[Finding]:
    """:func:`training_findings` as :class:`Finding` objects, grouped by ``env_name`` (sorted)."""
    envs: set[str] = set()
    for df in (summary, training_variance):
        if df is not None and "env_name" in df:
            envs |= set(df["env_name"].dropna().astype(str))
    have_summary = _has(summary, ["env_name", "estimator", "baseline", "step_size", "selected"])
    if have_summary:
        summary = summary.assign(selected=_bool(summary, "selected"), all_diverged=_bool(summary, "all_diverged"))
    have_tv = _has(training_variance, ["env_name", "estimator", "baseline", "var_per_traj"])
    out: list[Finding] = []
    for env in sorted(envs):
        texts: list[str] = []
        if have_summary:
            s_env = summary[summary["env_name"].astype(str) == env]
            if not s_env.empty:
                thr_v = _num(s_env, "threshold").dropna().unique()
                thr = _fmt(thr_v[0]) if len(thr_v) == 1 else "threshold"
                sel = s_env[_bool(s_env, "selected") & (s_env["estimator"] != "exact")]
                sel = sel.assign(_o=[_pair_order(e, b) for e, b in zip(sel["estimator"], sel["baseline"])]
                                 ).sort_values("_o", kind="stable")
                texts += [_selected_sentence(env, r, thr, curves) for _, r in sel.iterrows()]
                if not sel.empty:
                    texts.append(_fewest_steps_sentence(env, sel, thr))
                texts += _step_size_sentences(env, s_env)
                ex = s_env[(s_env["estimator"] == "exact") & _bool(s_env, "selected")]
                if not ex.empty:
                    r = ex.iloc[0]
                    texts.append(f"{env}: for reference, the exact-gradient path ({_eta(r['step_size'])}, no sampling) "
                                 f"reaches final progress {_fmt(r.get('final_progress'))}.")
        if have_tv:
            tv = training_variance
            texts += _variance_training_sentences(env, tv[tv["env_name"].astype(str) == env])
        out += [Finding(env, t) for t in texts]
    return out


def training_findings(summary: pd.DataFrame | None, curves: pd.DataFrame | None = None,
                      training_variance: pd.DataFrame | None = None) -> list[str]:
    """The training findings sentences (plain text), every number generated from the tables.

    Per ``env_name``: for each ``estimator~baseline`` at its selected step size, the final progress
    ``(J - J_0)/(J* - J_0)`` with 95% CI and the environment steps to reach the threshold (with CI, or
    how many seeds never reached it within the curve's env-step budget); the pair that reached the
    threshold with the fewest environment steps and the factor versus ``reinforce~none`` (with both
    CIs); the selected step sizes and every configuration with diverged seeds; and, from the
    variance-along-training table, how ``var_per_traj`` (and the cosine) of ``reinforce~none`` changes
    from the first to the last checkpoint, and the lowest-variance pair at the last checkpoint.
    The ``exact`` gradient path is a reference, never compared on environment steps.
    """
    return [f.text for f in structured_training_findings(summary, curves, training_variance)]


def _training_table(summary: pd.DataFrame | None) -> str:
    if not _has(summary, ["env_name", "estimator", "baseline", "step_size"]):
        return '<p class="muted">No training summary.</p>'
    s = summary.assign(_sel=_bool(summary, "selected"), _dead=_bool(summary, "all_diverged"),
                       _o=[_pair_order(e, b) for e, b in zip(summary["estimator"], summary["baseline"])])
    s = s.assign(_env=s["env_name"].astype(str)).sort_values(["_sel", "_env", "_o", "step_size"],
                                                              ascending=[False, True, True, True], kind="stable")
    header = ["env_name", "estimator~baseline", "η", "selected", "seeds", "diverged seeds",
              "final progress [95% CI]", "reached threshold", "env steps to threshold [95% CI]"]
    rows = []
    for _, r in s.iterrows():
        seeds = _int(r.get("seeds"))
        thr = f" (≥ {_fmt(r['threshold'])})" if _finite(r.get("threshold")) else ""
        steps = (_ci(r.get("steps_to_threshold"), r.get("steps_to_threshold_lo"), r.get("steps_to_threshold_hi"))
                 if _finite(r.get("steps_to_threshold")) else "–")
        sel = ("✓" + (" (all diverged)" if r["_dead"] else "")) if r["_sel"] else ""
        rows.append([r["env_name"], _pair(r["estimator"], r["baseline"]), _fmt(r["step_size"]), sel, _fmt(seeds),
                     _fmt(_int(r.get("diverged_seeds"))),
                     _ci(r.get("final_progress"), r.get("final_progress_lo"), r.get("final_progress_hi"))
                     if _finite(r.get("final_progress")) else "–",
                     f"{_int(r.get('reached_threshold'))}/{seeds}{thr}", steps])
    return _table(header, rows, numeric={2, 4, 5, 6, 7, 8})


def _training_html(training: dict[str, pd.DataFrame | None], figures: dict[str, str | Path],
                   captions: dict[str, str]) -> str:
    summary = training.get("summary")
    items = structured_training_findings(summary, training.get("curves"), training.get("training_variance"))
    intro = ("<p class=\"muted\">Generated from the training summary, learning-curve and variance-along-training "
             "tables. Progress (J − J₀)/(J* − J₀) is 0 at the starting policy and 1 at the optimal one; final "
             "progress is the mean over the last 10% of iterations; environment steps are cumulative over the "
             "sampled trajectories; intervals are 95% percentile-bootstrap CIs over seeds; "
             f"{_e(STEP_SIZE_RULE)}.</p>")
    figs = "".join(_figure_html(name, figures[name], captions.get(name, f"Figure {name}."))
                   for name in _training_figures() if name in figures)
    return (intro + "<h3>Findings</h3>" + _findings_html(items) + figs
            + "<h3>Training summary (selected step sizes first)</h3>" + _training_table(summary))


# ------------------------------------------------------------------------------------ HTML parts


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>")


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    keys = [k for k in keys if k in df.columns]
    return df.sort_values(keys, kind="stable") if keys else df


def _slopes_table(slopes: pd.DataFrame) -> str:
    if slopes is None or slopes.empty:
        return '<p class="muted">No slopes in this study.</p>'
    cols = [c for c in ("env_name", "theta_name", "estimator", "baseline", "batch_size", "seed") if c in slopes]
    extra = [c for c in ("intercept", "n_horizons", "h_min", "h_max") if c in slopes]
    header = cols + ["slope [95% CI]"] + extra
    rows = []
    for _, r in _sorted(slopes, ["env_name", "theta_name", "estimator", "baseline", "batch_size", "seed"]).iterrows():
        rows.append([_fmt(r[c]) if c in ("batch_size", "seed") else r[c] for c in cols]
                    + [_ci(r.get("slope"), r.get("slope_lo"), r.get("slope_hi"))]
                    + [_horizon(r[c]) if c in ("h_min", "h_max") else _fmt(r[c]) for c in extra])
    numeric = {i for i, c in enumerate(header) if c not in ("env_name", "theta_name", "estimator", "baseline")}
    return _table(header, rows, numeric=numeric)


def _metrics_table(metrics: pd.DataFrame) -> str:
    if metrics is None or metrics.empty:
        return '<p class="muted">No metrics in this study.</p>'
    multi_theta = "theta_name" in metrics and metrics["theta_name"].nunique() > 1
    keys = ["env_name"] + (["theta_name"] if multi_theta else []) + ["estimator", "baseline"]
    keys = [k for k in keys if k in metrics]
    header = keys + ["horizon", "batch_size", "var_per_traj [95% CI]", "bias_sq", "mse", "cosine", "snr"]
    rows = []
    for _, r in _sorted(metrics, keys + ["horizon", "batch_size", "seed"]).iterrows():
        rows.append([r[k] for k in keys] + [_horizon(r.get("horizon")), _fmt(r.get("batch_size")),
                                            _ci(r.get("var_per_traj"), r.get("var_per_traj_lo"), r.get("var_per_traj_hi")),
                                            _fmt(r.get("bias_sq")), _fmt(r.get("mse")), _fmt(r.get("cosine")),
                                            _fmt(r.get("snr"))])
    return _table(header, rows, numeric=set(range(len(keys), len(header))))


def _env_table(metrics: pd.DataFrame, slopes: pd.DataFrame) -> str:
    pairs: dict[str, set[str]] = {}
    for df in (metrics, slopes):
        if df is not None and {"env_name", "env"} <= set(df.columns):
            for name, spec in zip(df["env_name"], df["env"]):
                pairs.setdefault(str(name), set()).add(str(spec))
    if not pairs:
        return ""
    rows = [[name, "; ".join(sorted(specs))] for name, specs in sorted(pairs.items())]
    head = "<thead><tr><th>env_name</th><th>problem spec</th></tr></thead>"
    body = "".join(f'<tr><td>{_e(a)}</td><td class="wrap mono">{_e(b)}</td></tr>' for a, b in rows)
    return f"<h3>Environments</h3><table>{head}<tbody>{body}</tbody></table>"


def _training_figures() -> list[str]:
    """The registered figures of the training section (shown in the training section of the report)."""
    return [name for name in ordered() if FIGURES[name].section == "training"]


def _figure_html(name: str, path: str | Path, caption: str) -> str:
    png = Path(path).with_suffix(".png")
    if not png.is_file():
        raise FileNotFoundError(f"report: figure {name!r}: no PNG beside {path} (expected {png})")
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    pdf = Path(path).with_suffix(".pdf")
    vec = f' Vector version: <span class="mono">{_e(pdf.name)}</span>.' if pdf.is_file() else ""
    return (f'<figure id="fig-{_e(name)}"><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption><strong>{_e(name)}.</strong> {_e(caption)}{vec}</figcaption></figure>")


def _findings_html(items: list[Finding]) -> str:
    if not items:
        return '<p class="muted">No findings: the tables are empty.</p>'
    out = []
    warnings = [f for f in items if f.level == "warning"]
    if warnings:
        out.append(f'<p class="warning"><strong>{len(warnings)} warning(s):</strong> an estimator that the registry '
                   f"claims unbiased is flagged biased; see below.</p>")
    for env in dict.fromkeys(f.env_name for f in items):
        lis = "".join(f'<li class="{_e(f.level)}">{_e(f.text)}</li>' for f in items if f.env_name == env)
        out.append(f"<h3>{_e(env)}</h3><ul>{lis}</ul>")
    return "".join(out)


def _provenance_html(provenance: dict[str, Any]) -> str:
    rows = [["pgexp version", provenance.get("pgexp_version", "–")],
            ["config hash", provenance.get("config_hash") or "–"],
            ["created", provenance.get("created", "–")]]
    for k, v in provenance.items():
        if k not in ("pgexp_version", "config_hash", "created", "libraries"):
            rows.append([k, v if isinstance(v, str) else yaml.safe_dump(v, default_flow_style=True).strip()])
    libs = provenance.get("libraries") or {}
    lib_rows = [[k, v] for k, v in sorted(libs.items())]
    return (_table(["item", "value"], rows) + "<h3>Library versions</h3>"
            + (_table(["library", "version"], lib_rows) if lib_rows else '<p class="muted">not recorded</p>'))


# ------------------------------------------------------------------------------------- report


def build_report(*, config: dict, metrics: pd.DataFrame, slopes: pd.DataFrame, figures: dict[str, str | Path],
                 provenance: dict, output: str | Path, extra_sections: list[tuple[str, str]] | None = None,
                 captions: dict[str, str] | None = None, title: str = "pgexp: how noisy are policy-gradient estimators?",
                 training: dict[str, pd.DataFrame] | None = None) -> None:
    """Write a single self-contained HTML report to ``output`` (atomically).

    Args:
        config: the study config (shown as YAML).
        metrics: the metrics table (one row per gradient-estimation job).
        slopes: the slopes table (log-log slope of ``var_per_traj`` vs horizon, with CIs).
        figures: figure name -> path of its ``.pdf``; the ``.png`` beside it is embedded (base64).
        provenance: ``pgexp_version``, ``libraries`` (name -> version), ``config_hash``, ``created``
            (ISO date); other keys are listed too.
        output: the ``.html`` file.
        extra_sections: ``(title, html)`` sections inserted before the provenance; ``html`` is used as given.
        captions: figure name -> caption, overriding the figure registry's (:attr:`pgexp.figures.Figure.caption`).
        title: the page title.
        training: ``None`` (the report is exactly as without the training track) or a dict with any of
            ``"curves"``, ``"summary"``, ``"training_variance"`` (DataFrames): adds the section
            "Training: what lower variance buys" after the tables (findings from
            :func:`training_findings`, the ``learning_curves`` and ``variance_along_training`` figures
            where ``figures`` has them, and the summary table).
    """
    captions = {**{name: spec.caption for name, spec in FIGURES.items()}, **(captions or {})}
    metrics = metrics if metrics is not None else pd.DataFrame()
    slopes = slopes if slopes is not None else pd.DataFrame()
    config_yaml = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    sections: list[tuple[str, str, str]] = []
    sections.append(("setup", "1. Setup",
                     f"<p>Config hash: <span class=\"mono\">{_e(provenance.get('config_hash') or '–')}</span></p>"
                     f"<pre>{_e(config_yaml)}</pre>{_env_table(metrics, slopes)}"))
    sections.append(("findings", "2. Findings in numbers",
                     "<p class=\"muted\">Generated from the metrics and slopes tables; intervals are 95% BCa "
                     "bootstrap CIs; the bias test flags max |z| &gt; norm.isf(1e-4/(2·dim)).</p>"
                     + _findings_html(structured_findings(metrics, slopes))))
    moved = [n for n in _training_figures() if n in figures] if training is not None else []  # in the training section
    figs = "".join(_figure_html(name, path, captions.get(name, f"Figure {name}."))
                   for name, path in figures.items() if name not in moved)
    if not figs and moved:
        figs = '<p class="muted">The training figures are in the training section.</p>'
    sections.append(("figures", "3. Figures", figs or '<p class="muted">No figures.</p>'))
    sections.append(("tables", "4. Tables",
                     "<h3>Variance-vs-horizon slopes</h3>" + _slopes_table(slopes)
                     + "<h3>Metrics</h3>" + _metrics_table(metrics)))
    nxt = 5
    if training is not None:
        sections.append(("training", f"{nxt}. {TRAINING_TITLE}", _training_html(training, figures, captions)))
        nxt += 1
    for k, (sec_title, sec_html) in enumerate(extra_sections or []):
        sections.append((f"extra-{k + 1}", f"{nxt + k}. {sec_title}", sec_html))
    sections.append(("provenance", f"{nxt + len(extra_sections or [])}. Provenance", _provenance_html(provenance)))

    toc = "".join(f'<li><a href="#{_e(sid)}">{_e(t)}</a></li>' for sid, t, _ in sections)
    body = "".join(f'<section id="{_e(sid)}"><h2>{_e(t)}</h2>{content}</section>' for sid, t, content in sections)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><h1>{_e(title)}</h1>"
            f"<nav><ul>{toc}</ul></nav>{body}</body></html>\n")
    atomic_write_text(output, page)
