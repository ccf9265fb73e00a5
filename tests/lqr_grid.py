"""A scalar ``H = 2`` LQR trajectory's whole randomness on a Gauss-Hermite grid, as one batch: exact integrals of
estimator formulas (tests/exact/test_lqr.py, tests/estimators/test_lqr_action.py)."""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import hermite_e as herm

from pgexp.estimators.batch import Batch
from pgexp.runs.context import make_context


def grid_batch(p, points=8):
    """Every node of a Gauss-Hermite grid over ``(x_0, eps_0, w_0, eps_1)`` -- all the randomness of an ``H = 2``
    trajectory (``w_1`` moves only ``x_2``, which nothing reads) -- as a batch: ``(ctx, batch, weight, grid)``,
    ``weight`` ``(points**4,)`` the grid's probabilities (the rule is exact to degree ``2 points - 1`` per
    variable), ``grid`` ``(points**4, 4)`` its nodes."""
    ctx = make_context(p)
    z, w = herm.hermegauss(points)
    w = w / w.sum()
    g = np.stack(np.meshgrid(z, z, z, z, indexing="ij"), -1).reshape(-1, 4)
    weight = np.prod(np.stack(np.meshgrid(w, w, w, w, indexing="ij"), -1).reshape(-1, 4), axis=1)
    s = p.system
    a, b, q, r = (float(M[0, 0]) for M in (s.A, s.B, s.Q, s.R))
    k, sigma = float(ctx.evaluation.K[0, 0]), ctx.evaluation.sigma
    x0 = math.sqrt(float(s.Sigma0[0, 0])) * g[:, 0]
    u0 = -k * x0 + sigma * g[:, 1]
    x1 = a * x0 + b * u0 + math.sqrt(float(s.W[0, 0])) * g[:, 2]
    u1 = -k * x1 + sigma * g[:, 3]
    states = np.stack([x0, x1], 1)[..., None]
    actions = np.stack([u0, u1], 1)[..., None]
    rewards = -(q * states[..., 0] ** 2 + r * actions[..., 0] ** 2)
    N = states.shape[0]
    nxt = np.concatenate([states[:, 1:], np.zeros((N, 1, 1))], axis=1)
    batch = Batch(states, actions, rewards, np.full(N, 2), p.gamma, 2, nxt, np.ones(N, bool), np.zeros(N, bool), "lqr",
                  context=ctx, exact=ctx.exact_on)
    return ctx, batch, weight, g
