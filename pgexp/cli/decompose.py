"""``pgexp decompose``: exact variance decomposition: states visited vs actions given the states."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, parse_list, parse_tags
from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("decompose", help="exact variance decomposition: states visited vs actions given the states",
                       description="Law of total variance over the trajectory's state sequence (Tucker et al. 2018): "
                                   "tr Cov g = tr Cov E[g|S] + E tr Cov(g|S), by enumerating trajectories; horizons "
                                   "with more than --max-trajectories are skipped with a reason.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...")
    p.add_argument("--max-trajectories", type=int, default=500_000)
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact variance decomposition (states visited vs actions given the states) by enumeration."""
    from pgexp.exact.decomposition import decomposition_table
    from pgexp.exact.moments import EXACT_PAIRS
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    horizons = [int(h) for h in parse_list(args.horizon, str, "--horizon") if h not in (None, "inf")]
    wanted = [tuple(p.split("~", 1)) for p in parse_list(args.pairs, str, "--pairs")] if args.pairs else list(EXACT_PAIRS)

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = decomposition_table(build, horizons, [p for p in wanted if p in EXACT_PAIRS], max_trajectories=args.max_trajectories)
    for k, v in parse_tags(args.tag).items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="decomposition"))
    return 0
