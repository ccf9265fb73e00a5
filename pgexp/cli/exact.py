"""``pgexp exact``: exact J, grad J, J*, V, Q, A, pi and occupancy of a problem (JSON)."""

from __future__ import annotations

import argparse

from pgexp.cli.common import INDENT, add_problem_options, check_exact_cost, check_outputs, problem_from_args

EXAMPLE = "pgexp exact --env short_corridor --theta zeros"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("exact", help="exact J, grad J, J*, V, Q, A, pi and occupancy of a problem (JSON)",
                       description="Print (or write) one JSON object with the exact quantities of a problem at theta: "
                                   "J, grad, J_star, V, Q, A, pi, d (normalised occupancy), num_states, num_actions, "
                                   "dim. For a finite horizon V/Q/A are the h = 0 values (--full adds the "
                                   "time-indexed ones).")
    add_problem_options(p)
    p.add_argument("--output", metavar="PATH.json", default=None,
                   help="write the JSON here (atomically) instead of stdout")
    p.add_argument("--full", action="store_true",
                   help="add time-indexed V_steps, Q_steps and state_dist (finite horizon)")
    p.add_argument("--indent", type=INDENT, default=None,
                   help="pretty-print the JSON with this indent")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.exact.summary import exact_summary
    from pgexp.io import dump

    check_outputs(args.output, fmt="json")
    problem = problem_from_args(args)
    if problem.track == "lqr":
        from pgexp.exact.lqr import summary

        dump(summary(problem, full=args.full), args.output, indent=args.indent)
        return 0
    check_exact_cost(problem, [problem.mdp.horizon], 1)
    dump(exact_summary(problem, full=args.full), args.output, indent=args.indent)
    return 0
