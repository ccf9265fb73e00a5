"""``pgexp lambda-tradeoff``: GAE's exact bias², variance and MSE against lambda, per value function and N."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    POSITIVE_INT,
    PROBABILITY,
    SEED,
    add_problem_options,
    add_tag_option,
    check_exact_cost,
    check_outputs,
    number,
    parse_list,
    parse_tags,
    problem_from_args,
)
from pgexp.io import write_frame_csv

COLUMNS = ["estimator", "horizon", "value", "perturbation", "lam", "batch_size", "bias_sq", "trace_cov", "var_per_traj",
           "mse", "rel_mse", "snr", "best"]
EXAMPLE = "pgexp lambda-tradeoff --env short_corridor --horizon 8 --batch-size 1,16 --output tradeoff.parquet"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("lambda-tradeoff", help="GAE's exact bias^2, variance, MSE against lambda (table)",
                       description="For V = none (V = 0), perturbed (V^pi plus a fixed random error of --perturbation "
                                   "times the range of V^pi) and exact (V^pi), every --lam and --batch-size: the exact "
                                   "bias_sq, trace_cov, mse, rel_mse, snr of GAE's batch estimate (no sampling) and "
                                   "best (lambda minimising mse for that V and N).")
    add_problem_options(p)
    p.add_argument("--estimator", default="gae", choices=["gae", "gae_common"], help="gae (default) or gae_common")
    p.add_argument("--lam", default=None, metavar="L,...", help="lambdas in [0, 1] (default 0, 0.05, ..., 1)")
    p.add_argument("--batch-size", default="1,4,16,64", metavar="N,...", help="batch sizes (default 1,4,16,64)")
    p.add_argument("--perturbation", type=number(0), default=0.5, help="size of the perturbed V's error (default 0.5)")
    p.add_argument("--perturbation-seed", type=SEED, default=0, help="seed of the perturbed V's error")
    p.add_argument("--value", default=None, metavar="PATH.npy", help="also a user's value table (value = table)")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from pgexp.exact.model import load_value_table
    from pgexp.exact.tradeoff import DEFAULT_LAMS, lambda_tradeoff
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    tags = parse_tags(args.tag, "gae_lambda_tradeoff")
    problem = problem_from_args(args, lqr=False)
    lams = parse_list(args.lam, PROBABILITY, "--lam") if args.lam else list(DEFAULT_LAMS)
    sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size")
    value = load_value_table(args.value) if args.value else None
    check_exact_cost(problem, [problem.mdp.horizon], 2 * len(lams))
    rows = lambda_tradeoff(problem, lams, sizes, estimator=args.estimator, perturbation=args.perturbation,
                           seed=args.perturbation_seed, value=value)
    df = pd.DataFrame(rows)
    df.insert(1, "horizon", -1 if problem.mdp.horizon is None else int(problem.mdp.horizon))
    df = df[COLUMNS]
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="gae_lambda_tradeoff"))
    return 0
