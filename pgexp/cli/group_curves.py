"""``pgexp group-curves``: response lengths along training with group estimators -- bands over seeds, the
mean-field path, and paired differences between arms (tables)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, number, parse_list

EXAMPLE = ("pgexp group-curves grpo.parquet dr_grpo.parquet --curves length_curves.parquet "
           "--summary length_summary.parquet --reference dr_grpo")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("group-curves", help="exact response lengths along training: bands over seeds, paired "
                                            "differences (tables)",
                       description="From pgexp group-train outputs (one per arm: the arm tag, else the estimator): per "
                                   "arm and iteration the mean over seeds of J, p_correct and the mean length of all, "
                                   "correct and incorrect responses with percentile-bootstrap bands, beside the "
                                   "mean-field value (--curves); per arm at a few iterations and at each run's peak "
                                   "incorrect length, the means with intervals and the paired difference to the "
                                   "--reference arm over common seeds (--summary).")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet", help="files written by pgexp group-train")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet", help="also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet", help="also writes SUMMARY.csv")
    p.add_argument("--reference", default=None, metavar="ARM", help="the arm the others are compared with")
    p.add_argument("--checkpoints", default=None, metavar="T1,T2",
                   help="iterations of the summary (default: a quarter, half and all of training)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples (default 2000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pgexp.analysis.group_curves import arms, length_curves, length_summary
    from pgexp.cli.common import check_outputs
    from pgexp.errors import UserError
    from pgexp.io import read_frame, write_frame_csv
    from pgexp.provenance import provenance

    for path, option in ((args.curves, "--curves"), (args.summary, "--summary")):
        check_outputs(path, str(path).rsplit(".", 1)[0] + ".csv", option=option)
    runs = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    missing = [c for c in ("run", "seed", "iteration", "length_wrong", "estimator") if c not in runs]
    if missing:
        raise UserError(f"pgexp group-curves: not group-train tables (no column {', '.join(missing)})")
    named = set(arms(runs)["arm"])
    if args.reference is not None and args.reference not in named:
        raise UserError(f"--reference: no arm {args.reference!r}; arms: {', '.join(sorted(named))}")
    points = parse_list(args.checkpoints, number(0, integer=True), "--checkpoints") if args.checkpoints else []
    write_frame_csv(length_curves(runs, confidence=args.confidence, n_resamples=args.resamples), args.curves,
                    provenance(kind="length_curves"))
    write_frame_csv(length_summary(runs, reference=args.reference, checkpoints=points, confidence=args.confidence,
                                   n_resamples=args.resamples), args.summary, provenance(kind="length_summary"))
    return 0
