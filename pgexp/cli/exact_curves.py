"""``pgexp exact-curves``: exact per-trajectory variance over horizons (table for the figures)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, parse_list, parse_tags
from pgexp.io import write_frame_csv


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-curves", help="exact per-trajectory variance over horizons (table for the figures)",
                       description="For each finite --horizon (comma list) and each estimator~baseline of --pairs "
                                   "that has an exact counterpart (reinforce / reward_to_go with none, value_exact, "
                                   "optimal; advantage_exact), the exact per-trajectory tr Cov; others are skipped. Per horizon, "
                                   "whether the assumptions of the lecture's H^3 claim hold: rewards_same_sign, "
                                   "discount_one, p_end_before_h, h3_assumptions_hold.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...", help="default: every pair with an exact counterpart")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact per-trajectory variance over horizons for the pairs with an exact counterpart (a table)."""
    import pandas as pd

    from pgexp.analysis.slopes import ASSUMPTION_COLUMNS, horizon_assumptions
    from pgexp.exact.moments import EXACT_PAIRS, exact_curves
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    horizons = [int(h) for h in parse_list(args.horizon, str, "--horizon") if h not in (None, "inf")]
    wanted = [tuple(p.split("~", 1)) for p in parse_list(args.pairs, str, "--pairs")] if args.pairs else list(EXACT_PAIRS)
    pairs = [p for p in wanted if p in EXACT_PAIRS]

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = pd.DataFrame(exact_curves(build, horizons, pairs),
                      columns=["estimator", "baseline", "horizon", "var_per_traj_exact", "method", "dim"])
    # whether the lecture's H^3 argument applies at each horizon (same-sign rewards, gamma = 1, no early end)
    assumptions = pd.DataFrame([{"horizon": int(h), **horizon_assumptions(build(h))} for h in horizons],
                               columns=["horizon", *ASSUMPTION_COLUMNS])
    df = df.merge(assumptions, on="horizon", how="left")
    for k, v in parse_tags(args.tag).items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="exact_variance"))
    return 0
