"""``pgexp decompose``: where an estimator's variance comes from -- initial state, actions, transitions."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    PROBABILITY,
    add_problem_options,
    add_tag_option,
    check_exact_cost,
    check_outputs,
    gaussian_options,
    lam_for,
    parse_tags,
)
from pgexp.io import write_frame_csv

EXAMPLE = "pgexp decompose --env short_corridor --horizon 4,6 --pairs reinforce~none --output decomposition.parquet"


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
    p.add_argument("--lam", type=PROBABILITY, default=None,
                   help="GAE's lambda in [0, 1] (default 0.95; GAE pairs only)")
    p.add_argument("--per-step", action="store_true", help="also one row per step")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact time-ordered variance decomposition over horizons for the pairs with an exact counterpart."""
    from pathlib import Path

    from pgexp.cli.exact_curves import exact_horizons, known_pairs, parse_pairs
    from pgexp.errors import UserError
    from pgexp.exact.catalogue import decomposable
    from pgexp.exact.decomposition import decomposition_table
    from pgexp.problems.lqr import is_lqr
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    if is_lqr(args.env):
        raise UserError(f"--env {args.env}: the Doob decomposition is computed for finite MDPs; a linear-quadratic "
                        "problem has exact moments (pgexp exact-variance) but no decomposition")
    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    horizons = exact_horizons(args.horizon)
    wanted = parse_pairs(args.pairs) if args.pairs is not None else [p for p in known_pairs() if p[0] in decomposable()]
    args.lam = lam_for(args.lam, [e for e, _ in wanted])
    tags = parse_tags(args.tag, "decomposition")

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h, track="tabular", **gaussian_options(args))

    check_exact_cost(build(max((h for h in horizons if h is not None), default=None)), horizons, len(wanted))
    df = decomposition_table(build, horizons, wanted, lam=args.lam, per_step=args.per_step)
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="decomposition"))
    return 0
