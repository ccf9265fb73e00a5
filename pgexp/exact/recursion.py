r"""Exact first and second moments of trajectory estimators by a (time, state) moment recursion.

For two weight families ``X, Y`` (:mod:`pgexp.exact.families`: ``w_h = Pi_h + F_h + e_h``) this computes
``E[g_X]``, ``E[g_Y]`` and ``E[g_X g_Y^T]`` with ``g = sum_h sigma_h w_h`` in ``O(L (S A d + nnz(P) d + S d^2))``
(``O(L (S A d + nnz(P) d))`` for the diagonal alone), never listing trajectories.  ``p_h(s)`` is the
probability that the episode is still running and in ``s`` at step ``h``; "``; s``" below means "jointly
with ``1{s_h = s}``"; ``E[. | s, a]`` conditions on ``s_h = s, a_h = a``.

Two facts carry everything: the Markov property (given ``s_h``, the past and the future are
independent) and ``E[sigma_h | s_h] = sum_a pi(a|s) grad log pi(a|s) = 0``.

1. Backward (the future).  Per family ``M1_h(s,a) = E[F_h | s,a]`` and jointly
   ``M2_h(s,a) = E[F^X_h F^Y_h | s,a]``.  With the arrival term ``Z_{h+1} = nu_{h+1}(s') + beta F_{h+1}``,
   ``F_h = c_h + Z_{h+1}``, so with ``N_{h+1}(s') = sum_a pi M1_{h+1}(s', a)`` (0 where the episode is over:
   absorbing ``s'`` or ``h+1 = L``) and ``A_{h+1}(s') = E[Z_{h+1} | s'] = nu + beta N``::

       M1_h  = c_h + P A_{h+1}
       M2_h  = c^X c^Y + c^X P A^Y + c^Y P A^X
               + P (nu^X nu^Y + beta^Y nu^X N^Y + beta^X nu^Y N^X + beta^X beta^Y N^{XY}).

2. Same step (``t = h``): ``Pi_h`` is a function of the past, ``F_h, e_h`` of ``(s_h, a_h)`` and the
   future, so ``E[sigma sigma^T w^X w^Y; s | a] = sigma sigma^T pi [PP + Pm^X y^Y + Pm^Y y^X
   + p (M2 + e^X M1^Y + e^Y M1^X + e^X e^Y)]`` with ``y = M1 + e`` and the forward moments
   ``p``, ``Pm = E[Pi_h; s]``, ``PP = E[Pi^X_h Pi^Y_h; s]``.

3. Cross steps ``t < h``.  Split the earlier weight at ``h``:
   ``w^X_t = B_{t,h} + beta^{h-t} F^X_h`` with ``B_{t,h} = Pi_t + e_t + sum_{u=t}^{h-1} beta^{u-t}(c_u + nu_{u+1})``
   known before ``a_h``; write ``w^Y_h = Pi^Y_h + y^Y_h``.  Conditioning on the history up to ``s_h``,
   ``E[sigma_h | .] = 0`` removes ``B Pi^Y``, and::

       E[sigma_t w^X_t w^Y_h sigma_h^T] = E[sigma_t B_{t,h} u1(s_h)^T] + E[beta^{h-t} sigma_t Pi^Y_h u2(s_h)^T]
                                          + E[beta^{h-t} sigma_t u3(s_h)^T],
       u1 = E[sigma y^Y | s],  u2 = E[sigma F^X | s],  u3 = E[sigma F^X y^Y | s] = sum_a pi sigma (M2 + e^Y M1^X).

   Summed over ``t < h`` these need three forward vectors per state:
   ``Fa = E[sum_t sigma_t B_{t,h}; s]``, ``Fc = E[D_h Pi^Y_h; s]``, ``Fd = E[D_h; s]`` with
   ``D_h = sum_{t<h} beta^{h-t} sigma_t``.  From ``D_{h+1} = beta (D_h + sigma_h)`` and
   ``B_{t,h+1} = B_{t,h} + beta^{h-t} (c_h + nu_{h+1}(s_{h+1}))``, pushing ``(s, a) -> s'`` with
   ``pi(a|s) P(s'|s,a)``::

       Fe'  = push(Fd + sigma p)                               (= E[D_h + sigma_h; s'])
       Fd'  = beta Fe'
       Fa'  = push(Fa + c Fd + sigma (Pm^X + p (e + c))) + nu_{h+1}(s') Fe'
       Fc'  = beta push(Fc + kappa^Y rho^Y Fd + sigma (Pm^Y + kappa^Y rho^Y p))
       p'   = push(p),  Pm' = push(Pm + kappa rho p),
       PP'  = push(PP + kappa^X rho^X Pm^Y + kappa^Y rho^Y Pm^X + kappa^X kappa^Y rho^X rho^Y p).

   The ``t > h`` terms are the transposed ``t < h`` terms of the swapped pair ``(Y, X)``, so
   ``E[g_X g_Y^T] = same-step + cross(X, Y) + cross(Y, X)^T``.

4. ``E[g_Y] = sum_h sum_s p_h(s) u1_h(s)`` and ``Cov = E[g g^T] - E[g] E[g]^T``.

Every quantity is zeroed in absorbing states at each step (the episode is over: no action, no score).

Two implementations of the same steps: the ``*_reference`` functions in numpy and scipy.sparse, one call per
array operation of a step, and the public ones, whose loops over steps run compiled
(:mod:`pgexp.exact.recursion_kernels`; ~50x faster at the study's sizes, where call overhead dominates) and leave the
matrix products to BLAS, batched over steps.  Both evaluate every operation in the same order: they return the
same numbers, bit for bit (tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgexp.exact.families import WeightFamily
from pgexp.exact.model import ExactSetup
from pgexp.progress import bar
from pgexp.progress import track as with_progress

BLOCK_BYTES = 2**20  # a block of steps' operands and products, held at once: small enough to stay in cache


@dataclass(frozen=True, eq=False)
class Backward:
    """Backward moments of a pair of families: ``M1X, M1Y, M2`` ``(L, S, A)`` and their ``h = 0`` state
    values ``N1X, N1Y, NXY`` ``(S,)`` (``E[F_0 | s_0]`` etc.)."""

    M1X: np.ndarray
    M1Y: np.ndarray
    M2: np.ndarray
    N1X: np.ndarray
    N1Y: np.ndarray
    NXY: np.ndarray


def backward_reference(st: ExactSetup, X: WeightFamily, Y: WeightFamily) -> Backward:
    """Step 1 of the module docstring (numpy; :func:`backward` is the compiled form)."""
    mdp = st.mdp
    S, A, L = st.num_states, st.num_actions, st.L
    alive = ~st.absorbing
    M1X, M1Y, M2 = (np.empty((L, S, A)) for _ in range(3))
    NX, NY, NXY = np.zeros(S), np.zeros(S), np.zeros(S)
    for h in range(L - 1, -1, -1):
        nX, nY = X.nu[h + 1], Y.nu[h + 1]
        AX = nX + X.beta * NX
        AY = nY + Y.beta * NY
        AXY = nX * nY + Y.beta * nX * NY + X.beta * nY * NX + X.beta * Y.beta * NXY
        E = mdp.expected_next(np.stack([AX, AY, AXY], axis=1))   # (S, A, 3)
        cX, cY = X.c[h], Y.c[h]
        M1X[h] = cX + E[..., 0]
        M1Y[h] = cY + E[..., 1]
        M2[h] = cX * cY + cX * E[..., 1] + cY * E[..., 0] + E[..., 2]
        NX = np.where(alive, np.einsum("sa,sa->s", st.pi, M1X[h]), 0.0)
        NY = np.where(alive, np.einsum("sa,sa->s", st.pi, M1Y[h]), 0.0)
        NXY = np.where(alive, np.einsum("sa,sa->s", st.pi, M2[h]), 0.0)
    return Backward(M1X, M1Y, M2, NX, NY, NXY)


def _pass_reference(st: ExactSetup, X: WeightFamily, Y: WeightFamily, bw: Backward, full: bool):
    """Steps 2-4 for the ordered pair: ``(E[g_Y], same-step, cross(X, Y))`` -- ``(d, d)`` matrices when
    ``full``, else their diagonals ``(d,)``."""
    mdp = st.mdp
    S, A, d = st.sigma.shape
    pi, sigma = st.pi, st.sigma
    PT = mdp.P.T.tocsr()
    pis = pi[:, :, None] * sigma
    alive = (~st.absorbing).astype(np.float64)
    mu = mdp.mu
    p, PmX, PmY, PP = mu.copy(), mu * X.p0, mu * Y.p0, mu * X.p0 * Y.p0
    Fa, Fc, Fd = np.zeros((S, d)), np.zeros((S, d)), np.zeros((S, d))
    track = X.beta != 0.0          # D_h = 0 when beta = 0 (only the arrival term uses Fe then)
    Wd = np.zeros((S, A))
    cross = np.zeros((d, d)) if full else np.zeros(d)
    mean = np.zeros(d)
    kX, kY = X.kappa, Y.kappa

    def push(q: np.ndarray) -> np.ndarray:                # pi-weighted (S, A, ...) -> next state (S, ...)
        q = q * pi.reshape((S, A) + (1,) * (q.ndim - 2))
        return (PT @ q.reshape(S * A, -1)).reshape((S, *q.shape[2:]))

    def acc(F: np.ndarray, u: np.ndarray) -> np.ndarray:
        return F.T @ u if full else np.einsum("sd,sd->d", F, u)

    for h in with_progress(range(st.L), desc="second moments (DP)", unit="step"):
        p, PmX, PmY, PP = p * alive, PmX * alive, PmY * alive, PP * alive
        Fa *= alive[:, None]
        Fc *= alive[:, None]
        Fd *= alive[:, None]
        m1X, m1Y, m2 = bw.M1X[h], bw.M1Y[h], bw.M2[h]
        eX, eY = X.e[h], Y.e[h]
        yY = m1Y + eY
        yX = m1X + eX
        u1 = np.einsum("sad,sa->sd", pis, yY)
        mean += p @ u1
        cross += acc(Fa, u1)
        if track:
            cross += acc(Fc, np.einsum("sad,sa->sd", pis, m1X))
            cross += acc(Fd, np.einsum("sad,sa->sd", pis, m2 + eY * m1X))
        Wd += pi * (PP[:, None] + PmX[:, None] * yY + PmY[:, None] * yX
                    + p[:, None] * (m2 + eX * m1Y + eY * m1X + eX * eY))
        if h == st.L - 1:
            break
        rX, rY = kX * X.rho[h], kY * Y.rho[h]
        cX = X.c[h]
        pc = p[:, None]
        scal = push(np.stack([np.broadcast_to(pc, (S, A)), PmX[:, None] + rX * pc, PmY[:, None] + rY * pc,
                              PP[:, None] + rX * PmY[:, None] + rY * PmX[:, None] + rX * rY * pc], axis=-1))
        Fe = push(Fd[:, None, :] + sigma * pc[:, :, None])
        Fa = push(Fa[:, None, :] + cX[:, :, None] * Fd[:, None, :]
                  + sigma * (PmX[:, None] + pc * (eX + cX))[:, :, None]) + X.nu[h + 1][:, None] * Fe
        if track:
            Fc = X.beta * push(Fc[:, None, :] + rY[:, :, None] * Fd[:, None, :]
                               + sigma * (PmY[:, None] + rY * pc)[:, :, None])
            Fd = X.beta * Fe
        p, PmX, PmY, PP = scal[:, 0], scal[:, 1], scal[:, 2], scal[:, 3]
    flat = sigma.reshape(S * A, d)
    w = Wd.reshape(-1)
    diag = (flat * w[:, None]).T @ flat if full else w @ (flat * flat)
    return mean, diag, cross


def moments_reference(st: ExactSetup, X: WeightFamily, Y: WeightFamily | None = None, *,
                      full: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`moments` in numpy (the reference the compiled form is tested against)."""
    return _combine(st, X, Y, full, backward_reference, _pass_reference)


def moments(st: ExactSetup, X: WeightFamily, Y: WeightFamily | None = None, *,
            full: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(E[g_X], E[g_Y], E[g_X g_Y^T])`` (``Y = None``: ``Y = X``); the last is ``(d, d)``, or its diagonal
    ``(d,)`` when not ``full``."""
    return _combine(st, X, Y, full, backward, _pass)


def _combine(st, X, Y, full, bwd, fwd):
    if Y is None:
        bw = bwd(st, X, X)
        mean, diag, cross = fwd(st, X, X, bw, full)
        return mean, mean, diag + cross + (cross.T if full else cross)
    bXY = bwd(st, X, Y)
    mY, diag, cXY = fwd(st, X, Y, bXY, full)
    bYX = Backward(bXY.M1Y, bXY.M1X, bXY.M2, bXY.N1Y, bXY.N1X, bXY.NXY)
    mX, _, cYX = fwd(st, Y, X, bYX, full)
    return mX, mY, diag + cXY + (cYX.T if full else cYX)


# --------------------------------------------------------------------------- compiled forms

def _arrays(F: WeightFamily) -> tuple:
    """``(kappa, rho, c, nu, beta, e)`` of a family, contiguous float64 (one compiled signature)."""
    c = np.ascontiguousarray
    return (float(F.kappa), c(F.rho, dtype=np.float64), c(F.c, dtype=np.float64), c(F.nu, dtype=np.float64),
            float(F.beta), c(F.e, dtype=np.float64))


def backward(st: ExactSetup, X: WeightFamily, Y: WeightFamily) -> Backward:
    """Step 1 of the module docstring, compiled (:func:`backward_reference`'s numbers)."""
    from pgexp.exact import recursion_kernels as kernels

    fX, fY = _arrays(X), _arrays(Y)
    M1X, M1Y, M2, NX, NY, NXY = kernels.backward_kernel(st.csr_P, st.pi_c, ~st.absorbing, fX[3], fY[3], fX[2],
                                                        fY[2], fX[4], fY[4])
    return Backward(M1X, M1Y, M2, NX, NY, NXY)


def _pass(st: ExactSetup, X: WeightFamily, Y: WeightFamily, bw: Backward, full: bool):
    """:func:`_pass_reference` with its loop over steps compiled, block by block of steps: the kernel stores each
    step's operands, BLAS multiplies them (one batched ``matmul`` per block) and the products are added in the
    loop's order."""
    from pgexp.exact import recursion_kernels as kernels

    S, A, d = st.sigma.shape
    L = st.L
    mu = st.mdp.mu
    track = X.beta != 0.0
    state = (mu.copy(), mu * X.p0, mu * Y.p0, mu * X.p0 * Y.p0, np.zeros((S, d)), np.zeros((S, d)),
             np.zeros((S, d)), np.zeros((S, A)))
    per_step = S + S * d * (1 + (2 if track else 0) + (1 + (2 if track else 0) if full else 0)) + d \
        + (d * d * (1 + (2 if track else 0)) if full else 0)
    nb = max(1, min(L, BLOCK_BYTES // (8 * per_step)))
    big = (nb, S, d)
    none = np.zeros((1, 1, 1))
    out = (np.zeros((nb, S)), np.zeros(big), np.zeros(big) if full else none,
           np.zeros(big) if full and track else none, np.zeros(big) if track else none,
           np.zeros(big) if full and track else none, np.zeros(big) if track else none)
    mean = np.zeros(d)
    cross = np.zeros((d, d) if full else (1, d))
    means = np.zeros((nb, 1, d))
    prods = [np.zeros((nb, d, d)) if full and (i == 0 or track) else none for i in range(3)]
    fX, fY = _arrays(X), _arrays(Y)
    sigma = np.ascontiguousarray(st.sigma, dtype=np.float64)
    pis = st.pi[:, :, None] * st.sigma
    progress = bar(total=L, desc="second moments (DP)", unit="step")
    for h0 in range(0, L, nb):
        n = min(L, h0 + nb) - h0
        kernels.forward_kernel(h0, h0 + n, st.csr_PT, st.pi_c, sigma, pis, st.alive_f, fX, fY,
                               (bw.M1X, bw.M1Y, bw.M2), state, out, track, full, cross)
        op, ou1, oFa, oFc, ov2, oFd, ov3 = out
        np.matmul(op[:n, None, :], ou1[:n], out=means[:n])
        kernels.add_steps(mean, means[:n, 0], means[:n, 0], means[:n, 0], False)
        if full:
            np.matmul(oFa[:n].transpose(0, 2, 1), ou1[:n], out=prods[0][:n])
            if track:
                np.matmul(oFc[:n].transpose(0, 2, 1), ov2[:n], out=prods[1][:n])
                np.matmul(oFd[:n].transpose(0, 2, 1), ov3[:n], out=prods[2][:n])
            kernels.add_steps(cross, prods[0][:n], prods[1][:n], prods[2][:n], track)
        progress.update(n)
    progress.close()
    flat = st.sigma.reshape(S * A, d)
    w = state[7].reshape(-1)
    diag = (flat * w[:, None]).T @ flat if full else w @ (flat * flat)
    return mean, diag, cross if full else cross[0]


def state_values(st: ExactSetup, X: WeightFamily) -> tuple[np.ndarray, np.ndarray]:
    """``(E[F_0 | s_0], E[F_0^2 | s_0])``, each ``(S,)``: with :func:`~pgexp.exact.families.return_family`,
    the first two moments of the return ``G_0`` from each start state."""
    bw = backward(st, X, X)
    return bw.N1X, bw.NXY


def step_means(st: ExactSetup, X: WeightFamily) -> np.ndarray:
    """``E[sigma_h w_h]`` for each step ``h``, ``(L, d)`` (``E[sigma_h Pi_h] = 0``, so ``y = M1 + e`` suffices)."""
    from pgexp.exact import recursion_kernels as kernels

    bw = backward(st, X, X)
    S, _, d = st.sigma.shape
    L = st.L
    pis = st.pi[:, :, None] * st.sigma
    e = np.ascontiguousarray(X.e, dtype=np.float64)
    nb = max(1, min(L, BLOCK_BYTES // (8 * (S + S * d + d))))
    p, p_out, u_out = st.mdp.mu.copy(), np.zeros((nb, S)), np.zeros((nb, S, d))
    out = np.zeros((L, d))
    for h0 in range(0, L, nb):
        n = min(L, h0 + nb) - h0
        kernels.step_operands(h0, h0 + n, st.csr_PT, st.pi_c, pis, st.alive_f, p, bw.M1X, e, p_out, u_out)
        out[h0:h0 + n] = np.matmul(p_out[:n, None, :], u_out[:n]).reshape(n, d)
    return out


def mean(st: ExactSetup, X: WeightFamily) -> np.ndarray:
    """``E[g_X]`` ``(d,)`` alone: the steps' :func:`step_means` added in order, the first output of :func:`moments`
    bit for bit (its forward pass adds the same ``p_h @ u1_h``) without the second moments."""
    from pgexp.exact import recursion_kernels as kernels

    steps = step_means(st, X)
    total = np.zeros(st.dim)
    kernels.add_steps(total, steps, steps, steps, False)
    return total


def step_means_reference(st: ExactSetup, X: WeightFamily) -> np.ndarray:
    """:func:`step_means` in numpy."""
    bw = backward_reference(st, X, X)
    pis = st.pi[:, :, None] * st.sigma
    alive = (~st.absorbing).astype(np.float64)
    p = st.mdp.mu.copy()
    out = np.zeros((st.L, st.dim))
    for h in range(st.L):
        p = p * alive
        out[h] = p @ np.einsum("sad,sa->sd", pis, bw.M1X[h] + X.e[h])
        p = ((p[:, None] * st.pi).ravel() @ st.mdp.P)
    return out
