r"""Compiled steps of the moment recursion (:mod:`pgexp.exact.recursion`): the backward pass of the first moments,
the forward pass of the products of two weight families, block by block.  The same numbers as the numpy form, bit
for bit, by the rules of :mod:`pgexp.exact.kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit

from pgexp.exact.kernels import copy_into, csr_product, einsum_sd_sd_d, policy_mean, weighted_sum_over_actions


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


