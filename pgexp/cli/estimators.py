"""``pgexp estimators``: the estimator x baseline pairs that are meaningful, from the registry."""

from __future__ import annotations

import argparse

EXAMPLE = "pgexp estimators"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("estimators", help="list the meaningful estimator x baseline pairs (from the registry)",
                       description="List every registered estimator with its formula, the baselines it accepts "
                                   "(every other pair is refused by name), the objectives it is defined for and "
                                   "whether it is unbiased; then the pairs available on continuous-state tasks. "
                                   "docs/estimators.md derives them.")
    p.set_defaults(func=run)
    return p


def unbiased_text(unbiased, baseline: str) -> str:
    """``yes`` / ``no`` / ``only with lam = 1`` from a registry entry's ``unbiased(baseline, lam)``."""
    at = {lam: bool(unbiased(baseline, lam)) for lam in (0.5, 1.0)}
    return "yes" if all(at.values()) else "no" if not any(at.values()) else "only with lam = 1"


def rows() -> list[tuple[str, str, str, str]]:
    """``(estimator, baseline, objectives, unbiased)`` for every meaningful tabular pair, registry order."""
    from pgexp.estimators import ESTIMATORS

    out = []
    for name, est in ESTIMATORS.items():
        objectives = ", ".join(getattr(est, "objectives", ()) or ("all",))
        for base in est.baselines:
            out.append((name, base, objectives, unbiased_text(est.unbiased, base)))
    return out


def run(args: argparse.Namespace) -> int:
    from pgexp.estimators import ESTIMATORS

    print("Tabular problems (exact gradient):")
    for name, est in ESTIMATORS.items():
        print(f"  {name}: {getattr(est, 'doc', '')}")
    print()
    width = max(len(f"{e}~{b}") for e, b, _, _ in rows())
    print(f"  {'pair (--estimator~--baseline)':{width}s}  {'objectives':30s}  unbiased")
    for e, b, objectives, unbiased in rows():
        print(f"  {e + '~' + b:{max(width, 29)}s}  {objectives:30s}  {unbiased}")
    try:
        from pgexp.deep.estimators import DEEP_ESTIMATORS
    except ImportError:  # the continuous-state track may be folded into the main registry
        return 0
    print("\nContinuous-state tasks (gym:CartPole-v1, gym:Acrobot-v1; a Monte-Carlo reference):")
    for name, est in DEEP_ESTIMATORS.items():
        print(f"  {name}: baselines {', '.join(est.baselines)}")
    return 0
