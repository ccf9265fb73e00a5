"""``pgexp estimators``: the estimator x baseline pairs that are meaningful, from the registry."""

from __future__ import annotations

import argparse

EXAMPLE = "pgexp estimators"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("estimators", help="list the meaningful estimator x baseline pairs (from the registry)",
                       description="List every registered estimator with its formula, the baselines it accepts "
                                   "(every other pair is refused by name), the objectives it is defined for, "
                                   "whether it is unbiased and whether pgexp train runs it compiled; then the pairs "
                                   "available on continuous-state tasks. "
                                   "docs/estimators.md derives them.")
    p.set_defaults(func=run)
    return p


def unbiased_text(est, baseline: str) -> str:
    """``yes`` / ``no`` / ``only with lam = 1`` / ``only with gamma = 1`` from the registry's rule, at the default
    hyperparameters and at each value ``pgexp check-estimator`` tests (the spec's ``check_values``), and at
    ``gamma = 1`` and below where the rule reads the discount."""
    from pgexp.runs.check import param_sets

    sets = param_sets(est)
    reads = est.unbiased_reads_gamma
    at = [bool(est.is_unbiased(baseline, p, 1.0 if reads else None)) for p in sets]
    only_gamma_one = reads and any(ok and not est.is_unbiased(baseline, p, 0.9) for p, ok in zip(sets, at))
    if not any(at):
        return "up to a positive scalar" if est.scale is not None else "no"
    default = est.defaults()
    conditions = [] if all(at) else [
        "; ".join(", ".join(f"{k} = {v:g}" for k, v in p.items() if v != default[k]) or "defaults"
                  for p, ok in zip(sets, at) if ok)]
    conditions += ["gamma = 1"] if only_gamma_one else []
    return "only with " + ", ".join(conditions) if conditions else "yes"


def rows(track: str = "tabular") -> list[tuple[str, str, str, str]]:
    """``(estimator, baseline, objectives, unbiased)`` for every meaningful pair on ``track``, registry order."""
    from pgexp.estimators import BASELINES, ESTIMATORS

    out = []
    for name, est in ESTIMATORS.items():
        if track not in est.tracks:
            continue
        objectives = ", ".join(est.objectives)
        for base in est.baselines:
            if track in BASELINES[base].tracks:
                out.append((name, base, objectives, unbiased_text(est, base)))
    return out


def run(args: argparse.Namespace) -> int:
    from pgexp.estimators import ESTIMATORS

    print("Tabular problems (exact gradient; [compiled]: pgexp train runs it in the compiled engine):")
    for name, est in ESTIMATORS.items():
        print(f"  {name}: {getattr(est, 'doc', '')}{'  [compiled]' if est.training_kernel else ''}")
    print()
    width = max(len(f"{e}~{b}") for e, b, _, _ in rows())
    print(f"  {'pair (--estimator~--baseline)':{width}s}  {'objectives':30s}  unbiased")
    for e, b, objectives, unbiased in rows():
        print(f"  {e + '~' + b:{max(width, 29)}s}  {objectives:30s}  {unbiased}")
    print("\nLinear-quadratic problems (lqr:...; a Gaussian policy, exact gradient):")
    for name in ESTIMATORS:
        pairs = [b for e, b, _, _ in rows("lqr") if e == name]
        if pairs:
            print(f"  {name}: baselines {', '.join(pairs)}")
    print("\nContinuous-state tasks (those pgexp envs lists as continuous: gym:CartPole-v1, gym:Pendulum-v1, ...; a "
          "Monte-Carlo reference):")
    for name in ESTIMATORS:
        pairs = [b for e, b, _, _ in rows("continuous") if e == name]
        if pairs:
            print(f"  {name}: baselines {', '.join(pairs)}")
    return 0
