r"""Compiled loops of the exact engine: the per-step work of the moment recursion, the Doob decomposition and the
finite-horizon policy evaluation; the cosine prediction's Gaussian draws; the listing of normalised batches.

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
def backward_kernel(P, pi, alive, nuX, nuY, cX, cY, betaX, betaY):
    """:func:`pgexp.exact.recursion.backward`'s loop.  ``P``: the transitions' CSR arrays ``(S*A, S)``;
    ``nu`` ``(L+1, S)``, ``c`` ``(L, S, A)``.  Returns ``M1X, M1Y, M2`` ``(L, S, A)`` and ``NX, NY, NXY`` ``(S,)``."""
    L, S, A = cX.shape
    M1X = np.empty((L, S, A))
    M1Y = np.empty((L, S, A))
    M2 = np.empty((L, S, A))
    NX, NY, NXY = np.zeros(S), np.zeros(S), np.zeros(S)
    V = np.empty((S, 3))
    E = np.empty((S * A, 3))
    bXY = betaX * betaY
    for h in range(L - 1, -1, -1):
        for s in range(S):
            nX, nY = nuX[h + 1, s], nuY[h + 1, s]
            V[s, 0] = nX + betaX * NX[s]
            V[s, 1] = nY + betaY * NY[s]
            V[s, 2] = nX * nY + betaY * nX * NY[s] + betaX * nY * NX[s] + bXY * NXY[s]
        csr_product(P[0], P[1], P[2], V, E)
        for s in range(S):
            for a in range(A):
                i = s * A + a
                x, y = cX[h, s, a], cY[h, s, a]
                M1X[h, s, a] = x + E[i, 0]
                M1Y[h, s, a] = y + E[i, 1]
                M2[h, s, a] = x * y + x * E[i, 1] + y * E[i, 0] + E[i, 2]
        policy_mean(pi, M1X[h], alive, NX)
        policy_mean(pi, M1Y[h], alive, NY)
        policy_mean(pi, M2[h], alive, NXY)
    return M1X, M1Y, M2, NX, NY, NXY


@njit(cache=True)
def _mask_state(state, alive):
    """Zero the forward moments in absorbing states (numpy's ``x * alive``)."""
    p, PmX, PmY, PP, Fa, Fc, Fd, _ = state
    S, d = Fa.shape
    for s in range(S):
        al = alive[s]
        p[s] *= al
        PmX[s] *= al
        PmY[s] *= al
        PP[s] *= al
        for k in range(d):
            Fa[s, k] *= al
            Fc[s, k] *= al
            Fd[s, k] *= al


@njit(cache=True)
def _step_products(h, row, pi, pis, eX, eY, bw, state, out, track, full, cross):
    """Step ``h``'s operands of the products into row ``row`` of ``out`` (``cross`` gets the diagonal ones when
    not ``full``), and its same-step term added to ``Wd``."""
    M1X, M1Y, M2 = bw
    p, PmX, PmY, PP, Fa, Fc, Fd, Wd = state
    op, ou1, oFa, oFc, ov2, oFd, ov3 = out
    S, A = pi.shape
    yY, yX, m23 = np.empty((S, A)), np.empty((S, A)), np.empty((S, A))
    for s in range(S):
        for a in range(A):
            yY[s, a] = M1Y[h, s, a] + eY[h, s, a]
            yX[s, a] = M1X[h, s, a] + eX[h, s, a]
            m23[s, a] = M2[h, s, a] + eY[h, s, a] * M1X[h, s, a]
    weighted_sum_over_actions(yY, pis, ou1[row])
    copy_into(p, op[row])
    if full:
        copy_into(Fa, oFa[row])
    else:
        einsum_sd_sd_d(Fa, ou1[row], cross)
    if track:
        weighted_sum_over_actions(M1X[h], pis, ov2[row])
        weighted_sum_over_actions(m23, pis, ov3[row])
        if full:
            copy_into(Fc, oFc[row])
            copy_into(Fd, oFd[row])
        else:
            einsum_sd_sd_d(Fc, ov2[row], cross)
            einsum_sd_sd_d(Fd, ov3[row], cross)
    for s in range(S):
        for a in range(A):
            x, y = eX[h, s, a], eY[h, s, a]
            inner = M2[h, s, a] + x * M1Y[h, s, a] + y * M1X[h, s, a] + x * y
            Wd[s, a] += pi[s, a] * (PP[s] + PmX[s] * yY[s, a] + PmY[s] * yX[s, a] + p[s] * inner)


@njit(cache=True)
def _push_scalars(h, PT, pi, fX, fY, state):
    """``p, PmX, PmY, PP`` of step ``h + 1`` (pushed through ``pi`` and ``P`` in one sparse product)."""
    kX, rhoX = fX[0], fX[1]
    kY, rhoY = fY[0], fY[1]
    p, PmX, PmY, PP = state[0], state[1], state[2], state[3]
    S, A = pi.shape
    q4 = np.empty((S * A, 4))
    scal = np.empty((S, 4))
    for s in range(S):
        for a in range(A):
            i = s * A + a
            w = pi[s, a]
            ps = p[s]
            rX = kX * rhoX[h, s, a]
            rY = kY * rhoY[h, s, a]
            q4[i, 0] = ps * w
            q4[i, 1] = (PmX[s] + rX * ps) * w
            q4[i, 2] = (PmY[s] + rY * ps) * w
            q4[i, 3] = (PP[s] + rX * PmY[s] + rY * PmX[s] + rX * rY * ps) * w
    csr_product(PT[0], PT[1], PT[2], q4, scal)
    return scal


@njit(cache=True)
def _push_vectors(h, PT, pi, sigma, fX, fY, state, track):
    """``Fa, Fc, Fd`` of step ``h + 1`` from step ``h``'s (in place; every push reads the old ``Fd``)."""
    cX, nuX, betaX, eX = fX[2], fX[3], fX[4], fX[5]
    kY, rhoY = fY[0], fY[1]
    p, PmX, PmY, Fa, Fc, Fd = state[0], state[1], state[2], state[4], state[5], state[6]
    S, A, d = sigma.shape
    qd = np.empty((S * A, d))
    Fe, tmp = np.empty((S, d)), np.empty((S, d))
    for s in range(S):                       # Fe = push(Fd + sigma p)
        for a in range(A):
            w = pi[s, a]
            for k in range(d):
                qd[s * A + a, k] = (Fd[s, k] + sigma[s, a, k] * p[s]) * w
    csr_product(PT[0], PT[1], PT[2], qd, Fe)
    for s in range(S):                       # Fa = push(Fa + cX Fd + sigma (PmX + p (eX + cX))) + nu_{h+1} Fe
        for a in range(A):
            w = pi[s, a]
            c = cX[h, s, a]
            z = PmX[s] + p[s] * (eX[h, s, a] + c)
            for k in range(d):
                qd[s * A + a, k] = (Fa[s, k] + c * Fd[s, k] + sigma[s, a, k] * z) * w
    csr_product(PT[0], PT[1], PT[2], qd, tmp)
    for s in range(S):
        for k in range(d):
            Fa[s, k] = tmp[s, k] + nuX[h + 1, s] * Fe[s, k]
    if not track:
        return
    for s in range(S):                       # Fc = beta push(Fc + rY Fd + sigma (PmY + rY p)),  Fd = beta Fe
        for a in range(A):
            w = pi[s, a]
            rY = kY * rhoY[h, s, a]
            z = PmY[s] + rY * p[s]
            for k in range(d):
                qd[s * A + a, k] = (Fc[s, k] + rY * Fd[s, k] + sigma[s, a, k] * z) * w
    csr_product(PT[0], PT[1], PT[2], qd, tmp)
    for s in range(S):
        for k in range(d):
            Fc[s, k] = betaX * tmp[s, k]
            Fd[s, k] = betaX * Fe[s, k]


@njit(cache=True)
def forward_kernel(h0, h1, PT, pi, sigma, pis, alive, fX, fY, bw, state, out, track, full, cross):
    """Steps ``h0 .. h1-1`` of :func:`pgexp.exact.recursion.moments_reference`'s forward pass (steps 2-3).

    ``PT``: the CSR arrays of ``P^T``; ``fX = (kappa, rho, c, nu, beta, e)`` of family ``X``, ``fY`` the same of
    ``Y``; ``bw = (M1X, M1Y, M2)``; ``state = (p, PmX, PmY, PP, Fa, Fc, Fd, Wd)`` carried from block to block
    (updated in place).  Per step ``h`` (row ``h - h0``) it stores ``out = (p, u1, Fa, Fc, v2, Fd, v3)``, the
    operands of ``mean += p @ u1`` and ``cross += Fa^T u1 + Fc^T v2 + Fd^T v3`` (``Fc``.. only when ``track``),
    which the caller multiplies (BLAS) -- or, when not ``full``, adds the diagonals ``einsum("sd,sd->d")`` to
    ``cross`` ``(1, d)`` itself (2-d either way: one compiled signature).
    """
    L = bw[0].shape[0]
    for h in range(h0, h1):
        _mask_state(state, alive)
        _step_products(h, h - h0, pi, pis, fX[5], fY[5], bw, state, out, track, full, cross)
        if h == L - 1:
            break
        scal = _push_scalars(h, PT, pi, fX, fY, state)
        _push_vectors(h, PT, pi, sigma, fX, fY, state, track)
        for s in range(scal.shape[0]):
            state[0][s] = scal[s, 0]
            state[1][s] = scal[s, 1]
            state[2][s] = scal[s, 2]
            state[3][s] = scal[s, 3]


@njit(cache=True)
def add_steps(total, first, second, third, track):
    """``total += first[i]`` (and ``+= second[i]``, ``+= third[i]`` when ``track``) for each step ``i`` in order:
    numpy's in-place adds of the loop, term after term."""
    for i in range(first.shape[0]):
        total += first[i]
        if track:
            total += second[i]
            total += third[i]


@njit(cache=True)
def step_operands(h0, h1, PT, pi, pis, alive, p, M1, e, p_out, u_out):
    """Steps ``h0 .. h1-1`` of :func:`pgexp.exact.recursion.step_means_reference`: row ``h - h0`` of ``p_out``
    ``(n, S)`` and ``u_out`` ``(n, S, d)`` gets the operands of ``p @ einsum("sad,sa->sd", pis, M1_h + e_h)``;
    ``p`` ``(S,)`` is carried (in place) to the next block."""
    _, S, A = M1.shape
    y = np.empty((S, A))
    x = np.empty((S * A, 1))
    nxt = np.empty((S, 1))
    for h in range(h0, h1):
        row = h - h0
        for s in range(S):
            p[s] *= alive[s]
            p_out[row, s] = p[s]
            for a in range(A):
                y[s, a] = M1[h, s, a] + e[h, s, a]
                x[s * A + a, 0] = p[s] * pi[s, a]
        weighted_sum_over_actions(y, pis, u_out[row])
        csr_product(PT[0], PT[1], PT[2], x, nxt)
        for s in range(S):
            p[s] = nxt[s, 0]


@njit(cache=True)
def _future_terms(P, sigma, M1, e, h, fh, bk, phi_next, Sy, Pphi):
    """``Sy = sigma (M1_h + e_h) (+ f_h sigma b)`` ``(S, A, d)`` and ``Pphi = P phi_{h+1}`` ``(S*A, d)``."""
    S, A, d = sigma.shape
    for s in range(S):
        for a in range(A):
            y = M1[h, s, a] + e[h, s, a]
            for k in range(d):
                Sy[s, a, k] = sigma[s, a, k] * y
            if bk.shape[0] > 0:
                for k in range(d):
                    Sy[s, a, k] = Sy[s, a, k] + fh * sigma[s, a, k] * bk[k]
    csr_product(P[0], P[1], P[2], phi_next, Pphi)


@njit(cache=True)
def _doob_backward(P, pi, sigma, alive, M1, e, f, bk):
    """``N_h(s)`` ``(L+1, S)`` and the future gradient ``phi_h(s)`` ``(L+1, S, d)`` (zero at ``h = L``)."""
    S, A, d = sigma.shape
    L = M1.shape[0]
    N = np.zeros((L + 1, S))
    phi = np.zeros((L + 1, S, d))
    Sy, Pphi, z = np.empty((S, A, d)), np.empty((S * A, d)), np.empty((S, A, d))
    for h in range(L - 1, -1, -1):
        policy_mean(pi, M1[h], alive, N[h])
        _future_terms(P, sigma, M1, e, h, f[h] if bk.shape[0] > 0 else 0.0, bk, phi[h + 1], Sy, Pphi)
        for s in range(S):
            for a in range(A):
                for k in range(d):
                    z[s, a, k] = Sy[s, a, k] + Pphi[s * A + a, k]
        weighted_sum_over_actions(pi, z, phi[h])
        for s in range(S):
            if not alive[s]:
                for k in range(d):
                    phi[h, s, k] = 0.0
    return N, phi


@njit(cache=True)
def _action_term(h, P, pi, sigma, M1, e, f, bk, N, phi, sig2, fwd, sQD):
    """The Doob term of the action ``a_h`` (``sQD`` ``(S, A)`` gets ``einsum("sad,sd->sa", sigma, QD)``)."""
    p, QP, QPP, QDD, QD, QPD = fwd
    S, A, d = sigma.shape
    Sy, Pphi, chi = np.empty((S, A, d)), np.empty((S * A, d)), np.empty(d)
    term = np.empty(S * A)
    _future_terms(P, sigma, M1, e, h, f[h] if bk.shape[0] > 0 else 0.0, bk, phi[h + 1], Sy, Pphi)
    for s in range(S):
        for a in range(A):
            i = s * A + a
            for k in range(d):
                chi[k] = Sy[s, a, k] + Pphi[i, k] - phi[h, s, k]
            dM = M1[h, s, a] - N[h, s]
            sQD[s, a] = einsum_dot(sigma[s, a], QD[s])
            term[i] = pi[s, a] * (dM * dM * QDD[s] + sig2[s, a] * QPP[s] + einsum_dot(chi, chi) * p[s]
                                  + 2 * dM * einsum_dot(sigma[s, a], QPD[s]) + 2 * dM * einsum_dot(chi, QD[s])
                                  + 2 * einsum_dot(sigma[s, a], chi) * QP[s])
    return pairwise_sum(term)


@njit(cache=True)
def _transition_term(h, P, pi, sigma, nu, beta, N, phi, sig2, fwd, sQD):
    """The Doob term of the transition ``s_{h+1}`` (per ``(s, a)``: the spread of the arrival value and of
    ``phi_{h+1}`` over ``s'``, and their covariance)."""
    p, QDD, QD = fwd[0], fwd[3], fwd[4]
    S, A, d = sigma.shape
    indptr, indices, data = P
    arrive, Abar = np.empty((S, 1)), np.empty((S * A, 1))
    Pphi, cov = np.empty((S * A, d)), np.zeros(d)
    dphi, EE, wcov = np.empty(d), np.empty(d), np.empty(data.shape[0])
    term = np.empty(S * A)
    for s in range(S):
        arrive[s, 0] = nu[h + 1, s] + beta * N[h + 1, s]
    csr_product(indptr, indices, data, arrive, Abar)
    csr_product(indptr, indices, data, phi[h + 1], Pphi)
    for s in range(S):
        for a in range(A):
            i = s * A + a
            varA, varphi = 0.0, 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                j = indices[jj]
                diff = arrive[j, 0] - Abar[i, 0]
                varA += data[jj] * diff * diff
                for k in range(d):
                    dphi[k] = phi[h + 1, j, k] - Pphi[i, k]
                varphi += data[jj] * einsum_dot(dphi, dphi)
                wcov[jj] = data[jj] * diff
            for k in range(d):
                cov[k] = 0.0
            for jj in range(indptr[i], indptr[i + 1]):
                for k in range(d):
                    cov[k] += wcov[jj] * phi[h + 1, indices[jj], k]
            for k in range(d):
                EE[k] = QD[s, k] + sigma[s, a, k] * p[s]
            EE2 = QDD[s] + 2 * sQD[s, a] + sig2[s, a] * p[s]
            term[i] = pi[s, a] * (varA * EE2 + varphi * p[s] + 2 * einsum_dot(cov, EE))
    return pairwise_sum(term)


@njit(cache=True)
def _doob_push(h, PT, pi, sigma, beta, beta2, kappa, rho, sig2, fwd, sQD):
    """The forward moments ``p, E[Pi], E[Pi^2], E||D||^2, E[D], E[Pi D]`` of step ``h + 1`` (in place)."""
    p, QP, QPP, QDD, QD, QPD = fwd
    S, A, d = sigma.shape
    q4, scal = np.empty((S * A, 4)), np.empty((S, 4))
    q2, vec = np.empty((S * A, 2 * d)), np.empty((S, 2 * d))
    for s in range(S):
        for a in range(A):
            i = s * A + a
            w = pi[s, a]
            ps = p[s]
            r = kappa * rho[h, s, a]
            q4[i, 0] = ps * w
            q4[i, 1] = (QP[s] + r * ps) * w
            q4[i, 2] = (QPP[s] + 2 * r * QP[s] + r * r * ps) * w
            q4[i, 3] = (QDD[s] + 2 * sQD[s, a] + sig2[s, a] * ps) * w
            for k in range(d):
                t = QD[s, k] + sigma[s, a, k] * ps
                q2[i, k] = t * w
                q2[i, d + k] = (QPD[s, k] + sigma[s, a, k] * QP[s] + r * t) * w
    csr_product(PT[0], PT[1], PT[2], q4, scal)
    csr_product(PT[0], PT[1], PT[2], q2, vec)
    for s in range(S):
        p[s] = scal[s, 0]
        QP[s] = scal[s, 1]
        QPP[s] = scal[s, 2]
        QDD[s] = beta2 * scal[s, 3]
        for k in range(d):
            QD[s, k] = beta * vec[s, k]
            QPD[s, k] = beta * vec[s, d + k]


@njit(cache=True)
def doob_kernel(P, PT, pi, sigma, alive, M1, e, nu, beta, beta2, kappa, rho, f, bk, p, QP, QPP):
    """The two loops of :func:`pgexp.exact.decomposition.doob_decomposition_reference` (its docstring derives
    them): backward, ``N_h`` and the future gradient ``phi_h`` ``(L+1, S, d)``; forward, the Doob terms of the
    action ``a_h`` and the transition ``s_{h+1}`` of each step.  ``P``, ``PT``: CSR arrays of ``P`` and ``P^T``;
    ``f`` ``(L,)`` and ``bk`` ``(d,)`` the optimal baseline (empty arrays: none); ``beta2 = beta ** 2`` (Python's
    power, computed by the caller); ``p, QP, QPP`` the forward moments at ``h = 0`` (updated in place).
    Returns ``(phi, actions (L,), transitions (L,))``."""
    S, A, d = sigma.shape
    L = M1.shape[0]
    N, phi = _doob_backward(P, pi, sigma, alive, M1, e, f, bk)
    sig2 = np.empty((S, A))
    for s in range(S):
        for a in range(A):
            sig2[s, a] = einsum_dot(sigma[s, a], sigma[s, a])
    fwd = (p, QP, QPP, np.zeros(S), np.zeros((S, d)), np.zeros((S, d)))   # p, QP, QPP, QDD, QD, QPD
    sQD = np.empty((S, A))
    actions, transitions = np.zeros(L), np.zeros(L)
    for h in range(L):
        for s in range(S):
            al = 1.0 if alive[s] else 0.0
            for v in fwd[:4]:
                v[s] *= al
            for m in fwd[4:]:
                for k in range(d):
                    m[s, k] *= al
        actions[h] = _action_term(h, P, pi, sigma, M1, e, f, bk, N, phi, sig2, fwd, sQD)
        transitions[h] = _transition_term(h, P, pi, sigma, nu, beta, N, phi, sig2, fwd, sQD)
        if h == L - 1:
            break
        _doob_push(h, PT, pi, sigma, beta, beta2, kappa, rho, sig2, fwd, sQD)
    return phi, actions, transitions


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
