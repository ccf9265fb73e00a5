"""``pgexp train``: stochastic gradient ascent with an estimator; the objective per iteration (parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import (
    POSITIVE_INT,
    SEED,
    add_estimator_options,
    add_problem_options,
    add_tag_option,
    check_outputs,
    number,
    params_from_args,
    parse_list,
    parse_tags,
    problem_from_args,
)
from pgexp.errors import UserError
from pgexp.io import save_npy

EXAMPLE = """pgexp train --env "chain:length=6" --gamma 1 --horizon 25 --estimator reward_to_go \\
    --baseline value_exact --batch-size 16 --step-size 0.1,0.3,1.0 --iterations 200 --seed 0,1,2 --output run.parquet"""

STEP_SIZE = number(0, lo_open=True)


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
    g.add_argument("--batch-size", type=POSITIVE_INT, required=True, metavar="N",
                   help="trajectories per gradient estimate")
    g.add_argument("--step-size", required=True, metavar="ETA",
                   help="step size > 0 (or a comma-separated list of distinct ones: the grid)")
    g.add_argument("--optimizer", default="sga", choices=["sga", "adam"], help="plain ascent (sga, default) or adam")
    g.add_argument("--iterations", type=number(0, integer=True), required=True, metavar="T",
                   help="gradient steps (>= 0)")
    g.add_argument("--checkpoints", default=None, metavar="0,50,100",
                   help="distinct iterations in [0, --iterations] whose theta is saved as OUT.theta<T>.npy")
    g.add_argument("--seed", required=True, metavar="S", help="seed >= 0 (or a comma-separated list of distinct seeds)")
    g.add_argument("--eval-episodes", type=POSITIVE_INT, default=20,
                   help="continuous-state problems: episodes per evaluation")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the training table (written atomically)")
    p.set_defaults(func=run)
    return p


def parse_checkpoints(text: str | None, iterations: int) -> tuple[int, ...]:
    """``--checkpoints`` as distinct iterations in ``[0, iterations]``."""
    if not text:
        return ()
    within = number(0, iterations, integer=True) if iterations > 0 else number(0, 0, integer=True)
    return tuple(parse_list(text, within, f"--checkpoints (with --iterations {iterations})"))


def run(args: argparse.Namespace) -> int:
    """Gradient ascent runs over the grid step sizes x seeds; one parquet, checkpoints beside it."""
    import pyarrow as pa

    from pgexp.estimators import ESTIMATORS
    from pgexp.io import write_table
    from pgexp.progress import bar
    from pgexp.provenance import provenance
    from pgexp.runs.context import set_threads
    from pgexp.runs.train import run_table, train_run

    step_sizes = parse_list(args.step_size, STEP_SIZE, "--step-size")
    seeds = parse_list(args.seed, SEED, "--seed")
    tags = parse_tags(args.tag, "train")
    checkpoints = parse_checkpoints(args.checkpoints, args.iterations)
    if len(step_sizes) * len(seeds) > 1 and checkpoints:
        raise UserError("--checkpoints: give one --step-size and one --seed (checkpoint files are per run)")
    out = Path(args.output)
    check_outputs(args.output, *(str(out.with_name(f"{out.stem}.theta{t}.npy")) for t in checkpoints))
    runs = [(eta, seed) for eta in step_sizes for seed in seeds]
    set_threads(args.threads)
    problem = problem_from_args(args, tabular=False)
    params = ESTIMATORS[args.estimator].params(params_from_args(args)) if args.estimator in ESTIMATORS else {}
    tables = []
    thetas = {}
    with bar(total=len(runs) * (args.iterations + 1), desc=f"train {args.estimator}~{args.baseline}",
             unit="iteration") as progress:
        for eta, seed in runs:
            run = train_run(problem, args.estimator, args.baseline, params=params, batch_size=args.batch_size,
                            step_size=eta, iterations=args.iterations, seed=seed, optimizer=args.optimizer,
                            checkpoints=checkpoints, fit_batch_size=args.fit_batch_size,
                            eval_episodes=args.eval_episodes, tick=progress.update)
            cols = {"estimator": args.estimator, "baseline": args.baseline, **params,
                    "batch_size": int(args.batch_size), "step_size": float(eta), "optimizer": args.optimizer,
                    "seed": int(seed), "iterations": int(args.iterations), **tags}
            if args.fit_batch_size is not None:
                cols["fit_batch_size"] = int(args.fit_batch_size)
            if problem.track == "continuous":
                cols["eval_episodes"] = int(args.eval_episodes)
            tables.append(run_table(problem, run, cols))
            last = problem.theta
            for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
                last = run.checkpoints.get(t, last)
                thetas[t] = last
    for t, theta in thetas.items():
        save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), theta)
    write_table(pa.concat_tables(tables), out, provenance(kind="train", track=problem.track, seed=seeds))
    return 0
