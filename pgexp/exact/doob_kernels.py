r"""Compiled Doob decomposition of the variance (:func:`pgexp.exact.decomposition.doob_decomposition`): the
future gradients backwards, then per step the action and transition terms and the push of the state moments.  The
same numbers as :func:`pgexp.exact.decomposition.doob_decomposition_reference`, bit for bit, by the rules of
:mod:`pgexp.exact.kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit

from pgexp.exact.kernels import csr_product, einsum_dot, pairwise_sum, policy_mean, weighted_sum_over_actions


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
def doob_kernel(model, family, start):
    """The two loops of :func:`pgexp.exact.decomposition.doob_decomposition_reference` (its docstring derives
    them): backward, ``N_h`` and the future gradient ``phi_h`` ``(L+1, S, d)``; forward, the Doob terms of the
    action ``a_h`` and the transition ``s_{h+1}`` of each step.  Three structures, unpacked once:
    ``model = (P, PT, pi, sigma, alive)`` (``P``, ``PT``: CSR arrays of ``P`` and ``P^T``);
    ``family = (M1, e, nu, beta, beta2, kappa, rho, f, bk)`` (``f`` ``(L,)`` and ``bk`` ``(d,)`` the optimal
    baseline, empty arrays: none; ``beta2 = beta ** 2``, Python's power, computed by the caller);
    ``start = (p, QP, QPP)`` the forward moments at ``h = 0`` (updated in place).
    Returns ``(phi, actions (L,), transitions (L,))``."""
    P, PT, pi, sigma, alive = model
    M1, e, nu, beta, beta2, kappa, rho, f, bk = family
    p, QP, QPP = start
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


