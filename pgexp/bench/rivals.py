"""What a user would write instead of pgexp's sampler, for ``pgexp bench sampler`` to measure against.

Both compute the same thing as the engine's reward-to-go estimate with no baseline -- sample ``N``
trajectories of a tabular MDP under a tabular softmax policy for ``H`` steps and return
``W[s, a] = sum_i sum_h gamma^h R_ih [s_ih = s, a_ih = a]`` (the weights a score pull-back turns into the
gradient) -- the way it is usually written:

* :func:`naive_numba` -- a plain numba loop: one trajectory at a time, numba's own ``np.random``, actions and
  next states by a linear scan of the CDF over the sparse rows of ``P`` (CSR), then a backward pass that
  accumulates the reward-to-go onto ``(s, a)`` cells;
* :func:`numpy_vectorised` -- plain numpy, vectorised over the episodes: per step one uniform per episode,
  actions by comparing with the policy's row CDFs, next states by a search in each row's CDF of ``P``.

They draw other random numbers than pgexp (only rates are compared), and they are not part of the package's
API.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def naive_numba(indptr, indices, p_data, pi, mu_cdf, r, gamma, horizon, n, seed):
    """``W`` ``(S, A)`` of ``n`` trajectories (see the module docstring), and the environment steps taken."""
    np.random.seed(seed)
    S, A = pi.shape
    W = np.zeros((S, A))
    ss = np.empty(horizon, np.int64)
    aa = np.empty(horizon, np.int64)
    rr = np.empty(horizon)
    steps = 0
    for _ in range(n):
        u = np.random.random()
        s = 0
        while s < S - 1 and u >= mu_cdf[s]:
            s += 1
        for h in range(horizon):
            u = np.random.random()
            a = 0
            c = pi[s, 0]
            while a < A - 1 and u >= c:
                a += 1
                c += pi[s, a]
            ss[h] = s
            aa[h] = a
            rr[h] = r[s, a]
            row = s * A + a
            u = np.random.random()
            j = indptr[row]
            c = p_data[j]
            while j < indptr[row + 1] - 1 and u >= c:
                j += 1
                c += p_data[j]
            s = indices[j]
        acc = 0.0
        for h in range(horizon - 1, -1, -1):
            acc = rr[h] + gamma * acc
            W[ss[h], aa[h]] += gamma**h * acc
        steps += horizon
    return W, steps


def numpy_vectorised(indptr: np.ndarray, indices: np.ndarray, p_cdf: np.ndarray, pi_cdf: np.ndarray,
                     mu_cdf: np.ndarray, r: np.ndarray, gamma: float, horizon: int, n: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``W`` ``(S, A)`` of ``n`` trajectories in plain numpy (``p_cdf``: the running sum of each CSR row of ``P``,
    ``pi_cdf`` ``(S, A)`` the policy's row CDFs)."""
    S, A = pi_cdf.shape
    states = np.empty((horizon, n), np.int64)
    actions = np.empty((horizon, n), np.int64)
    rewards = np.empty((horizon, n))
    s = np.minimum(np.searchsorted(mu_cdf, rng.random(n), side="right"), S - 1)
    # every row's CDF offset by the row index, so one sorted array serves every row's search
    shifted = p_cdf + np.repeat(np.arange(S * A), np.diff(indptr))
    for h in range(horizon):
        a = np.minimum((rng.random(n)[:, None] >= pi_cdf[s]).sum(axis=1), A - 1)
        states[h], actions[h], rewards[h] = s, a, r[s, a]
        row = s * A + a
        start, end = indptr[row], indptr[row + 1]
        # the k-th entry of each row: search the row's CDF (offset by the row index so one sorted array serves all)
        target = row + rng.random(n)
        k = np.searchsorted(shifted, target, side="right")
        s = indices[np.clip(k, start, end - 1)]
    returns = np.zeros(n)
    W = np.zeros(S * A)
    for h in range(horizon - 1, -1, -1):
        returns = rewards[h] + gamma * returns
        np.add.at(W, states[h] * A + actions[h], gamma**h * returns)
    return W.reshape(S, A), n * horizon
