"""The neural track's section: MLP policies on continuous-state tasks, against a Monte-Carlo reference.

There is no exact gradient on continuous-state tasks: every number is relative to the reference
gradient (the mean of a large independent batch), whose own relative standard error is stated so a
reader can tell how much of a small error is the reference's.
"""

from __future__ import annotations

import pandas as pd

from pgexp.report.format import ci, fmt, has, pair, tie_text, tied_with
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section


def deep_findings(quality: pd.DataFrame, summary: pd.DataFrame | None = None) -> list[Finding]:
    """The reference's precision, each environment's best cosine at the smallest and largest batch size
    beside reinforce~none (tied with every pair whose interval overlaps its own), and (with training) each pair's
    final progress."""
    out: list[Finding] = []
    for env, g in quality.groupby("env_name", sort=True):
        env = str(env)
        if "reference_rel_se" in g:
            ref = g["reference_rel_se"].max()
            out.append(
                Finding(
                    f"{env}: the reference gradient (mean of {int(g['reference_batch'].max())} episodes) has "
                    f"relative standard error {fmt(ref)}; cosines within about {fmt(ref)} of 1 are as good as "
                    f"it can tell.",
                    env,
                )
            )
        for n in sorted({g["batch_size"].min(), g["batch_size"].max()}):
            at = g[g["batch_size"] == n].sort_values("cosine", ascending=False)
            best = at.iloc[0]
            rein = at[(at["estimator"] == "reinforce") & (at["baseline"] == "none")]
            text = (
                f"{env}, N = {n}: highest mean cosine to the Monte-Carlo reference "
                f"{ci(best.cosine, best.cosine_lo, best.cosine_hi)} by {pair(best.estimator, best.baseline)}"
                f"{tie_text(tied_with(at, best, 'cosine'))}"
            )
            if len(rein) and (best.estimator, best.baseline) != ("reinforce", "none"):
                r = rein.iloc[0]
                text += f"; reinforce~none {ci(r.cosine, r.cosine_lo, r.cosine_hi)}"
            out.append(Finding(text + ".", env, headline=40 if n == g["batch_size"].max() else None))
    if has(summary, ["selected", "env_name", "final_progress"]):
        sel = summary[summary["selected"].astype(bool)]
        for env, g in sel.groupby("env_name", sort=True):
            parts = [
                f"{pair(r.estimator, r.baseline)} (η = {fmt(r.step_size)}) "
                f"{ci(r.final_progress, r.final_progress_lo, r.final_progress_hi)}"
                for r in g.sort_values("final_progress", ascending=False).itertuples()
            ]
            out.append(
                Finding(
                    f"{env}: final progress of the evaluation return at the selected step sizes: "
                    + "; ".join(parts)
                    + ".",
                    str(env),
                )
            )
    return out


@register_section("deep", "Neural policies on continuous-state tasks", order=80, needs=("deep_quality",))
def deep_section(ctx: ReportContext) -> SectionOutput | None:
    quality = ctx.tables["deep_quality"]
    if not has(quality, ["env_name", "batch_size", "cosine"]):
        return None
    from pgexp.figures import FIGURES, ordered

    body = "".join(ctx.figure(n) for n in ordered() if FIGURES[n].section.startswith("deep"))
    q = quality.assign(pair=[pair(e, b) for e, b in zip(quality["estimator"], quality["baseline"])])
    body += ctx.table(
        "deep_quality",
        q,
        ["env_name", "pair", "batch_size", "cosine", "rel_mse", "var_per_traj", "reference_rel_se"],
        title="Gradient quality against the reference",
    )
    intro = (
        "No exact gradient exists for these tasks: each estimate is compared with a reference gradient, the mean of "
        "a large independent batch (as in Ilyas et al. 2020). Cosine is the mean over batches of cos(g, reference) "
        "and grows with N."
    )
    return SectionOutput(deep_findings(quality, ctx.tables.get("deep_summary")), body, intro)
