"""``pgexp check-estimator``: the generic checks every estimator passes, one line per check (exit 0: all pass)."""

from __future__ import annotations

import argparse

EXAMPLE = "pgexp check-estimator reward_to_go   # a plug-in's: pgexp check-estimator NAME --plugin MODULE"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from pgexp.estimators import ESTIMATORS

    p = sub.add_parser("check-estimator", help="run the generic checks on a registered estimator (a plug-in's too)",
                       description="Run the checks every built-in estimator passes in pgexp's own tests: "
                                   "registration, shapes, finite output, determinism, common random numbers, "
                                   "affinity in the baseline (when it takes the optimal baseline), and unbiasedness "
                                   "against the exact gradient on problems of every objective for every baseline and "
                                   "hyperparameter setting it claims unbiased (Bonferroni z-bound at a 1e-4 "
                                   "family-wise false-alarm rate). One line per check; exit status 0 only if all "
                                   "pass, 1 otherwise. Name a plug-in's module with --plugin MODULE.")
    p.add_argument("name", choices=list(ESTIMATORS), metavar="NAME", help=f"one of: {', '.join(ESTIMATORS)}")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import sys

    from pgexp.runs.check import check_estimator

    return 0 if check_estimator(args.name, out=lambda line: print(line, flush=True, file=sys.stdout)) else 1
