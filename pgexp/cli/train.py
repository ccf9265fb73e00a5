"""``pgexp train``: stochastic gradient ascent with an estimator; the objective per iteration (parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import (
    add_estimator_options,
    add_problem_options,
    params_from_args,
    parse_list,
    parse_tags,
    problem_from_args,
)
from pgexp.errors import UserError
from pgexp.io import save_npy


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="stochastic gradient ascent with an estimator; exact J per iteration (parquet)",
                       description="theta <- theta + eta g for --iterations steps. One row per iteration: iteration, J "
                                   "(exact; continuous-state tasks: the evaluation return of --eval-episodes fresh "
                                   "episodes), J_star, env_steps (cumulative), grad_norm, step_norm, diverged. "
                                   "A NaN or "
                                   "overflow stops the run, recorded as diverged (exit 0). --estimator exact ascends "
                                   "the exact gradient. Comma-separated --step-size / --seed lists run the grid in one "
                                   "process. --checkpoints T1,T2 writes theta at those iterations beside the output "
                                   "as OUT.theta<T>.npy.")
    add_problem_options(p)
    g = p.add_argument_group("training")
    add_estimator_options(g, extra_estimators=("exact",))
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

    from pgexp.estimators import ESTIMATORS
    from pgexp.io import write_table
    from pgexp.provenance import provenance
    from pgexp.runs.context import set_threads
    from pgexp.runs.train import run_table, train_run

    step_sizes = parse_list(args.step_size, float, "--step-size")
    seeds = parse_list(args.seed, int, "--seed")
    set_threads(args.threads)
    problem = problem_from_args(args, tabular=False)
    checkpoints = tuple(parse_list(args.checkpoints, int, "--checkpoints")) if args.checkpoints else ()
    if len(step_sizes) * len(seeds) > 1 and checkpoints:
        raise UserError("--checkpoints: give one --step-size and one --seed (checkpoint files are per run)")
    params = ESTIMATORS[args.estimator].params(params_from_args(args)) if args.estimator in ESTIMATORS else {}
    tables = []
    out = Path(args.output)
    for eta in step_sizes:
        for seed in seeds:
            run = train_run(problem, args.estimator, args.baseline, params=params, batch_size=args.batch_size,
                            step_size=eta, iterations=args.iterations, seed=seed, optimizer=args.optimizer,
                            checkpoints=checkpoints, fit_batch_size=args.fit_batch_size,
                            eval_episodes=args.eval_episodes)
            cols = {"estimator": args.estimator, "baseline": args.baseline, **params,
                    "batch_size": int(args.batch_size), "step_size": float(eta), "optimizer": args.optimizer,
                    "seed": int(seed), "iterations": int(args.iterations), **parse_tags(args.tag)}
            if args.fit_batch_size is not None:
                cols["fit_batch_size"] = int(args.fit_batch_size)
            if problem.track == "continuous":
                cols["eval_episodes"] = int(args.eval_episodes)
            tables.append(run_table(problem, run, cols))
            last = problem.theta
            for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
                last = run.checkpoints.get(t, last)
                save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), last)
    write_table(pa.concat_tables(tables), out, provenance(kind="train", track=problem.track, seed=seeds))
    return 0
