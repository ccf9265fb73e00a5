"""``pgexp curves``: learning curves with bootstrap bands over seeds; steps-to-threshold; step-size choice."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, SEED, number, parse_list, read_inputs

EXAMPLE = ("pgexp curves run.parquet --curves curves.parquet --summary summary.parquet --threshold 0.9 "
           "--selection-seeds 100,101")


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
                                   "the smaller), flagged when at the grid's edge. A run without --tag env_name is "
                                   "labelled by its --env.")
    p.add_argument("inputs", nargs="+", metavar="TRAIN.parquet", help="files written by pgexp train")
    p.add_argument("--curves", required=True, metavar="CURVES.parquet",
                   help="the learning curves; also writes CURVES.csv")
    p.add_argument("--summary", required=True, metavar="SUMMARY.parquet",
                   help="one row per configuration with the selected step size; also writes SUMMARY.csv")
    p.add_argument("--profiles", default=None, metavar="PROFILES.parquet",
                   help="also write the performance profiles: per estimator~baseline (each environment's reported runs "
                        "at its selected step size, environments weighted equally) the fraction of runs whose final "
                        "progress exceeds tau = 0, 0.01, ..., 1, with stratified-bootstrap bands; also PROFILES.csv")
    p.add_argument("--traces", default=None, metavar="TRACES.parquet",
                   help="also write the policies of the traced seeds (pgexp train --trace-seeds), columns pi_<s>_<a>")
    p.add_argument("--threshold", type=number(0, 1, lo_open=True), default=0.9,
                   help="progress in (0, 1] that counts as reached (default 0.9)")
    p.add_argument("--selection-seeds", default=None, metavar="S1,S2",
                   help="seeds that choose the step size and are not reported (default: the first half of the sorted "
                        "seeds select, the rest are reported)")
    p.add_argument("--converged-prob", type=number(0, 1, lo_open=True), default=0.99, metavar="P",
                   help="a run ended on a policy when it picks one action with probability >= P in every state it "
                        "visits (default 0.99)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples, >= 1 (default 2000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Learning curves (reported seeds) and the per-configuration summary (with the selected step sizes)."""
    from pathlib import Path

    import pandas as pd

    from pgexp.analysis.curves import learning_curves, policy_traces, split_seeds, training_summary
    from pgexp.cli.common import check_outputs, check_resamples
    from pgexp.errors import UserError
    from pgexp.io import write_frame_csv
    from pgexp.memory import reuse_freed_memory
    from pgexp.provenance import provenance

    reuse_freed_memory()  # the bootstrap allocates MiB-sized temporaries per configuration
    outputs = [(args.curves, "--curves"), (args.summary, "--summary")]
    outputs += [(path, option) for path, option in ((args.profiles, "--profiles"), (args.traces, "--traces")) if path]
    for path, option in outputs:
        check_outputs(path, option=option, fmt="parquet")
    check_outputs(*(str(Path(p).with_suffix(s)) for p, _ in outputs for s in (".parquet", ".csv")),
                  option="--curves/--summary/--profiles/--traces")
    frames = read_inputs(args.inputs, "train")
    check_resamples(args.resamples, frames, ["estimator", "baseline", "step_size", "iteration"])
    runs = pd.concat(frames, ignore_index=True)
    seeds = sorted(int(s) for s in runs["seed"].unique())
    if args.selection_seeds:
        selection = sorted(parse_list(args.selection_seeds, SEED, "--selection-seeds"))
        missing = [s for s in selection if s not in seeds]
        if missing:
            raise UserError(f"--selection-seeds: seed {missing[0]} is not in the tables; allowed: some of their seeds "
                            f"({', '.join(map(str, seeds))})")
        reported = [s for s in seeds if s not in selection] or selection
    else:
        selection, reported = split_seeds(seeds)
    kw = {"confidence": args.confidence, "n_resamples": args.resamples}
    write_frame_csv(learning_curves(runs, seeds=reported, **kw), args.curves,
                    provenance(kind="learning_curves", reported_seeds=reported))
    summary = training_summary(runs, threshold=args.threshold, selection_seeds=selection,
                               converged_prob=args.converged_prob, **kw)
    write_frame_csv(summary, args.summary, provenance(kind="training_summary", threshold=args.threshold,
                                                      selection_seeds=selection, reported_seeds=reported))
    if args.profiles:
        from pgexp.analysis.curves import run_summary
        from pgexp.analysis.profiles import performance_profiles, selected_scores

        scores = selected_scores(run_summary(runs, threshold=args.threshold), summary, reported)
        write_frame_csv(performance_profiles(scores, **kw), args.profiles,
                        provenance(kind="performance_profiles", selection_seeds=selection, reported_seeds=reported))
    if args.traces:
        write_frame_csv(policy_traces(runs), args.traces, provenance(kind="policy_traces"))
    return 0
