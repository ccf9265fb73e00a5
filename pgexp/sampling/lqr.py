"""Trajectories of linear-quadratic problems, every replicate of a stack in one vectorised simulation.

Replicate ``k`` of a stack draws its normals from its own ``numpy.random.Generator`` seeded by its own
SeedSequence (:class:`~pgexp.sampling.rng.Streams`: ``(m, MAIN)`` of replicate ``m``), in a fixed order -- ``n``
normals per trajectory for ``x_0``, then per step and trajectory ``m`` for ``eps_t`` and ``n`` for ``w_t`` (step-major)
-- so its trajectories are the same whether it is drawn alone or in a stack of any size.  The dynamics then run
once for the whole stack, one vectorised numpy step per time step::

    u_t = -K x_t + sigma eps_t,   r_t = -(x_t' Q x_t + u_t' R u_t),   x_{t+1} = A x_t + B u_t + L_W z_t,

with ``x_0 = L_0 z``, where ``L L' = W`` (``Sigma0``) by a symmetric square root (singular covariances allowed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class LQRTrajectories:
    """``states (N, L, n)``, ``actions (N, L, m)``, ``rewards (N, L)``, ``final_states (N, n)`` (``x_L``) and
    ``eps (N, L, m)`` (the standardised action noise, ``(u - mu) / sigma``)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_states: np.ndarray
    eps: np.ndarray


def psd_sqrt(M: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L L' = M`` for a symmetric positive semi-definite ``M`` (eigen-decomposition)."""
    lam, V = np.linalg.eigh(0.5 * (M + M.T))
    return V * np.sqrt(np.maximum(lam, 0.0))


def draw_noise(seqs: Sequence[np.random.SeedSequence], n_traj: int, steps: int, n: int, m: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(z0 (R, n_traj, n), z (R, steps, n_traj, m + n))`` standard normals, replicate ``k``'s from its own generator
    (module docstring), each written in place."""
    R = len(seqs)
    z0 = np.empty((R, n_traj, n))
    z = np.empty((R, steps, n_traj, m + n))
    for k, seq in enumerate(seqs):
        rng = np.random.default_rng(seq)
        rng.standard_normal(out=z0[k])
        rng.standard_normal(out=z[k])
    return z0, z


def simulate(system, K: np.ndarray, sigma: float, steps: int, seqs: Sequence[np.random.SeedSequence],
             n_traj: int) -> LQRTrajectories:
    """``n_traj`` trajectories of ``steps`` steps for every SeedSequence of ``seqs`` (one per replicate); rows of the
    result: replicate after replicate.  The loop runs over time with every trajectory of the stack in one array
    (time-major buffers, transposed once at the end)."""
    n, m = system.n, system.m
    z0, z = draw_noise(seqs, n_traj, steps, n, m)
    N = z0.shape[0] * n_traj
    L0, LW = psd_sqrt(system.Sigma0), psd_sqrt(system.W)
    xs_t = np.empty((steps, N, n))
    us_t = np.empty((steps, N, m))
    rs_t = np.empty((steps, N))
    es_t = np.empty((steps, N, m))
    x = z0.reshape(N, n) @ L0.T
    scalar = n == 1 and m == 1
    if scalar:
        a, b, q, r, k, lw = (float(M[0, 0]) for M in (system.A, system.B, system.Q, system.R, K, LW))
    for t in range(steps):
        zt = z[:, t].reshape(N, m + n)
        e = zt[:, :m]
        es_t[t] = e
        xs_t[t] = x
        if scalar:  # plain arithmetic on (N,) vectors: no tiny matrix products
            xv, ev = x[:, 0], e[:, 0]
            u1 = -k * xv + sigma * ev
            us_t[t, :, 0] = u1
            rs_t[t] = -(q * xv * xv + r * u1 * u1)
            x = (a * xv + b * u1 + lw * zt[:, 1])[:, None]
            continue
        u = -x @ K.T + sigma * e
        us_t[t] = u
        rs_t[t] = -(np.einsum("ni,ij,nj->n", x, system.Q, x) + np.einsum("ni,ij,nj->n", u, system.R, u))
        x = x @ system.A.T + u @ system.B.T + zt[:, m:] @ LW.T
    return LQRTrajectories(np.ascontiguousarray(xs_t.transpose(1, 0, 2)), np.ascontiguousarray(us_t.transpose(1, 0, 2)),
                           np.ascontiguousarray(rs_t.T), x, np.ascontiguousarray(es_t.transpose(1, 0, 2)))


__all__ = ["LQRTrajectories", "draw_noise", "psd_sqrt", "simulate"]
