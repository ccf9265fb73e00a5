"""Baselines: what is subtracted from the return to cut variance without adding bias.

* ``none``          -- ``b = 0``.
* ``constant``      -- leave-one-out mean of the *other* trajectories' returns of the batch: it does
                       not depend on the trajectory's own actions, so the estimate stays unbiased.
* ``value_exact``   -- the oracle ``V`` (time-indexed ``V_h`` for a finite horizon).
* ``value_learned`` -- a regression of the return from ``h`` on one-hot state features (the per-state
                       mean), fitted on an independent batch.
* ``optimal``       -- Greensmith, Bartlett & Baxter's variance-minimising per-coordinate constant
                       ``b_k = E[u_k v_k] / E[v_k^2]`` for ``g = u - b (.) v``, fitted on an independent batch.
"""

from __future__ import annotations

import numpy as np

from pgexp.errors import UserError

BASELINES = ("none", "constant", "value_exact", "value_learned", "optimal")
# Baselines only a training run has (pgexp.runs.train_kernels), with why an estimation job refuses them.
TRAINING_ONLY_BASELINES = {
    "value_online": "a value v(s, w) learned along training (w <- w + alpha_w (G_t - v(S_t, w)) x(S_t)); "
                    "an estimation job has no training to learn it from",
    "optimal_exact": "the exact minimum-variance constant b*, recomputed at every training step (one-step "
                     "problems); for estimation use --baseline optimal, or pgexp exact-variance --baseline "
                     "optimal",
}


def leave_one_out_mean(x: np.ndarray) -> np.ndarray:
    """``(sum(x) - x_i) / (N - 1)`` for each ``i``; needs ``N >= 2``."""
    n = x.shape[0]
    if n < 2:
        raise UserError("baseline 'constant' is the leave-one-out mean of the other trajectories: needs --batch-size >= 2")
    return (x.sum() - x) / (n - 1)


def fit_state_values(states: np.ndarray, targets: np.ndarray, mask: np.ndarray, num_states: int) -> np.ndarray:
    """Least squares of ``targets`` on one-hot state features = the per-state mean, ``(S,)``.

    States never visited in the fitting batch get the overall mean (the minimum-norm choice after
    centring), so the baseline is defined everywhere.
    """
    s = states[mask]
    t = targets[mask]
    if t.size == 0:
        return np.zeros(num_states)
    total = np.bincount(s, weights=t, minlength=num_states)
    count = np.bincount(s, minlength=num_states)
    overall = t.mean()
    return np.where(count > 0, total / np.maximum(count, 1), overall)


def optimal_coefficients(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-coordinate ``b_k = sum_i u_ik v_ik / sum_i v_ik^2`` (0 where ``v_k`` vanishes), ``(d,)``."""
    num = np.einsum("nd,nd->d", u, v)
    den = np.einsum("nd,nd->d", v, v)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
