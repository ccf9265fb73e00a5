"""``pgexp curves``: learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice."""

from __future__ import annotations

import argparse

from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("curves", help="learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice",
                       description="From pgexp train outputs: per (env_name, estimator, baseline, step_size, iteration) "
                                   "the mean progress (J - J_0)/(J* - J_0) and J with percentile-bootstrap bands over "
                                   "seeds; per configuration the final progress, final J/J*, env steps to reach "
                                   "--threshold progress, diverged seeds, and the selected step size (highest final "
                                   "progress among step sizes with no diverged seed; ties: the smaller).")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet", help="also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet", help="also writes SUMMARY.csv")
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Learning curves and the per-configuration summary (with the selected step sizes)."""
    import pandas as pd

    from pgexp.analysis.curves import learning_curves, training_summary
    from pgexp.io import read_frame
    from pgexp.provenance import provenance

    runs = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    kw = dict(confidence=args.confidence, n_resamples=args.resamples)
    write_frame_csv(learning_curves(runs, **kw), args.curves, provenance(kind="learning_curves"))
    write_frame_csv(training_summary(runs, threshold=args.threshold, **kw), args.summary,
                     provenance(kind="training_summary", threshold=args.threshold))
    return 0
