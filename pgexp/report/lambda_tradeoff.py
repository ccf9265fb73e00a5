"""Findings of GAE's exact lambda trade-off (table ``gae_lambda_tradeoff``): sentences generated from the table.

Every number is exact (no sampling, so no interval): per (environment, policy point) and value function,
the best lambda (least MSE of the batch estimate) for each batch size N, how it moves with N, and what
the best lambda buys over lambda = 1 (unbiased, reward-to-go with a baseline) and over lambda = 0.95 (a common
default), as MSE ratios.
"""

from __future__ import annotations

import itertools

import pandas as pd

VALUE_NAMES = {"none": "V = 0", "perturbed": "a perturbed V^π", "exact": "V^π", "table": "the user's V"}


def _mse_at(cell: pd.DataFrame, lam: float) -> float | None:
    hit = cell[(cell["lam"] - lam).abs() < 1e-12]
    return float(hit["mse"].iloc[0]) if len(hit) else None


def _movement(best: list[float]) -> str:
    if all(b == best[0] for b in best):
        return "the same for every N"
    if all(b2 >= b1 for b1, b2 in itertools.pairwise(best)):
        return "rising with N"
    if all(b2 <= b1 for b1, b2 in itertools.pairwise(best)):
        return "falling with N"
    return "not monotone in N"


def lambda_tradeoff_findings(table: pd.DataFrame | None) -> list[str]:
    """One sentence per (environment, policy point, value function), with the exact numbers."""
    if table is None or table.empty:
        return []
    out = []
    keys = [k for k in ("env_name", "theta_name") if k in table.columns]
    groups = table.groupby(keys, sort=True) if keys else [((), table)]
    for key, g in groups:
        where = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        H = int(g["horizon"].iloc[0]) if "horizon" in g.columns else -1
        head = f"{where} (H = {H})" if H > 0 else where
        for value in [v for v in VALUE_NAMES if v in set(g["value"])]:
            gv = g[g["value"] == value]
            sizes = sorted(gv["batch_size"].unique())
            best, parts = [], []
            for n in sizes:
                cell = gv[gv["batch_size"] == n]
                row = cell[cell["best"]].iloc[0]
                best.append(float(row["lam"]))
                ratios = []
                for ref in (1.0, 0.95):
                    m = _mse_at(cell, ref)
                    if m is not None and ref != row["lam"] and row["mse"] > 0:
                        ratios.append(f"{m / row['mse']:.2f}× less than at λ = {ref:g}")
                share = row["bias_sq"] / row["mse"] if row["mse"] > 0 else float("nan")
                parts.append(f"N = {n}: λ = {row['lam']:g} (MSE {row['mse']:.3g}, {share:.0%} of it bias²"
                             + (f"; {', '.join(ratios)}" if ratios else "") + ")")
            unbiased = (gv["bias_sq"] <= 1e-12 * gv["mse"].max()).all()
            note = " GAE is unbiased with it at every λ, so the best λ is the lowest-variance one." if unbiased else ""
            out.append(f"{head}, GAE with {VALUE_NAMES[value]}: the best λ (exact, least MSE of the batch mean) is "
                       + "; ".join(parts) + f" — {_movement(best)}." + note)
    return out


def lambda_tradeoff_section(table: pd.DataFrame | None) -> str:
    """The findings as an HTML block (empty without a table), for the report's extra sections."""
    import html

    sentences = lambda_tradeoff_findings(table)
    if not sentences:
        return ""
    intro = ("GAE's bias², variance and MSE of the batch mean, computed exactly against λ (figure "
             "gae_lambda_tradeoff); the best λ minimises the MSE at each batch size N.")
    return f"<p>{html.escape(intro)}</p><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in sentences) + "</ul>"
