"""Exact quantities of linear-quadratic problems under the Gaussian linear policy ``u = -K x + sigma eps``.

Notation (:mod:`pgexp.problems.lqr`): ``F = A - B K`` (closed loop), ``W_c = W + sigma^2 B B'`` (the noise the
closed loop sees), ``Q_K = Q + K' R K``.  States have mean zero, so ``Sigma_t = E x_t x_t'``.

**Covariance propagation.**  ``x_{t+1} = F x_t + B sigma eps_t + w_t`` gives ``Sigma_{t+1} = F Sigma_t F' + W_c``,
``Sigma_0 = Sigma0``.

**Values (a backward Lyapunov recursion).**  ``V_t(x) = -(x' P_t x + c_t)`` with ``P_H = 0, c_H = 0`` and

    P_t = Q_K + gamma F' P_{t+1} F,      c_t = sigma^2 tr R + gamma (tr(P_{t+1} W_c) + c_{t+1}),

since ``E[r_t | x] = -(x' Q_K x + sigma^2 tr R)`` and ``E[x_{t+1}' P x_{t+1} | x] = x' F' P F x + tr(P W_c)``.  So
``J = E V_0(x_0) = -(tr(P_0 Sigma0) + c_0)``.  The action value is

    Q_t(x, u) = -(x' Q x + u' R u + gamma (A x + B u)' P_{t+1} (A x + B u) + gamma tr(P_{t+1} W) + gamma c_{t+1}).

**Gradient.**  By the policy-gradient theorem ``grad J = sum_t gamma^t E[grad log pi(u_t|x_t) Q_t(x_t, u_t)]``, and
for a Gaussian ``E_u[grad_mu log pi Q] = grad_mu E_u Q`` (Stein), so with ``mu = -K x``

    E_u Q_t(x, u) = -(x' (Q + K' R K + gamma F' P_{t+1} F) x) - sigma^2 (tr R + gamma tr(B' P_{t+1} B)) - const,
    grad_K J = -2 sum_{t<H} gamma^t E_t Sigma_t,   E_t = (R + gamma B' P_{t+1} B) K - gamma B' P_{t+1} A,
    d J / d log sigma = -2 sigma^2 sum_{t<H} gamma^t (tr R + gamma tr(B' P_{t+1} B)).

**Discounted infinite horizon** (``H = inf``, ``gamma < 1``): the same with stationary ``P``, ``c`` -- ``P = Q_K + gamma
F' P F`` (a discrete Lyapunov equation), ``c = (sigma^2 tr R + gamma tr(P W_c)) / (1 - gamma)`` -- and the discounted
second moment ``Sigma_g = sum_t gamma^t Sigma_t``, which solves ``Sigma_g = Sigma0 + gamma F Sigma_g F' + gamma W_c /
(1 - gamma)``: ``grad_K J = -2 E Sigma_g``, ``dJ/dlog sigma = -2 sigma^2 (tr R + gamma tr(B'PB)) / (1 - gamma)``.  Both
sums converge iff ``sqrt(gamma) rho(F) < 1``; otherwise the cost is infinite and the problem is refused.

**Optimum (Riccati).**  ``P*_t = Q + gamma A' P*_{t+1} A - gamma^2 A' P*_{t+1} B (R + gamma B' P*_{t+1} B)^{-1}
B' P*_{t+1} A`` with gain ``K*_t = gamma (R + gamma B' P*_{t+1} B)^{-1} B' P*_{t+1} A`` (stationary: the discounted
DARE).  ``P_K >= P*`` in the Loewner order for every ``K``, so ``K*`` also minimises ``tr(P_K M)`` for every
``M >= 0``: it is optimal whatever the exploration noise costs.  ``J_star`` is the return of that (for a finite
horizon time-varying) feedback with the same exploration noise -- ``sigma = 0`` when ``sigma`` is learned, where
the supremum is approached as ``sigma -> 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError

TAIL = 1e-12  # a discounted run is simulated until the neglected tail is below this fraction
MAX_STEPS = 100_000


@dataclass(frozen=True, eq=False)
class LQRExact:
    """Exact quantities at ``theta``.

    Attributes:
        J: the objective.
        grad: ``grad J``, ``(dim,)`` (``vec(K)`` row-major, then ``log sigma`` when learned).
        P, c: value matrices ``(H + 1, n, n)`` and constants ``(H + 1,)`` (finite: ``V_t(x) = -(x'P_t x + c_t)``,
            last row zero), or ``(1, n, n)``, ``(1,)`` stationary (discounted).
        Sigma: state second moments ``(H, n, n)`` (finite) or the discounted ``Sigma_g`` ``(1, n, n)``.
        K, sigma: the policy's gain and standard deviation.
    """

    J: float
    grad: np.ndarray
    P: np.ndarray
    c: np.ndarray
    Sigma: np.ndarray
    K: np.ndarray
    sigma: float


def closed_loop(problem) -> tuple[np.ndarray, np.ndarray, float]:
    """``(F, K, sigma)`` at the problem's ``theta``."""
    sys, pol = problem.system, problem.policy
    K = pol.gain(problem.theta)
    return sys.A - sys.B @ K, K, pol.std(problem.theta)


def spectral_radius(M: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(M)))) if M.size else 0.0


def check_discounted(problem) -> float:
    """``rho(A - B K)``, refusing a gain with ``sqrt(gamma) rho >= 1`` (infinite discounted cost) in one line."""
    F, _, _ = closed_loop(problem)
    rho = spectral_radius(F)
    if math.sqrt(problem.gamma) * rho >= 1.0 - 1e-12:
        raise UserError(f"--theta: the closed loop A - B K has spectral radius {rho:.6g} >= 1/sqrt(gamma) = "
                        f"{1 / math.sqrt(problem.gamma):.6g}: the discounted cost is infinite (K does not stabilise "
                        "the system); give a stabilising --theta or a finite --horizon")
    return rho


def simulation_steps(problem) -> int:
    """Steps a trajectory has: ``H``, or for the discounted objective the ``T`` after which the neglected tail is
    below :data:`TAIL` (terms shrink like ``(gamma max(1, rho^2))^t``)."""
    if problem.horizon is not None:
        return int(problem.horizon)
    rho = check_discounted(problem)
    q = problem.gamma * max(1.0, rho * rho)
    T = math.ceil(math.log(TAIL) / math.log(q)) if q > 0 else 1
    if T > MAX_STEPS:
        raise UserError(f"--theta: the closed loop is so close to unstable (rho = {rho:.6g}) that a discounted run "
                        f"needs {T} > {MAX_STEPS} steps; give a finite --horizon")
    return max(1, T)


def lyapunov(F: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``X = M + F X F'`` (``F`` stable), by scipy's discrete Lyapunov solver, symmetrised."""
    from scipy.linalg import solve_discrete_lyapunov

    X = solve_discrete_lyapunov(F, M)
    return 0.5 * (X + X.T)


def evaluate(problem) -> LQRExact:
    """``J``, ``grad J``, the value matrices and the state second moments (module docstring)."""
    sys = problem.system
    F, K, sigma = closed_loop(problem)
    g = float(problem.gamma)
    Wc = sys.W + sigma * sigma * sys.B @ sys.B.T
    QK = sys.Q + K.T @ sys.R @ K
    trR = float(np.trace(sys.R))
    learn = problem.policy.learn_std
    if problem.horizon is None:
        check_discounted(problem)
        P = lyapunov(math.sqrt(g) * F.T, QK)
        c_inf = (sigma * sigma * trR + g * float(np.trace(P @ Wc))) / (1.0 - g)
        Sg = lyapunov(math.sqrt(g) * F, sys.Sigma0 + g * Wc / (1.0 - g))
        E = (sys.R + g * sys.B.T @ P @ sys.B) @ K - g * sys.B.T @ P @ sys.A
        gK = -2.0 * E @ Sg
        J = -(float(np.trace(P @ sys.Sigma0)) + c_inf)
        parts = [gK.ravel()]
        if learn:
            parts.append(np.array([-2.0 * sigma * sigma * (trR + g * float(np.trace(sys.B.T @ P @ sys.B))) / (1 - g)]))
        return LQRExact(J, np.concatenate(parts), P[None], np.array([c_inf]), Sg[None], K, sigma)
    H = int(problem.horizon)
    n = sys.n
    P = np.zeros((H + 1, n, n))
    c = np.zeros(H + 1)
    for t in range(H - 1, -1, -1):
        Pt = QK + g * F.T @ P[t + 1] @ F
        P[t] = 0.5 * (Pt + Pt.T)
        c[t] = sigma * sigma * trR + g * (float(np.trace(P[t + 1] @ Wc)) + c[t + 1])
    Sigma = np.zeros((H, n, n))
    S = sys.Sigma0.copy()
    gK = np.zeros_like(K)
    dlog = 0.0
    for t in range(H):
        Sigma[t] = S
        E = (sys.R + g * sys.B.T @ P[t + 1] @ sys.B) @ K - g * sys.B.T @ P[t + 1] @ sys.A
        gK += -2.0 * g ** t * E @ S
        dlog += -2.0 * sigma * sigma * g ** t * (trR + g * float(np.trace(sys.B.T @ P[t + 1] @ sys.B)))
        S = F @ S @ F.T + Wc
        S = 0.5 * (S + S.T)
    J = -(float(np.trace(P[0] @ sys.Sigma0)) + c[0])
    grad = np.concatenate([gK.ravel(), [dlog]]) if learn else gK.ravel()
    return LQRExact(J, grad, P, c, Sigma, K, sigma)


def step_index(times: np.ndarray, rows: int) -> np.ndarray:
    """``min(t, rows - 1)``; a batch's aligned times (one row ``0 .. L-1`` broadcast over trajectories) as that one
    row, so tables are gathered once per step rather than once per trajectory and step."""
    t = np.asarray(times)
    if t.ndim == 2 and t.shape[0] > 1 and t.strides[0] == 0:
        return np.minimum(t[:1], rows - 1)
    return np.minimum(t, rows - 1)


def value_at(P: np.ndarray, c: np.ndarray, states: np.ndarray, times: np.ndarray) -> np.ndarray:
    """``V_t(x) = -(x' P_t x + c_t)`` at states ``(..., n)`` and times ``(...)`` (``t`` clipped to the table: a
    stationary table has one row; a finite one has ``V_H = 0`` in its last)."""
    t = step_index(times, P.shape[0])
    x = np.asarray(states, dtype=np.float64)
    if x.shape[-1] == 1:
        return -(P[t, 0, 0] * x[..., 0] * x[..., 0] + c[t])
    return -(np.einsum("...i,...ij,...j->...", x, P[t], x) + c[t])


@dataclass(frozen=True, eq=False)
class QFunction:
    """``Q_t(x, u) = -([x; u]' M_t [x; u] + q_t)`` with ``M_t = [[Qxx, Qxu], [Qxu', Quu]]`` (module docstring); arrays
    over ``t`` (``(1, ...)`` when stationary).  What action-dependent baselines build on."""

    Qxx: np.ndarray
    Qxu: np.ndarray
    Quu: np.ndarray
    q: np.ndarray

    def __call__(self, states: np.ndarray, actions: np.ndarray, times: np.ndarray) -> np.ndarray:
        """``Q_t(x, u)`` at ``(..., n)`` states, ``(..., m)`` actions and ``(...)`` times."""
        t = step_index(times, self.Qxx.shape[0])
        x, u = np.asarray(states, dtype=np.float64), np.asarray(actions, dtype=np.float64)
        if x.shape[-1] == 1 and u.shape[-1] == 1:  # scalar systems: no einsum over size-1 axes
            xs, us = x[..., 0], u[..., 0]
            return -(self.Qxx[t, 0, 0] * xs * xs + 2 * self.Qxu[t, 0, 0] * xs * us + self.Quu[t, 0, 0] * us * us
                     + self.q[t])
        quad = (np.einsum("...i,...ij,...j->...", x, self.Qxx[t], x) + 2 * np.einsum("...i,...ij,...j->...", x,
                self.Qxu[t], u) + np.einsum("...i,...ij,...j->...", u, self.Quu[t], u))
        return -(quad + self.q[t])


def q_function(problem, ev: LQRExact | None = None) -> QFunction:
    """The exact action value of every step (module docstring): ``Q_t`` from ``P_{t+1}``, ``c_{t+1}``."""
    ev = evaluate(problem) if ev is None else ev
    sys, g = problem.system, float(problem.gamma)
    if problem.horizon is None:
        nxt_P, nxt_c = ev.P, ev.c
    else:
        nxt_P, nxt_c = ev.P[1:], ev.c[1:]
    Qxx = sys.Q + g * np.einsum("ji,tjk,kl->til", sys.A, nxt_P, sys.A)
    Qxu = g * np.einsum("ji,tjk,kl->til", sys.A, nxt_P, sys.B)
    Quu = sys.R + g * np.einsum("ji,tjk,kl->til", sys.B, nxt_P, sys.B)
    q = g * (np.einsum("tij,ji->t", nxt_P, sys.W) + nxt_c)
    if problem.horizon is not None:  # Q_H is never used; keep the (H+1)-row shape of V for lookups
        pad = np.zeros((1, *Qxx.shape[1:]))
        Qxx, Qxu = np.concatenate([Qxx, pad]), np.concatenate([Qxu, np.zeros((1, *Qxu.shape[1:]))])
        Quu, q = np.concatenate([Quu, np.zeros((1, *Quu.shape[1:]))]), np.append(q, 0.0)
    return QFunction(Qxx, Qxu, Quu, q)


@dataclass(frozen=True, eq=False)
class Optimum:
    """The Riccati optimum: gains ``K`` ``(H, m, n)`` (``(1, m, n)`` stationary), value matrices ``P`` and the return
    ``J`` of that feedback with exploration noise ``sigma``."""

    K: np.ndarray
    P: np.ndarray
    J: float
    sigma: float


def optimum(problem, sigma: float | None = None) -> Optimum:
    """The Riccati optimum (module docstring); ``sigma``: the exploration noise it is evaluated with (default: the
    policy's, ``0`` when learned)."""
    sys, g = problem.system, float(problem.gamma)
    if sigma is None:
        sigma = 0.0 if problem.policy.learn_std else problem.policy.std(problem.theta)
    Wc = sys.W + sigma * sigma * sys.B @ sys.B.T
    trR = float(np.trace(sys.R))
    if problem.horizon is None:
        from scipy.linalg import solve_discrete_are

        P = solve_discrete_are(math.sqrt(g) * sys.A, math.sqrt(g) * sys.B, sys.Q, sys.R)
        P = 0.5 * (P + P.T)
        K = g * np.linalg.solve(sys.R + g * sys.B.T @ P @ sys.B, sys.B.T @ P @ sys.A)
        c = (sigma * sigma * trR + g * float(np.trace(P @ Wc))) / (1 - g)
        return Optimum(K[None], P[None], -(float(np.trace(P @ sys.Sigma0)) + c), sigma)
    H = int(problem.horizon)
    P = np.zeros((H + 1, sys.n, sys.n))
    Ks = np.zeros((H, sys.m, sys.n))
    c = 0.0
    for t in range(H - 1, -1, -1):
        Pn = P[t + 1]
        Ks[t] = g * np.linalg.solve(sys.R + g * sys.B.T @ Pn @ sys.B, sys.B.T @ Pn @ sys.A)
        F = sys.A - sys.B @ Ks[t]
        Pt = sys.Q + Ks[t].T @ sys.R @ Ks[t] + g * F.T @ Pn @ F
        P[t] = 0.5 * (Pt + Pt.T)
        c = sigma * sigma * trR + g * (float(np.trace(Pn @ Wc)) + c)
    return Optimum(Ks, P, -(float(np.trace(P[0] @ sys.Sigma0)) + c), sigma)


def summary(problem, *, full: bool = False) -> dict:
    """The ``pgexp exact`` JSON of a linear-quadratic problem: the keys of a finite MDP's, with their LQR meaning --
    ``num_states``/``num_actions`` the state and action dimensions ``n``, ``m``; ``pi`` the policy ``{K, std}``; ``V``
    ``{P, c}`` (``V_0(x) = -(x'Px + c)``), ``Q`` and ``A`` their quadratic forms at ``t = 0`` (:class:`QFunction`;
    ``A = Q - V``); ``d`` the normalised (discounted) state second moment ``sum_t gamma^t Sigma_t / sum_t gamma^t``;
    ``V_star`` and ``optimal_actions`` the Riccati optimum's ``P`` and gain ``K*`` (``t = 0``).  ``full`` adds the
    time-indexed ``V_steps`` (``P_t``, ``c_t``), ``K_star_steps`` and ``state_dist`` (``Sigma_t``) of a finite
    horizon."""
    ev = evaluate(problem)
    opt = optimum(problem)
    qf = q_function(problem, ev)
    F, _, _ = closed_loop(problem)
    g = float(problem.gamma)
    if problem.horizon is None:
        d = (1 - g) * ev.Sigma[0]
    else:
        w = g ** np.arange(ev.Sigma.shape[0])
        d = np.tensordot(w, ev.Sigma, axes=1) / w.sum()
    P0, c0 = ev.P[0], float(ev.c[0])
    out = {
        "env": problem.system.name, "objective": problem.kind, "gamma": g, "horizon": problem.horizon,
        "num_states": problem.system.n, "num_actions": problem.system.m, "features": "state",
        "policy": problem.policy.name, "dim": int(problem.policy.dim), "theta": problem.theta,
        "J": float(ev.J), "J_star": float(opt.J), "grad": ev.grad, "grad_norm": float(np.linalg.norm(ev.grad)),
        "pi": {"K": ev.K, "std": ev.sigma}, "V": {"P": P0, "c": c0},
        "Q": {"Qxx": qf.Qxx[0], "Qxu": qf.Qxu[0], "Quu": qf.Quu[0], "q": float(qf.q[0])},
        "A": {"Axx": qf.Qxx[0] - P0, "Axu": qf.Qxu[0], "Auu": qf.Quu[0], "a": float(qf.q[0]) - c0},
        "d": d, "V_star": {"P": opt.P[0]}, "optimal_actions": {"K": opt.K[0]}, "J_star_method": "riccati",
        "J_star_std": opt.sigma, "spectral_radius": spectral_radius(F),
    }
    if full and problem.horizon is not None:
        out["V_steps"] = {"P": ev.P, "c": ev.c}
        out["K_star_steps"] = opt.K
        out["state_dist"] = ev.Sigma
    return out


__all__ = ["LQRExact", "Optimum", "QFunction", "check_discounted", "closed_loop", "evaluate", "optimum",
           "q_function", "simulation_steps", "spectral_radius", "summary", "value_at"]
