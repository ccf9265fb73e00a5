"""``pgexp estimate``: M independent batch estimates of grad J with one estimator (parquet)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    POSITIVE_INT,
    PROBABILITY,
    SEED,
    add_problem_options,
    add_tag_option,
    check_outputs,
    number,
    parse_horizons,
    parse_list,
    parse_tags,
)
from pgexp.estimators import BASELINES, ESTIMATORS

EXAMPLE = """pgexp estimate --env short_corridor --estimator reward_to_go --baseline value_exact \\
    --batch-size 10 --replicates 200 --seed 0 --output est.parquet"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("estimate", help="M independent batch estimates of grad J with one estimator (parquet)",
                       description="Draw --replicates independent batch estimates (each the mean of --batch-size "
                                   "trajectories) and write one parquet row per replicate: the job's parameters, "
                                   "replicate, grad (list, length dim), env_steps, batch_return_mean, and the exact "
                                   "J_exact, J_star, grad_exact. Trajectories depend on the problem, theta, horizon, "
                                   "batch size and seed -- not on the estimator -- so estimators are compared on the "
                                   "same trajectories.")
    add_problem_options(p)
    g = p.add_argument_group("estimator")
    g.add_argument("--estimator", required=True, choices=list(ESTIMATORS),
                   help="; ".join(f"{k}: {v.doc}" for k, v in ESTIMATORS.items()))
    g.add_argument("--baseline", default="none", choices=list(BASELINES),
                   help="baseline (default none; pgexp estimators lists the meaningful pairs)")
    g.add_argument("--lam", type=PROBABILITY, default=0.95, metavar="L",
                   help="GAE lambda in [0, 1] (gae only; default 0.95)")
    g.add_argument("--batch-size", required=True, metavar="N", help="trajectories per batch estimate "
                   "(a comma-separated list with --horizon list runs the grid of cells in one process)")
    g.add_argument("--replicates", type=number(2, integer=True, note="a variance needs two"), required=True,
                   metavar="M",
                   help="independent batch estimates per cell (>= 2)")
    g.add_argument("--seed", type=SEED, required=True, metavar="S", help="seed of the job's random stream (>= 0)")
    g.add_argument("--min-trajectories", type=number(0, integer=True), default=0, metavar="T",
                   help="at least T trajectories per cell: a cell of batch size N draws max(M, ceil(T / N)) "
                        "replicates (default 0)")
    add_tag_option(p)
    p.add_argument("--reference-batch", type=number(2, integer=True), default=2000, metavar="N",
                   help="continuous-state problems (gym:CartPole-v1, gym:Acrobot-v1): episodes of the Monte-Carlo "
                        "reference gradient that stands in for the exact one (default 2000)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="written atomically")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.io import write_table
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance
    from pgexp.runs.estimate import run_estimate_grid

    check_outputs(args.output)
    horizons = parse_horizons(args.horizon)
    batch_sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size")
    tags = parse_tags(args.tag, "estimate")
    from pgexp.deep import is_continuous_gym

    if is_continuous_gym(args.env):  # the neural track: no exact gradient, a Monte-Carlo reference instead
        import pyarrow as pa

        from pgexp.deep import deep_estimate

        tables = [deep_estimate(args.env, args.policy, args.theta, args.estimator, args.baseline, args.lam, batch_sizes,
                                args.replicates, args.seed, args.reference_batch, args.gamma, h, args.threads,
                                tags=tags) for h in horizons]
        write_table(pa.concat_tables(tables), args.output, provenance(seed=args.seed, kind="estimate", track="deep"))
        return 0

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    table = run_estimate_grid(build, horizons, batch_sizes, args.estimator, args.baseline, lam=args.lam,
                              replicates=args.replicates, seed=args.seed, tags=tags,
                              min_trajectories=args.min_trajectories)
    write_table(table, args.output, provenance(seed=args.seed, kind="estimate"))
    return 0
