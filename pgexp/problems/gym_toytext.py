"""Gymnasium toy-text problems read from their own transition tables.

``env.unwrapped.P[s][a]`` is a list of ``(prob, next_state, reward, terminated)``; the initial
distribution is ``env.unwrapped.initial_state_distrib``.  Nothing is re-typed.  A transition flagged
*terminated* pays its reward and then enters one extra absorbing zero-reward state (the last index),
so FrozenLake's holes and goal, or Taxi's drop-off, end the episode exactly as in Gymnasium.  That
state is internal (``num_internal = 1``): the problem exposes Gymnasium's states only, so tabular
features of FrozenLake 4x4 have 16 x 4 parameters and ``pgexp exact`` reports 16 states.
Rewards that depend on the next state are folded into their expectation ``r(s, a)`` (the objective
and its gradient depend on rewards only through that expectation).
Default ``gamma`` = 1 and horizon = the registered ``max_episode_steps`` (``inf`` when there is none).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec, check_value


def has_table(unwrapped: Any) -> bool:
    """Whether a Gymnasium env exposes its transition table (``P`` and ``initial_state_distrib``)."""
    return hasattr(unwrapped, "P") and hasattr(unwrapped, "initial_state_distrib")


def table_arrays(unwrapped: Any) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """``(P_csr, r, mu)`` from a toy-text env's table, with one absorbing state appended."""
    table = unwrapped.P
    S = len(table)
    A = len(table[0])
    absorbing = S
    rows, cols, vals = [], [], []
    r = np.zeros((S + 1, A))
    for s in range(S):
        for a in range(A):
            for prob, s2, reward, terminated in table[s][a]:
                rows.append(s * A + a)
                cols.append(absorbing if terminated else int(s2))
                vals.append(float(prob))
                r[s, a] += float(prob) * float(reward)
    for a in range(A):  # the absorbing state loops on itself
        rows.append(absorbing * A + a)
        cols.append(absorbing)
        vals.append(1.0)
    P = sp.csr_array((vals, (rows, cols)), shape=((S + 1) * A, S + 1))  # duplicates are summed
    mu = np.append(np.asarray(unwrapped.initial_state_distrib, dtype=np.float64), 0.0)
    return P, r, mu


def check_gym_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    """Refuse a keyword of another type than the task's constructor default (``is_slippery=maybe`` would reach
    Gymnasium as a truthy string, a slippery lake by accident), naming the key and what is allowed."""
    import inspect

    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    try:
        entry = gym.spec(env_id).entry_point
        creator = load_env_creator(entry) if isinstance(entry, str) else entry
        params = inspect.signature(creator).parameters  # type: ignore[arg-type]
    except Exception:  # an unknown id or an odd entry point: gym.make says what is wrong
        return
    for key, value in kwargs.items():
        if key in params and params[key].default is not inspect.Parameter.empty:
            check_value(f"--env gym:{env_id}", "", key, value, params[key].default)


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    try:
        import gymnasium as gym
    except ImportError as exc:  # pragma: no cover - gymnasium is a dependency
        raise UserError("--env gym: gymnasium is not installed (pip install gymnasium)") from exc
    kwargs = {k: v for k, v in o.items() if k not in {"gamma", "horizon"}}
    env_id = spec.target or ""
    check_gym_kwargs(env_id, kwargs)
    try:
        env = gym.make(env_id, **kwargs)
    except Exception as exc:  # gymnasium raises many types for unknown ids / bad kwargs
        raise UserError(f"--env gym:{env_id}: {str(exc).rstrip('.')}; allowed: a task pgexp envs lists (its toy-text "
                        "tasks with their keys, its continuous-state tasks)") from None
    unwrapped = env.unwrapped
    if not has_table(unwrapped):
        raise UserError(
            f"--env gym:{env_id}: not a toy-text environment with a transition table "
            "(needs env.unwrapped.P and initial_state_distrib; e.g. FrozenLake-v1, CliffWalking-v1, Taxi-v4)"
        )
    P, r, mu = table_arrays(unwrapped)
    S = r.shape[0] - 1
    labels = (*tuple(str(s) for s in range(S)), "terminal")
    mdp = make_mdp(P, r, mu, name=spec.canonical(), state_labels=labels, num_internal=1)
    max_steps = env.spec.max_episode_steps if env.spec is not None else None
    env.close()
    return apply_common(mdp, o, gamma=1.0, horizon=max_steps)
