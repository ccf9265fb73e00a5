"""The report section of the neural track, generated from its tables.

There is no exact gradient on continuous-state tasks: every number is relative to the reference
gradient (the mean of a large independent batch), whose own relative standard error is stated so a
reader can tell how much of a small error is the reference's.
"""

from __future__ import annotations

import pandas as pd

from pgexp.report.html import _ci, _e, _fmt, _pair, _table


def deep_findings(quality: pd.DataFrame, summary: pd.DataFrame | None = None) -> list[str]:
    """Sentences: the reference's precision, each pair's cosine at the smallest and largest batch size,
    the best pair per batch size, and (with training) each pair's final progress."""
    out = []
    for env, g in quality.groupby("env_name", sort=True):
        if "reference_rel_se" in g:
            ref = g["reference_rel_se"].max()
            out.append(f"{env}: the reference gradient (mean of {int(g['reference_batch'].max())} episodes) has relative "
                       f"standard error {_fmt(ref)}; cosines within about {_fmt(ref)} of 1 are as good as it can tell.")
        n_lo, n_hi = g["batch_size"].min(), g["batch_size"].max()
        for n in sorted({n_lo, n_hi}):
            at = g[g["batch_size"] == n].sort_values("cosine", ascending=False)
            best = at.iloc[0]
            rein = at[(at["estimator"] == "reinforce") & (at["baseline"] == "none")]
            text = (f"{env}, N = {n}: best cosine to the reference {_ci(best.cosine, best.cosine_lo, best.cosine_hi)} "
                    f"by {_pair(best.estimator, best.baseline)}")
            if len(rein):
                r = rein.iloc[0]
                text += f"; reinforce~none {_ci(r.cosine, r.cosine_lo, r.cosine_hi)}"
            out.append(text + ".")
    if summary is not None and len(summary):
        sel = summary[summary["selected"].astype(bool)]
        for env, g in sel.groupby("env_name", sort=True):
            parts = [f"{_pair(r.estimator, r.baseline)} (η = {_fmt(r.step_size)}) "
                     f"{_ci(r.final_progress, r.final_progress_lo, r.final_progress_hi)}"
                     for r in g.sort_values("final_progress", ascending=False).itertuples()]
            out.append(f"{env}: final progress of the evaluation return at the selected step sizes: " + "; ".join(parts) + ".")
    return out


def deep_section(quality: pd.DataFrame, summary: pd.DataFrame | None, figures: dict) -> str:
    """HTML: the findings and a compact quality table (the figures are in the figures section)."""
    items = "".join(f"<li>{_e(s)}</li>" for s in deep_findings(quality, summary))
    rows = [[r.env_name, _pair(r.estimator, r.baseline), r.batch_size, _ci(r.cosine, r.cosine_lo, r.cosine_hi),
             _ci(r.rel_mse, r.rel_mse_lo, r.rel_mse_hi), _fmt(r.var_per_traj)]
            for r in quality.sort_values(["env_name", "estimator", "baseline", "batch_size"]).itertuples()]
    note = ("<p>Against a Monte-Carlo reference gradient (no exact gradient exists for these tasks, as in "
            "Ilyas et al. 2020); figures <em>deep_gradient_quality</em> and <em>deep_learning_curves</em> are "
            "in the figures section.</p>")
    return (note + f"<ul>{items}</ul>"
            + _table(["env", "estimator~baseline", "N", "cosine [95% CI]", "relative MSE [95% CI]", "var per traj"],
                     rows, {2, 3, 4, 5}))
