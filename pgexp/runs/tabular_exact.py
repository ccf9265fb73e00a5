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

from pgexp.exact.values import MAX_EPISODE_LENGTH, objective_kind
from pgexp.problems.mdp import FiniteMDP

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
def solve_inplace(M, B):
    """Solve ``M X = B`` by Gaussian elimination with partial pivoting; ``B`` ``(n, k)`` becomes ``X``.

    ``M`` is destroyed.  Returns ``False`` (and leaves garbage) when a pivot is zero or not finite.
    """
    n = M.shape[0]
    k = B.shape[1]
    for col in range(n):
        piv = col
        best = abs(M[col, col])
        for i in range(col + 1, n):
            if abs(M[i, col]) > best:
                best = abs(M[i, col])
                piv = i
        if not (best > 0.0) or not np.isfinite(best):
            return False
        if piv != col:
            for j in range(n):
                tmp = M[col, j]
                M[col, j] = M[piv, j]
                M[piv, j] = tmp
            for j in range(k):
                tmp = B[col, j]
                B[col, j] = B[piv, j]
                B[piv, j] = tmp
        d = M[col, col]
        for i in range(col + 1, n):
            f = M[i, col] / d
            if f != 0.0:
                for j in range(col + 1, n):
                    M[i, j] -= f * M[col, j]
                for j in range(k):
                    B[i, j] -= f * B[col, j]
    for col in range(n - 1, -1, -1):
        d = M[col, col]
        for j in range(k):
            acc = B[col, j]
            for i in range(col + 1, n):
                acc -= M[col, i] * B[i, j]
            B[col, j] = acc / d
    for i in range(n):
        for j in range(k):
            if not np.isfinite(B[i, j]):
                return False
    return True


@njit(cache=True)
def values(P, r, mu, gamma, horizon, kind, transient, pi, V):
    """Exact values of the policy table ``pi`` ``(S, A)`` into ``V``; returns ``(J, ok)``.

    ``V`` is ``(H + 1, S)`` for a finite horizon (``V[H] = 0``), else ``(1, S)`` (zero on absorbing and
    unreachable states).  ``ok`` is ``False`` when an episodic policy does not (numerically) terminate.
    """
    S, A = r.shape
    if kind == FINITE:
        for s in range(S):
            V[horizon, s] = 0.0
        for h in range(horizon - 1, -1, -1):
            for s in range(S):
                v = 0.0
                for a in range(A):
                    q = 0.0
                    for s2 in range(S):
                        q += P[s, a, s2] * V[h + 1, s2]
                    v += pi[s, a] * (r[s, a] + gamma * q)
                V[h, s] = v
        J = 0.0
        for s in range(S):
            J += mu[s] * V[0, s]
        return J, np.isfinite(J)
    if kind == DISCOUNTED:
        M = np.zeros((S, S))
        B = np.zeros((S, 1))
        for s in range(S):
            M[s, s] = 1.0
            for a in range(A):
                B[s, 0] += pi[s, a] * r[s, a]
                for s2 in range(S):
                    M[s, s2] -= gamma * pi[s, a] * P[s, a, s2]
        ok = solve_inplace(M, B)
        J = 0.0
        for s in range(S):
            V[0, s] = B[s, 0]
            J += mu[s] * B[s, 0]
        return J, ok and np.isfinite(J)
    n = transient.shape[0]
    M = np.zeros((n, n))
    B = np.zeros((n, 2))
    for i in range(n):
        s = transient[i]
        M[i, i] = 1.0
        B[i, 1] = 1.0
        for a in range(A):
            B[i, 0] += pi[s, a] * r[s, a]
            for j in range(n):
                M[i, j] -= pi[s, a] * P[s, a, transient[j]]
    ok = solve_inplace(M, B)
    for s in range(S):
        V[0, s] = 0.0
    J = 0.0
    length = 0.0
    for i in range(n):
        s = transient[i]
        V[0, s] = B[i, 0]
        J += mu[s] * B[i, 0]
        length += mu[s] * B[i, 1]
        if B[i, 1] < 0.0:
            ok = False
    if not (length <= MAX_EPISODE_LENGTH) or not np.isfinite(J):
        ok = False
    return J, ok


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
        p = mu.copy()
        nxt = np.zeros(S)
        disc = 1.0
        for h in range(horizon):
            for s in range(S):
                if p[s] == 0.0:
                    continue
                for a in range(A):
                    q = 0.0
                    for s2 in range(S):
                        q += P[s, a, s2] * V[h + 1, s2]
                    C[s, a] += disc * p[s] * (r[s, a] + gamma * q - V[h, s])
            for s2 in range(S):
                nxt[s2] = 0.0
            for s in range(S):
                for a in range(A):
                    w = p[s] * pi[s, a]
                    if w != 0.0:
                        for s2 in range(S):
                            nxt[s2] += w * P[s, a, s2]
            for s in range(S):
                p[s] = nxt[s]
            disc *= gamma
        return True
    g = gamma if kind == DISCOUNTED else 1.0
    if kind == DISCOUNTED:
        states = np.arange(S)
    else:
        states = transient
    n = states.shape[0]
    M = np.zeros((n, n))
    B = np.zeros((n, 1))
    for i in range(n):
        s = states[i]
        B[i, 0] = mu[s]
        M[i, i] = 1.0
    for i in range(n):  # transpose: M[j, i] -= g P_pi[s_i, s_j]
        s = states[i]
        for a in range(A):
            for j in range(n):
                M[j, i] -= g * pi[s, a] * P[s, a, states[j]]
    if not solve_inplace(M, B):
        return False
    for i in range(n):
        s = states[i]
        for a in range(A):
            q = 0.0
            for s2 in range(S):
                q += P[s, a, s2] * V[0, s2]
            C[s, a] = B[i, 0] * (r[s, a] + g * q - V[0, s])
    return True
