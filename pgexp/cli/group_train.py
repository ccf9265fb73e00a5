"""``pgexp group-train``: training with a group estimator, the exact response lengths at every recorded iteration."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
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

EXAMPLE = ('pgexp group-train --env "tokens:vocab=2,length=6,needs=1;2;3;4" --estimator grpo --group-size 8 '
           "--batch-size 32 --optimizer adam --step-size 0.01 --iterations 200 --seed 0,1,2 --output grpo.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from pgexp.estimators import ESTIMATORS, hyperparameters

    p = sub.add_parser("group-train", help="train with a group estimator; exact response lengths along training "
                                           "(parquet)",
                       description="theta <- theta + update(g) with a group estimator on batches of --batch-size "
                                   "responses in groups of --group-size (pgexp.runs.group_train): one sampled run per "
                                   "seed and the mean-field run (the exact mean E g; seed -1). Every recorded row has "
                                   "the exact J, p_correct and the mean length of all, correct and incorrect responses "
                                   "at that iteration.")
    add_problem_options(p)
    group = [name for name, e in ESTIMATORS.items() if e.min_group_size is not None]
    p.add_argument("--estimator", required=True, choices=[*group, "reinforce"], metavar="NAME",
                   help=f"{', '.join(group)}, or reinforce")
    for name in ("std_ddof", "eps", "length_norm", "dynamic_sampling"):
        h = hyperparameters()[name]
        p.add_argument(h.option, type=number(h.low, h.high), default=None, metavar=name.upper()[:3],
                       help=f"{h.doc} (default {h.default:g})")
    p.add_argument("--group-size", type=POSITIVE_INT, required=True, metavar="G", help="responses per prompt")
    p.add_argument("--batch-size", type=POSITIVE_INT, required=True, metavar="N",
                   help="responses per iteration (a multiple of G: N/G prompts)")
    p.add_argument("--optimizer", choices=["sga", "adam"], default="adam", help="plain ascent or Adam (default)")
    p.add_argument("--step-size", type=number(0, lo_open=True), required=True, metavar="ETA", help="step size > 0")
    p.add_argument("--iterations", type=number(0, integer=True), required=True, metavar="T", help="updates (>= 0)")
    p.add_argument("--seed", required=True, metavar="S,...", help="distinct seeds >= 0 (one sampled run each)")
    p.add_argument("--record-every", type=POSITIVE_INT, default=1, metavar="K",
                   help="record iterations 0, K, 2K, ... and the last (default 1)")
    p.add_argument("--no-mean-field", action="store_true", help="leave out the mean-field run")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="written atomically")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from pgexp.io import write_table
    from pgexp.progress import bar
    from pgexp.provenance import provenance
    from pgexp.runs.group_train import group_train

    check_outputs(args.output)
    seeds = parse_list(args.seed, SEED, "--seed")
    tags = parse_tags(args.tag)
    problem = problem_from_args(args)
    params = {k: getattr(args, k) for k in ("std_ddof", "eps", "length_norm", "dynamic_sampling")
              if getattr(args, k) is not None}
    runs = len(seeds) + (0 if args.no_mean_field else 1)
    with bar(total=runs * (args.iterations + 1), desc=f"group-train {args.estimator}", unit="iteration") as progress:
        table = group_train(problem, args.estimator, params=params, group_size=args.group_size,
                            batch_size=args.batch_size, step_size=args.step_size, iterations=args.iterations,
                            seeds=seeds, optimizer=args.optimizer, record_every=args.record_every,
                            mean_field=not args.no_mean_field, tick=progress.update)
    for k, v in tags.items():
        table = table.append_column(k, pa.array([v] * table.num_rows))
    write_table(table, args.output, provenance(kind="group_train", seed=seeds))
    return 0
