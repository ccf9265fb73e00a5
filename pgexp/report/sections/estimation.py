"""Sections on the estimates themselves: which estimator is least noisy (per trajectory and per
environment step), how well it points (cosine), and whether it is unbiased (flags and their reruns).

Every sentence is generated from the metrics table (and the paired comparisons, for ratios): a
factor between two estimators is always the *paired* bootstrap interval of their ratio on common
random numbers (``pgexp compare``), never a division of two separate intervals, and a difference is
only called one when Holm's correction over the cell's family of pairs and the interval agree.

Rankings ("lowest variance", "highest cosine") are over the *implementable* pairs: a pair whose estimator or
baseline the registry marks ``oracle`` (it reads the exact ``V``, ``Q``, ``A`` or ``b*``,
:func:`pgexp.estimators.is_oracle`) is shown beside the winner as a reference, never as a winner.  A winner
whose 95% interval overlaps another pair's is declared tied with it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgexp.analysis.bias import BIAS_ALPHA, BIAS_RERUN_FACTOR, bias_bound
from pgexp.report.format import (
    ci,
    flag,
    fmt,
    has,
    horizon,
    num,
    oracle_rows,
    pair,
    pct,
    tie_text,
    tied_with,
    where,
)
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section
from pgexp.report.tables import CELL_COLUMNS

REFERENCE_PAIR = ("reinforce", "none")


def env_groups(df: pd.DataFrame):
    """``(env_name, theta_name, label, rows)`` per environment and policy point, label naming θ when needed."""
    if not has(df, ["env_name"]):
        return
    for env, g in df.groupby(df["env_name"].astype(str), sort=True):
        thetas = sorted(g["theta_name"].dropna().astype(str).unique()) if "theta_name" in g else [""]
        for t in thetas:
            sub = g[g["theta_name"].astype(str) == t] if t else g
            yield env, t, where(env, t, len(thetas) > 1), sub


def reference_cell(sub: pd.DataFrame) -> pd.DataFrame:
    """The rows of the reference cell (``sweep == "both"``) with a finite per-trajectory variance."""
    if "sweep" not in sub:
        return sub.iloc[0:0]
    ref = sub[sub["sweep"] == "both"]
    return ref[np.isfinite(num(ref, "var_per_traj"))]


def paired_row(comparisons: pd.DataFrame | None, cell: pd.Series, a: tuple[str, str], b: tuple[str, str]):
    """The comparison of ``a`` and ``b`` in ``cell`` as ``(row, sign)``: ``sign = 1`` when ``a`` is the
    table's A (its ratios are a / b), ``-1`` when swapped (invert them); ``(None, 0)`` if absent."""
    if comparisons is None or comparisons.empty:
        return None, 0
    c = comparisons
    m = (
        (c["env_name"].astype(str) == str(cell["env_name"]))
        & (c["horizon"] == cell["horizon"])
        & (c["batch_size"] == cell["batch_size"])
    )
    if "theta_name" in c and "theta_name" in cell:
        m &= c["theta_name"].astype(str) == str(cell["theta_name"])
    if "seed" in c and "seed" in cell:
        m &= c["seed"] == cell["seed"]
    c = c[m]
    for sign, (x, y) in ((1, (a, b)), (-1, (b, a))):
        hit = c[
            (c["estimator_a"] == x[0])
            & (c["baseline_a"] == x[1])
            & (c["estimator_b"] == y[0])
            & (c["baseline_b"] == y[1])
        ]
        if len(hit):
            return hit.iloc[0], sign
    return None, 0


def ratio_text(row: pd.Series | None, sign: int, stat: str, a: str, b: str) -> tuple[str, bool | None]:
    """``"paired ratio a / b = r [lo, hi], …"`` and whether it is a difference after Holm (None: no row)."""
    if row is None:
        return "", None
    v, lo, hi = (float(row[f"{stat}{s}"]) for s in ("", "_lo", "_hi"))
    if sign < 0:
        v, lo, hi = 1 / v, 1 / hi, 1 / lo
    test = {"var_ratio": "var", "work_ratio": "work"}[stat]
    sig = bool(row.get(f"{test}_significant_holm", row.get(f"{test}_significant", False)))
    m = int(row["family_size"]) if "family_size" in row and pd.notna(row["family_size"]) else None
    holm = f" after Holm's correction over the {m} pairs of this cell" if m else ""
    verdict = f"a difference{holm}" if sig else f"no difference shown{holm}"
    return f"paired ratio {a} / {b} = {ci(v, lo, hi)} ({verdict})", sig


def _is_biased(r: pd.Series) -> bool:
    return "unbiased" in r and not bool(r["unbiased"])


def _lowest(ref: pd.DataFrame, col: str) -> pd.Series | None:
    vals = num(ref, col)
    ok = ref[np.isfinite(vals)]
    return None if ok.empty else ok.loc[num(ok, col).idxmin()]


def _oracle_reference(oracles: pd.DataFrame, col: str, lowest: bool = True) -> str:
    """The best oracle pair as a reference beside an implementable winner (empty when there is none)."""
    vals = num(oracles, col)
    ok = oracles[np.isfinite(vals)]
    if ok.empty:
        return ""
    r = ok.loc[num(ok, col).idxmin() if lowest else num(ok, col).idxmax()]
    return (f"; oracle reference (reads exact V, Q, A or b*: not implementable) "
            f"{pair(r['estimator'], r['baseline'])} {ci(r[col], r.get(f'{col}_lo'), r.get(f'{col}_hi'))}")


def _equal_length(r: pd.Series) -> str:
    c = "var_per_traj_equal_length"
    return ci(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi"))


def length_direction_text(r: pd.Series) -> str:
    """How much of a cell's bias² is length along ∇J (a step size) and how much direction, with the variance at equal
    mean length (empty without the columns)."""
    if not np.isfinite(float(r.get("length_k", np.nan))):
        return ""
    text = (f"; relative to ‖∇J‖², (k − 1)² = "
            f"{ci(r['rel_length_bias_sq'], r.get('rel_length_bias_sq_lo'), r.get('rel_length_bias_sq_hi'))} of it "
            f"is length (the mean is k = {ci(r['length_k'], r.get('length_k_lo'), r.get('length_k_hi'))} times as "
            f"long along ∇J: a step size) and "
            f"{ci(r['rel_direction_bias_sq'], r.get('rel_direction_bias_sq_lo'), r.get('rel_direction_bias_sq_hi'))}"
            f" direction (angle {fmt(r.get('angle_deg'))}°)")
    if np.isfinite(float(r.get("var_per_traj_equal_length", np.nan))):
        text += f"; at equal mean length (ĝ/k) its per-trajectory variance is {_equal_length(r)}"
    return text


def length_note(r: pd.Series) -> str:
    """For a winner whose mean is not of the length of ∇J (its interval of k excludes 1): its length and its variance
    at equal mean length -- a longer mean has a larger variance and is no noisier for it."""
    lo, hi = float(r.get("length_k_lo", np.nan)), float(r.get("length_k_hi", np.nan))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 1.0 <= hi:
        return ""
    text = f" (its mean is k = {ci(r['length_k'], lo, hi)} times as long along ∇J"
    if np.isfinite(float(r.get("var_per_traj_equal_length", np.nan))):
        text += f"; at equal mean length, ĝ/k, its per-trajectory variance is {_equal_length(r)}"
    return text + ")"


def _variance_sentences(label: str, ref: pd.DataFrame, comparisons: pd.DataFrame | None) -> tuple[list[str], dict]:
    """Lowest per-trajectory and work-normalised variance at the reference cell, against reinforce~none."""
    out: list[str] = []
    info: dict = {}
    r0 = ref.iloc[0]
    cell = f"H = {horizon(r0['horizon'])}, N = {fmt(r0['batch_size'])}"
    base = ref[(ref["estimator"] == REFERENCE_PAIR[0]) & (ref["baseline"] == REFERENCE_PAIR[1])]
    base_row = base.iloc[0] if len(base) else None
    orc = oracle_rows(ref)
    impl, oracles = ref[~orc], ref[orc]
    for col, what, stat in (
        ("var_per_traj", "per-trajectory variance", "var_ratio"),
        (
            "work_normalized_variance",
            "work-normalised variance (variance × environment steps: the equal-budget efficiency)",
            "work_ratio",
        ),
    ):
        best = _lowest(impl, col)
        if best is None:
            continue
        bp = pair(best["estimator"], best["baseline"])
        biased = " (biased by construction)" if _is_biased(best) else ""
        text = (f"{label} ({cell}): lowest {what} among the implementable pairs: {bp}{biased} "
                f"{ci(best[col], best[f'{col}_lo'], best[f'{col}_hi'])}")
        if col == "work_normalized_variance":
            text += f" at {fmt(best['env_steps_mean'])} environment steps per estimate"
        else:
            text += length_note(best)
        ties = tied_with(impl, best, col)
        text += tie_text(ties) + _oracle_reference(oracles, col)
        info[f"{col}_tied"] = bool(ties)
        if base_row is not None and (best["estimator"], best["baseline"]) != REFERENCE_PAIR:
            text += f"; reinforce~none {ci(base_row[col], base_row[f'{col}_lo'], base_row[f'{col}_hi'])}"
            row, sign = paired_row(comparisons, best, REFERENCE_PAIR, (best["estimator"], best["baseline"]))
            rt, sig = ratio_text(row, sign, stat, "reinforce~none", bp)
            if rt:
                text += f"; {rt}"
                info[stat] = (row, sign, sig, bp)
        elif base_row is not None:
            text += " -- reinforce~none itself"
        out.append(text + ".")
        info[col] = bp
        if col == "var_per_traj" and _is_biased(best) and "unbiased" in impl:
            unb = impl[flag(impl, "unbiased")]
            bu = _lowest(unb, col)
            if bu is not None:
                out.append(
                    f"{label}: among implementable estimators the registry calls unbiased, the lowest "
                    "per-trajectory variance "
                    f"is {pair(bu['estimator'], bu['baseline'])} {ci(bu[col], bu[f'{col}_lo'], bu[f'{col}_hi'])}."
                )
    return out, info


def _oracle_sentence(label: str, ref: pd.DataFrame) -> str | None:
    """The fitted per-coordinate optimal baseline beside the exact oracle b* (where the exact route exists)."""
    if "var_per_traj_exact" not in ref:
        return None
    opt = ref[(ref["baseline"] == "optimal") & np.isfinite(num(ref, "var_per_traj_exact"))]
    if opt.empty:
        return None
    parts = [
        f"{pair(r['estimator'], 'optimal')} {ci(r['var_per_traj'], r['var_per_traj_lo'], r['var_per_traj_hi'])} "
        f"(oracle b*: {fmt(r['var_per_traj_exact'])})"
        for _, r in opt.iterrows()
    ]
    return (
        f"{label}: the fitted per-coordinate optimal baseline (Greensmith et al., fitted on an independent batch) "
        f"beside the exact oracle b*, per-trajectory variance: " + "; ".join(parts) + "."
    )


def _cosine_sentence(label: str, sub: pd.DataFrame) -> str | None:
    batch = sub[sub["sweep"].isin(["batch", "both"])] if "sweep" in sub else sub
    batch = batch[np.isfinite(num(batch, "cosine"))]
    if batch.empty:
        return None
    n_max = num(batch, "batch_size").max()
    at = batch[num(batch, "batch_size") == n_max]
    if "horizon" in at:  # one cell: the horizon of the best, so that a tie is within the same cell
        at = at[at["horizon"] == at.loc[num(at, "cosine").idxmax()]["horizon"]]
    orc = oracle_rows(at)
    impl = at[~orc]
    if impl.empty:
        return None
    best = impl.loc[num(impl, "cosine").idxmax()]
    return (
        f"{label}: at N = {fmt(n_max)} (H = {horizon(best['horizon'])}) the highest mean cosine to ∇J among the "
        f"implementable pairs is {ci(best['cosine'], best.get('cosine_lo'), best.get('cosine_hi'))}, "
        f"by {pair(best['estimator'], best['baseline'])}{tie_text(tied_with(impl, best, 'cosine'))}"
        f"{_oracle_reference(at[orc], 'cosine', lowest=False)} "
        f"(the cosine grows with N: it is a property of the batch, not of the estimator alone)."
    )


def _winner_headline(infos: list[dict], key: str, what: str, stat: str, order: float) -> Finding | None:
    names = [i[key] for i in infos if key in i]
    if not names:
        return None
    top = max(set(names), key=lambda n: (names.count(n), -names.index(n)))
    ratios = [i[stat] for i in infos if stat in i]
    tied = sum(bool(i.get(f"{key}_tied")) for i in infos if i.get(key) == top)
    text = (f"Lowest {what} at the reference cell among the implementable pairs (oracles that read exact V, Q, A "
            f"or b* shown apart): {top} in {names.count(top)} of {len(names)} environment × θ points"
            + (f" ({tied} of them tied with another pair within overlapping 95% intervals)" if tied else ""))
    if ratios:
        vals = []
        for row, sign, _sig, _bp in ratios:
            v, lo, hi = (float(row[f"{stat}{s}"]) for s in ("", "_lo", "_hi"))
            vals.append((1 / v, 1 / hi, 1 / lo) if sign < 0 else (v, lo, hi))
        lo_i, hi_i = int(np.argmin([v[0] for v in vals])), int(np.argmax([v[0] for v in vals]))
        n_sig = sum(bool(r[2]) for r in ratios)
        text += (
            f"; reinforce~none has {ci(*vals[lo_i])} to {ci(*vals[hi_i])} times its "
            f"{'variance' if stat == 'var_ratio' else 'work-normalised variance'} (paired 95% intervals; a "
            f"difference after Holm's correction in {n_sig} of {len(ratios)})"
        )
    return Finding(text + ".", headline=order)


@register_section(
    "variance", "Which estimator is least noisy, per trajectory and per environment step", order=20, needs=("metrics",)
)
def variance_section(ctx: ReportContext) -> SectionOutput | None:
    metrics, comparisons = ctx.tables["metrics"], ctx.tables.get("comparisons")
    if not has(metrics, ["env_name", "estimator", "baseline", "var_per_traj"]):
        return None
    findings: list[Finding] = []
    infos = []
    for _env, _t, label, sub in env_groups(metrics):
        ref = reference_cell(sub)
        texts: list[str] = []
        if len(ref):
            t, info = _variance_sentences(label, ref, comparisons)
            texts += t
            infos.append(info)
            oracle = _oracle_sentence(label, ref)
            texts += [oracle] if oracle else []
        cos = _cosine_sentence(label, sub)
        texts += [cos] if cos else []
        findings += [Finding(t, group=label) for t in texts]
    heads = [
        _winner_headline(infos, "var_per_traj", "per-trajectory variance", "var_ratio", 10),
        _winner_headline(
            infos,
            "work_normalized_variance",
            "work-normalised variance (counting every environment step, fitting batches included)",
            "work_ratio",
            11,
        ),
    ]
    findings = [h for h in heads if h is not None] + findings
    body = "".join(ctx.figure(n) for n in ("quality_vs_batch_size", "bias_variance"))
    ref_rows = metrics[metrics["sweep"] == "both"] if "sweep" in metrics else metrics
    ref_rows = ref_rows.assign(oracle=oracle_rows(ref_rows))
    # the steps behind the work-normalised variance and the registry's unbiased flag are in the full metrics table
    # (and the bias section): without them the table fits its box at 1 400 px
    extra = [c for c in ("var_per_traj_equal_length", "length_k", "angle_deg") if c in ref_rows]
    body += ctx.table(
        "metrics",
        ref_rows.sort_values(["env_name", "theta_name", "var_per_traj"], kind="stable"),
        [
            "env_name",
            "theta_name",
            "estimator",
            "baseline",
            "var_per_traj",
            *extra,
            "work_normalized_variance",
            "bias_sq",
            "cosine",
            "snr",
            "oracle",
        ],
        title="The reference cell, every estimator~baseline (sorted by per-trajectory variance)",
    )
    intro = (
        "Per-trajectory variance is N × tr Cov of the batch mean. Work-normalised variance multiplies the "
        "variance of a batch estimate by the environment steps it cost, fitting batches included: at an equal "
        "budget of environment steps, the estimator with the smaller product is more precise (Glynn & Whitt's "
        "efficiency). Factors against reinforce~none are paired bootstrap intervals of the ratio on common "
        "random numbers; a difference is claimed only when Holm's correction over the cell's pairs and the "
        "interval both say so."
    )
    return SectionOutput(findings, body, intro)


# ----------------------------------------------------------------------------------------------- bias


def _flagged(sub: pd.DataFrame) -> pd.Series:
    if "bias_flagged" in sub:
        return flag(sub, "bias_flagged")
    z = num(sub, "bias_max_z")
    bound = np.array([bias_bound(d) if pd.notna(d) else np.nan for d in num(sub, "dim")])
    return pd.Series((z.to_numpy() > bound) & np.isfinite(bound), index=sub.index)


def _bias_sentences(label: str, sub: pd.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    fl = _flagged(sub)
    unbiased = flag(sub, "unbiased") if "unbiased" in sub else pd.Series(True, index=sub.index)
    confirmed = flag(sub, "bias_confirmed")
    for (est, base), g in sub.groupby(["estimator", "baseline"], sort=False):
        gf = fl[g.index]
        n, k = len(g), int(gf.sum())
        bp = pair(est, base)
        if bool(unbiased[g.index].all()):
            if k == 0:
                continue
            c = int(confirmed[g.index].sum())
            worst = g[gf].loc[num(g[gf], "bias_max_z").idxmax()]
            rz = num(g[gf], "bias_rerun_max_z")
            reruns = int((num(g[gf], "bias_rerun_replicates") > 0).sum())
            if c:
                out.append(
                    Finding(
                        f"{label}: {bp} (registry: unbiased) is biased: flagged in {k} of {n} cells and "
                        f"confirmed by the rerun with {BIAS_RERUN_FACTOR}× the replicates on an independent "
                        f"stream in {c} (worst max |z| = {fmt(worst['bias_max_z'])}, H = "
                        f"{horizon(worst['horizon'])}, N = {fmt(worst['batch_size'])}).",
                        label,
                        "biased",
                    )
                )
            elif reruns:
                out.append(
                    Finding(
                        f"{label}: {bp}: a bias flag in {k} of {n} cells, not confirmed: the rerun with "
                        f"{BIAS_RERUN_FACTOR}× the replicates on an independent stream gave max |z| ≤ "
                        f"{fmt(np.nanmax(rz))} (below the bound) in every one.",
                        label,
                        "unconfirmed",
                    )
                )
            else:
                out.append(
                    Finding(
                        f"{label}: {bp}: a bias flag in {k} of {n} cells, not rerun (no exact problem to "
                        f"redraw from), so not confirmed.",
                        label,
                        "unconfirmed",
                    )
                )
        else:
            if k:
                worst = g[gf].loc[num(g[gf], "bias_sq").idxmax()]
                out.append(
                    Finding(
                        f"{label}: {bp} is biased by construction (registry) and the data show it in {k} of "
                        f"{n} cells; largest bias² "
                        f"{ci(worst['bias_sq'], worst.get('bias_sq_lo'), worst.get('bias_sq_hi'))} "
                        f"at H = {horizon(worst['horizon'])}, N = {fmt(worst['batch_size'])} (‖∇J‖² = "
                        f"{fmt(float(worst['grad_norm_exact']) ** 2) if 'grad_norm_exact' in worst else '–'})"
                        f"{length_direction_text(worst)}.",
                        label,
                        "biased",
                    )
                )
            else:
                out.append(
                    Finding(
                        f"{label}: {bp} is biased by construction (registry); its bias is below what the "
                        f"z-test detects in all {n} cells.",
                        label,
                    )
                )
    return out


def false_alarm_text(unbiased: pd.DataFrame, flagged: pd.Series) -> str:
    """The z-test's false-alarm rate beside its flags: the observed rate on the registry-unbiased cells (Wilson
    interval), the nominal count, and the count the null bootstrap predicts for these cells' own distributions
    (the sum of ``bias_null_rate``, with its resampling standard error ``sqrt(Σ p (1 - p) / B)``)."""
    from pgexp.analysis.curves import wilson_interval

    n, k = len(unbiased), int(flagged.sum())
    if n == 0:
        return ""
    _, lo, hi = wilson_interval(k, n)
    text = (f" (the first-stage z-test's rate on these cells: {pct(k / n)} [{pct(lo)}, {pct(hi)}], Wilson; nominal "
            f"{BIAS_ALPHA:g} per cell, {fmt(n * BIAS_ALPHA)} flags expected")
    if "bias_null_rate" in unbiased:
        p = num(unbiased, "bias_null_rate")
        ok = np.isfinite(p)
        if ok.any():
            B = num(unbiased, "bias_null_resamples")[ok] if "bias_null_resamples" in unbiased else np.nan
            se = float(np.sqrt(np.sum(p[ok] * (1 - p[ok]) / B)))
            text += (f"; measured for these cells' own distributions by the null bootstrap (replicates shifted onto "
                     f"∇J, resampled, tested): {fmt(float(p[ok].sum()))} ± {fmt(1.96 * se)} flags expected when "
                     f"nothing is biased, in the {int(ok.sum())} cells with a testable coordinate")
    return text + ")"


@register_section("bias", "Is it unbiased? Flags, reruns and known biases", order=25, needs=("metrics",))
def bias_section(ctx: ReportContext) -> SectionOutput | None:
    metrics = ctx.tables["metrics"]
    if not has(metrics, ["env_name", "estimator", "baseline", "bias_max_z"]):
        return None
    findings: list[Finding] = []
    for _env, _t, label, sub in env_groups(metrics):
        findings += _bias_sentences(label, sub)
    fl = _flagged(metrics)
    unb = flag(metrics, "unbiased") if "unbiased" in metrics else pd.Series(True, index=metrics.index)
    conf = flag(metrics, "bias_confirmed")
    known = sorted({pair(e, b) for e, b in zip(metrics.loc[~unb, "estimator"], metrics.loc[~unb, "baseline"])})
    text = (
        f"Bias: {int((fl & unb).sum())} of {int(unb.sum())} cells of estimators the registry calls unbiased were "
        f"flagged by the z-test and {int((conf & unb).sum())} confirmed by a rerun with {BIAS_RERUN_FACTOR}× the "
        f"replicates"
    )
    text += false_alarm_text(metrics[unb], fl[unb])
    if known:
        text += (
            f"; estimators biased by construction ({', '.join(known)}) were flagged in "
            f"{int((fl & ~unb).sum())} of {int((~unb).sum())} of their cells"
        )
    findings.insert(0, Finding(text + ".", headline=20))
    if not any(f.group for f in findings):
        findings.append(Finding("No estimator was flagged biased in any cell.", ""))
    cols = [
        *CELL_COLUMNS,
        "bias_max_z",
        "bias_flagged",
        "bias_confirmed",
        "unbiased",
    ]
    shown = metrics[fl | ~unb] if (fl | ~unb).any() else metrics.iloc[0:0]
    body = ctx.table("metrics", shown, cols, title="Flagged cells and the estimators biased by construction")
    intro = (
        f"The z-test compares each coordinate's mean error with its standard error; a cell is flagged when the "
        f"largest |z| exceeds the Bonferroni bound norm.isf({BIAS_ALPHA:g}/(2·dim)). Heavy-tailed estimates make "
        f"the normal approximation fire on unbiased estimators, so every flagged cell of an estimator the registry "
        f"calls unbiased is redrawn with {BIAS_RERUN_FACTOR}× the replicates on an independent random stream: only "
        f"a flag the rerun repeats counts as a bias. Estimators biased by construction (registry) are not rerun."
    )
    return SectionOutput(findings, body, intro)
