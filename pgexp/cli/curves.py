"""``pgexp curves``: learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, number, read_inputs

EXAMPLE = "pgexp curves run.parquet --curves curves.parquet --summary summary.parquet --threshold 0.9"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("curves",
                       help="learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice",
                       description="From pgexp train outputs: per (env_name, estimator, baseline, step_size, "
                                   "iteration) "
                                   "the mean progress (J - J_0)/(J* - J_0) and J with percentile-bootstrap bands over "
                                   "seeds; per configuration the final progress, final J/J*, env steps to reach "
                                   "--threshold progress, diverged seeds, and the selected step size (highest final "
                                   "progress among step sizes with no diverged seed; ties: the smaller). A run without "
                                   "--tag env_name is labelled by its --env.")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet", help="files written by pgexp train")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet",
                   help="the learning curves; also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet",
                   help="one row per configuration with the selected step size; also writes SUMMARY.csv")
    p.add_argument("--threshold", type=number(0, 1, lo_open=True), default=0.9,
                   help="progress in (0, 1] that counts as reached (default 0.9)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples, >= 1 (default 2000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Learning curves and the per-configuration summary (with the selected step sizes)."""
    from pathlib import Path

    import pandas as pd

    from pgexp.analysis.curves import learning_curves, training_summary
    from pgexp.cli.common import check_outputs
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    check_outputs(args.curves, option="--curves")
    check_outputs(args.summary, option="--summary")
    outs = [Path(args.curves).with_suffix(s) for s in (".parquet", ".csv")] + \
           [Path(args.summary).with_suffix(s) for s in (".parquet", ".csv")]
    check_outputs(*map(str, outs), option="--curves/--summary")
    runs = pd.concat(read_inputs(args.inputs, "train"), ignore_index=True)
    kw = dict(confidence=args.confidence, n_resamples=args.resamples)
    write_frame_csv(learning_curves(runs, **kw), args.curves, provenance(kind="learning_curves"))
    write_frame_csv(training_summary(runs, threshold=args.threshold, **kw), args.summary,
                     provenance(kind="training_summary", threshold=args.threshold))
    return 0
