"""The coverage section: do the Monte-Carlo intervals hold their level against the exact per-trajectory variances?

The interval method was chosen by looking at the coverage of the default study's own seed; judged there the
coverage is in-sample.  With the config's coverage seeds (``metrics_heldout``: the pairs with an exact value run
again on seeds nothing else uses), theirs is the judgement, and the study's own is stated beside it as in-sample.
Coverage intervals are cluster-robust (:mod:`pgexp.analysis.coverage`).
"""

from __future__ import annotations

import pandas as pd

from pgexp.analysis.coverage import coverage_table, replicate_sizing
from pgexp.report.format import fmt, num, pct
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section
from pgexp.report.tables import CELL_COLUMNS


def sizing_finding(metrics: pd.DataFrame, confidence: float, target: float = 0.10) -> Finding | None:
    """What the Monte-Carlo cells with an exact value are for, and the replicates that purpose needs
    (:func:`pgexp.analysis.coverage.replicate_sizing`)."""
    sizing = replicate_sizing(metrics, target)
    if sizing.empty:
        return None
    per_n = "; ".join(
        f"N = {r.batch_size}: ±{pct(r.half_width)} with {fmt(r.replicates)} replicates, ±{pct(target)} would "
        f"need about {r.replicates_needed}"
        for r in sizing.itertuples()
    )
    return Finding(
        f"Where the exact variance is known, the study's numbers are the exact ones and its Monte-Carlo cells are "
        f"there to check the intervals (target: {confidence:.0%} coverage). Their {confidence:.0%} intervals span "
        f"(median relative half-width, log scale) {per_n} (the width shrinks like 1/√replicates).",
        "by environment",
    )


CLUSTERING = ("95% cluster-robust intervals: cells of one environment, θ, horizon, batch size and seed share their "
              "trajectories and form one cluster")


def judged_cells(metrics: pd.DataFrame | None) -> pd.DataFrame | None:
    """The cells of a metrics table with an exact value judged (``exact_in_ci`` set); ``None`` when there are none."""
    if metrics is None or "exact_in_ci" not in metrics or metrics["exact_in_ci"].notna().sum() == 0:
        return None
    return metrics


def seeds_text(metrics: pd.DataFrame) -> str:
    """``seed 0`` / ``seeds 1, 2``: the seeds of a metrics table's judged cells."""
    seeds = sorted({int(s) for s in metrics.loc[metrics["exact_in_ci"].notna(), "seed"]}) if "seed" in metrics else []
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "the study's seeds"


def coverage_per_n(by_n: pd.DataFrame) -> str:
    """The coverage per batch size with its cluster-robust interval and counts, as one clause."""
    return ", ".join(
        f"{pct(r.coverage)} [{pct(r.coverage_lo)}, {pct(r.coverage_hi)}] at N = {r.batch_size} ({r.inside} of "
        f"{r.cells} cells in {r.clusters} clusters)"
        for r in by_n.itertuples()
    )


def coverage_findings(metrics: pd.DataFrame, heldout: pd.DataFrame | None, conf: float) -> list[Finding]:
    """The coverage per batch size: with held-out seeds, theirs is the judgement (the Summary's) and the study's
    own seeds' -- where the interval method was chosen -- are labelled in-sample; without, the study's own."""
    inside = f"exact per-trajectory variance lies inside its {conf:.0%} interval in"
    own = judged_cells(metrics)
    if heldout is None:
        assert own is not None  # (the section returns early when neither has judged cells)
        return [Finding(f"The {inside} {coverage_per_n(coverage_table(own, ['batch_size']))} of the cells with an "
                        f"exact value ({CLUSTERING}). Not held out: judged on the study's own {seeds_text(own)}; the "
                        f"config's coverage seeds judge the interval method on seeds not used to choose it.",
                        headline=15)]
    found = [Finding(f"On held-out {seeds_text(heldout)} (not used to choose the interval method), the {inside} "
                     f"{coverage_per_n(coverage_table(heldout, ['batch_size']))} of the cells with an exact value "
                     f"({CLUSTERING}).", headline=15)]
    if own is not None:
        per_n = coverage_per_n(coverage_table(own, ["batch_size"]))
        found.append(Finding(f"In-sample, on the study's own {seeds_text(own)} (where the interval method was chosen; "
                             f"not the judgement): the {inside} {per_n}."))
    return found


def coverage_by_sample(metrics: pd.DataFrame, heldout: pd.DataFrame | None) -> pd.DataFrame:
    """The coverage per batch size of the held-out seeds and of the study's own (column ``sample``)."""
    parts = [(f"held-out ({seeds_text(heldout)})", heldout)] if heldout is not None else []
    own = judged_cells(metrics)
    parts += [(f"in-sample ({seeds_text(own)})", own)] if own is not None else []
    return pd.concat([coverage_table(df, ["batch_size"]).assign(sample=label) for label, df in parts],
                     ignore_index=True)


def coverage_tables(ctx: ReportContext, by_n: pd.DataFrame, by_env_n: pd.DataFrame, missed: pd.DataFrame) -> str:
    """The coverage section's tables: per batch size (held-out and in-sample), per environment and batch size, the
    cells missed (of the judgement: the held-out seeds where there are)."""
    return (
        ctx.table(
            "coverage",
            by_n,
            ["sample", "batch_size", "cells", "clusters", "inside", "coverage", "coverage_lo", "coverage_hi",
             "design_effect"],
            title="Coverage per batch size (cluster-robust intervals)",
        )
        + ctx.table(
            "coverage",
            by_env_n,
            ["env_name", "batch_size", "cells", "inside", "coverage"],
            title="Coverage per environment and batch size",
        )
        + ctx.table(
            "metrics",
            missed,
            [
                *CELL_COLUMNS,
                "var_per_traj",
                "var_per_traj_exact",
                "var_ess",
            ],
            title="Cells whose interval misses the exact value",
        )
    )


@register_section(
    "coverage",
    "Do the intervals hold their level? Monte Carlo against the exact variance",
    order=30,
    needs=("metrics",),
)
def coverage_section(ctx: ReportContext) -> SectionOutput | None:
    metrics = ctx.tables["metrics"]
    heldout = judged_cells(ctx.tables.get("metrics_heldout"))
    if judged_cells(metrics) is None and heldout is None:
        return None
    verdict = heldout if heldout is not None else metrics  # what the coverage is judged on
    by_env = coverage_table(verdict, ["env_name"])
    by_env_n = coverage_table(verdict, ["env_name", "batch_size"])
    conf = float(metrics["confidence"].dropna().iloc[0]) if "confidence" in metrics else 0.95
    findings = coverage_findings(metrics, heldout, conf)
    which = f" (held-out {seeds_text(heldout)})" if heldout is not None else ""
    for r in by_env.itertuples():
        sub = by_env_n[by_env_n["env_name"] == r.env_name]
        findings.append(
            Finding(
                f"{r.env_name}{which}: {pct(r.coverage)} ({r.inside} of {r.cells}); by batch size: "
                + ", ".join(f"N = {s.batch_size}: {pct(s.coverage)}" for s in sub.itertuples())
                + ".",
                "by environment",
            )
        )
    judged = verdict[verdict["exact_in_ci"].notna()]
    missed = judged[~judged["exact_in_ci"].astype(bool)]
    if "var_ess" in judged and len(missed):
        findings.append(
            Finding(
                f"Batches carrying the variance (ESS, median){which}: {fmt(num(missed, 'var_ess').median())} "
                f"in the missed cells, {fmt(num(judged, 'var_ess').median())} in all judged cells.",
                "by environment",
            )
        )
    sizing = sizing_finding(metrics, conf) if judged_cells(metrics) is not None else None
    findings += [sizing] if sizing else []
    findings.append(
        Finding(
            "Cells of one environment, θ, horizon, batch size and seed share their trajectories (common "
            "random numbers), so their misses come together; the coverage intervals treat each such group as one "
            "cluster (cluster-robust variance, Wilson interval on the effective sample size), and no count of "
            "'expected misses' for independent cells applies.",
            "by environment",
        )
    )
    body = coverage_tables(ctx, coverage_by_sample(metrics, heldout), by_env_n, missed)
    intro = (
        "Where an exact per-trajectory variance exists (reinforce and reward_to_go with no baseline or the exact "
        "value, advantage_exact), it is compared with the Monte-Carlo interval of the same estimator. The "
        "intervals are studentised bootstrap intervals on the log scale, and small batches draw more replicates "
        "so that every cell holds enough trajectories (pgexp.analysis.metrics explains both). That method was "
        "chosen by looking at the coverage of the study's own seeds, so there the coverage is in-sample; the "
        "config's coverage seeds run the same pairs, grid and replicates again on seeds nothing else uses, and "
        "their coverage is the judgement."
    )
    return SectionOutput(findings, body, intro)
