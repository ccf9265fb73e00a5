"""``pgexp sign-flip``: how often the common variant's mean points away from grad J, over random small MDPs."""

from __future__ import annotations

import argparse

from pgexp.cli.common import CONFIDENCE, POSITIVE_INT, PROBABILITY, SEED, check_outputs, number, parse_list

EXAMPLE = ("pgexp sign-flip --features tabular,random:d=2 --gamma 0.3,0.6 --horizon 20 --samples 100 "
           "--output flips.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("sign-flip", help="exact search: how often the common variant's mean points away from grad J",
                       description="For every --features x --gamma cell, draw --samples random small garnets (2-6 "
                                   "states, 2-3 actions) with random theta, compute the exact mean of "
                                   "reward_to_go_common (no gamma^h) and the exact grad J at horizon --horizon, and "
                                   "count sign flips (<mean, grad J> < 0): the fraction with its Wilson interval, the "
                                   "smallest cosine. The problem with the smallest cosine is written as specs in the "
                                   "example_* columns, with a Monte-Carlo confirmation (mc_*).")
    p.add_argument("--features", default="tabular,random:d=2", metavar="F,...",
                   help="feature kinds: tabular and/or random:d=D (default tabular,random:d=2)")
    p.add_argument("--gamma", default="0.3,0.6,0.9", metavar="G,...", help="discounts < 1 (default 0.3,0.6,0.9)")
    p.add_argument("--horizon", type=POSITIVE_INT, default=20, metavar="H", help="finite horizon (default 20)")
    p.add_argument("--samples", type=POSITIVE_INT, default=200, metavar="K", help="problems per cell (default 200)")
    p.add_argument("--theta-scale", type=number(0, lo_open=True), default=1.0, help="scale of random theta (default 1)")
    p.add_argument("--seed", type=SEED, default=0, help="seed of the search (default 0)")
    p.add_argument("--confirm-batch-size", type=POSITIVE_INT, default=64, metavar="N",
                   help="Monte-Carlo confirmation on the worst problem: batch size (default 64)")
    p.add_argument("--confirm-replicates", type=number(3, integer=True), default=1000, metavar="M",
                   help="... and replicates (default 1000)")
    p.add_argument("--confidence", type=CONFIDENCE, default=0.95, help="confidence level in (0, 1) (default 0.95)")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="the table (also OUT.csv), atomically")
    p.set_defaults(func=run)
    return p


def feature_kind(text: str) -> str:
    """``tabular`` or ``random:d=D`` (the seed is drawn per problem)."""
    from pgexp.errors import UserError
    from pgexp.specs import parse_spec

    if text == "tabular":
        return text
    spec = parse_spec(text, what="--features")
    d = spec.options.get("d")
    if spec.name != "random" or set(spec.options) != {"d"} or isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise UserError(f"--features: {text!r}; allowed: tabular or random:d=D (D a positive integer)")
    return f"random:d={d}"


def check_search_cost(args: argparse.Namespace, cells: int) -> None:
    """:func:`pgexp.audit.search_cost.check_search_cost` of the options."""
    from pgexp.audit.search_cost import check_search_cost as check

    check(args.samples, cells, args.horizon, args.confirm_replicates, args.confirm_batch_size)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from pgexp.audit.signflip import confirm, search
    from pgexp.errors import UserError
    from pgexp.io import write_frame_csv
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    features = parse_list(args.features, feature_kind, "--features")
    gammas = parse_list(args.gamma, PROBABILITY, "--gamma")
    if any(g >= 1 for g in gammas):
        raise UserError("--gamma: the common variant differs from reward_to_go only for gamma < 1; allowed: numbers "
                        "in [0, 1)")
    check_search_cost(args, len(features) * len(gammas))
    rows, worst = search(features, gammas, horizon=args.horizon, samples=args.samples, seed=args.seed,
                         theta_scale=args.theta_scale, confidence=args.confidence)
    example = {f"example_{k}": v for k, v in worst.items()}
    if "example_env" in example:
        example.update(confirm(worst, batch_size=args.confirm_batch_size, replicates=args.confirm_replicates,
                               seed=args.seed, confidence=args.confidence))
    df = pd.DataFrame([{**r, **example} for r in rows])
    write_frame_csv(df, args.output, provenance(kind="sign_flip", seed=args.seed))
    return 0
