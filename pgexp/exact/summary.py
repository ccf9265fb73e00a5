"""The JSON object ``pgexp exact`` prints: every exact quantity of a problem at ``theta``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pgexp.exact import values as exact
from pgexp.problems.problem import Problem


def exact_summary(problem: Problem, *, full: bool = False) -> dict[str, Any]:
    """``J``, ``grad``, ``J_star``, ``V``, ``Q``, ``A``, ``pi``, ``d`` and the problem's shape.

    For the finite objective ``V``/``Q``/``A`` are the ``h = 0`` values; with ``full`` the time-indexed
    ``V_steps`` ``(H+1, S)``, ``Q_steps`` ``(H, S, A)`` and ``state_dist`` ``(H, S)`` are added.

    Only the problem's own states are reported (``S = mdp.num_exposed``; an internal absorbing state is
    dropped): ``d`` is the occupancy of the states where actions are taken, renormalised over them.
    """
    mdp, policy, theta = problem.mdp, problem.policy, problem.theta
    J, grad, ev = exact.gradient(mdp, policy, theta)
    opt = exact.optimal(mdp)
    S = mdp.num_exposed
    d = ev.occupancy[:S]
    if mdp.num_internal and d.sum() > 0:  # the occupancy of the states where actions are taken
        d = d / d.sum()
    out: dict[str, Any] = {
        "env": mdp.name or problem.env_spec,
        "objective": ev.objective,
        "gamma": mdp.gamma,
        "horizon": mdp.horizon,  # null = infinite
        "num_states": S,
        "num_actions": mdp.num_actions,
        "features": problem.features_spec,
        "policy": problem.policy_spec,
        "dim": policy.dim,
        "theta": theta,
        "J": J,
        "J_star": opt.J_star,
        "grad": grad,
        "grad_norm": float(np.linalg.norm(grad)),
        "pi": ev.pi[:S],
        "V": ev.V[:S],
        "Q": ev.Q[:S],
        "A": ev.A[:S],
        "d": d,
        "V_star": opt.V_star[:S],
        "optimal_actions": opt.policy[:S],
        "J_star_method": opt.method,
    }
    if mdp.state_labels is not None:
        out["state_labels"] = list(mdp.state_labels[:S])
    if full and ev.V_steps is not None:
        H = int(mdp.horizon)  # type: ignore[arg-type]
        out["V_steps"] = ev.V_steps[:, :S]
        out["Q_steps"] = np.stack([ev.Q_step(mdp, h)[:S] for h in range(H)])
        out["state_dist"] = None if ev.state_dist is None else ev.state_dist[:, :S]
    return out
