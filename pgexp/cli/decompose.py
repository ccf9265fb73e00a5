"""``pgexp decompose``: exact variance decomposition: states visited vs actions given the states."""

from __future__ import annotations

import argparse

from pgexp.cli.common import POSITIVE_INT, add_problem_options, add_tag_option, check_outputs, parse_tags
from pgexp.io import write_frame_csv

EXAMPLE = "pgexp decompose --env short_corridor --horizon 4,6 --pairs reinforce~none --output decomposition.parquet"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("decompose", help="exact variance decomposition: states visited vs actions given the states",
                       description="Law of total variance over the trajectory's state sequence (Tucker et al. 2018): "
                                   "tr Cov g = tr Cov E[g|S] + E tr Cov(g|S), by enumerating trajectories; horizons "
                                   "with more than --max-trajectories are skipped with a reason.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...",
                   help="default: every pair with an exact counterpart")
    p.add_argument("--max-trajectories", type=POSITIVE_INT, default=500_000,
                   help="skip horizons with more trajectories than this (default 500000)")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact variance decomposition (states visited vs actions given the states) by enumeration."""
    from pathlib import Path

    from pgexp.cli.exact_curves import finite_horizons, parse_pairs
    from pgexp.exact.decomposition import decomposition_table
    from pgexp.exact.moments import EXACT_PAIRS
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")))
    horizons = finite_horizons(args.horizon)
    wanted = parse_pairs(args.pairs)
    tags = parse_tags(args.tag, "decomposition")

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = decomposition_table(build, horizons, [p for p in wanted if p in EXACT_PAIRS],
                             max_trajectories=args.max_trajectories)
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="decomposition"))
    return 0
