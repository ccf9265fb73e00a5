"""``pgexp train``: stochastic gradient ascent with an estimator; exact J per iteration (parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import add_problem_options, parse_list, parse_tags, problem_from_args
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.io import save_npy


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="stochastic gradient ascent with an estimator; exact J per iteration (parquet)",
                       description="theta <- theta + eta g for --iterations steps. One row per iteration: iteration, J "
                                   "(exact), J_star, env_steps (cumulative), grad_norm, step_norm, diverged. A NaN or "
                                   "overflow stops the run, recorded as diverged (exit 0). --estimator exact ascends "
                                   "the exact gradient. Comma-separated --step-size / --seed lists run the grid in one "
                                   "process. --checkpoints T1,T2 writes theta at those iterations beside the output "
                                   "as OUT.theta<T>.npy.")
    add_problem_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--estimator", required=True, choices=["exact", *ESTIMATORS], help="estimator, or exact")
    g.add_argument("--baseline", default="none", choices=list(BASELINES))
    g.add_argument("--lam", type=float, default=0.95, metavar="L", help="GAE lambda (gae only)")
    g.add_argument("--batch-size", type=int, required=True, metavar="N")
    g.add_argument("--step-size", required=True, metavar="ETA", help="step size (or a comma-separated list)")
    g.add_argument("--optimizer", default="sga", choices=["sga", "adam"])
    g.add_argument("--iterations", type=int, required=True, metavar="T")
    g.add_argument("--checkpoints", default=None, metavar="0,50,100", help="iterations whose theta is saved")
    g.add_argument("--seed", required=True, metavar="S", help="seed (or a comma-separated list)")
    g.add_argument("--eval-episodes", type=int, default=20, help="continuous-state problems: episodes per evaluation")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE", help="add a constant string column (repeatable)")
    p.add_argument("--output", required=True, metavar="OUT.parquet")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Gradient ascent runs over the grid step sizes x seeds; one parquet, checkpoints beside it."""
    import pyarrow as pa

    from pgexp.io import write_table
    from pgexp.provenance import provenance
    from pgexp.runs.train import run_table, train_run

    step_sizes = parse_list(args.step_size, float, "--step-size")
    seeds = parse_list(args.seed, int, "--seed")
    from pgexp.deep import is_continuous_gym

    if is_continuous_gym(args.env):  # the neural track: evaluation return instead of the exact J
        from pgexp.deep import deep_train

        tables = [deep_train(args.env, args.policy, args.estimator, args.baseline, args.lam, args.batch_size, eta,
                             args.iterations, seed, args.optimizer, args.eval_episodes, args.gamma, args.horizon,
                             args.threads, theta=args.theta, tags=parse_tags(args.tag))
                  for eta in step_sizes for seed in seeds]
        write_table(pa.concat_tables(tables), Path(args.output), provenance(kind="train", track="deep", seed=seeds))
        return 0
    problem = problem_from_args(args)
    checkpoints = tuple(parse_list(args.checkpoints, int, "--checkpoints")) if args.checkpoints else ()
    if len(step_sizes) * len(seeds) > 1 and checkpoints:
        raise UserError("--checkpoints: give one --step-size and one --seed (checkpoint files are per run)")
    tables = []
    out = Path(args.output)
    for eta in step_sizes:
        for seed in seeds:
            run = train_run(problem, args.estimator, args.baseline, lam=args.lam, batch_size=args.batch_size,
                            step_size=eta, iterations=args.iterations, seed=seed, optimizer=args.optimizer,
                            checkpoints=checkpoints)
            params = {"estimator": args.estimator, "baseline": args.baseline, "batch_size": int(args.batch_size),
                      "step_size": float(eta), "optimizer": args.optimizer, "seed": int(seed),
                      "iterations": int(args.iterations), **parse_tags(args.tag)}
            tables.append(run_table(problem, run, params))
            last = problem.theta
            for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
                last = run.checkpoints.get(t, last)
                save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), last)
    write_table(pa.concat_tables(tables), out, provenance(kind="train", seed=seeds))
    return 0
