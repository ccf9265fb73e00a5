r"""Exact moments of action-dependent estimators on scalar linear-quadratic problems, and Tucker et al.'s per-step
decomposition there.

**The estimators** (:mod:`pgexp.estimators.action_dependent`).  The critic is the exact ``Q_t(x, u) = -(Qxx x^2 + 2
Qxu x u + Quu u^2 + q_t)`` (:func:`pgexp.exact.lqr.q_function`); Q-Prop's control variate is linear in the action:
``b_t(x, u) = V_t(x) + g_t(x) (u - mu)``, ``mu = -K x``, ``g = -2 (Qxu x + Quu mu)`` (the slope at ``mu``).  Per step,
with ``c_t = gamma^t`` and the score ``s_t`` (:mod:`pgexp.policies.gaussian`)::

    reward_to_go~q_exact:   g_t = s_t c_t (R_t - b_t(x_t, u_t)) + c_t k(x_t),        k = [-x g(x), 0]
    gae~q_exact:            g_t = s_t c_t (Â_t - b_t + V_t(x_t)) + c_t k(x_t)         (Â of the exact V)
    all_action~q_exact:     g_t = c_t k̄(x_t),                                         k̄ = [-x g(x), -2 sigma^2 Quu]

(``k`` is ``J_mu' g`` with ``d mu / d K = -x``, and the ``log sigma`` entry is there with ``--learn-std``; ``k̄`` is the
critic's full ``grad E_u Q``, since ``E_u Q = f - sigma^2 Quu``).

**The recursion** is :mod:`pgexp.exact.lqr_moments`' tail family (``g_t = s (alpha + beta T') + g'`` with tails ``T_t =
rho + eta T'``) with one more, additive, term ``k_t(x)`` per step -- a function of the state alone.  With ``g_t =
s (alpha + beta T') + k + g'`` the channels ``g1 = E[g | x]``, ``gT = E[g T | x]``, ``gg = E[g g' | x]`` become::

    g1 = E_t[s (alpha + beta m1') + k + g1'],
    gT = E_t[s (alpha rho + (alpha eta + beta rho) m1' + beta eta m2') + k (rho + eta m1') + rho g1' + eta gT'],
    gg = E_t[s s' (alpha^2 + 2 alpha beta m1' + beta^2 m2') + s (x) (alpha g1' + beta gT') + (..)'
             + k k' + k (x) (s (alpha + beta m1') + g1') + (..)' + gg'],

``alpha = zeta + c rho`` with ``zeta = -c b`` (reward-to-go) or ``-c (b - V)`` (GAE, whose ``rho`` is the TD error).
Every channel stays a polynomial of degree ``<= 6`` in ``x`` (``k`` is quadratic), so the Chebyshev interpolation and
the Gauss-Hermite quadrature of :mod:`pgexp.exact.lqr_moments` stay exact.

**Tucker et al.'s terms** (:mod:`pgexp.exact.tucker` defines them).  Step ``t``'s term is ``g_t = s w_t + k_t(x_t)``
with ``w_t = zeta + c T_t`` given ``(x_t, u_t)`` up to the future's noise: ``E[w | x, u] = zeta + c E_z[rho + eta
m1(x')]`` and ``E[w^2 | x, u]`` from ``E[T^2 | x, u] = E_z[rho^2 + 2 rho eta m1' + eta^2 m2']`` (``z`` the process
noise).  Then ``Sigma_tau = E_{x,u}[s s' Var(w | x, u)]``, ``Sigma_a = E_x[Cov_u(s E[w | x, u])]``, ``Sigma_s =
Cov_x(E_u[s E[w|x, u]] + k(x))``, with ``x_t ~ N(0, Sigma_t)`` (the state's exact second moment at ``t``) --
polynomials again, integrated exactly by the same quadrature.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import lqr as exact_lqr
from pgexp.exact.lqr_moments import NODES, Grid, Moments, expect, finish, make_step, outer, scalar_moments

SUPPORTED = {"reward_to_go": ("none", "value_exact", "q_exact"), "gae": ("none", "value_exact", "q_exact"),
             "all_action": ("q_exact",)}
ACTION_PAIRS = {"reward_to_go": ("q_exact",), "gae": ("q_exact",), "all_action": ("q_exact",)}
TERMS = ("sigma_tau", "sigma_a", "sigma_s")


def covers(estimator: str, baseline: str) -> bool:
    """Whether this module computes the pair's moments (the action-dependent ones and all_action)."""
    return baseline in ACTION_PAIRS.get(estimator, ()) or estimator == "all_action"


def check_pair(estimator: str, baseline: str, problem: Any, tucker: bool = False) -> None:
    table = SUPPORTED if tucker else ACTION_PAIRS
    if baseline not in table.get(estimator, ()):
        pairs = ", ".join(f"{e}~{b}" for e, bs in table.items() for b in bs)
        raise UserError(f"exact {'decomposition' if tucker else 'variance'} on a linear-quadratic problem: "
                        f"{estimator}~{baseline} not covered; allowed: {pairs}")
    if not problem.system.scalar:
        what = "decomposition" if tucker else "variance"
        raise UserError(f"exact {what} of {estimator}~{baseline}: the recursion covers scalar systems (n = m = 1); "
                        f"this one has n = {problem.system.n}, m = {problem.system.m}")


class _Step:
    """One step's quantities on the grid ``(x node, eps, z)`` for a pair: ``zeta``, ``rho``, ``eta``, ``c``, the
    correction ``k (P, 1, 1, d)`` and the score ``s``."""

    def __init__(self, problem: Any, ev: exact_lqr.LQRExact, grid: Grid, estimator: str, baseline: str, lam: float):
        self.problem, self.ev, self.grid, self.estimator, self.baseline = problem, ev, grid, estimator, baseline
        self.lam, self.gamma = float(lam), float(problem.gamma)
        self.st = make_step(problem, ev, grid)
        self.qf = exact_lqr.q_function(problem, ev)
        self.learn = bool(problem.policy.learn_std)
        rows = ev.P.shape[0]
        self.P = lambda t: float(ev.P[min(t, rows - 1), 0, 0])
        self.c_v = lambda t: float(ev.c[min(t, rows - 1)])

    @property
    def eta(self) -> float:
        if self.estimator == "gae":
            return self.gamma * self.lam
        return 0.0 if self.estimator == "all_action" else self.gamma

    def V(self, x: np.ndarray, t: int) -> np.ndarray:
        return -(self.P(t) * x * x + self.c_v(t))

    def at(self, t: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """``(zeta, rho, c, k)`` of step ``t`` on the grid (``k``: ``(P, G, G, d)``)."""
        st, g = self.st, self.gamma
        x, e = st.x, st.e
        c = g ** t
        d = st.s.shape[-1]
        rows = self.qf.Qxx.shape[0]
        i = min(t, rows - 1)
        Qxu, Quu = float(self.qf.Qxu[i, 0, 0]), float(self.qf.Quu[i, 0, 0])
        k_gain = float(self.ev.K[0, 0])
        sigma = self.ev.sigma
        mu = -k_gain * x
        grad = -2.0 * (Qxu * x + Quu * mu)                                      # d Q / d u at mu
        k = np.zeros((*x.shape, d))
        action = self.baseline == "q_exact"
        if action:
            k[..., 0] = -x * grad * c
            if self.estimator == "all_action" and self.learn:
                k[..., 1] = -2.0 * sigma * sigma * Quu * c
        V_now = self.V(x, t)
        if self.estimator == "gae":
            V_next = self.V(st.x1, t + 1) if self.baseline != "none" else 0.0 * st.x1
            V_here = V_now if self.baseline != "none" else 0.0 * x
            rho = st.r + g * V_next - V_here
            zeta = -c * grad * sigma * e if action else 0.0 * rho
            return zeta, rho, c, k
        if self.estimator == "all_action":
            return 0.0 * st.r, 0.0 * st.r, 0.0, k
        rho = st.r
        if action:
            zeta = -c * (V_now + grad * sigma * e)
        elif self.baseline == "value_exact":
            zeta = -c * V_now * np.ones_like(rho)
        else:
            zeta = 0.0 * rho
        return zeta, rho, c, k


def _channels(step: _Step, steps: int, keep: bool = False):
    """The backward recursion (module docstring): channels at ``t = 0`` and, with ``keep``, ``m1, m2`` of every step's
    successor (``[t] -> channels at t + 1``, as Chebyshev coefficients)."""
    grid, st = step.grid, step.st
    d = st.s.shape[-1]
    s = st.s
    ss = outer(s, s)
    eta = step.eta
    ch: dict[str, np.ndarray] = {"m1": np.zeros(NODES), "m2": np.zeros(NODES), "g1": np.zeros((NODES, d)),
                                 "gT": np.zeros((NODES, d)), "gg": np.zeros((NODES, d, d))}
    kept: list[dict[str, np.ndarray]] = [{}] * steps
    for t in range(steps - 1, -1, -1):
        if keep:
            kept[t] = {"m1": ch["m1"], "m2": ch["m2"]}
        zeta, rho, c, k = step.at(t)
        alpha, beta = zeta + c * rho, c * eta
        nxt = grid.evaluate_all(ch, st.x1)
        m1, m2, g1, gT, gg = nxt["m1"], nxt["m2"], nxt["g1"], nxt["gT"], nxt["gg"]
        a_, r_ = alpha[..., None], rho[..., None]
        inner = a_ * g1 + beta * gT
        lead = s * (a_ + beta * m1[..., None]) + g1
        new = {
            "m1": rho + eta * m1,
            "m2": rho * rho + 2 * rho * eta * m1 + eta * eta * m2,
            "g1": s * (a_ + beta * m1[..., None]) + k + g1,
            "gT": s * (a_ * r_ + (a_ * eta + beta * r_) * m1[..., None] + beta * eta * m2[..., None])
            + k * (r_ + eta * m1[..., None]) + r_ * g1 + eta * gT,
            "gg": ss * (alpha * alpha + 2 * alpha * beta * m1 + beta * beta * m2)[..., None, None] + outer(s, inner)
            + outer(inner, s) + outer(k, k) + outer(k, lead) + outer(lead, k) + gg,
        }
        ch = {key: grid.fit(expect(st.weights, v)) for key, v in new.items()}
    return ch, kept


def scalar_action_moments(problem: Any, estimator: str, baseline: str = "q_exact", lam: float = 0.95) -> Moments:
    """Exact moments of one trajectory's estimate for an action-dependent pair on a scalar system."""
    check_pair(estimator, baseline, problem)
    ev = exact_lqr.evaluate(problem)
    steps = exact_lqr.simulation_steps(problem)
    grid = Grid(problem, ev, steps)
    ch, _ = _channels(_Step(problem, ev, grid, estimator, baseline, lam), steps)
    x0 = math.sqrt(float(problem.system.Sigma0[0, 0])) * grid.z
    w = grid.w
    mean = np.einsum("i,id->d", w, grid.evaluate(ch["g1"], x0))
    second = np.einsum("i,ide->de", w, grid.evaluate(ch["gg"], x0))
    return finish(mean, second, ev.grad, 0.0, baseline)


def trajectory_moments(problem: Any, estimator: str, baseline: str = "q_exact", *, lam: float = 0.95) -> Moments:
    """The pair's exact moments: the action-dependent recursion, or :mod:`pgexp.exact.lqr_moments` for a state
    baseline."""
    if covers(estimator, baseline):
        return scalar_action_moments(problem, estimator, baseline, lam)
    return scalar_moments(problem, estimator, baseline, lam)


def state_moment_steps(problem: Any, ev: exact_lqr.LQRExact, steps: int) -> np.ndarray:
    """``E x_t^2`` for ``t < steps`` (covariance propagation; the discounted run's own steps)."""
    sys = problem.system
    F = float(sys.A[0, 0] - sys.B[0, 0] * ev.K[0, 0])
    Wc = float(sys.W[0, 0]) + ev.sigma ** 2 * float(sys.B[0, 0]) ** 2
    out, S = np.zeros(steps), float(sys.Sigma0[0, 0])
    for t in range(steps):
        out[t] = S
        S = F * F * S + Wc
    return out


def tucker_steps(problem: Any, estimator: str, baseline: str, lam: float = 0.95) -> dict[str, np.ndarray]:
    """Tucker et al.'s three terms of every step on a scalar system, as ``(L, d, d)`` matrices (module docstring)."""
    check_pair(estimator, baseline, problem, tucker=True)
    ev = exact_lqr.evaluate(problem)
    steps = exact_lqr.simulation_steps(problem)
    grid = Grid(problem, ev, steps)
    step = _Step(problem, ev, grid, estimator, baseline, lam)
    _, kept = _channels(step, steps, keep=True)
    st = step.st
    s = st.s                                                                      # (P, G, G, d)
    gz = grid.w[None, None, :]                                                    # the process noise z
    second = state_moment_steps(problem, ev, steps)
    d = s.shape[-1]
    out = {k: np.zeros((steps, d, d)) for k in TERMS}
    for t in range(steps):
        zeta, rho, c, k = step.at(t)
        nxt = grid.evaluate_all(kept[t], st.x1)
        ET = (gz * (rho + step.eta * nxt["m1"])).sum(axis=2)                     # E[T | x, eps]: (P, G)
        ET2 = (gz * (rho * rho + 2 * rho * step.eta * nxt["m1"] + step.eta ** 2 * nxt["m2"])).sum(axis=2)
        z0 = zeta[:, :, 0]
        m = z0 + c * ET                                                           # E[w | x, u]
        var = c * c * (ET2 - ET * ET)                                             # Var(w | x, u)
        s0, k0 = s[:, :, 0], k[:, 0, 0]                                           # (P, G, d), (P, d)
        ge = grid.w[None, :, None]
        tau = (ge[..., None] * var[..., None, None] * outer(s0, s0)).sum(axis=1)  # (P, d, d), over eps
        cond = s0 * m[..., None]                                                  # E[g - k | x, u]
        mean_x = (ge * cond).sum(axis=1)                                          # E_u[...]: (P, d)
        act = (ge[..., None] * outer(cond, cond)).sum(axis=1) - outer(mean_x, mean_x)
        mu = mean_x + k0
        xs = math.sqrt(max(second[t], 0.0)) * grid.z                              # x_t ~ N(0, E x_t^2)

        def average(values: np.ndarray, xs: np.ndarray = xs) -> np.ndarray:
            return np.einsum("i,i...->...", grid.w, grid.evaluate(grid.fit(values), xs))

        Emu = average(mu)
        out["sigma_tau"][t] = average(tau)
        out["sigma_a"][t] = average(act)
        out["sigma_s"][t] = average(outer(mu, mu)) - np.outer(Emu, Emu)
    return out


__all__ = ["ACTION_PAIRS", "SUPPORTED", "covers", "scalar_action_moments", "trajectory_moments", "tucker_steps"]
