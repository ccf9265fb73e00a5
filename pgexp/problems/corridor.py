"""Sutton & Barto (2018), Example 13.1: the short corridor with switched actions.

States 0, 1, 2 are non-terminal, 3 is terminal (absorbing).  Reward -1 per step.  In state 1 the
actions are switched.  Features are the book's and identical in every state:
``x(s, right) = [1, 0]``, ``x(s, left) = [0, 1]``, so the policy class is ``pi(right) = p`` everywhere
and the best it can do is ``p* = 2 - sqrt(2)`` with ``J = (2p - 4) / (p (1 - p))`` ~= -11.6.
Action 0 is *left*, action 1 is *right*.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec

LEFT, RIGHT = 0, 1


def corridor_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(P, r, mu, phi)`` of Example 13.1 with dense ``P`` of shape ``(4, 2, 4)``."""
    S, A = 4, 2
    P = np.zeros((S, A, S))
    moves = {  # (state, action) -> next state
        (0, LEFT): 0, (0, RIGHT): 1,
        (1, LEFT): 2, (1, RIGHT): 0,  # switched
        (2, LEFT): 1, (2, RIGHT): 3,
    }
    for (s, a), s2 in moves.items():
        P[s, a, s2] = 1.0
    P[3, :, 3] = 1.0
    r = np.full((S, A), -1.0)
    r[3] = 0.0
    mu = np.array([1.0, 0.0, 0.0, 0.0])
    phi = np.zeros((S, A, 2))
    phi[:, RIGHT] = [1.0, 0.0]
    phi[:, LEFT] = [0.0, 1.0]
    return P, r, mu, phi


def corridor_value(p: float | np.ndarray) -> float | np.ndarray:
    """The book's closed form ``v_pi(s0) = (2p - 4) / (p (1 - p))`` for ``p = pi(right)``."""
    return (2 * p - 4) / (p * (1 - p))


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    P, r, mu, phi = corridor_arrays()
    mdp = make_mdp(P, r, mu, phi=phi, name=spec.canonical(), state_labels=("s0", "s1 (switched)", "s2", "terminal"))
    return apply_common(mdp, o, gamma=1.0, horizon=None)
