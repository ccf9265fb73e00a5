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

**A cut episode completed by a bootstrap value** (``--truncate T --bootstrap``, :mod:`pgexp.estimators.practice`):
the last reward of an episode still running at ``L = T`` becomes ``r_{L-1} + gamma V_boot(s_L)``.  In a
family the extra reward term is an arrival charge at step ``L``: ``nu_L += gamma^L V_boot`` for the weights
that discount from the episode start (reinforce, reward_to_go, gae: ``c_{L-1}`` carries ``gamma^{L-1} r``)
and ``nu_L += gamma V_boot`` for the common variants (``c_{L-1}`` carries ``r``); ``beta`` then carries it
back to every earlier step.  (``V_boot`` is 0 in absorbing states: an episode absorbed at ``L`` ended.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.exact.catalogue import exact_spec
from pgexp.exact.model import ExactSetup

__all__ = ["WeightFamily", "advantage_exact", "direction", "direction_weights", "discounted_direction", "family",
           "gae", "gae_common", "reinforce", "return_family", "reward_to_go", "reward_to_go_common", "unit_direction"]


def __getattr__(name: str) -> Any:
    """``TRAJECTORY_ESTIMATORS`` (those with a weight family) and ``VALUE_ESTIMATORS`` (whose family reads a value
    table), derived from the registry when read (:mod:`pgexp.exact.catalogue`)."""
    from pgexp.exact import catalogue

    if name == "TRAJECTORY_ESTIMATORS":
        return catalogue.decomposable()
    if name == "VALUE_ESTIMATORS":
        return catalogue.VALUE_ESTIMATORS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
           values: np.ndarray | None = None, lam: float = 1.0, bootstrap: np.ndarray | None = None) -> WeightFamily:
    """The weight family of ``estimator``: the callable its exact spec declares
    (:attr:`pgexp.estimators.exact_spec.ExactSpec.family`; the built-ins' are below).

    Args:
        b0: reinforce's baseline ``b(s_0)``, ``(S,)`` (``None``: 0).
        b_steps: a state baseline ``b_h(s)`` for ``h < L``, ``(L, S)`` (reward_to_go / _common; ``None``: 0).
        values: the value table ``V_h(s)`` ``(L+1, S)`` of gae / gae_common (``None``: ``V = 0``).
        lam: GAE's lambda in ``[0, 1]``.
        bootstrap: ``V_boot(s)`` ``(S,)`` completing the return of an episode still running after ``L`` steps
            (module docstring; ``None``: nothing added).
    """
    spec = exact_spec(estimator)
    fam = spec.family_fn(estimator)(st, b0=b0, b_steps=b_steps, values=values, lam=lam)
    if bootstrap is None or spec.bootstrap == "none":  # the oracle advantage reads no rewards
        return fam
    scale = 1.0 if spec.bootstrap == "step" else st.gamma ** (st.L - 1)
    nu = fam.nu.copy()
    nu[st.L] += st.gamma * scale * np.where(st.absorbing, 0.0, np.asarray(bootstrap, dtype=np.float64))
    return WeightFamily(fam.p0, fam.kappa, fam.rho, fam.c, nu, fam.beta, fam.e)


# --------------------------------------------------------------------------- the built-ins' families
# Each: (st, *, b0, b_steps, values, lam) -> WeightFamily (the table in the module docstring); the arguments a
# family does not read are ignored.

def reinforce(st: ExactSetup, *, b0: np.ndarray | None = None, **_: object) -> WeightFamily:
    """``w_h = G_0 - b(s_0)``."""
    zS, zE, zN = _zeros(st)
    r = st.mdp.r[None, :, :]
    disc = st.disc[:, None, None]
    p0 = zS if b0 is None else -np.asarray(b0, dtype=np.float64)
    return WeightFamily(p0, 1.0, disc * r, disc * r, zN, 1.0, zE)


def reward_to_go(st: ExactSetup, *, b_steps: np.ndarray | None = None, **_: object) -> WeightFamily:
    """``w_h = G_h - gamma^h b_h(s_h)``."""
    zS, zE, zN = _zeros(st)
    r = st.mdp.r[None, :, :]
    disc = st.disc[:, None, None]
    e = zE if b_steps is None else np.broadcast_to(-disc * b_steps[:, :, None], zE.shape).copy()
    return WeightFamily(zS, 0.0, zE, np.broadcast_to(disc * r, zE.shape).copy(), zN, 1.0, e)


def reward_to_go_common(st: ExactSetup, *, b_steps: np.ndarray | None = None, **_: object) -> WeightFamily:
    """``w_h = R_h - b_h(s_h)`` (no ``gamma^h``)."""
    zS, zE, zN = _zeros(st)
    r = st.mdp.r[None, :, :]
    e = zE if b_steps is None else np.broadcast_to(-b_steps[:, :, None], zE.shape).copy()
    return WeightFamily(zS, 0.0, zE, np.broadcast_to(r, zE.shape).copy(), zN, st.gamma, e)


def advantage_exact(st: ExactSetup, **_: object) -> WeightFamily:
    """``w_h = gamma^h A_h(s_h, a_h)``, the oracle advantage."""
    zS, zE, zN = _zeros(st)
    return WeightFamily(zS, 0.0, zE, zE, zN, 0.0, st.disc[:, None, None] * st.advantage_steps)


def _gae_parts(st: ExactSetup, values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(V, r - V_h(s), nu)``: the value table (``None``: 0), delta without its successor, a zero arrival term."""
    V = np.zeros((st.L + 1, st.num_states)) if values is None else values
    step = st.mdp.r[None, :, :] - V[:-1, :, None]
    return V, step, np.zeros_like(V)


def gae(st: ExactSetup, *, values: np.ndarray | None = None, lam: float = 1.0, **_: object) -> WeightFamily:
    """``w_h = gamma^h Â_h`` (GAE(lambda) with the value table ``values``)."""
    zS, zE, _zN = _zeros(st)
    V, step, nu = _gae_parts(st, values)
    nu[1:] = st.gamma * st.disc[:, None] * V[1:]            # gamma^{h+1} V_{h+1}(s')
    return WeightFamily(zS, 0.0, zE, st.disc[:, None, None] * step, nu, float(lam), zE)


def gae_common(st: ExactSetup, *, values: np.ndarray | None = None, lam: float = 1.0, **_: object) -> WeightFamily:
    """``w_h = Â_h`` (no ``gamma^h``)."""
    zS, zE, _zN = _zeros(st)
    V, step, nu = _gae_parts(st, values)
    nu[1:] = st.gamma * V[1:]
    return WeightFamily(zS, 0.0, zE, np.broadcast_to(step, zE.shape).copy(), nu, st.gamma * float(lam), zE)


def unit_direction(st: ExactSetup) -> np.ndarray:
    """``c_h = 1`` ``(L,)``: what a constant baseline multiplies in reinforce."""
    return np.ones(st.L)


def discounted_direction(st: ExactSetup) -> np.ndarray:
    """``c_h = gamma^h`` ``(L,)``: what a constant baseline multiplies in reward_to_go."""
    return st.disc.copy()


def direction_weights(st: ExactSetup, estimator: str) -> np.ndarray:
    """``c_h``, ``(L,)``: what a constant baseline multiplies (1 for reinforce, ``gamma^h`` for reward_to_go): the
    exact spec's ``direction``."""
    return np.asarray(exact_spec(estimator).direction_fn(estimator)(st), dtype=np.float64)


def direction(st: ExactSetup, estimator: str) -> WeightFamily:
    """``v = sum_h c_h sigma_h`` as a family (only a present term)."""
    zS, zE, zN = _zeros(st)
    ch = direction_weights(st, estimator)
    return WeightFamily(zS, 0.0, zE, zE, zN, 0.0, np.broadcast_to(ch[:, None, None], zE.shape).copy())


def return_family(st: ExactSetup) -> WeightFamily:
    """``w_h = G_h`` (reward_to_go without baseline): its backward moments give ``E[G_0]`` and ``E[G_0^2]``."""
    return family(st, "reward_to_go")
