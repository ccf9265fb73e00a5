"""``pgexp exact-variance``: exact mean and covariance of a single-trajectory estimator (JSON)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, problem_from_args


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-variance", help="exact mean and covariance of a single-trajectory estimator (JSON)",
                       description="Exact mean, trace of covariance and covariance (when dim <= 64) of one "
                                   "trajectory's estimate, by enumerating trajectories (<= 1e6) or by a dynamic "
                                   "programme over (time, state) second moments. Finite horizons; softmax-linear policies.")
    add_problem_options(p)
    p.add_argument("--estimator", required=True, choices=["reinforce", "reward_to_go", "advantage_exact"])
    p.add_argument("--baseline", default="none", choices=["none", "value_exact", "constant", "optimal"],
                   help="constant: a fixed constant (--constant, default J); optimal: the exact per-coordinate optimum")
    p.add_argument("--constant", type=float, default=None, help="the constant of --baseline constant")
    p.add_argument("--method", default="auto", choices=["auto", "enumeration", "dp"])
    p.add_argument("--output", default=None, metavar="PATH.json")
    p.add_argument("--indent", type=int, default=None)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact mean / covariance of a single-trajectory estimator (enumeration or DP)."""
    from pgexp.exact.moments import exact_variance
    from pgexp.io import dump

    problem = problem_from_args(args)
    out = exact_variance(problem, args.estimator, args.baseline, constant=args.constant, method=args.method)
    out["env"] = problem.mdp.name or problem.env_spec
    dump(out, args.output, indent=args.indent)
    return 0
