r"""Compiled loops of the exact engine: the finite-horizon policy evaluation, the cosine prediction's Gaussian
draws, the listing of normalised batches, and the primitives -- sums in numpy's order -- that the compiled moment
recursion (:mod:`pgexp.exact.recursion_kernels`) and Doob decomposition (:mod:`pgexp.exact.doob_kernels`) build on.

At the sizes the study uses (``S = 20`` states, ``A = 4`` actions, ``d = 80``) a step of the recursion is a few
thousand flops, and the numpy/scipy.sparse form of it (:mod:`pgexp.exact.recursion`,
:mod:`pgexp.exact.decomposition`, :func:`pgexp.exact.values.evaluate`) spends ~100 times that in call overhead.
These kernels run the same steps in one compiled loop and leave only the matrix products (BLAS) to numpy,
batched over a block of steps.

**The same numbers, bit for bit.**  Every operation is written in the order numpy/scipy evaluate it, so the fast
path returns exactly what the numpy form returns (tests hold them equal):

* elementwise expressions keep numpy's left-to-right evaluation (``a + b * c + d`` is ``(a + b*c) + d``); numba
  does not contract ``a*b + c`` into a fused multiply-add (no ``fastmath``);
* a sparse product ``y = M x`` (scipy's ``csr_matvec(s)``) adds ``M[i, j] x[j]`` to ``y[i] = 0`` in the CSR order
  of row ``i`` (:func:`csr_product`); ``x @ M`` (scipy transposes ``M`` to CSC) is the same sum over the rows of
  the canonical ``M^T`` in CSR (:attr:`pgexp.exact.model.ExactSetup.csr_PT`);
* ``np.einsum`` reducing over a contiguous axis of length ``n`` with a zero-stride output (``"sa,sa->s"``,
  ``"sad,sad->sa"``, or any reduction when the other axis has length 1) is numpy's two-lane SIMD dot
  (:func:`einsum_dot`); a reduction over an outer axis (``"sad,sa->sd"``, ``"sd,sd->d"``) adds the terms in order
  to a zeroed output;
* ``np.add.reduce`` over a contiguous axis (``np.linalg.norm(x, axis=1)``, ``x[members].sum(axis=1)``) is numpy's
  pairwise summation (:func:`pairwise_sum`);
* ``rng.standard_normal`` is numba's port of numpy's ziggurat on the generator's own bit stream
  (:func:`standard_normals`).

Matrix-vector and matrix-matrix products (``p @ u1``, ``F.T @ u``) stay numpy calls (OpenBLAS picks its kernel by
CPU); a batched ``np.matmul`` over stacked steps calls the same BLAS routine per step as the loop did.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def einsum_dot(x, y):
    """``sum_i x[i] y[i]`` as numpy's einsum adds it over a contiguous axis with a zero-stride output: two lanes
    (even and odd ``i``) accumulated with separate multiply and add, blocks of eight as
    ``v = x0 y0 + (x1 y1 + (x2 y2 + (x3 y3 + v)))`` per lane, then ``0 + (lane0 + lane1)``."""
    n = x.shape[0]
    l0 = 0.0
    l1 = 0.0
    i = 0
    while n - i >= 8:
        t0 = x[i + 6] * y[i + 6] + l0
        t1 = x[i + 7] * y[i + 7] + l1
        t0 = x[i + 4] * y[i + 4] + t0
        t1 = x[i + 5] * y[i + 5] + t1
        t0 = x[i + 2] * y[i + 2] + t0
        t1 = x[i + 3] * y[i + 3] + t1
        l0 = x[i] * y[i] + t0
        l1 = x[i + 1] * y[i + 1] + t1
        i += 8
    while i < n:
        l0 = x[i] * y[i] + l0
        if i + 1 < n:
            l1 = x[i + 1] * y[i + 1] + l1
        i += 2
    return 0.0 + (l0 + l1)


@njit(cache=True)
def _block_sum(a, lo, n):
    """numpy's ``pairwise_sum`` of ``n <= 128`` terms: eight accumulators, combined as a tree, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def pairwise_stack():
    """Scratch for :func:`pairwise_into`: the recursion's pending ``(lo, n, stage)`` and partial sums."""
    return np.empty((4, 64))


@njit(cache=True)
def pairwise_into(a, work):
    """:func:`pairwise_sum` with the scratch ``work`` (:func:`pairwise_stack`) given: no allocation per call."""
    n = a.shape[0]
    if n <= 128:
        return 0.0 + _block_sum(a, 0, n)
    los, ns, stage, vals = work[0], work[1], work[2], work[3]
    top, nv = 0, 0
    los[0], ns[0], stage[0] = 0.0, n, 0.0
    while top >= 0:
        lo, m = int(los[top]), int(ns[top])
        if m <= 128:
            vals[nv] = _block_sum(a, lo, m)
            nv += 1
            top -= 1
            continue
        m2 = m // 2
        m2 -= m2 % 8
        if stage[top] == 2.0:        # both halves done: combine them as the recursion does
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
        elif stage[top] == 0.0:
            stage[top] = 1.0
            top += 1
            los[top], ns[top], stage[top] = lo, m2, 0.0
        else:
            stage[top] = 2.0
            top += 1
            los[top], ns[top], stage[top] = lo + m2, m - m2, 0.0
    return 0.0 + vals[0]


@njit(cache=True)
def pairwise_sum(a):
    """``np.add.reduce`` of a contiguous 1-d array: numpy's pairwise summation, added to 0 -- ``pw(n) = pw(n2) +
    pw(n - n2)`` with ``n2 = n // 2`` rounded down to a multiple of 8 until at most 128 terms (:func:`_block_sum`).
    The recursion is evaluated with explicit stacks (a cached recursive numba function crashes on loading)."""
    return pairwise_into(a, pairwise_stack())


@njit(cache=True)
def standard_normals(rng, out):
    """``out[...] = rng.standard_normal(out.shape)`` for a C-contiguous ``out``, advancing ``rng``: numba's port of
    numpy's ziggurat on the generator's own bit stream -- the same numbers in the same order, ~3x faster."""
    flat = out.reshape(-1)
    for i in range(flat.shape[0]):
        flat[i] = rng.standard_normal()


@njit(cache=True)
def shifted_rows(m, root, z, x, norms):
    """``x = m + root * z`` (rows ``z[i]`` ``(d,)``) and ``norms = np.linalg.norm(x, axis=1)``, in place: the
    Gaussian draws of :func:`pgexp.exact.batch.normal_cosine`."""
    n, d = z.shape
    sq = np.empty(d)
    work = pairwise_stack()
    for i in range(n):
        for k in range(d):
            v = m[k] + root[k] * z[i, k]
            x[i, k] = v
            sq[k] = v * v
        norms[i] = np.sqrt(pairwise_into(sq, work))


@njit(cache=True)
def copy_into(src, dst):
    """``dst[...] = src`` for C-contiguous arrays of one shape (a loop: numba's slice assignment costs seconds to
    compile)."""
    a, b = src.reshape(-1), dst.reshape(-1)
    for i in range(a.shape[0]):
        b[i] = a[i]


@njit(cache=True)
def csr_product(indptr, indices, data, x, out):
    """``out = M x`` for ``x`` ``(n, k)`` (``out`` ``(m, k)``, overwritten): scipy's ``csr_matvecs`` order."""
    m, k = out.shape
    for i in range(m):
        for c in range(k):
            out[i, c] = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            j = indices[jj]
            a = data[jj]
            for c in range(k):
                out[i, c] += a * x[j, c]


@njit(cache=True)
def csr_vector(indptr, indices, data, x, out):
    """``out = M x`` for a vector ``x`` (scipy's ``csr_matvec`` order)."""
    for i in range(out.shape[0]):
        acc = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            acc += data[jj] * x[indices[jj]]
        out[i] = acc


@njit(cache=True)
def finite_evaluation(P, PT, r, mu, pi, gamma, H, keep):
    """The loops of :func:`pgexp.exact.values.evaluate` for the finite objective: ``V_h`` ``(H+1, S)`` backward,
    then forward the state distribution ``(H, S)`` (empty unless ``keep``), the discounted visits ``(S,)``, the
    cotangent ``C = sum_h gamma^h p_h (Q_h - V_h)`` ``(S, A)``; and ``Q_0`` ``(S, A)``."""
    S, A = pi.shape
    V = np.zeros((H + 1, S))
    E = np.empty(S * A)
    Q = np.empty((S, A))
    for h in range(H - 1, -1, -1):
        csr_vector(P[0], P[1], P[2], V[h + 1], E)
        for s in range(S):
            for a in range(A):
                Q[s, a] = r[s, a] + gamma * E[s * A + a]
            V[h, s] = einsum_dot(pi[s], Q[s])
    dist = np.empty((H if keep else 0, S))
    p = np.empty(S)
    for s in range(S):
        p[s] = mu[s]
    visits = np.zeros(S)
    cot = np.zeros((S, A))
    x = np.empty(S * A)
    disc = 1.0
    for h in range(H):
        if keep:
            for s in range(S):
                dist[h, s] = p[s]
        csr_vector(P[0], P[1], P[2], V[h + 1], E)
        for s in range(S):
            dp = disc * p[s]
            for a in range(A):
                cot[s, a] += dp * (r[s, a] + gamma * E[s * A + a] - V[h, s])
            visits[s] += disc * p[s]
            for a in range(A):
                x[s * A + a] = p[s] * pi[s, a]
        csr_vector(PT[0], PT[1], PT[2], x, p)
        disc *= gamma
    csr_vector(P[0], P[1], P[2], V[1], E)
    for s in range(S):
        for a in range(A):
            Q[s, a] = r[s, a] + gamma * E[s * A + a]
    return V, dist, visits, cot, Q


@njit(cache=True)
def weighted_sum_over_actions(w, X, out):
    """``out[s] = np.einsum("sa,sad->sd", w, X)[s]`` (or ``"sad,sa->sd"``): the terms in order of ``a`` (one
    coordinate: :func:`einsum_dot`)."""
    S, A, d = X.shape
    if d == 1:
        col = np.empty(A)
        for s in range(S):
            for a in range(A):
                col[a] = X[s, a, 0]
            out[s, 0] = einsum_dot(col, w[s])
        return
    for s in range(S):
        for k in range(d):
            out[s, k] = 0.0
        for a in range(A):
            ws = w[s, a]
            for k in range(d):
                out[s, k] += X[s, a, k] * ws


@njit(cache=True)
def einsum_sd_sd_d(F, u, out):
    """``out[0] += np.einsum("sd,sd->d", F, u)`` (the einsum is computed first, then added; ``out`` ``(1, d)``)."""
    S, d = F.shape
    if d == 1:
        f, g = np.empty(S), np.empty(S)
        for s in range(S):
            f[s], g[s] = F[s, 0], u[s, 0]
        out[0, 0] += einsum_dot(f, g)
        return
    tmp = np.zeros(d)
    for s in range(S):
        for k in range(d):
            tmp[k] += F[s, k] * u[s, k]
    for k in range(d):
        out[0, k] += tmp[k]


@njit(cache=True)
def policy_mean(pi, M, alive, out):
    """``out = np.where(alive, np.einsum("sa,sa->s", pi, M), 0.0)``."""
    S = pi.shape[0]
    for s in range(S):
        out[s] = einsum_dot(pi[s], M[s]) if alive[s] else 0.0


@njit(cache=True)
def multisets(n, N, B, log_probs, log_ranks, log_factorial):
    """The ``B = C(n + N - 1, N)`` multisets of size ``N`` from ``n`` outcomes in the order of
    ``itertools.combinations_with_replacement(range(n), N)``: members ``(B, N)`` int64 (each row nondecreasing) and
    the log multinomial probability ``sum_j log p[m_j] + log N! - sum_j log rank_j`` ``(B,)``, ``rank_j`` the member's
    1-based position within its run of equal outcomes (``log_ranks[k - 1] = log k``), each sum numpy's pairwise one
    over the row."""
    members = np.empty((B, N), np.int64)
    logp = np.empty(B)
    idx = np.zeros(N, np.int64)
    lp, lr = np.empty(N), np.empty(N)
    work = pairwise_stack()
    for b in range(B):
        rank = 0
        for j in range(N):
            members[b, j] = idx[j]
            rank = rank + 1 if j > 0 and idx[j] == idx[j - 1] else 1
            lp[j] = log_probs[idx[j]]
            lr[j] = log_ranks[rank - 1]
        logp[b] = pairwise_into(lp, work) + log_factorial - pairwise_into(lr, work)
        i = N - 1
        while i >= 0 and idx[i] == n - 1:
            i -= 1
        if i < 0:
            break
        v = idx[i] + 1
        for j in range(i, N):
            idx[j] = v
    return members, logp


@njit(cache=True)
def _gathered_sum(x, rows, tmp, work):
    """``x[rows].sum()`` of a gathered 1-d array: numpy's pairwise summation."""
    for i in range(rows.shape[0]):
        tmp[i] = x[rows[i]]
    return pairwise_into(tmp, work)


@njit(cache=True)
def normalized_batch_estimates(members, length, W1, W2, G, U, N, factor, eps):
    """:func:`pgexp.exact.normalization.normalized_estimates` of each batch (row of ``members`` ``(B, N)``):
    ``(B, d)``.  The sums over a batch's members are added as numpy's ``x[members].sum(axis=1)`` adds them --
    pairwise over a contiguous axis (the 1-d statistics, and ``G, U`` when ``d = 1``), else member after member --
    and the formula is evaluated in the module's order."""
    B, _ = members.shape
    d = G.shape[1]
    out = np.empty((B, d))
    Gs, Us = np.empty(d), np.empty(d)
    tmp = np.empty(N)
    work = pairwise_stack()
    for b in range(B):
        rows = members[b]
        K = _gathered_sum(length, rows, tmp, work)
        S1 = _gathered_sum(W1, rows, tmp, work)
        S2 = _gathered_sum(W2, rows, tmp, work)
        if d == 1:
            Gs[0] = _gathered_sum(G[:, 0], rows, tmp, work)
            Us[0] = _gathered_sum(U[:, 0], rows, tmp, work)
        else:
            for k in range(d):
                Gs[k] = 0.0
                Us[k] = 0.0
            for i in range(N):
                for k in range(d):
                    Gs[k] += G[rows[i], k]
                    Us[k] += U[rows[i], k]
        if K < 2:
            for k in range(d):
                out[b, k] = Gs[k] / N
            continue
        Kp = K if K > 0 else 1.0
        m = S1 / Kp
        v = S2 - S1 * S1 / Kp
        v = v if (v >= 0.0 or v != v) else 0.0          # np.maximum(v, 0.0)
        scale = factor / (np.sqrt(v / (K - 1.0)) + eps)
        for k in range(d):
            out[b, k] = (Gs[k] - m * Us[k]) * scale / N
    return out
