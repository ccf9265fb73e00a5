"""``pgexp slopes``: log-log slopes of per-trajectory variance vs horizon, with bootstrap CIs."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, check_outputs, check_resamples, read_inputs

EXAMPLE = "pgexp slopes est.parquet --output slopes.parquet  # est.parquet from pgexp estimate --horizon 4,8,16 ..."


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("slopes", help="log-log slopes of per-trajectory variance vs horizon, with bootstrap CIs",
                       description="Fit log var_per_traj = a + slope log H per (env_name, theta_name, estimator, "
                                   "baseline, batch_size, seed) over the finite horizons of the estimate files; "
                                   "percentile-bootstrap CI from resampling each horizon's replicates. Groups with "
                                   "fewer than two finite horizons of positive variance are left out.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the slopes table (written atomically)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples, >= 1 (default 2000)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pgexp.analysis.slopes import fit_slopes
    from pgexp.io import write_frame
    from pgexp.memory import reuse_freed_memory
    from pgexp.provenance import provenance

    reuse_freed_memory()  # the bootstrap allocates MiB-sized temporaries per cell
    check_outputs(args.output, fmt="parquet")
    frames = read_inputs(args.inputs, "estimate")
    check_resamples(args.resamples, frames)
    df = pd.concat(frames, ignore_index=True)
    out = fit_slopes(df, n_resamples=args.resamples, confidence=args.confidence)
    write_frame(out, args.output, provenance(kind="slopes", inputs=[str(p) for p in args.inputs]))
    return 0
