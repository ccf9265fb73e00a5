"""``pgexp slopes``: log-log slopes of per-trajectory variance vs horizon, with bootstrap CIs."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("slopes", help="log-log slopes of per-trajectory variance vs horizon, with bootstrap CIs",
                       description="Fit log var_per_traj = a + slope log H per (env_name, theta_name, estimator, "
                                   "baseline, batch_size, seed) over the finite horizons of the estimate files; "
                                   "percentile-bootstrap CI from resampling each horizon's replicates.")
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="files written by pgexp estimate")
    p.add_argument("--output", required=True, metavar="OUT.parquet")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--resamples", type=int, default=2000)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pgexp.analysis.slopes import fit_slopes
    from pgexp.io import read_frame, write_frame
    from pgexp.provenance import provenance

    df = pd.concat([read_frame(p) for p in args.inputs], ignore_index=True)
    out = fit_slopes(df, n_resamples=args.resamples, confidence=args.confidence)
    write_frame(out, args.output, provenance(kind="slopes", inputs=[str(p) for p in args.inputs]))
    return 0
