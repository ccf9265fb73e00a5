"""``pgexp baseline-variance``: exact variance of one-step updates at b* + offsets (a table)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, check_outputs, number, parse_list, problem_from_args

EXAMPLE = ('pgexp baseline-variance --env "bandit:rewards=1;0.7;0" --features tabular --theta "values:0;3;5;0;0;0" '
           "--offsets=-1,0,1 --output variance.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("baseline-variance", help="exact variance of bandit updates at b* + offsets (table)",
                       description="For a one-step problem (bandit) at theta: the exact minimum-variance constant "
                                   "baseline b* = E[r ||psi||^2] / E[||psi||^2] and, for each baseline b* + offset, "
                                   "the exact trace covariance of the score-function gradient estimate "
                                   "(grad_trace_cov; b* +- e are equal) and of the tabular natural-gradient update "
                                   "(npg_trace_cov, npg_trace_cov_policy).")
    add_problem_options(p)
    p.add_argument("--offsets", default="0", metavar="E1,E2",
                   help="distinct offsets from b* (default 0); write --offsets=-1,0,1 when the first is negative")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.analysis.one_step import baseline_variance_table
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    check_outputs(args.output, str(args.output).rsplit(".", 1)[0] + ".csv", fmt="parquet")
    offsets = parse_list(args.offsets, number(), "--offsets")
    problem = problem_from_args(args, lqr=False)
    df = baseline_variance_table(problem, offsets)
    for k, v in problem.identity().items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="baseline_variance"))
    return 0
