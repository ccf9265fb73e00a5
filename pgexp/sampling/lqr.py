"""Trajectories of linear-quadratic problems, every replicate of a stack in one vectorised simulation.

Replicate ``k`` of a stack draws its normals from its own ``numpy.random.Generator`` seeded by its own
SeedSequence (:class:`~pgexp.sampling.rng.Streams`: ``(m, MAIN)`` of replicate ``m``), in a fixed order -- ``n``
normals per trajectory for ``x_0``, then per step and trajectory ``m`` for ``eps_t`` and ``n`` for ``w_t`` (step-major,
so a run cut after ``T`` steps is a prefix of the full one) -- so its trajectories are the same whether it is
drawn alone or in a stack of any size.  The dynamics then run once for the whole stack, one vectorised numpy
step per time step::

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
    """``(z0 (R n_traj, n), z (steps, R n_traj, m + n))`` standard normals, replicate ``k`` in rows
    ``[k n_traj, (k + 1) n_traj)`` from its own generator (module docstring)."""
    z0, z = [], []
    for seq in seqs:
        rng = np.random.default_rng(seq)
        z0.append(rng.standard_normal((n_traj, n)))
        z.append(rng.standard_normal((steps, n_traj, m + n)))
    return np.concatenate(z0), np.concatenate(z, axis=1)


def simulate(system, K: np.ndarray, sigma: float, steps: int, seqs: Sequence[np.random.SeedSequence],
             n_traj: int) -> LQRTrajectories:
    """``n_traj`` trajectories of ``steps`` steps for every SeedSequence of ``seqs`` (one per replicate)."""
    n, m = system.n, system.m
    z0, z = draw_noise(seqs, n_traj, steps, n, m)
    N = z0.shape[0]
    L0, LW = psd_sqrt(system.Sigma0), psd_sqrt(system.W)
    states = np.empty((N, steps, n))
    actions = np.empty((N, steps, m))
    rewards = np.empty((N, steps))
    x = z0 @ L0.T
    if n == 1 and m == 1:  # scalar systems: plain arithmetic on (N,) vectors, no tiny matrix products
        a, b, q, r, k, lw = (float(M[0, 0]) for M in (system.A, system.B, system.Q, system.R, K, LW))
        xs = x[:, 0].copy()
        for t in range(steps):
            e = z[t, :, 0]
            u = -k * xs + sigma * e
            states[:, t, 0] = xs
            actions[:, t, 0] = u
            rewards[:, t] = -(q * xs * xs + r * u * u)
            xs = a * xs + b * u + lw * z[t, :, 1]
        return LQRTrajectories(states, actions, rewards, xs[:, None], z[:, :, :1].transpose(1, 0, 2).copy())
    At, Bt, Kt, LWt = system.A.T, system.B.T, K.T, LW.T
    for t in range(steps):
        e = z[t, :, :m]
        u = -x @ Kt + sigma * e
        states[:, t] = x
        actions[:, t] = u
        rewards[:, t] = -(np.einsum("ni,ij,nj->n", x, system.Q, x) + np.einsum("ni,ij,nj->n", u, system.R, u))
        x = x @ At + u @ Bt + z[t, :, m:] @ LWt
    return LQRTrajectories(states, actions, rewards, x, z[:, :, :m].transpose(1, 0, 2).copy())


__all__ = ["LQRTrajectories", "draw_noise", "psd_sqrt", "simulate"]
