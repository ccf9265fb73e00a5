"""``pgexp exact-curves``: exact per-trajectory and batch quantities over horizons x batch sizes (a table)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, int_or_text, parse_list, parse_tags
from pgexp.io import write_frame_csv

COLUMNS = ["estimator", "baseline", "horizon", "batch_size", "lam", "var_per_traj_exact", "bias_sq_exact",
           "trace_cov_exact", "mse_exact", "rel_mse_exact", "snr_exact", "cosine_normal", "cosine_normal_se",
           "method", "dim"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-curves", help="exact variance, bias, MSE, SNR over horizons x batch sizes (table)",
                       description="For each --horizon (inf: gamma < 1) and --batch-size (comma lists) and each "
                                   "estimator~baseline of --pairs with an exact counterpart (pgexp exact-variance; "
                                   "optimal is the exact oracle; value_learned and actor_critic have none and are "
                                   "skipped): the exact var_per_traj, bias_sq, trace_cov, mse, rel_mse, snr of the "
                                   "batch estimate (columns *_exact) and the normal-approximation cosine prediction "
                                   "(cosine_normal, with its Monte-Carlo standard error). The leave-one-out constant "
                                   "is skipped at N = 1. Per horizon, whether the assumptions of the lecture's H^3 "
                                   "claim hold: rewards_same_sign, discount_one, p_end_before_h, h3_assumptions_hold.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...",
                   help="default: every pair with an exact counterpart")
    p.add_argument("--batch-size", default="1", metavar="N[,N...]", help="batch sizes (default 1)")
    p.add_argument("--lam", type=float, default=0.95, help="GAE's lambda (default 0.95)")
    p.add_argument("--tag", action="append", metavar="NAME=VALUE")
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact quantities for the pairs with an exact counterpart (a table)."""
    import pandas as pd

    from pgexp.analysis.slopes import ASSUMPTION_COLUMNS, horizon_assumptions
    from pgexp.exact.moments import SUPPORTED, exact_curves, exact_pairs
    from pgexp.problems import parse_horizon
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    # finite horizons, and inf for a discounted problem (episodic ones are refused by the exact engine)
    horizons = [parse_horizon(int_or_text(h), what="--horizon") for h in parse_list(args.horizon, str, "--horizon")]
    sizes = parse_list(args.batch_size, int, "--batch-size")
    known = exact_pairs(list(SUPPORTED), sorted({b for bs in SUPPORTED.values() for b in bs}))
    wanted = [tuple(p.split("~", 1)) for p in parse_list(args.pairs, str, "--pairs")] if args.pairs else known
    pairs = [p for p in wanted if p in known]

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h)

    df = pd.DataFrame(exact_curves(build, horizons, pairs, sizes, lam=args.lam), columns=COLUMNS)
    # whether the lecture's H^3 argument applies at each horizon (same-sign rewards, gamma = 1, no early end)
    assumptions = pd.DataFrame([{"horizon": -1 if h is None else int(h), **horizon_assumptions(build(h))}
                                for h in horizons], columns=["horizon", *ASSUMPTION_COLUMNS])
    df = df.astype({"horizon": "int64"}).merge(assumptions, on="horizon", how="left")
    for k, v in parse_tags(args.tag).items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="exact_variance"))
    return 0
