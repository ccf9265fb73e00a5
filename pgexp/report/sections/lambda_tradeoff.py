"""The section of GAE's exact λ trade-off (table ``lambda_tradeoff``, from ``pgexp lambda-tradeoff``).

The sentences are :func:`pgexp.report.lambda_tradeoff.lambda_tradeoff_findings` (exact numbers, no
sampling, so no intervals); this module only places them, the figure ``gae_lambda_tradeoff`` and the
table on the page.
"""

from __future__ import annotations

from pgexp.report.lambda_tradeoff import lambda_tradeoff_findings
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section


@register_section("lambda_tradeoff", "GAE's λ: bias against variance, exactly", order=45, needs=("lambda_tradeoff",))
def lambda_tradeoff_section(ctx: ReportContext) -> SectionOutput | None:
    table = ctx.tables["lambda_tradeoff"]
    sentences = lambda_tradeoff_findings(table)
    if not sentences:
        return None
    group = "env_name" if "env_name" in table else None
    findings = [Finding(s, s.split(",", 1)[0].split(" (", 1)[0] if group else "") for s in sentences]
    body = ctx.figure("gae_lambda_tradeoff")
    best = table[table["best"].astype(bool)] if "best" in table else table
    cols = [
        c for c in ("env_name", "theta_name", "value", "batch_size", "lam", "bias_sq", "trace_cov", "mse") if c in best
    ]
    body += ctx.table("lambda_tradeoff", best, cols, title="The best λ (least MSE of the batch mean), exact")
    intro = (
        "GAE's bias², variance and MSE of the batch mean, computed exactly against λ; the best λ minimises the "
        "MSE at each batch size N."
    )
    return SectionOutput(findings, body, intro)
