"""Exact ``J``, ``V`` and ``grad J`` of a small tabular MDP inside compiled loops (the training engine's).

:mod:`pgexp.exact.values` is the reference: sparse matrices, reachability by breadth-first search, LAPACK,
GMRES for 10^5 states -- and ~1 ms of Python per call.  A training grid asks for ``J(theta_t)`` once per
run per iteration, so :mod:`pgexp.runs.train_kernels` calls these compiled versions instead, on a
*dense* copy of the problem (:class:`DenseMDP`; small problems only, :data:`MAX_DENSE`).  The maths is
the reference's (see its docstring); only the linear algebra is hand-rolled:

* finite ``H``: ``V_h = sum_a pi (r + gamma P V_{h+1})`` backwards over each pair's successors,
  ``O(H nnz(P))``;
* discounted: ``(I - gamma P_pi) V = r_pi`` over all states;
* episodic (``gamma = 1``, ``H = inf``): ``(I - P_pi) [V, L] = [r_pi, 1]`` over the transient states
  reachable from ``mu`` (fixed at build time: softmax policies give every action positive probability),
  where ``L(s)`` is the expected number of steps to absorption.  A policy whose expected episode length
  ``mu . L`` exceeds :data:`pgexp.exact.values.MAX_EPISODE_LENGTH`, or whose system is singular, is
  reported as not terminating (the reference refuses the same policies).

Linear systems are solved by Gaussian elimination with partial pivoting (:func:`solve_inplace`), which
returns ``False`` on a zero pivot instead of raising, so one run's singular policy never stops a grid.
Every function takes the problem as one :class:`DenseMDP` (a named tuple: numba passes it as it is).
Equality with the reference to ~1e-12 is a test (``tests/runs/test_training_fast.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from pgexp.exact.values import MAX_EPISODE_LENGTH
from pgexp.problems.mdp import FiniteMDP, objective_kind

FINITE, DISCOUNTED, EPISODIC = 0, 1, 2
KIND_CODES = {"finite": FINITE, "discounted": DISCOUNTED, "episodic": EPISODIC}
MAX_DENSE = 4_000_000  # entries of the dense (S, A, S) transition array the engine may hold


class DenseMDP(NamedTuple):
    """A small MDP as arrays for the compiled loops.

    Attributes:
        P: ``(S, A, S)`` transition probabilities (dense: the linear systems).
        r: ``(S, A)`` expected rewards.
        mu: ``(S,)`` initial distribution.
        absorbing: ``(S,)`` bool, absorbing zero-reward states.
        transient: ``(n,)`` int64, the states the episodic solve runs over (reachable, not absorbing).
        gamma: discount; horizon: ``H`` or ``-1`` for infinite; kind: :data:`KIND_CODES` value.
        succ_ptr, succ, succ_p: the successors of each pair ``(s, a)`` (row ``s A + a``, CSR, in state order):
            ``succ[k]`` with probability ``succ_p[k]`` for ``succ_ptr[row] <= k < succ_ptr[row + 1]``.
    """

    P: np.ndarray
    r: np.ndarray
    mu: np.ndarray
    absorbing: np.ndarray
    transient: np.ndarray
    gamma: float
    horizon: int
    kind: int
    succ_ptr: np.ndarray
    succ: np.ndarray
    succ_p: np.ndarray


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
    csr = mdp.P.tocsr()
    csr.sort_indices()  # successors in state order: the sums run in the dense order, skipping zeros
    return DenseMDP(P, np.ascontiguousarray(mdp.r, dtype=np.float64), mu, np.ascontiguousarray(absorbing, np.bool_),
                    transient, float(mdp.gamma), -1 if mdp.horizon is None else int(mdp.horizon),
                    KIND_CODES[objective_kind(mdp)], csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                    csr.data.astype(np.float64))


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
def q_value(ptr, succ, prob, r, gamma, V, h, s, a):
    """``r(s, a) + gamma sum_s' P[s, a, s'] V[h, s']`` over the successors of ``(s, a)`` (the fields of
    :class:`DenseMDP` unpacked by the caller)."""
    row = s * r.shape[1] + a
    q = 0.0
    for k in range(ptr[row], ptr[row + 1]):
        q += prob[k] * V[h, succ[k]]
    return r[s, a] + gamma * q


@njit(cache=True)
def finite_values(dm, pi, V):
    """``V_h = sum_a pi (r + gamma P V_{h+1})``, ``V_H = 0``, into ``V`` ``(H + 1, S)``; returns ``J``."""
    S, A = pi.shape
    H = dm.horizon
    ptr, succ, prob, r, gamma = dm.succ_ptr, dm.succ, dm.succ_p, dm.r, dm.gamma
    for s in range(S):
        V[H, s] = 0.0
    for h in range(H - 1, -1, -1):
        for s in range(S):
            v = 0.0
            for a in range(A):
                v += pi[s, a] * q_value(ptr, succ, prob, r, gamma, V, h + 1, s, a)
            V[h, s] = v
    J = 0.0
    for s in range(S):
        J += dm.mu[s] * V[0, s]
    return J


@njit(cache=True)
def policy_system(dm, pi, gamma, states, k):
    """``M = I - gamma P_pi`` restricted to ``states`` and ``B = [r_pi, 1, ...]`` with ``k`` columns."""
    S, A = pi.shape
    ptr, succ, prob, r = dm.succ_ptr, dm.succ, dm.succ_p, dm.r
    n = states.shape[0]
    pos = np.full(S, -1, np.int64)  # a state's row in the system; -1: not in it
    for i in range(n):
        pos[states[i]] = i
    M = np.eye(n)
    B = np.zeros((n, k))
    for i in range(n):
        s = states[i]
        for c in range(1, k):
            B[i, c] = 1.0
        for a in range(A):
            B[i, 0] += pi[s, a] * r[s, a]
            row = s * A + a
            for q in range(ptr[row], ptr[row + 1]):
                j = pos[succ[q]]
                if j >= 0:
                    M[i, j] -= gamma * pi[s, a] * prob[q]
    return M, B


@njit(cache=True)
def values(dm, pi, V):
    """Exact values of the policy table ``pi`` ``(S, A)`` into ``V``; returns ``(J, ok)``.

    ``V`` is ``(H + 1, S)`` for a finite horizon (``V[H] = 0``), else ``(1, S)`` (zero on absorbing and
    unreachable states).  ``ok`` is ``False`` when an episodic policy does not (numerically) terminate.
    """
    S = pi.shape[0]
    if dm.kind == FINITE:
        J = finite_values(dm, pi, V)
        return J, np.isfinite(J)
    discounted = dm.kind == DISCOUNTED
    states = np.arange(S) if discounted else dm.transient
    M, B = policy_system(dm, pi, dm.gamma if discounted else 1.0, states, 1 if discounted else 2)
    ok = solve_inplace(M, B)
    for s in range(S):
        V[0, s] = 0.0
    J = 0.0
    length = 0.0
    for i in range(states.shape[0]):
        s = states[i]
        V[0, s] = B[i, 0]
        J += dm.mu[s] * B[i, 0]
        if not discounted:  # B[:, 1] = expected steps to absorption
            length += dm.mu[s] * B[i, 1]
            ok = ok and B[i, 1] >= 0.0
    return J, ok and np.isfinite(J) and length <= MAX_EPISODE_LENGTH


@njit(cache=True)
def push_forward(ptr, succ, prob, pi, p, nxt):
    """``nxt[s'] = sum_{s,a} p(s) pi(a|s) P(s'|s, a)``: the next step's state distribution (loops: no temporaries)."""
    S, A = pi.shape
    for s2 in range(S):
        nxt[s2] = 0.0
    for s in range(S):
        for a in range(A):
            c = p[s] * pi[s, a]
            if c == 0.0:
                continue
            row = s * A + a
            for k in range(ptr[row], ptr[row + 1]):
                nxt[succ[k]] += c * prob[k]


@njit(cache=True)
def finite_cotangent(dm, pi, V, C):
    """``C[s, a] = sum_h gamma^h p_h(s) (Q_h(s, a) - V_h(s))`` with ``p_h`` pushed forward from ``mu``."""
    S, A = pi.shape
    ptr, succ, prob, r, gamma = dm.succ_ptr, dm.succ, dm.succ_p, dm.r, dm.gamma
    p = dm.mu.copy()
    nxt = np.empty(S)
    disc = 1.0
    for h in range(dm.horizon):
        push_forward(ptr, succ, prob, pi, p, nxt)
        for s in range(S):
            if p[s] == 0.0:
                continue
            for a in range(A):
                C[s, a] += disc * p[s] * (q_value(ptr, succ, prob, r, gamma, V, h + 1, s, a) - V[h, s])
        p, nxt = nxt, p
        disc *= gamma


@njit(cache=True)
def visits(dm, pi, out):
    """Discounted expected visits ``sum_h gamma^h P(s_h = s)`` into ``out`` ``(S,)``; ``False`` if the solve fails."""
    S = pi.shape[0]
    for s in range(S):
        out[s] = 0.0
    if dm.kind == FINITE:
        p = dm.mu.copy()
        nxt = np.empty(S)
        disc = 1.0
        for _ in range(dm.horizon):
            for s in range(S):
                out[s] += disc * p[s]
            push_forward(dm.succ_ptr, dm.succ, dm.succ_p, pi, p, nxt)
            p, nxt = nxt, p
            disc *= dm.gamma
        return True
    discounted = dm.kind == DISCOUNTED
    states = np.arange(S) if discounted else dm.transient
    M, _ = policy_system(dm, pi, dm.gamma if discounted else 1.0, states, 1)
    n = states.shape[0]
    B = np.empty((n, 1))
    for i in range(n):
        B[i, 0] = dm.mu[states[i]]
    Mt = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            Mt[i, j] = M[j, i]
    if not solve_inplace(Mt, B):  # (I - g P_pi)^T x = mu
        return False
    for i in range(n):
        out[states[i]] = B[i, 0]
    return True


@njit(cache=True)
def cotangent(dm, pi, V, C):
    """``C[s, a] = sum_h gamma^h p_h(s) A_h(s, a)`` (``grad J = probs_vjp(C)``) from the values ``V``.

    Needs :func:`values` first (same ``pi``).  Returns ``False`` if the occupancy solve fails.
    """
    S, A = pi.shape
    for s in range(S):
        for a in range(A):
            C[s, a] = 0.0
    if dm.kind == FINITE:
        finite_cotangent(dm, pi, V, C)
        return True
    d = np.zeros(S)
    if not visits(dm, pi, d):
        return False
    ptr, succ, prob, r = dm.succ_ptr, dm.succ, dm.succ_p, dm.r
    g = dm.gamma if dm.kind == DISCOUNTED else 1.0
    for s in range(S):
        if d[s] == 0.0:
            continue
        for a in range(A):
            C[s, a] = d[s] * (q_value(ptr, succ, prob, r, g, V, 0, s, a) - V[0, s])
    return True
