"""``pgexp exact-curves``: exact per-trajectory variance over horizons (table for the figures)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, add_tag_option, check_outputs, parse_list, parse_tags
from pgexp.io import write_frame_csv

EXAMPLE = ("pgexp exact-curves --env short_corridor --horizon 4,8,16 --pairs reinforce~none,reward_to_go~none "
           "--output exact.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-curves", help="exact per-trajectory variance over horizons (table for the figures)",
                       description="For each finite --horizon (comma list) and each estimator~baseline of --pairs "
                                   "that has an exact counterpart (reinforce / reward_to_go with none, value_exact, "
                                   "optimal; advantage_exact), the exact per-trajectory tr Cov; others are skipped.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...",
                   help="default: every pair with an exact counterpart")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def parse_pairs(text: str | None) -> list[tuple[str, str]]:
    """``--pairs EST~BASE,...`` (distinct; each a registered estimator and baseline); ``None``: every exact pair."""
    from pgexp.errors import UserError
    from pgexp.estimators import BASELINES, ESTIMATORS
    from pgexp.exact.moments import EXACT_PAIRS

    if text is None:
        return list(EXACT_PAIRS)

    def pair(item: str) -> tuple[str, str]:
        est, sep, base = item.partition("~")
        if not sep or est not in ESTIMATORS or base not in BASELINES:
            raise UserError(f"--pairs: {item!r}; allowed: ESTIMATOR~BASELINE with an estimator of "
                            f"{', '.join(ESTIMATORS)} and a baseline of {', '.join(BASELINES)}")
        return est, base

    return parse_list(text, pair, "--pairs")


def finite_horizons(text: str | None) -> list[int]:
    """The finite horizons of a ``--horizon`` list (``inf`` entries are skipped: no exact curve there)."""
    from pgexp.cli.common import horizon_key, parse_horizons

    return [h for h in (horizon_key(t) for t in parse_horizons(text) if t is not None) if h is not None]


def run(args: argparse.Namespace) -> int:
    """Exact per-trajectory variance over horizons for the pairs with an exact counterpart (a table)."""
    from pathlib import Path

    import pandas as pd

    from pgexp.exact.moments import EXACT_PAIRS, exact_curves
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")))
    horizons = finite_horizons(args.horizon)
    pairs = [p for p in parse_pairs(args.pairs) if p in EXACT_PAIRS]
    tags = parse_tags(args.tag, "exact_variance")

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = pd.DataFrame(exact_curves(build, horizons, pairs),
                      columns=["estimator", "baseline", "horizon", "var_per_traj_exact", "method", "dim"])
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="exact_variance"))
    return 0
