"""``pgexp practice-audit``: each implementation choice against the exact gradient and its textbook estimator."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, check_outputs, check_resamples, read_inputs

EXAMPLE = ("pgexp practice-audit est_rtg.parquet est_rtg_common.parquet est_rtg_norm.parquet "
           "--output practice_audit.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("practice-audit", help="bias, variance, MSE, cosine of the mean of implementation choices, "
                                              "paired against the textbook estimator, with exact values (table)",
                       description="Read estimate files of estimator variants (the *_common estimators, "
                                   "--normalize-advantages, --truncate T --bootstrap B) and of their textbook "
                                   "references "
                                   "(the same estimator without options: reward_to_go for reward_to_go_common, gae for "
                                   "gae_common), and write one row per variant x batch size: bias_sq, rel_bias_sq, "
                                   "trace_cov, mse, rel_mse and cosine_mean (the cosine of the mean estimate with "
                                   "grad J) with BCa intervals, variance_ratio and mse_ratio to the reference "
                                   "(paired on common random numbers), bias_share = bias_sq / mse, and the exact "
                                   "values beside them where the exact engine has them (*_exact; exact_method).")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the table (also OUT.csv), atomically")
    p.add_argument("--normalization", nargs="+", default=None, metavar="IN.parquet",
                   help="tables written by pgexp normalization-bias, concatenated into --normalization-output")
    p.add_argument("--normalization-output", default=None, metavar="OUT.parquet",
                   help="the study's normalisation-bias table (also OUT.csv); needs --normalization")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples (default 2000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from pgexp.audit.table import audit_table
    from pgexp.errors import UserError
    from pgexp.io import write_frame_csv
    from pgexp.memory import reuse_freed_memory
    from pgexp.provenance import provenance

    reuse_freed_memory()  # the bootstrap allocates MiB-sized temporaries per cell
    outputs = [args.output, str(Path(args.output).with_suffix(".csv"))]
    if bool(args.normalization) != bool(args.normalization_output):
        raise UserError("--normalization-output: give it together with --normalization (and the other way round)")
    if args.normalization_output:
        outputs += [args.normalization_output, str(Path(args.normalization_output).with_suffix(".csv"))]
    check_outputs(*outputs[:2], fmt="parquet")
    check_outputs(*outputs[2:], option="--normalization-output", fmt="parquet")
    frames = read_inputs(args.inputs, "estimate")
    check_resamples(args.resamples, frames)
    norm = read_inputs(args.normalization, "normalization_bias") if args.normalization else []
    out = audit_table(frames, confidence=args.confidence, resamples=args.resamples)
    write_frame_csv(out, args.output, provenance(kind="practice_audit", inputs=[str(p) for p in args.inputs]))
    if norm:
        write_frame_csv(pd.concat(norm, ignore_index=True), args.normalization_output,
                        provenance(kind="normalization_bias", inputs=[str(p) for p in args.normalization]))
    return 0
