"""``pgexp exact-variance``: exact mean and covariance of a single-trajectory estimator (JSON)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import add_problem_options, check_outputs, number, problem_from_args

EXAMPLE = "pgexp exact-variance --env short_corridor --horizon 6 --estimator reinforce --baseline none"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact-variance", help="exact mean and covariance of a single-trajectory estimator (JSON)",
                       description="Exact mean, trace of covariance and covariance (when dim <= 64) of one "
                                   "trajectory's estimate, by enumerating trajectories (<= 1e6) or by a dynamic "
                                   "programme over (time, state) second moments. Finite horizons; softmax-linear "
                                   "policies.")
    add_problem_options(p)
    p.add_argument("--estimator", required=True, choices=["reinforce", "reward_to_go", "advantage_exact"],
                   help="the estimators with an exact counterpart")
    p.add_argument("--baseline", default="none", choices=["none", "value_exact", "constant", "optimal"],
                   help="constant: a fixed constant (--constant, default J); optimal: the exact per-coordinate optimum")
    p.add_argument("--constant", type=number(), default=None, help="the constant of --baseline constant (finite)")
    p.add_argument("--method", default="auto", choices=["auto", "enumeration", "dp"],
                   help="enumeration of trajectories, the dynamic programme, or auto (enumeration when small)")
    p.add_argument("--output", default=None, metavar="PATH.json",
                   help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--indent", type=number(0, integer=True), default=None,
                   help="pretty-print the JSON with this indent")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exact mean / covariance of a single-trajectory estimator (enumeration or DP)."""
    from pgexp.errors import UserError
    from pgexp.exact.moments import exact_variance
    from pgexp.io import dump

    check_outputs(args.output)
    if args.constant is not None and args.baseline != "constant":
        raise UserError(f"--constant: only with --baseline constant (got --baseline {args.baseline})")
    problem = problem_from_args(args)
    out = exact_variance(problem, args.estimator, args.baseline, constant=args.constant, method=args.method)
    out["env"] = problem.mdp.name or problem.env_spec
    dump(out, args.output, indent=args.indent)
    return 0
