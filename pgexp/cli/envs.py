"""``pgexp envs``: the problems, their spec keys, and the Gymnasium tasks each family accepts."""

from __future__ import annotations

import argparse

EXAMPLE = "pgexp envs"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("envs", help="list the problems, their spec keys and the Gymnasium tasks pgexp accepts",
                       description="List every problem of the registry with its spec keys and defaults, then the "
                                   "Gymnasium tasks each family accepts, read from Gymnasium's own registry: tabular "
                                   "toy-text tasks (a transition table: exact gradients) and continuous-state tasks "
                                   "(flat Box observations, Discrete actions, a time limit: --policy mlp, a "
                                   "Monte-Carlo reference).")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.problems import REGISTRY

    print("Problems (--env NAME or NAME:key=value,...; every problem also takes gamma and horizon):")
    for name, entry in sorted(REGISTRY.items()):
        keys = ", ".join(f"{k}={v}" for k, v in entry.defaults.items()) or "-"
        print(f"  {name:16s} {entry.doc}\n  {'':16s} keys: {keys}")
    from pgexp.problems.continuous import gym_families

    families = gym_families()
    print("\nGymnasium tasks (from Gymnasium's registry):")
    print("  tabular, exact gradients (--env gym:ID[:kwarg=value,...], e.g. gym:FrozenLake-v1:map_name=4x4):")
    print("    " + ", ".join(families["tabular"]))
    print("  continuous states, Monte-Carlo reference (--env gym:ID --policy mlp:hidden=32,seed=0; Box actions: a "
          "Gaussian policy, --policy-std, --learn-std):")
    print("    " + ", ".join(families["continuous"]))
    return 0
