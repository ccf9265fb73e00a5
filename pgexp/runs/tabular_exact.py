"""Exact ``J``, ``V`` and ``grad J`` of a small tabular MDP inside compiled loops (the training engine's).

:mod:`pgexp.exact.values` is the reference: sparse matrices, reachability by breadth-first search, LAPACK,
GMRES for 10^5 states -- and ~1 ms of Python per call.  A training grid asks for ``J(theta_t)`` once per
run per iteration, so :mod:`pgexp.runs.train_kernels` calls these compiled versions instead, on a
*dense* copy of the problem (:class:`DenseMDP`; small problems only, :data:`MAX_DENSE`).  The maths is
the reference's (see its docstring); only the linear algebra is hand-rolled:

* finite ``H``: ``V_h = sum_a pi (r + gamma P V_{h+1})`` backwards, ``O(H S^2 A)``;
* discounted: ``(I - gamma P_pi) V = r_pi`` over all states;
* episodic (``gamma = 1``, ``H = inf``): ``(I - P_pi) [V, L] = [r_pi, 1]`` over the transient states
  reachable from ``mu`` (fixed at build time: softmax policies give every action positive probability),
  where ``L(s)`` is the expected number of steps to absorption.  A policy whose expected episode length
  ``mu . L`` exceeds :data:`pgexp.exact.values.MAX_EPISODE_LENGTH`, or whose system is singular, is
  reported as not terminating (the reference refuses the same policies).

Linear systems are solved by Gaussian elimination with partial pivoting (:func:`solve_inplace`), which
returns ``False`` on a zero pivot instead of raising, so one run's singular policy never stops a grid.
Equality with the reference to ~1e-12 is a test (``tests/test_training_fast.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pgexp.exact.values import MAX_EPISODE_LENGTH
from pgexp.problems.mdp import FiniteMDP, objective_kind

FINITE, DISCOUNTED, EPISODIC = 0, 1, 2
KIND_CODES = {"finite": FINITE, "discounted": DISCOUNTED, "episodic": EPISODIC}
MAX_DENSE = 4_000_000  # entries of the dense (S, A, S) transition array the engine may hold


@dataclass(frozen=True, eq=False)
class DenseMDP:
    """A small MDP as dense arrays for the compiled loops.

    Attributes:
        P: ``(S, A, S)`` transition probabilities.
        r: ``(S, A)`` expected rewards.
        mu: ``(S,)`` initial distribution.
        absorbing: ``(S,)`` bool, absorbing zero-reward states.
        transient: ``(n,)`` int64, the states the episodic solve runs over (reachable, not absorbing).
        gamma: discount; horizon: ``H`` or ``-1`` for infinite; kind: :data:`KIND_CODES` value.
    """

    P: np.ndarray
    r: np.ndarray
    mu: np.ndarray
    absorbing: np.ndarray
    transient: np.ndarray
    gamma: float
    horizon: int
    kind: int


def fits_dense(mdp: FiniteMDP) -> bool:
    """Whether the problem is small enough for the dense compiled engine."""
    S, A = mdp.num_states, mdp.num_actions
    return S * A * S <= MAX_DENSE


def reachable(P: np.ndarray, mu: np.ndarray, absorbing: np.ndarray) -> np.ndarray:
    """``(S,)`` bool: states reachable from ``mu`` under some sequence of actions (absorbing states stop)."""
    S = P.shape[0]
    seen = mu > 0
    frontier = np.flatnonzero(seen)
    while frontier.size:
        live = frontier[~absorbing[frontier]]
        nxt = np.flatnonzero(P[live].sum(axis=(0, 1)) > 0) if live.size else np.zeros(0, np.int64)
        new = nxt[~seen[nxt]]
        seen[new] = True
        frontier = new
    return seen[:S]


def dense_mdp(mdp: FiniteMDP) -> DenseMDP:
    """The dense copy of ``mdp`` the engine works on."""
    P = np.ascontiguousarray(mdp.dense_P, dtype=np.float64)
    absorbing = mdp.absorbing_states()
    mu = np.ascontiguousarray(mdp.mu, dtype=np.float64)
    transient = np.flatnonzero(reachable(P, mu, absorbing) & ~absorbing).astype(np.int64)
    return DenseMDP(P, np.ascontiguousarray(mdp.r, dtype=np.float64), mu, absorbing, transient, float(mdp.gamma),
                    -1 if mdp.horizon is None else int(mdp.horizon), KIND_CODES[objective_kind(mdp)])


@njit(cache=True)
def _pivot(M, B, col):
    """Swap the row with the largest ``|M[i, col]|`` (``i >= col``) into place; returns that magnitude."""
    n = M.shape[0]
    piv = col
    best = abs(M[col, col])
    for i in range(col + 1, n):
        if abs(M[i, col]) > best:
            best = abs(M[i, col])
            piv = i
    if piv != col:
        for j in range(n):
            M[col, j], M[piv, j] = M[piv, j], M[col, j]
        for j in range(B.shape[1]):
            B[col, j], B[piv, j] = B[piv, j], B[col, j]
    return best


@njit(cache=True)
def _eliminate(M, B, col):
    """Subtract multiples of row ``col`` from the rows below it (explicit loops: no temporaries)."""
    n = M.shape[0]
    for i in range(col + 1, n):
        f = M[i, col] / M[col, col]
        if f != 0.0:
            for j in range(col + 1, n):
                M[i, j] -= f * M[col, j]
            for j in range(B.shape[1]):
                B[i, j] -= f * B[col, j]


@njit(cache=True)
def solve_inplace(M, B):
    """Solve ``M X = B`` by Gaussian elimination with partial pivoting; ``B`` ``(n, k)`` becomes ``X``.

    ``M`` is destroyed.  Returns ``False`` (and leaves garbage) when a pivot is zero or not finite.
    """
    n = M.shape[0]
    for col in range(n):
        best = _pivot(M, B, col)
        if not (best > 0.0) or not np.isfinite(best):
            return False
        _eliminate(M, B, col)
    for col in range(n - 1, -1, -1):
        for j in range(B.shape[1]):
            acc = B[col, j]
            for i in range(col + 1, n):
                acc -= M[col, i] * B[i, j]
            B[col, j] = acc / M[col, col]
    for i in range(n):
        for j in range(B.shape[1]):
            if not np.isfinite(B[i, j]):
                return False
    return True


@njit(cache=True)
def q_value(P, r, gamma, V_next, s, a):
    """``r(s, a) + gamma sum_s' P[s, a, s'] V_next[s']``."""
    q = 0.0
    for s2 in range(V_next.shape[0]):
        q += P[s, a, s2] * V_next[s2]
    return r[s, a] + gamma * q


@njit(cache=True)
def finite_values(P, r, mu, gamma, horizon, pi, V):
    """``V_h = sum_a pi (r + gamma P V_{h+1})``, ``V_H = 0``, into ``V`` ``(H + 1, S)``; returns ``J``."""
    S, A = r.shape
    for s in range(S):
        V[horizon, s] = 0.0
    for h in range(horizon - 1, -1, -1):
        for s in range(S):
            v = 0.0
            for a in range(A):
                v += pi[s, a] * q_value(P, r, gamma, V[h + 1], s, a)
            V[h, s] = v
    J = 0.0
    for s in range(S):
        J += mu[s] * V[0, s]
    return J


@njit(cache=True)
def policy_system(P, r, pi, gamma, states, k):
    """``M = I - gamma P_pi`` restricted to ``states`` and ``B = [r_pi, 1, ...]`` with ``k`` columns."""
    A = r.shape[1]
    n = states.shape[0]
    M = np.eye(n)
    B = np.zeros((n, k))
    for i in range(n):
        s = states[i]
        for c in range(1, k):
            B[i, c] = 1.0
        for a in range(A):
            B[i, 0] += pi[s, a] * r[s, a]
            for j in range(n):
                M[i, j] -= gamma * pi[s, a] * P[s, a, states[j]]
    return M, B


@njit(cache=True)
def values(P, r, mu, gamma, horizon, kind, transient, pi, V):
    """Exact values of the policy table ``pi`` ``(S, A)`` into ``V``; returns ``(J, ok)``.

    ``V`` is ``(H + 1, S)`` for a finite horizon (``V[H] = 0``), else ``(1, S)`` (zero on absorbing and
    unreachable states).  ``ok`` is ``False`` when an episodic policy does not (numerically) terminate.
    """
    S = r.shape[0]
    if kind == FINITE:
        J = finite_values(P, r, mu, gamma, horizon, pi, V)
        return J, np.isfinite(J)
    states = np.arange(S) if kind == DISCOUNTED else transient
    M, B = policy_system(P, r, pi, gamma if kind == DISCOUNTED else 1.0, states, 1 if kind == DISCOUNTED else 2)
    ok = solve_inplace(M, B)
    for s in range(S):
        V[0, s] = 0.0
    J = 0.0
    length = 0.0
    for i in range(states.shape[0]):
        s = states[i]
        V[0, s] = B[i, 0]
        J += mu[s] * B[i, 0]
        if kind == EPISODIC:  # B[:, 1] = expected steps to absorption
            length += mu[s] * B[i, 1]
            ok = ok and B[i, 1] >= 0.0
    return J, ok and np.isfinite(J) and length <= MAX_EPISODE_LENGTH


@njit(cache=True)
def finite_cotangent(P, r, mu, gamma, horizon, pi, V, C):
    """``C[s, a] = sum_h gamma^h p_h(s) (Q_h(s, a) - V_h(s))`` with ``p_h`` pushed forward from ``mu``."""
    S, A = r.shape
    p = mu.copy()
    nxt = np.empty(S)
    disc = 1.0
    for h in range(horizon):
        push_forward(P, pi, p, nxt)
        for s in range(S):
            if p[s] == 0.0:
                continue
            for a in range(A):
                C[s, a] += disc * p[s] * (q_value(P, r, gamma, V[h + 1], s, a) - V[h, s])
        p, nxt = nxt, p
        disc *= gamma


@njit(cache=True)
def push_forward(P, pi, p, nxt):
    """``nxt[s'] = sum_{s,a} p(s) pi(a|s) P(s'|s, a)``: the next step's state distribution (loops: no temporaries)."""
    S, A = pi.shape
    for s2 in range(S):
        nxt[s2] = 0.0
    for s in range(S):
        for a in range(A):
            c = p[s] * pi[s, a]
            if c == 0.0:
                continue
            for s2 in range(S):
                nxt[s2] += c * P[s, a, s2]


@njit(cache=True)
def visits(P, r, mu, gamma, horizon, kind, transient, pi, out):
    """Discounted expected visits ``sum_h gamma^h P(s_h = s)`` into ``out`` ``(S,)``; ``False`` if the solve fails."""
    S = r.shape[0]
    for s in range(S):
        out[s] = 0.0
    if kind == FINITE:
        p = mu.copy()
        nxt = np.empty(S)
        disc = 1.0
        for _ in range(horizon):
            for s in range(S):
                out[s] += disc * p[s]
            push_forward(P, pi, p, nxt)
            p, nxt = nxt, p
            disc *= gamma
        return True
    g = gamma if kind == DISCOUNTED else 1.0
    states = np.arange(S) if kind == DISCOUNTED else transient
    M, _ = policy_system(P, r, pi, g, states, 1)
    B = np.empty((states.shape[0], 1))
    for i in range(states.shape[0]):
        B[i, 0] = mu[states[i]]
    n = states.shape[0]
    Mt = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            Mt[i, j] = M[j, i]
    if not solve_inplace(Mt, B):  # (I - g P_pi)^T x = mu
        return False
    for i in range(states.shape[0]):
        out[states[i]] = B[i, 0]
    return True


@njit(cache=True)
def cotangent(P, r, mu, gamma, horizon, kind, transient, pi, V, C):
    """``C[s, a] = sum_h gamma^h p_h(s) A_h(s, a)`` (``grad J = probs_vjp(C)``) from the values ``V``.

    Needs :func:`values` first (same ``pi``).  Returns ``False`` if the occupancy solve fails.
    """
    S, A = r.shape
    for s in range(S):
        for a in range(A):
            C[s, a] = 0.0
    if kind == FINITE:
        finite_cotangent(P, r, mu, gamma, horizon, pi, V, C)
        return True
    g = gamma if kind == DISCOUNTED else 1.0
    d = np.zeros(S)
    if not visits(P, r, mu, gamma, horizon, kind, transient, pi, d):
        return False
    for s in range(S):
        if d[s] == 0.0:
            continue
        for a in range(A):
            C[s, a] = d[s] * (q_value(P, r, g, V[0], s, a) - V[0, s])
    return True
