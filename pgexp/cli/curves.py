"""``pgexp curves``: learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice."""

from __future__ import annotations

import argparse

from pgexp.cli.common import parse_list
from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("curves",
                       help="learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice",
                       description="From pgexp train outputs, on the reported seeds: per configuration and iteration "
                                   "the mean progress (J - J_0)/(J* - J_0), J and the sampled return with "
                                   "percentile-bootstrap bands over the seeds alive, and the fraction alive; per "
                                   "configuration the final progress, final J/J*, env steps to reach --threshold "
                                   "progress, diverged seeds, the fraction of seeds that converged to a suboptimal "
                                   "policy (Wilson interval), and the step size selected on the selection seeds "
                                   "(highest final progress among step sizes with no diverged selection seed; ties: "
                                   "the smaller), flagged when at the grid's edge.")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet", help="also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet", help="also writes SUMMARY.csv")
    p.add_argument("--traces", default=None, metavar="TRACES.parquet",
                   help="also write the policies of the traced seeds (pgexp train --trace-seeds), columns pi_<s>_<a>")
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--selection-seeds", default=None, metavar="S1,S2",
                   help="seeds that choose the step size and are not reported (default: the first half of the sorted "
                        "seeds select, the rest are reported)")
    p.add_argument("--converged-prob", type=float, default=0.99, metavar="P",
                   help="a run converged when its final policy picks one action with probability >= P in every state "
                        "it visits (default 0.99)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Learning curves (reported seeds) and the per-configuration summary (with the selected step sizes)."""
    import pandas as pd

    from pgexp.analysis.curves import learning_curves, policy_traces, split_seeds, training_summary
    from pgexp.errors import UserError
    from pgexp.io import read_frame
    from pgexp.provenance import provenance

    if not 0 < args.converged_prob <= 1:
        raise UserError(f"--converged-prob: {args.converged_prob!r}; allowed: a number in (0, 1]")
    runs = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    seeds = sorted(runs["seed"].unique())
    if args.selection_seeds:
        selection = [int(s) for s in parse_list(args.selection_seeds, int, "--selection-seeds")]
        reported = [s for s in seeds if s not in selection] or selection
    else:
        selection, reported = split_seeds(seeds)
    kw = {"confidence": args.confidence, "n_resamples": args.resamples}
    write_frame_csv(learning_curves(runs, seeds=reported, **kw), args.curves,
                    provenance(kind="learning_curves", reported_seeds=[int(s) for s in reported]))
    write_frame_csv(training_summary(runs, threshold=args.threshold, selection_seeds=selection,
                                     converged_prob=args.converged_prob, **kw), args.summary,
                    provenance(kind="training_summary", threshold=args.threshold,
                               selection_seeds=[int(s) for s in selection], reported_seeds=[int(s) for s in reported]))
    if args.traces:
        write_frame_csv(policy_traces(runs), args.traces, provenance(kind="policy_traces"))
    return 0
