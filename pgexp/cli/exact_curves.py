"""``pgexp exact-curves``: exact per-trajectory and batch quantities over horizons x batch sizes (a table)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import (
    POSITIVE_INT,
    PROBABILITY,
    add_problem_options,
    add_tag_option,
    check_exact_cost,
    check_outputs,
    gaussian_options,
    lam_for,
    parse_list,
    parse_tags,
)
from pgexp.io import write_frame_csv

COLUMNS = ["estimator", "baseline", "horizon", "batch_size", "lam", "var_per_traj_exact", "bias_sq_exact",
           "trace_cov_exact", "mse_exact", "rel_mse_exact", "snr_exact", "cosine_normal", "cosine_normal_se",
           "method", "dim"]
EXAMPLE = ("pgexp exact-curves --env short_corridor --horizon 4,8,16 --pairs reinforce~none,reward_to_go~none "
           "--batch-size 1,4 --output exact.parquet")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-curves", help="exact variance, bias, MSE, SNR over horizons x batch sizes (table)",
                       description="For each --horizon (inf: gamma < 1) and --batch-size (comma lists) and each "
                                   "estimator~baseline of --pairs with an exact counterpart (pgexp exact-variance; "
                                   "optimal is the exact oracle; value_learned and actor_critic have none and are "
                                   "skipped): the exact var_per_traj, bias_sq, trace_cov, mse, rel_mse, snr of the "
                                   "batch estimate (columns *_exact) and the normal-approximation cosine prediction "
                                   "(cosine_normal, with its Monte-Carlo standard error). The leave-one-out constant "
                                   "is skipped at N = 1.")
    add_problem_options(p)
    p.add_argument("--pairs", default=None, metavar="EST~BASE,...",
                   help="default: every pair with an exact counterpart")
    p.add_argument("--batch-size", default="1", metavar="N[,N...]", help="batch sizes (default 1)")
    p.add_argument("--lam", type=PROBABILITY, default=None,
                   help="GAE's lambda in [0, 1] (default 0.95; GAE pairs only)")
    add_tag_option(p)
    p.add_argument("--output", required=True, metavar="OUT.parquet", help="also writes OUT.csv")
    p.set_defaults(func=run)
    return p


def known_pairs() -> list[tuple[str, str]]:
    """Every estimator~baseline pair the exact engine covers for a study.

    See :func:`pgexp.exact.moments.exact_pairs`.
    """
    from pgexp.exact.catalogue import exact_pairs, supported

    known = supported()
    return exact_pairs(list(known), sorted({b for bs in known.values() for b in bs}))


def parse_pairs(text: str | None) -> list[tuple[str, str]]:
    """``--pairs EST~BASE,...`` (distinct, each covered by the exact engine); ``None``: every covered pair."""
    from pgexp.errors import UserError

    known = known_pairs()
    if text is None:
        return known

    def pair(item: str) -> tuple[str, str]:
        est, sep, base = item.partition("~")
        if not sep or (est, base) not in known:
            raise UserError(f"--pairs: {item!r}; allowed: ESTIMATOR~BASELINE, one of "
                            f"{', '.join(f'{e}~{b}' for e, b in known)}")
        return est, base

    return parse_list(text, pair, "--pairs")


def exact_horizons(text: str | None) -> list[int | None]:
    """The distinct horizons of a ``--horizon`` list; ``inf`` (``None``) is allowed for a discounted problem
    (the exact engine refuses an episodic one by name)."""
    from pgexp.cli.common import horizon_key, parse_horizons

    return [horizon_key(t) for t in parse_horizons(text)]


def run(args: argparse.Namespace) -> int:
    """Exact quantities for the pairs with an exact counterpart (a table)."""
    from pathlib import Path

    import pandas as pd

    from pgexp.exact.assumptions import ASSUMPTION_COLUMNS, horizon_assumptions
    from pgexp.exact.moments import exact_curves
    from pgexp.problems.problem import build_problem
    from pgexp.provenance import provenance

    check_outputs(args.output, str(Path(args.output).with_suffix(".csv")), fmt="parquet")
    horizons = exact_horizons(args.horizon)
    sizes = parse_list(args.batch_size, POSITIVE_INT, "--batch-size")
    pairs = parse_pairs(args.pairs)
    args.lam = lam_for(args.lam, [e for e, _ in pairs])
    tags = parse_tags(args.tag, "exact_variance")

    def build(h):
        return build_problem(args.env, features=args.features, policy=args.policy, theta=args.theta,
                             gamma=args.gamma, horizon=h, track="tabular", **gaussian_options(args))

    if build(horizons[0]).track == "lqr":  # linear-quadratic: the Gaussian moment recursion
        from pgexp.runs.lqr_exact import exact_curves as lqr_curves

        rows = lqr_curves(build, horizons, pairs, sizes, lam=args.lam)
    else:
        check_exact_cost(build(max((h for h in horizons if h is not None), default=None)), horizons, len(pairs))
        rows = exact_curves(build, horizons, pairs, sizes, lam=args.lam)
    df = pd.DataFrame(rows, columns=COLUMNS)
    # whether the lecture's H^3 argument applies at each horizon (same-sign rewards, gamma = 1, no early end)
    assumptions = pd.DataFrame([{"horizon": -1 if h is None else int(h), **horizon_assumptions(build(h))}
                                for h in horizons], columns=["horizon", *ASSUMPTION_COLUMNS])
    df = df.astype({"horizon": "int64"}).merge(assumptions, on="horizon", how="left")
    for k, v in tags.items():
        df.insert(0, k, v)
    write_frame_csv(df, args.output, provenance(kind="exact_variance"))
    return 0
