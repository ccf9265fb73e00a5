"""``pgexp train``: stochastic gradient ascent with an estimator; the objective per iteration (parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import (
    POSITIVE_INT,
    SEED,
    add_estimator_options,
    add_group_option,
    add_problem_options,
    add_tag_option,
    check_applicable,
    check_outputs,
    critic_baseline,
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
                                   "episodes), J_star, batch_return_mean, env_steps (cumulative), grad_norm, "
                                   "step_norm, diverged; per run where it ended (final_policy, final_policy_prob, "
                                   "final_policy_J, final_policy_optimal). A NaN, an overflow or a policy that no "
                                   "longer terminates stops the run, recorded as diverged with its reason (exit 0). "
                                   "--estimator exact ascends the exact gradient. Comma-separated --step-size / --seed "
                                   "lists run the grid in one process, --pairs several estimator~baseline pairs; "
                                   "softmax-linear policies on small tabular problems with exact or an estimator "
                                   "whose registry entry names a training kernel ([compiled] in pgexp estimators) run "
                                   "in one compiled loop (--engine), which alone has --update per-step, --optimizer "
                                   "npg, the "
                                   "training-only baselines and --baseline-offset. --checkpoints T1,T2 writes theta at "
                                   "those iterations beside the output as OUT.theta<T>.npy.")
    add_problem_options(p)
    g = p.add_argument_group("training")
    which = g.add_mutually_exclusive_group(required=True)
    add_estimator_options(g, extra_estimators=("exact",), choice=which)
    for action in g._group_actions:
        if action.dest == "baseline":  # the training-only baselines (pgexp.runs.train_kernels)
            action.help = (f"{action.help}; training only: value_online (a linear v(s, w) learned along training, "
                           "--baseline-step-size), optimal_exact (the exact minimum-variance constant b* of the "
                           "vanilla gradient, bandits), optimal_npg_exact (that of the tabular NPG update, "
                           "sum r/pi / sum 1/pi, bandits)")
    which.add_argument("--pairs", nargs="+", metavar="E~B", default=None,
                       help="instead of --estimator/--baseline: several estimator~baseline pairs in one process and "
                            "one table (the pairs' tables one after the other, in this order); each pair takes the "
                            "hyperparameter options its estimator has (e.g. --lam for gae) and draws the "
                            "trajectories it would alone; every pair is checked before any runs")
    g.add_argument("--batch-size", type=POSITIVE_INT, required=True, metavar="N",
                   help="trajectories per gradient estimate")
    add_group_option(g)
    g.add_argument("--step-size", required=True, metavar="ETA",
                   help="step size > 0 (or a comma-separated list of distinct ones: the grid)")
    g.add_argument("--optimizer", default="sga", choices=["sga", "adam", "npg"],
                   help="plain ascent (sga, default), adam, or npg: the tabular natural gradient (--features tabular)")
    g.add_argument("--update", default="per-batch", choices=["per-batch", "per-step", "per_batch", "per_step"],
                   help="per-batch (default): one step per iteration; per-step: after every time step of the episode, "
                        "scores at the current theta (Sutton & Barto's REINFORCE; --batch-size 1)")
    g.add_argument("--baseline-offset", type=number(), default=0.0, metavar="EPS",
                   help="add EPS to the baseline (e.g. b* - 1 with --baseline optimal_exact --baseline-offset=-1)")
    g.add_argument("--baseline-step-size", type=number(0), default=0.0, metavar="ALPHA_W",
                   help="--baseline value_online: the step size of w <- w + ALPHA_W (G_t - v(S_t, w)) x(S_t)")
    g.add_argument("--value-features", default="onehot", choices=["onehot", "constant"],
                   help="features x(s) of value_online: one-hot states (default) or a single constant weight")
    g.add_argument("--iterations", type=number(0, integer=True), required=True, metavar="T",
                   help="gradient steps (>= 0)")
    g.add_argument("--checkpoints", default=None, metavar="0,50,100",
                   help="distinct iterations in [0, --iterations] whose theta is saved as OUT.theta<T>.npy")
    g.add_argument("--seed", required=True, metavar="S", help="seed >= 0 (or a comma-separated list of distinct seeds)")
    g.add_argument("--eval-episodes", type=POSITIVE_INT, default=None,
                   help="continuous-state problems: episodes per evaluation (default 20)")
    g.add_argument("--record-every", type=POSITIVE_INT, default=1, metavar="K",
                   help="keep the rows of iterations 0, K, 2K, ... and each run's last (default 1: every iteration)")
    g.add_argument("--trace-seeds", default=None, metavar="S1,S2",
                   help="these seeds also keep the policy pi at every kept row (column trace_pi; compiled engine)")
    g.add_argument("--engine", default="auto", choices=["auto", "compiled", "general"],
                   help="auto (default): the compiled engine where it applies, else the general one")
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


def check_train_budget(problem, args: argparse.Namespace, runs: int) -> None:
    """Refuse a grid whose memory or work is hopeless before the first iteration (:func:`pgexp.memory.train_cost`);
    a continuous task's episode counts a tenth of its time limit in steps, its evaluations too."""
    from pgexp.memory import CONTINUOUS_STEPS_PER_SECOND, require_memory, train_cost
    from pgexp.runs.estimate import batch_width, check_truth_cost

    check_truth_cost(problem)  # J and grad J are exact at every iteration: at least one recursion
    length, cause = batch_width(problem, getattr(args, "truncate", None))
    require_memory(48.0 * args.batch_size * length + 32.0 * args.batch_size,
                   f"{cause} x --batch-size {args.batch_size} (one batch of {args.batch_size} trajectories x {length} "
                   "steps)")
    continuous = problem.track == "continuous"
    per_traj = problem.horizon / CONTINUOUS_STEPS_PER_SECOND / 10 if continuous else 0.0
    evals = args.eval_episodes * per_traj / max(args.batch_size, 1) if continuous else 0.0
    train_cost(args.iterations, runs, args.batch_size, per_traj + evals)


def training_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The job's distinct ``(estimator, baseline)`` pairs: ``--pairs E~B ...`` (one argument may hold several,
    separated by spaces, as the workflow quotes the list), or ``--estimator`` / ``--baseline``.  Whether a pair
    makes sense is checked before any runs (:func:`pgexp.runs.train.check_grid`)."""
    from pgexp.estimators import ESTIMATORS

    if args.pairs is None:
        return [(args.estimator, critic_baseline(args.estimator, args.baseline, args.critic))]
    if args.baseline != "none":
        raise UserError("--baseline: with --pairs every pair names its own baseline (E~B)")
    if args.critic is not None:
        raise UserError("--critic: with --pairs write all_action~q_exact or all_action~q_fitted")
    allowed = f"E~B with E one of exact, {', '.join(ESTIMATORS)}"
    pairs = []
    for item in (x for arg in args.pairs for x in arg.split()):
        est, sep, base = item.partition("~")
        if not sep or not base or "~" in base or (est not in ESTIMATORS and est != "exact"):
            raise UserError(f"--pairs: {item!r}; allowed: {allowed}")
        if (est, base) in pairs:
            raise UserError(f"--pairs: {item!r} is given twice; allowed: distinct pairs")
        pairs.append((est, base))
    if not pairs:
        raise UserError(f"--pairs: no pair given; allowed: {allowed}")
    return pairs


def run(args: argparse.Namespace) -> int:
    """Gradient ascent runs over the grid step sizes x seeds for every pair; one parquet, checkpoints beside it."""
    import pyarrow as pa

    from pgexp.estimators import ESTIMATORS
    from pgexp.io import write_table
    from pgexp.progress import bar
    from pgexp.provenance import provenance
    from pgexp.runs.context import set_threads
    from pgexp.runs.train import TrainOptions, check_grid, train_grid
    from pgexp.runs.train_tables import grid_table
    from pgexp.sampling.groups import with_group_size

    pairs = training_pairs(args)
    step_sizes = parse_list(args.step_size, STEP_SIZE, "--step-size")
    seeds = parse_list(args.seed, SEED, "--seed")
    tags = parse_tags(args.tag, "train")
    checkpoints = parse_checkpoints(args.checkpoints, args.iterations)
    if len(pairs) * len(step_sizes) * len(seeds) > 1 and checkpoints:
        raise UserError("--checkpoints: give one --step-size, one --seed and one pair (checkpoint files are per run)")
    trace = tuple(parse_list(args.trace_seeds, SEED, "--trace-seeds")) if args.trace_seeds else ()
    if set(trace) - set(seeds):
        raise UserError(f"--trace-seeds: seed {sorted(set(trace) - set(seeds))[0]} is not one of --seed "
                        f"({', '.join(map(str, seeds))}); allowed: some of the seeds trained")
    out = Path(args.output)
    check_outputs(args.output, *(str(out.with_name(f"{out.stem}.theta{t}.npy")) for t in checkpoints),
                  fmt="parquet")
    grid = [(float(eta), int(seed)) for eta in step_sizes for seed in seeds]
    set_threads(args.threads)
    problem = with_group_size(problem_from_args(args, tabular=False), args.group_size)
    check_applicable(args, pairs)
    if args.eval_episodes is not None and problem.track != "continuous":
        raise UserError(f"--eval-episodes {args.eval_episodes}: only for continuous-state problems (whose J is an "
                        "evaluation return); this problem's J is exact")
    args.eval_episodes = args.eval_episodes or 20
    check_train_budget(problem, args, len(grid) * len(pairs))
    given = params_from_args(args)
    jobs = []
    for est, base in pairs:  # every pair checked before any runs
        opts = TrainOptions(estimator=est, baseline=base, batch_size=args.batch_size, iterations=args.iterations,
                            optimizer=args.optimizer, update=args.update.replace("-", "_"),
                            baseline_offset=args.baseline_offset, baseline_step_size=args.baseline_step_size,
                            value_features=args.value_features,
                            params=ESTIMATORS[est].params(given) if est in ESTIMATORS else {},
                            fit_batch_size=args.fit_batch_size, eval_episodes=args.eval_episodes,
                            checkpoints=checkpoints, record_every=args.record_every, trace_seeds=trace)
        jobs.append((opts, check_grid(problem, opts, step_sizes, args.engine)))
    extra = {"group_size": int(getattr(problem, "group_size", 1)),
             **({"eval_episodes": int(args.eval_episodes)} if problem.track == "continuous" else {})}
    tables, engines = [], []
    with bar(total=len(pairs) * len(grid) * (args.iterations + 1),
             desc=f"train {','.join(f'{e}~{b}' for e, b in pairs)}", unit="iteration") as progress:
        for opts, _ in jobs:
            runs, engine = train_grid(problem, opts, step_sizes, seeds, engine=args.engine, tick=progress.update)
            tables.append(grid_table(problem, runs, grid, {**opts.columns(), **extra, **tags}, opts, engine))
            engines.append(engine)
    for run in runs[:1] if checkpoints else []:
        last = problem.theta
        for t in checkpoints:  # a diverged run keeps its last finite theta at later checkpoints
            last = run.checkpoints.get(t, last)
            save_npy(out.with_name(f"{out.stem}.theta{t}.npy"), last)
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    write_table(table, out, provenance(kind="train", track=problem.track, seed=seeds, engine=",".join(
        dict.fromkeys(engines)), pairs=[f"{e}~{b}" for e, b in pairs]))
    return 0
