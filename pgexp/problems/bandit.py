"""A multi-armed bandit as a one-step episodic MDP: ``bandit:rewards=1;0.7;0``.

State 0 is the decision state, state 1 is absorbing; every arm ``a`` moves to it with reward
``rewards[a]`` (deterministic), so an episode is one pull and ``J = sum_a pi(a) r_a``.  Arms are
separated by ``;`` (``,`` separates spec keys).  Default ``gamma = 1``, ``H = inf`` (episodic).  With
tabular features the policy of the decision state is a softmax over one logit per arm, as in Chung,
Thomas, Machado & Le Roux (ICML 2021); the absorbing state's logits never matter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.problems.mdp import FiniteMDP, make_mdp
from pgexp.problems.registry import apply_common
from pgexp.specs import Spec

DECISION, TERMINAL = 0, 1


def parse_rewards(value: Any) -> np.ndarray:
    """``"1;0.7;0"`` -> ``array([1.0, 0.7, 0.0])``: at least two finite numbers."""
    try:
        rewards = np.array([float(x) for x in str(value).split(";")], dtype=np.float64)
    except ValueError:
        rewards = np.array([])
    if rewards.size < 2 or not np.all(np.isfinite(rewards)):
        raise UserError(f"--env bandit: rewards={value!r}; allowed: two or more numbers separated by ';', e.g. 1;0.7;0")
    return rewards


def bandit_arrays(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(P, r, mu)`` with dense ``P`` of shape ``(2, A, 2)``."""
    A = rewards.size
    P = np.zeros((2, A, 2))
    P[:, :, TERMINAL] = 1.0
    r = np.zeros((2, A))
    r[DECISION] = rewards
    mu = np.array([1.0, 0.0])
    return P, r, mu


def build(o: dict[str, Any], spec: Spec) -> FiniteMDP:
    P, r, mu = bandit_arrays(parse_rewards(o["rewards"]))
    mdp = make_mdp(P, r, mu, name=spec.canonical(), state_labels=("decision", "terminal"))
    return apply_common(mdp, o, gamma=1.0, horizon=None)
