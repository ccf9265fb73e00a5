"""``pgexp group-variance``: the exact bias (length and direction), variance and length effects of group
estimators against the group size (a table), and each prompt's weight (a second table)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import POSITIVE_INT, add_problem_options, check_outputs, parse_list, problem_from_args

EXAMPLE = ('pgexp group-variance --env "tokens:vocab=2,length=6,needs=1;2;3;4" --estimators rloo,grpo,dr_grpo '
           "--group-size 2,4,8,16,64 --prompts 4 --output group_variance.parquet "
           "--prompt-output prompt_weights.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("group-variance", help="exact bias, variance and length effects of group estimators vs G "
                                              "(tables)",
                       description="For every estimator (or estimator~baseline) and group size G: the exact moments of "
                                   "the batch estimate of --prompts prompts x G responses (pgexp.exact.groups): "
                                   "bias_sq, trace_cov, var_per_traj, mse, rel_mse, snr; the bias as length "
                                   "(length_k, length_bias_sq) and direction (direction_bias_sq, angle_deg); the "
                                   "variance at equal mean length (trace_cov_equal_length); the inner products of the "
                                   "mean with the "
                                   "gradients of the response statistics (d_length_wrong, ...). --prompt-output adds "
                                   "one row per prompt: its difficulty and the weight the estimator gives it.")
    add_problem_options(p)
    p.add_argument("--estimators", required=True, metavar="E[~B][:k=v;...],...",
                   help="group estimators (rloo, grpo, dr_grpo, dapo_token_mean, reinforce_pp, remax) and "
                        "reinforce~none or reinforce~constant, with hyperparameters after a colon "
                        "(grpo:length_norm=0); baseline none unless written E~B; each row's label is the entry as "
                        "written")
    p.add_argument("--group-size", required=True, metavar="G,...", help="distinct group sizes")
    p.add_argument("--prompts", type=POSITIVE_INT, default=1, metavar="P", help="prompts per batch (default 1)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.add_argument("--prompt-output", default=None, metavar="OUT.parquet", help="the per-prompt weights (and OUT.csv)")
    p.add_argument("--difficulty-output", default=None, metavar="OUT.parquet",
                   help="the weight of a prompt against its success probability p on a 0/1 task (grid of p), for the "
                        "length-blind entries of --estimators (and OUT.csv)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pgexp.exact.group_rules import RULES, difficulty_rows, parse_variant
    from pgexp.exact.groups import group_variance_rows
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    paths = [args.output, args.prompt_output, args.difficulty_output]
    check_outputs(*[x for p in paths if p for x in (p, str(p).rsplit(".", 1)[0] + ".csv")])
    variants = [parse_variant(e) for e in parse_list(args.estimators, str, "--estimators")]
    sizes = parse_list(args.group_size, POSITIVE_INT, "--group-size")
    problem = problem_from_args(args)
    rows, weights = group_variance_rows(problem, variants, sizes, args.prompts)
    blind = [v for v in variants if not RULES[(v.estimator, v.baseline)].lengths
             and RULES[(v.estimator, v.baseline)].scope == "group"
             and not (v.estimator == "grpo" and float(v.params.get("length_norm", 1.0)) != 0.0)]
    difficulty = difficulty_rows(blind, sizes, horizon=problem.mdp.horizon) if args.difficulty_output else []
    ident = problem.identity()
    for table, path in ((rows, args.output), (weights, args.prompt_output), (difficulty, args.difficulty_output)):
        if path:
            df = pd.DataFrame(table)
            for k, v in reversed(ident.items()):
                df.insert(0, k, v)
            write_frame_csv(df, path, provenance(kind="group_variance"))
    return 0
