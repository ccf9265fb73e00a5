"""The practice audit's section (tables ``practice_audit``, ``practice_audit_normalization``,
``practice_audit_sign_flip``, ``practice_audit_training``).

The sentences are :func:`pgexp.report.practice_audit.practice_audit_findings` (Monte Carlo with its
interval beside the exact value); this module only places them, the figure ``practice_audit`` and the
audit table on the page.
"""

from __future__ import annotations

from pgexp.report.practice_audit import CHOICE_TITLES, INTRO, practice_audit_findings
from pgexp.report.registry import Finding, ReportContext, SectionOutput, register_section


@register_section("practice_audit", "What common implementation choices do to the gradient", order=55,
                  needs=("practice_audit",))
def practice_audit_section(ctx: ReportContext) -> SectionOutput | None:
    grouped = practice_audit_findings(ctx.tables)
    if not grouped:
        return None
    findings = [Finding(s, CHOICE_TITLES[choice]) for choice, sentences in grouped.items() for s in sentences]
    body = ctx.figure("practice_audit")
    audit = ctx.tables["practice_audit"]
    # the step size's median only: its 10-90 % range is in the findings and the full table (12 columns overflow
    # the box at 1400 px)
    cols = [c for c in ("variant", "env_name", "batch_size", "rel_bias_sq", "rel_bias_sq_exact", "cosine_mean",
                        "cosine_mean_exact", "step_k_median", "variance_ratio", "bias_share_exact") if c in audit]
    body += ctx.table("practice_audit", audit, cols, title="Each choice against the textbook estimator")
    return SectionOutput(findings, body, INTRO)
