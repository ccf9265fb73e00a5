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


def latest_versions(ids: list[str]) -> list[str]:
    """The newest version of each task name (``CartPole-v0``, ``CartPole-v1`` -> ``CartPole-v1``)."""
    best: dict[str, tuple[int, str]] = {}
    for env_id in ids:
        name, _, version = env_id.rpartition("-v")
        v = int(version) if version.isdigit() else -1
        if name not in best or v > best[name][0]:
            best[name] = (v, env_id)
    return sorted(env_id for _, env_id in best.values())


MUJOCO = ("InvertedPendulum-v5", "Hopper-v5")  # the mujoco package is a dependency; these are tested


def gym_families() -> dict[str, list[str]]:
    """``{"tabular": [...], "continuous": [...]}``: Gymnasium's registered tasks that pgexp can build.

    Gymnasium's own toy-text and classic-control packages are tried, and the MuJoCo tasks pgexp tests
    (:data:`MUJOCO`; other packages need optional simulators); a task is tabular when it exposes its transition
    table, continuous when :func:`pgexp.problems.continuous.gym_task` accepts it.
    """
    import warnings

    import gymnasium as gym

    from pgexp.errors import UserError
    from pgexp.problems.continuous import gym_task
    from pgexp.problems.gym_toytext import has_table

    tabular, continuous = [], []
    ids = [k for k, spec in gym.envs.registry.items() if isinstance(spec.entry_point, str)
           and spec.entry_point.startswith(("gymnasium.envs.toy_text", "gymnasium.envs.classic_control"))]
    for env_id in [*latest_versions(ids), *MUJOCO]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(env_id)
            table = has_table(env.unwrapped)
            env.close()
            if table:
                tabular.append(env_id)
                continue
            try:
                gym_task(f"gym:{env_id}")
            except UserError:
                continue
            continuous.append(env_id)
    return {"tabular": tabular, "continuous": continuous}


def run(args: argparse.Namespace) -> int:
    from pgexp.problems import REGISTRY

    print("Problems (--env NAME or NAME:key=value,...; every problem also takes gamma and horizon):")
    for name, entry in sorted(REGISTRY.items()):
        keys = ", ".join(f"{k}={v}" for k, v in entry.defaults.items()) or "-"
        print(f"  {name:16s} {entry.doc}\n  {'':16s} keys: {keys}")
    families = gym_families()
    print("\nGymnasium tasks (from Gymnasium's registry):")
    print("  tabular, exact gradients (--env gym:ID[:kwarg=value,...], e.g. gym:FrozenLake-v1:map_name=4x4):")
    print("    " + ", ".join(families["tabular"]))
    print("  continuous states, Monte-Carlo reference (--env gym:ID --policy mlp:hidden=32,seed=0; Box actions: a "
          "Gaussian policy, --policy-std, --learn-std):")
    print("    " + ", ".join(families["continuous"]))
    return 0
