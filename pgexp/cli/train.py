"""``pgexp train``: stochastic gradient ascent with an estimator; exact J per iteration (parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import add_problem_options, parse_list, parse_tags, problem_from_args
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.estimators.baselines import TRAINING_ONLY_BASELINES
from pgexp.io import save_npy


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="stochastic gradient ascent with an estimator; exact J per iteration (parquet)",
                       description="theta <- theta + eta g for --iterations steps. One row per iteration: iteration, J "
                                   "(exact), J_star, batch_return_mean, env_steps (cumulative), grad_norm, step_norm, "
                                   "diverged; per run where it ended (final_policy, final_policy_prob, final_policy_J, "
                                   "final_policy_optimal). A NaN, an overflow or a policy that no longer terminates "
                                   "stops the run, recorded as diverged (exit 0). --estimator exact ascends the exact "
                                   "gradient. Comma-separated --step-size / --seed lists run the grid in one process; "
                                   "softmax-linear policies on small tabular problems with reinforce / reward_to_go / "
                                   "exact run in one compiled loop (--engine). --checkpoints T1,T2 writes theta at "
                                   "those iterations beside the output as OUT.theta<T>.npy.")
    add_problem_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--estimator", required=True, choices=["exact", *ESTIMATORS], help="estimator, or exact")
    g.add_argument("--baseline", default="none", choices=[*BASELINES, *TRAINING_ONLY_BASELINES],
                   help="baseline; training only: value_online (a linear v(s, w) learned along training, "
                        "--baseline-step-size), optimal_exact (the exact minimum-variance constant b*, bandits)")
    g.add_argument("--baseline-offset", type=float, default=0.0, metavar="EPS",
                   help="add EPS to the baseline (any baseline; e.g. b* - 1 with optimal_exact and -1)")
    g.add_argument("--baseline-step-size", type=float, default=0.0, metavar="ALPHA_W",
                   help="step size of the value_online weights: w <- w + ALPHA_W (G_t - v(S_t, w)) x(S_t)")
    g.add_argument("--value-features", default="onehot", choices=["onehot", "constant"],
                   help="features x(s) of value_online: one-hot states (default) or a single constant weight")
    g.add_argument("--lam", type=float, default=0.95, metavar="L", help="GAE lambda (gae only)")
    g.add_argument("--batch-size", type=int, required=True, metavar="N")
    g.add_argument("--step-size", required=True, metavar="ETA", help="step size (or a comma-separated list)")
    g.add_argument("--optimizer", default="sga", choices=["sga", "adam", "npg"],
                   help="sga: theta += eta g; adam; npg: the tabular natural gradient (--features tabular)")
    g.add_argument("--update", default="per-batch", choices=["per-batch", "per-step", "per_batch", "per_step"],
                   help="per-batch (default): one step per iteration; per-step: after every time step of the episode, "
                        "scores at the current theta (Sutton & Barto's REINFORCE; --batch-size 1)")
    g.add_argument("--iterations", type=int, required=True, metavar="T", help="iterations (episodes with per-step)")
    g.add_argument("--checkpoints", default=None, metavar="0,50,100", help="iterations whose theta is saved")
    g.add_argument("--seed", required=True, metavar="S", help="seed (or a comma-separated list)")
    g.add_argument("--record-every", type=int, default=1, metavar="K",
                   help="keep the rows of iterations 0, K, 2K, ... and each run's last (default 1: every iteration)")
    g.add_argument("--trace-seeds", default=None, metavar="S1,S2",
                   help="these seeds also keep the policy pi at every kept row (column trace_pi; compiled engine)")
    g.add_argument("--engine", default="auto", choices=["auto", "compiled", "general"],
                   help="auto (default): the compiled engine where it applies, else the general one")
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
    from pgexp.runs.train import TrainOptions, grid_table, train_grid

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
    trace = tuple(parse_list(args.trace_seeds, int, "--trace-seeds")) if args.trace_seeds else ()
    opts = TrainOptions(estimator=args.estimator, baseline=args.baseline, batch_size=args.batch_size,
                        iterations=args.iterations, optimizer=args.optimizer, update=args.update.replace("-", "_"),
                        baseline_offset=args.baseline_offset, baseline_step_size=args.baseline_step_size,
                        value_features=args.value_features, lam=args.lam, checkpoints=checkpoints,
                        record_every=args.record_every, trace_seeds=trace)
    runs, engine = train_grid(problem, opts, step_sizes, seeds, engine=args.engine)
    grid = [(float(eta), int(seed)) for eta in step_sizes for seed in seeds]
    out = Path(args.output)
    table = grid_table(problem, runs, grid, {**opts.params(), **parse_tags(args.tag)}, opts, engine)
    for run in runs[:1] if checkpoints else []:
        last = problem.theta
        for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
            last = run.checkpoints.get(t, last)
            save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), last)
    write_table(table, out, provenance(kind="train", seed=seeds, engine=engine))
    return 0
