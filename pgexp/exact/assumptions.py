"""Whether the lecture's ``E||g - grad J||^2 ~ H^3`` argument applies to a problem at its horizon.

Kept apart from the analysis code (and its scipy.stats import): ``pgexp exact-curves`` writes these columns beside
the exact curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ASSUMPTION_COLUMNS = ("rewards_same_sign", "discount_one", "p_end_before_h", "h3_assumptions_hold")


def horizon_assumptions(problem: Any) -> dict[str, Any]:
    """Whether the assumptions of the lecture's ``E||g - grad J||^2 ~ H^3`` hold for a problem at its horizon.

    The argument: REINFORCE's estimate is ``(sum_h score_h) G_0``; the score sum has variance growing
    like ``H``, and ``G_0^2`` like ``H^2`` when every step adds a reward of the same sign without
    discounting, for ``H`` steps.  So the claim assumes

    * ``rewards_same_sign``: the rewards the policy can collect (non-absorbing states reachable from the
      start within ``H`` steps, every action -- a softmax policy takes each with positive probability)
      are all ``>= 0`` or all ``<= 0``, and not all zero;
    * ``discount_one``: ``gamma = 1``;
    * ``p_end_before_h``: the probability that the episode ends (enters an absorbing state) before step
      ``H`` is 0 -- computed exactly by pushing the start distribution through ``P_pi``.

    ``h3_assumptions_hold`` is the conjunction (with ``p_end_before_h < 1e-12``).  Infinite horizons
    (``H = inf``) give ``NaN``/``False``: the claim is about a growing finite ``H``.
    """
    from pgexp.exact.values import policy_transition

    if getattr(problem, "track", "tabular") == "lqr":  # rewards -(x'Qx + u'Ru) <= 0; nothing ends before H
        nonzero = bool(problem.system.Q.any() or problem.system.R.any())
        one = bool(problem.gamma == 1.0)
        finite = problem.horizon is not None
        return {"rewards_same_sign": finite and nonzero, "discount_one": one,
                "p_end_before_h": 0.0 if finite else float("nan"), "h3_assumptions_hold": finite and nonzero and one}
    mdp = problem.mdp
    H = mdp.horizon
    out: dict[str, Any] = {"rewards_same_sign": False, "discount_one": bool(mdp.gamma == 1.0),
                           "p_end_before_h": float("nan"), "h3_assumptions_hold": False}
    if H is None:
        return out
    pi = problem.policy.probs(problem.theta)
    P_pi = policy_transition(mdp, pi)
    absorbing = mdp.absorbing_states()
    p = np.asarray(mdp.mu, dtype=np.float64)
    reach = p > 0
    for _ in range(int(H) - 1):   # states visited at steps 0 .. H-1 (actions are taken there)
        p = P_pi.T @ p
        reach |= p > 0
    p_end = float(p[absorbing].sum()) if int(H) > 1 else float(np.asarray(mdp.mu)[absorbing].sum())
    r = mdp.r[reach & ~absorbing]
    same = bool(r.size and (np.all(r >= 0) or np.all(r <= 0)) and np.any(r != 0))
    out.update(rewards_same_sign=same, p_end_before_h=p_end)
    out["h3_assumptions_hold"] = bool(same and out["discount_one"] and p_end < 1e-12)
    return out


__all__ = ["ASSUMPTION_COLUMNS", "horizon_assumptions"]
