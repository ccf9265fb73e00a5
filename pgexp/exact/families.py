"""Every trajectory estimator of pgexp as one *weight family*, the form the moment recursion works on.

A trajectory estimator is ``g = sum_{h<len} sigma_h w_h`` with ``sigma_h = grad log pi(a_h|s_h)`` and a
scalar step weight ``w_h``.  Every weight used here splits into a part known before ``a_h`` (the
past), a backward-recursive future part, and a present term:

    w_h = Pi_h + F_h + e_h(s_h, a_h)
    Pi_0 = p0(s_0),               Pi_{h+1} = Pi_h + kappa rho_h(s_h, a_h)
    F_h = c_h(s_h, a_h) + nu_{h+1}(s_{h+1}) + beta F_{h+1},     F = 0 once the episode is over

(``nu_{h+1}`` is charged on *arrival* in ``s_{h+1}``, including the state the episode stops in).
With ``G_h = sum_{t>=h} gamma^t r_t``, ``R_h = sum_{t>=h} gamma^(t-h) r_t`` and the value table ``V_h``
of the baseline (0 in absorbing states; see :mod:`pgexp.exact.model` for ``V_L``):

==================== ======================= ============================================================
estimator            weight ``w_h``           family
==================== ======================= ============================================================
reinforce            ``G_0 - b(s_0)``         ``p0 = -b``, ``kappa = 1``, ``rho = c = gamma^h r``, ``beta = 1``
reward_to_go         ``G_h - gamma^h b_h``    ``c = gamma^h r``, ``beta = 1``, ``e = -gamma^h b_h(s)``
advantage_exact      ``gamma^h A_h(s, a)``    ``e = gamma^h A_h``
gae (lambda)         ``gamma^h Â_h``          ``c = gamma^h (r - V_h(s))``, ``nu_{h+1} = gamma^{h+1} V_{h+1}``,
                                              ``beta = lambda``
reward_to_go_common  ``R_h - b_h(s_h)``       ``c = r``, ``beta = gamma``, ``e = -b_h(s)``
gae_common (lambda)  ``Â_h``                  ``c = r - V_h(s)``, ``nu_{h+1} = gamma V_{h+1}``,
                                              ``beta = gamma lambda``
direction ``v``      ``c_h``                  ``e = c_h`` (1 for reinforce, ``gamma^h`` for reward_to_go)
==================== ======================= ============================================================

GAE: ``Â_h = sum_{l>=0} (gamma lambda)^l delta_{h+l}``, ``delta_t = r_t + gamma V_{t+1}(s_{t+1}) - V_t(s_t)``,
so ``gamma^h Â_h = sum_{t>=h} lambda^(t-h) gamma^t delta_t``: the recursion ``F_h = gamma^h delta_h +
lambda F_{h+1}`` above.  At ``lambda = 1`` the sum telescopes to ``G_h - gamma^h V_h(s_h) +
gamma^len V_len(s_len)``, and the last term is 0 at a finite horizon (``V_H = 0``) and at absorption:
GAE(1) with ``V`` is reward-to-go with the baseline ``V``.

``direction`` is what a constant baseline multiplies: ``g = u - b v`` (:mod:`pgexp.exact.batch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgexp.exact.catalogue import VALUE_ESTIMATORS
from pgexp.exact.model import ExactSetup

TRAJECTORY_ESTIMATORS = ("reinforce", "reward_to_go", "advantage_exact", "gae", "reward_to_go_common", "gae_common")
__all__ = ["TRAJECTORY_ESTIMATORS", "VALUE_ESTIMATORS", "WeightFamily", "direction", "direction_weights", "family",
           "return_family"]


@dataclass(frozen=True, eq=False)
class WeightFamily:
    """``w_h = Pi_h + F_h + e_h(s_h, a_h)`` (module docstring); ``L`` steps, ``S`` states, ``A`` actions.

    Attributes:
        p0: ``(S,)`` ``Pi_0(s_0)``.
        kappa: scale of the past increments.
        rho: ``(L, S, A)`` past increments ``rho_h(s, a)``.
        c: ``(L, S, A)`` the future part's step term.
        nu: ``(L+1, S)`` the future part's arrival term (row ``h+1`` on arrival at step ``h+1``; row 0 unused).
        beta: the future part's decay.
        e: ``(L, S, A)`` present term.
    """

    p0: np.ndarray
    kappa: float
    rho: np.ndarray
    c: np.ndarray
    nu: np.ndarray
    beta: float
    e: np.ndarray

    @property
    def has_past(self) -> bool:
        return bool(self.kappa != 0.0 or np.any(self.p0 != 0.0))


def _zeros(st: ExactSetup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    S, A = st.num_states, st.num_actions
    return np.zeros(S), np.zeros((st.L, S, A)), np.zeros((st.L + 1, S))


def family(st: ExactSetup, estimator: str, *, b0: np.ndarray | None = None, b_steps: np.ndarray | None = None,
           values: np.ndarray | None = None, lam: float = 1.0) -> WeightFamily:
    """The weight family of ``estimator`` (one of :data:`TRAJECTORY_ESTIMATORS`).

    Args:
        b0: reinforce's baseline ``b(s_0)``, ``(S,)`` (``None``: 0).
        b_steps: a state baseline ``b_h(s)`` for ``h < L``, ``(L, S)`` (reward_to_go / _common; ``None``: 0).
        values: the value table ``V_h(s)`` ``(L+1, S)`` of gae / gae_common (``None``: ``V = 0``).
        lam: GAE's lambda in ``[0, 1]``.
    """
    zS, zE, zN = _zeros(st)
    r = st.mdp.r[None, :, :]
    disc = st.disc[:, None, None]
    if estimator == "reinforce":
        p0 = zS if b0 is None else -np.asarray(b0, dtype=np.float64)
        return WeightFamily(p0, 1.0, disc * r, disc * r, zN, 1.0, zE)
    if estimator == "reward_to_go":
        e = zE if b_steps is None else np.broadcast_to(-disc * b_steps[:, :, None], zE.shape).copy()
        return WeightFamily(zS, 0.0, zE, np.broadcast_to(disc * r, zE.shape).copy(), zN, 1.0, e)
    if estimator == "reward_to_go_common":
        e = zE if b_steps is None else np.broadcast_to(-b_steps[:, :, None], zE.shape).copy()
        return WeightFamily(zS, 0.0, zE, np.broadcast_to(r, zE.shape).copy(), zN, st.gamma, e)
    if estimator == "advantage_exact":
        return WeightFamily(zS, 0.0, zE, zE, zN, 0.0, disc * st.advantage_steps)
    if estimator in VALUE_ESTIMATORS:
        V = np.zeros((st.L + 1, st.num_states)) if values is None else values
        step = r - V[:-1, :, None]                                   # r - V_h(s): delta without its successor
        nu = np.zeros_like(V)
        if estimator == "gae":
            nu[1:] = st.gamma * st.disc[:, None] * V[1:]            # gamma^{h+1} V_{h+1}(s')
            return WeightFamily(zS, 0.0, zE, disc * step, nu, float(lam), zE)
        nu[1:] = st.gamma * V[1:]
        return WeightFamily(zS, 0.0, zE, np.broadcast_to(step, zE.shape).copy(), nu, st.gamma * float(lam), zE)
    raise AssertionError(estimator)


def direction_weights(st: ExactSetup, estimator: str) -> np.ndarray:
    """``c_h``, ``(L,)``: what a constant baseline multiplies (1 for reinforce, ``gamma^h`` for reward_to_go)."""
    return np.ones(st.L) if estimator == "reinforce" else st.disc.copy()


def direction(st: ExactSetup, estimator: str) -> WeightFamily:
    """``v = sum_h c_h sigma_h`` as a family (only a present term)."""
    zS, zE, zN = _zeros(st)
    ch = direction_weights(st, estimator)
    return WeightFamily(zS, 0.0, zE, zE, zN, 0.0, np.broadcast_to(ch[:, None, None], zE.shape).copy())


def return_family(st: ExactSetup) -> WeightFamily:
    """``w_h = G_h`` (reward_to_go without baseline): its backward moments give ``E[G_0]`` and ``E[G_0^2]``."""
    return family(st, "reward_to_go")
