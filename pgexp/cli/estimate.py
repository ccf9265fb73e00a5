"""``pgexp estimate``: M independent batch estimates of grad J with one estimator, or several on the same
trajectories (``--pairs``), as parquet."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    POSITIVE_INT,
    SEED,
    add_estimator_options,
    add_group_option,
    add_practice_options,
    add_problem_options,
    add_tag_option,
    check_applicable,
    check_outputs,
    critic_baseline,
    gaussian_options,
    number,
    params_from_args,
    parse_horizons,
    parse_list,
    parse_tags,
    practice_from_args,
)
from pgexp.errors import UserError

EXAMPLE = """pgexp estimate --env short_corridor --estimator reward_to_go --baseline value_exact \\
    --batch-size 10 --replicates 200 --seed 0 --output est.parquet"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("estimate", help="M independent batch estimates of grad J with one estimator (parquet)",
                       description="Draw --replicates independent batch estimates (each the mean of --batch-size "
                                   "trajectories) and write one parquet row per replicate: the job's parameters, "
                                   "replicate, grad (list, length dim), env_steps, batch_return_mean, and the exact "
                                   "J_exact, J_star, grad_exact (continuous-state tasks: a Monte-Carlo reference). "
                                   "Trajectories depend on the problem, theta, horizon, batch size and seed -- not on "
                                   "the estimator -- so estimators are compared on the same trajectories.")
    add_problem_options(p)
    g = p.add_argument_group("estimator")
    which = g.add_mutually_exclusive_group(required=True)
    add_estimator_options(g, choice=which)
    which.add_argument("--pairs", nargs="+", metavar="E~B[~OPTION]", default=None,
                   help="instead of --estimator/--baseline: several estimator~baseline pairs, estimated on the same "
                        "trajectories in one process (one table, the pairs one after the other); ~OPTION gives a pair "
                        "its own batch-level options: plain, norm, cutT-BOOTSTRAP (else the flags' options)")
    g.add_argument("--batch-size", required=True, metavar="N", help="trajectories per batch estimate "
                   "(a comma-separated list with --horizon list runs the grid of cells in one process)")
    add_group_option(g)
    g.add_argument("--replicates", type=number(2, integer=True, note="a variance needs two"), required=True,
                   metavar="M",
                   help="independent batch estimates per cell (>= 2)")
    g.add_argument("--seed", type=SEED, required=True, metavar="S", help="seed of the job's random stream (>= 0)")
    add_practice_options(p)
    g.add_argument("--min-trajectories", type=number(0, integer=True), default=0, metavar="T",
                   help="at least T trajectories per cell: a cell of batch size N draws max(M, ceil(T / N)) "
                        "replicates (default 0)")
    add_tag_option(p)
    p.add_argument("--reference-batch", type=number(2, integer=True), default=None, metavar="N",
                   help="continuous-state problems (gym:CartPole-v1, ...; pgexp envs lists them): episodes of the "
                        "Monte-Carlo reference gradient that stands in for the exact one (default 2000)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="written atomically")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.io import write_table
    from pgexp.problems.continuous import is_continuous_gym
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance
    from pgexp.runs.context import set_threads
    from pgexp.runs.estimate import run_grid
    from pgexp.sampling.groups import with_group_size

    check_outputs(args.output, fmt="parquet")
    if args.pairs is not None and args.baseline != "none":
        raise UserError("--baseline: with --pairs every pair names its own baseline (E~B)")
    # one argument may hold several pairs separated by spaces (the workflow quotes the list as one word)
    if args.pairs is not None and args.critic is not None:
        raise UserError("--critic: with --pairs write all_action~q_exact or all_action~q_fitted")
    pairs = [x for item in args.pairs for x in item.split()] if args.pairs is not None \
        else [(args.estimator, critic_baseline(args.estimator, args.baseline, args.critic))]
    check_applicable(args, [[*str(p).split("~"), ""][:2] if isinstance(p, str) else p for p in pairs])
    if args.reference_batch is not None and not is_continuous_gym(args.env):
        raise UserError(f"--reference-batch {args.reference_batch}: only for continuous-state problems (pgexp envs "
                        "lists them: gym:CartPole-v1, ...), whose reference gradient is sampled; here it is exact")
    horizons = parse_horizons(args.horizon)
    batch_sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size")
    tags = parse_tags(args.tag, "estimate")
    practice = practice_from_args(args)
    set_threads(args.threads)

    def build(h):
        return with_group_size(build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                                             gamma=args.gamma, horizon=h, **gaussian_options(args)), args.group_size)

    import numpy as np

    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite result is refused below, by name
        table = run_grid(build, horizons, batch_sizes, pairs, params=params_from_args(args),
                         replicates=args.replicates, seed=args.seed, fit_batch_size=args.fit_batch_size,
                         reference_batch=args.reference_batch or 2000, tags=tags, practice=practice,
                         min_trajectories=args.min_trajectories)
    check_finite(table)
    track = build(horizons[0]).track
    write_table(table, args.output, provenance(seed=args.seed, kind="estimate", track=track))
    return 0


def check_finite(table) -> None:
    """Refuse to write a non-finite gradient (a plug-in's weights of inf, say): every reader of the table would
    refuse it (:func:`pgexp.tables.check_estimates`), so the estimator is named now, with its first such row."""
    import numpy as np
    import pyarrow.compute as pc

    for column in ("grad", "grad_exact"):
        col = table.column(column)
        values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(values)
        if bad.any():
            lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
            row = int(np.searchsorted(np.cumsum(lengths), int(bad.argmax()), side="right"))
            r = {k: table.column(k)[row].as_py() for k in ("estimator", "baseline", "horizon", "batch_size",
                                                           "replicate")}
            horizon = "inf" if r["horizon"] == -1 else r["horizon"]
            raise UserError(f"estimator {r['estimator']}~{r['baseline']}: a non-finite {column} (horizon "
                            f"{horizon}, batch size {r['batch_size']}, replicate {r['replicate']}); allowed: "
                            "an estimator whose weights are finite numbers")
