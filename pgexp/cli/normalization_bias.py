"""``pgexp normalization-bias``: the exact bias of per-batch advantage normalisation, by enumerating batches."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    CONFIDENCE,
    POSITIVE_INT,
    SEED,
    add_problem_options,
    add_tag_option,
    check_outputs,
    number,
    parse_list,
    parse_tags,
    problem_from_args,
)

EXAMPLE = ("pgexp normalization-bias --env garnet:states=1,actions=3,branching=1,seed=0 --horizon 1 "
           "--pairs reward_to_go~value_exact --batch-size 2,4,8,16,32,64 --output norm.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("normalization-bias", help="exact bias of normalised advantages vs N (enumeration) and its rate",
                       description="For each estimator~baseline of --pairs and each --batch-size N whose batches can "
                                   "be listed (multisets of the problem's trajectories: bandits, short horizons), the "
                                   "exact "
                                   "mean and covariance of the batch estimate with --normalize-advantages; its bias "
                                   "against the N -> inf limit (the unnormalised mean) and against grad J; the "
                                   "least-squares rate of ||bias|| in N (rate_slope: -1 means bias ~ 1/N). With "
                                   "--replicates, Monte-Carlo bias_sq against the limit with BCa intervals beside it.")
    add_problem_options(p)
    p.add_argument("--pairs", default="reward_to_go~value_exact", metavar="EST~BASE,...",
                   help="estimator~baseline pairs (reward_to_go, reward_to_go_common, gae, gae_common with none, "
                        "value_exact, fixed:c=VALUE; default reward_to_go~value_exact)")
    p.add_argument("--batch-size", default="2,4,8,16,32,64", metavar="N,...", help="batch sizes (default 2,...,64)")
    p.add_argument("--lam", type=number(0, 1), default=None, help="GAE's lambda (default the registry's)")
    p.add_argument("--replicates", type=number(3, integer=True), default=None, metavar="M",
                   help="also Monte Carlo: M batch estimates per N")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the Monte-Carlo runs (default 0)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--resamples", type=POSITIVE_INT, default=2000, help="bootstrap resamples (default 2000)")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the table (also OUT.csv), atomically")
    p.set_defaults(func=run)
    return p


def parse_pair(item: str) -> tuple[str, str]:
    from pgexp.errors import UserError
    from pgexp.estimators.practice import normalizable

    known = normalizable()
    est, sep, base = item.partition("~")
    if not sep or est not in known or base.partition(":")[0] not in known[est]:
        allowed = ", ".join(f"{e}~{b}" for e, bs in known.items() for b in bs)
        raise UserError(f"--pairs: {item!r}; allowed: {allowed} (fixed as fixed:c=VALUE)")
    return est, base


def check_monte_carlo(problem, args: argparse.Namespace, pairs: int, sizes: list[int]) -> None:
    """The Monte-Carlo half: ``--replicates`` batch estimates per pair and batch size, and their bootstrap."""
    from pgexp.memory import TRAJECTORIES_PER_SECOND, require_memory, require_work, resample_cost

    what = f"--replicates {args.replicates} x {pairs} pair(s) x --batch-size {','.join(map(str, sizes))}"
    require_memory(2 * 8.0 * args.replicates * pairs * len(sizes) * (problem.policy.dim + 8), what)
    require_work(args.replicates * pairs * sum(sizes) * 2 / TRAJECTORIES_PER_SECOND, what)
    resample_cost(args.resamples, [args.replicates] * pairs * len(sizes))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pgexp.audit.normalization import check_enumerable, normalization_table
    from pgexp.estimators import LAM
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    tags = parse_tags(args.tag, "normalization_bias")
    pairs = parse_list(args.pairs, parse_pair, "--pairs")
    sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size")
    problem = problem_from_args(args, lqr=False)
    check_enumerable(problem, f"--env {args.env}" + (f" --horizon {args.horizon}" if args.horizon else ""))
    if args.replicates is not None:
        check_monte_carlo(problem, args, len(pairs), sizes)
    df = normalization_table(problem, pairs, sizes, lam=LAM.default if args.lam is None else args.lam,
                             replicates=args.replicates, seed=args.seed, confidence=args.confidence,
                             resamples=args.resamples)
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="normalization_bias", seed=args.seed))
    return 0
