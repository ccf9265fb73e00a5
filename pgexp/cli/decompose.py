"""``pgexp decompose``: where an estimator's variance comes from -- initial state, actions, transitions."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, int_or_text, parse_list, parse_tags
from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("decompose", help="exact variance decomposition: initial state, actions, transitions",
                       description="The time-ordered (Doob martingale) decomposition of one trajectory's tr Cov g over "
                                   "X = (s0, a0, s1, a1, ...): sum_k E[tr Cov(E[g|X0..Xk] | X0..X(k-1))], each term "
                                   "credited to initial_state, actions or transitions; exact by a moment recursion at "
                                   "any horizon (inf: gamma < 1). Columns initial_state, actions, transitions, total "
                                   "and their _share; --per-step adds one row per step (column step; null on "
                                   "whole rows).")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...", help="default: every decomposable pair")
    p.add_argument("--lam", type=float, default=0.95, help="GAE's lambda (default 0.95)")
    p.add_argument("--per-step", action="store_true", help="also one row per step")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact time-ordered variance decomposition over horizons for the pairs with an exact counterpart."""
    from pgexp.exact.decomposition import DECOMPOSABLE, decomposition_table
    from pgexp.exact.moments import SUPPORTED, exact_pairs
    from pgexp.problems import parse_horizon
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    # finite horizons, and inf for a discounted problem (episodic ones are refused by the exact engine)
    horizons = [parse_horizon(int_or_text(h), what="--horizon") for h in parse_list(args.horizon, str, "--horizon")]
    known = exact_pairs(list(SUPPORTED), sorted({b for bs in SUPPORTED.values() for b in bs}))
    wanted = [tuple(p.split("~", 1)) for p in parse_list(args.pairs, str, "--pairs")] if args.pairs else \
        [p for p in known if p[0] in DECOMPOSABLE]

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = decomposition_table(build, horizons, [p for p in wanted if p in known], lam=args.lam, per_step=args.per_step)
    for k, v in parse_tags(args.tag).items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="decomposition"))
    return 0
