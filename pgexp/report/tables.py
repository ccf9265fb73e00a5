"""Interactive tables for the report: sort, search, pages and a sticky header, offline.

A table is a ``<div class="dt">`` plus its data as JSON in a ``<script type="application/json">``;
``assets/report.js`` turns every such pair into a Grid.js table (``assets/gridjs.umd.js``, MIT,
vendored, inlined into the page).  Each cell travels as ``[text, sort key]``: the text is written by
:mod:`pgexp.report.format` (the same digits as the sentences), the sort key is the number, so
columns sort numerically and intervals sort by their point value.  Every column has a label, a
unit and a definition (:data:`COLUMNS`), listed under the table and shown as the header's tooltip.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pgexp.report.format import esc, fmt, horizon


@dataclass(frozen=True)
class Column:
    """``kind``: ``text``, ``int``, ``num``, ``ci`` (``name`` with ``name_lo``/``name_hi``), ``bool``,
    ``horizon`` (-1 = ∞), ``pct`` (a fraction shown as a percentage)."""

    label: str
    unit: str
    definition: str
    kind: str = "num"


SQ = "squared gradient norm"
# the columns that name a cell of the metrics table (listed first in the tables of the page)
CELL_COLUMNS = ["env_name", "theta_name", "estimator", "baseline", "horizon", "batch_size", "replicates"]
COLUMNS: dict[str, Column] = {
    "env_name": Column("env", "", "the study's name of the environment", "text"),
    "env": Column("problem", "", "the problem spec", "text"),
    "theta_name": Column("θ", "", "the policy point (a name from the config)", "text"),
    "estimator": Column("estimator", "", "the gradient estimator", "text"),
    "baseline": Column("baseline", "", "the baseline subtracted from the returns", "text"),
    "pair": Column("estimator~baseline", "", "estimator and baseline", "text"),
    "pair_a": Column("A", "", "first estimator~baseline of the pair", "text"),
    "pair_b": Column("B", "", "second estimator~baseline of the pair", "text"),
    "horizon": Column(
        "H", "steps", "horizon: steps per episode at most (∞: discounted or episodic objective)", "horizon"
    ),
    "batch_size": Column("N", "trajectories", "trajectories averaged in one batch estimate", "int"),
    "replicates": Column("M", "batches", "independent batch estimates of the cell", "int"),
    "var_per_traj": Column(
        "var/traj",
        SQ,
        "tr Cov of one trajectory's estimate = N × tr Cov of the batch mean; 95% studentised bootstrap interval",
        "ci",
    ),
    "work_normalized_variance": Column(
        "work-norm. var",
        f"{SQ} × env steps",
        "tr Cov of the batch estimate × mean environment steps it cost (fitting "
        "batches included): lower wins at an equal budget of environment steps",
        "ci",
    ),
    "env_steps_mean": Column(
        "env steps", "steps", "mean environment steps of one batch estimate, fitting batches included", "num"
    ),
    "bias_sq": Column("bias²", SQ, "‖E g − ∇J‖², unbiased estimate (may be slightly negative)", "num"),
    "mse": Column("MSE", SQ, "mean of ‖g − ∇J‖² over batch estimates", "num"),
    "cosine": Column("cosine", "", "mean over batches of cos(g, ∇J); depends on N; 95% BCa interval", "ci"),
    "snr": Column("SNR", "", "‖∇J‖² / tr Cov of the batch mean; 95% studentised interval", "ci"),
    "var_per_traj_exact": Column("exact var/traj", SQ, "the exact per-trajectory variance (dynamic programme)", "num"),
    "exact_in_ci": Column("exact inside", "", "the exact value lies inside the Monte-Carlo 95% interval", "bool"),
    "var_ess": Column("ESS", "batches", "(Σq)²/Σq², q = ‖g − ḡ‖²: how many batches carry the variance", "num"),
    "bias_max_z": Column("max |z|", "", "largest per-coordinate |mean − ∇J| / SE", "num"),
    "bias_flagged": Column("flagged", "", "max |z| above the Bonferroni bound norm.isf(1e-4/(2·dim))", "bool"),
    "bias_confirmed": Column(
        "confirmed", "", "a rerun with 10× the replicates on an independent stream is flagged too", "bool"
    ),
    "unbiased": Column("registry unbiased", "", "the estimator registry declares the pair unbiased", "bool"),
    "oracle": Column("oracle", "", "reads exact V, Q, A or b* (registry): a reference, ranked apart", "bool"),
    "var_per_traj_equal_length": Column(
        "var/traj at equal length", SQ, "per-trajectory variance of g/k, k = ⟨E g, ∇J⟩/‖∇J‖²; 95% studentised", "ci"
    ),
    "length_k": Column("length k", "", "⟨E g, ∇J⟩/‖∇J‖²: the mean's length along ∇J (1: unbiased); 95% BCa", "ci"),
    "angle_deg": Column("angle", "°", "angle between E g and ∇J (the direction error); 95% BCa", "ci"),
    "slope": Column("slope", "", "least-squares slope of log var/traj against log H; 95% percentile bootstrap", "ci"),
    "h_range": Column("H range", "steps", "horizons of the fit", "text"),
    "var_ratio": Column("var ratio A/B", "", "paired tr Cov(A) / tr Cov(B) on common random numbers; 95% BCa", "ci"),
    "work_ratio": Column("work ratio A/B", "", "paired ratio of work-normalised variances; 95% BCa", "ci"),
    "mse_diff": Column("MSE A − B", SQ, "paired difference of mean squared errors; 95% BCa", "ci"),
    "var_p_holm": Column("var p (Holm)", "", "p-value of var ratio = 1, Holm-adjusted within the cell's family", "num"),
    "var_significant_holm": Column("var differs", "", "Holm-adjusted p < 0.05 and the interval excludes 1", "bool"),
    "work_significant_holm": Column("work differs", "", "Holm-adjusted p < 0.05 and the interval excludes 1", "bool"),
    "family_size": Column("family", "pairs", "pairs compared in the cell (the multiple-comparison family)", "int"),
    "h_from": Column("H from", "steps", "shorter horizon of the pair of consecutive horizons", "int"),
    "h_to": Column("H to", "steps", "longer horizon", "int"),
    "exponent": Column("local exponent", "", "exact d log Var / d log H between the two horizons", "num"),
    "sample": Column("sample", "", "the seeds judged: held-out (not used to choose the interval method) or "
                     "in-sample (the study's own, where it was chosen)", "text"),
    "coverage": Column("coverage", "", "fraction of cells whose 95% interval holds the exact value", "pct"),
    "cells": Column("cells", "", "cells with an exact value judged", "int"),
    "inside": Column("inside", "", "cells whose interval holds the exact value", "int"),
    "clusters": Column("clusters", "", "groups of cells that share trajectories (env, θ, H, N, seed)", "int"),
    "coverage_lo": Column("coverage lo", "", "95% cluster-robust lower limit (Wilson on the effective size)", "pct"),
    "coverage_hi": Column("coverage hi", "", "95% cluster-robust upper limit", "pct"),
    "design_effect": Column("design effect", "", "variance of the coverage over its binomial value (≥ 1)", "num"),
    "total": Column("total", SQ, "tr Cov of one trajectory's estimate (exact)", "num"),
    "initial_state_share": Column("initial state", "", "share of the variance from the initial state", "pct"),
    "actions_share": Column("actions", "", "share of the variance from the actions", "pct"),
    "transitions_share": Column("transitions", "", "share of the variance from the transitions", "pct"),
    "step_size": Column("η", "", "step size", "num"),
    "final_progress": Column(
        "final progress", "", "(J − J₀)/(J* − J₀) over the last 10% of iterations, mean over seeds; 95% bootstrap", "ci"
    ),
    "final_progress_iqm": Column(
        "IQM progress", "", "final progress, interquartile mean over seeds (the middle half); 95% bootstrap", "ci"
    ),
    "improvement_prob": Column(
        "P(beats reinforce~none)",
        "",
        "probability that a run ends with higher final progress than one of reinforce~none (1/2: a tie); 95% "
        "stratified bootstrap",
        "ci",
    ),
    "steps_to_threshold": Column(
        "steps to threshold",
        "env steps",
        "environment steps until the progress threshold, mean over seeds; 95% bootstrap",
        "ci",
    ),
    "selected": Column("selected", "", "the step size chosen for this pair", "bool"),
    "seeds": Column("seeds", "", "training seeds", "int"),
    "diverged_seeds": Column("diverged", "seeds", "seeds whose run diverged", "int"),
    "rel_mse": Column("relative MSE", "", "‖g − ∇J‖² / ‖∇J‖², mean over batches; 95% BCa", "ci"),
    "reference_rel_se": Column(
        "reference rel. SE", "", "relative standard error of the Monte-Carlo reference gradient", "num"
    ),
    "checkpoint": Column("iteration", "", "checkpoint of the exact gradient-ascent path", "int"),
    "value": Column("value function", "", "the value function GAE uses", "text"),
    "lam": Column("λ", "", "GAE's parameter", "num"),
    "trace_cov": Column("tr Cov", SQ, "variance of the batch estimate", "num"),
    # the practice audit (pgexp.audit.table)
    "choice": Column("choice", "", "the implementation choice: common (no γ^h), normalize, truncate", "text"),
    "variant": Column("variant", "", "estimator~baseline~option (plain, norm, or cut<T>-<bootstrap>)", "text"),
    "rel_bias_sq": Column("rel. bias²", "", "‖mean of g − ∇J‖² / ‖∇J‖² (noise-corrected); 95% BCa", "ci"),
    "rel_bias_sq_exact": Column("rel. bias² exact", "", "‖E g − ∇J‖² / ‖∇J‖², exact", "num"),
    "cosine_mean": Column("cos(E g, ∇J)", "", "cosine of the estimator's mean with ∇J (debiased norm); 95% BCa",
                          "ci"),
    "cosine_mean_exact": Column("cos exact", "", "cosine of the exact mean E g with ∇J", "num"),
    "variance_ratio": Column("var ratio", "", "tr Cov / tr Cov of the textbook estimator, paired; 95% BCa", "ci"),
    "bias_share_exact": Column("bias share", "", "bias² / MSE of the batch mean, exact", "pct"),
}


def _number(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if math.isnan(v):
        return None
    return v if math.isfinite(v) else (1e308 if v > 0 else -1e308)


def _cell(row: pd.Series, name: str, col: Column) -> list:
    """``[text, sort key]`` of one cell."""
    if col.kind == "ci":
        v = row.get(name)
        return [f"{fmt(v)} [{fmt(row.get(f'{name}_lo'))}, {fmt(row.get(f'{name}_hi'))}]", _number(v)]
    v = row.get(name)
    if col.kind == "horizon":
        return [horizon(v), _number(1e308 if _number(v) is not None and float(v) < 0 else v)]
    if col.kind == "bool":
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return ["–", None]
        b = str(v).strip().lower() in ("true", "1", "yes") if isinstance(v, str) else bool(v)
        return ["yes" if b else "no", int(b)]
    if col.kind == "pct":
        n = _number(v)
        return ["–" if n is None else f"{100 * n:.1f} %", n]
    if col.kind == "text":
        return ["–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v), None]
    return [fmt(v), _number(v)]


def column(name: str) -> Column:
    return COLUMNS.get(name, Column(name, "", "", "num"))


def interactive_table(
    tid: str, df: pd.DataFrame, columns: list[str], *, title: str = "", csv: str | None = None, page_size: int = 10
) -> str:
    """The HTML of one interactive table (see the module docstring); ``csv``: a link to the full table."""
    cols = [c for c in columns if c in df.columns or (column(c).kind == "ci" and c in df.columns)]
    spec = [
        {
            "label": column(c).label + (f" [{column(c).unit}]" if column(c).unit else ""),
            "title": column(c).definition,
            "text": column(c).kind == "text",
        }
        for c in cols
    ]
    rows = [[_cell(r, c, column(c)) for c in cols] for _, r in df.iterrows()]
    data = json.dumps(
        {"columns": spec, "rows": rows, "pageSize": int(page_size)}, allow_nan=False, ensure_ascii=False
    ).replace("</", "<\\/")
    defs = "".join(
        f"<dt>{esc(column(c).label)}</dt><dd>{esc(column(c).definition or c)}"
        + (f' <span class="muted">({esc(column(c).unit)})</span>' if column(c).unit else "")
        + "</dd>"
        for c in cols
    )
    link = f' · <a href="{esc(csv)}">full table (CSV)</a>' if csv else ""
    head = f"<h4>{esc(title)}</h4>" if title else ""
    return (
        f'<div class="dt-block">{head}<div class="dt" id="{esc(tid)}"></div>'
        f'<script type="application/json" id="{esc(tid)}-data">{data}</script>'
        f'<details class="coldefs"><summary>{len(df)} rows · column definitions</summary>{link and link[3:]}'
        f"<dl>{defs}</dl></details></div>"
    )
