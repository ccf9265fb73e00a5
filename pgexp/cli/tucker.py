"""``pgexp tucker``: Tucker et al.'s per-step variance decomposition -- the trajectory, the action, the state."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    PROBABILITY,
    add_problem_options,
    add_tag_option,
    check_outputs,
    gaussian_options,
    parse_tags,
)
from pgexp.io import write_frame_csv

EXAMPLE = ("pgexp tucker --env garnet:states=5,actions=3,branching=2,seed=0 --horizon 10 --pairs "
           "reward_to_go~value_exact,reward_to_go~q_exact,all_action~q_exact --per-step --output tucker.parquet")
DEFAULT_PAIRS = "reward_to_go~value_exact,reward_to_go~q_exact,all_action~q_exact"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("tucker", help="exact per-step variance decomposition of Tucker et al.: trajectory, action, "
                                      "state",
                       description="For each step t, the law of total variance of the step's term g_t of the estimator "
                                   "(Tucker et al. 2018, 'The Mirage of Action-Dependent Baselines'): sigma_tau = "
                                   "E[Var(g_t | s_t, a_t)] (the rest of the trajectory), sigma_a = E[Var(E[g_t | s_t, "
                                   "a_t] | s_t)] (the action), sigma_s = Var(E[g_t | s_t]) (the state); traces, exact "
                                   "by a moment recursion (finite MDPs; scalar linear-quadratic problems by Gaussian "
                                   "quadrature). The whole-trajectory rows (step null) sum them over t and add the "
                                   "trajectory's exact trace_cov and cross_time = trace_cov - their sum (covariances "
                                   "between steps, which the per-step analysis leaves out).")
    add_problem_options(p)
    p.add_argument("--pairs", default=DEFAULT_PAIRS, metavar="EST~BASE,...",
                   help=f"estimator~baseline pairs (default {DEFAULT_PAIRS}); state baselines none, value_exact; "
                        "action-dependent q_exact (q_optimal: reward_to_go, finite MDPs)")
    p.add_argument("--lam", type=PROBABILITY, default=0.95, help="GAE's lambda in [0, 1] (default 0.95)")
    p.add_argument("--per-step", action="store_true", help="also one row per step")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``EST~BASE,...`` -> distinct pairs (checked against the problem when it is built)."""
    from pgexp.cli.common import parse_list
    from pgexp.errors import UserError

    def pair(item: str) -> tuple[str, str]:
        est, sep, base = item.partition("~")
        if not sep or not est or not base:
            raise UserError(f"--pairs: {item!r}; allowed: ESTIMATOR~BASELINE, e.g. reward_to_go~value_exact")
        return est, base

    return parse_list(text, pair, "--pairs")


def run(args: argparse.Namespace) -> int:
    """Exact per-step decomposition over horizons for each pair."""
    from pathlib import Path

    from pgexp.cli.exact_curves import exact_horizons
    from pgexp.exact.tucker import tucker_table
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")))
    horizons = exact_horizons(args.horizon)
    pairs = parse_pairs(args.pairs)
    tags = parse_tags(args.tag, "tucker")

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h, **gaussian_options(args))

    df = tucker_table(build, horizons, pairs, lam=args.lam, per_step=args.per_step)
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="tucker"))
    return 0
