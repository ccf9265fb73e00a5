"""Estimators that score plain trajectories: reinforce, reward_to_go, advantage_exact, gae.

Each is ``fn(batch) -> w`` (``(N, L)``, see :mod:`pgexp.estimators.batch`), written exactly as a user's
plug-in would be.  Notation: ``R_h = sum_{t>=h} gamma^(t-h) r_t`` (``batch.returns``, the return from
``h``), ``G_h = gamma^h R_h``, ``b_h = batch.baseline`` and ``score_h = grad log pi(a_h | s_h)``.

All four are affine in the baseline, so each takes the per-coordinate ``optimal`` baseline from the
generic route: its weights at ``b = 0`` and ``b = 1`` give the direction the baseline multiplies.
"""

from __future__ import annotations

import numpy as np

from pgexp.estimators.batch import Batch


def reinforce(batch: Batch) -> np.ndarray:
    """``g = (sum_h score_h) (G_0 - b_0(s_0))``: every step weighs the whole return."""
    return np.broadcast_to(batch.returns[:, :1] - batch.baseline[:, :1], batch.shape)


def reward_to_go(batch: Batch) -> np.ndarray:
    """``g = sum_h score_h gamma^h (R_h - b_h(s_h))``: the Q-based policy gradient (causality).

    One compiled backward pass (:func:`~pgexp.estimators.kernels.reward_to_go_weights`) instead of
    ``batch.discount * (batch.returns - batch.baseline)``: the same numbers, at sampling speed.
    """
    from pgexp.estimators.kernels import reward_to_go_weights  # compiled: imported when first needed

    if not batch.aligned:  # a roll-in sample's own time index
        return batch.discount * (batch.returns - batch.baseline)
    w, _ = reward_to_go_weights(np.ascontiguousarray(batch.rewards, dtype=np.float64),
                                np.ascontiguousarray(batch.lengths, dtype=np.int64), float(batch.gamma),
                                batch.baseline, True)
    return w


def advantage_exact(batch: Batch) -> np.ndarray:
    """``g = sum_h gamma^h score_h A_h(s_h, a_h)`` with the oracle advantage (tabular problems)."""
    return batch.discount * batch.A


def gae(batch: Batch) -> np.ndarray:
    """``g = sum_h gamma^h score_h Â_h`` with GAE(lambda) advantages (Schulman et al. 2016) of ``V = b``.

    ``Â_h = sum_{l >= 0} (gamma lambda)^l delta_{h+l}``, ``delta_h = r_h + gamma V_{h+1}(s_{h+1}) - V_h(s_h)``
    with ``V = batch.baseline`` and ``V_{h+1}(s_{h+1}) = batch.baseline_next`` -- zero after an episode's
    end (absorption, or the finite horizon: ``V_H = 0``).  At ``lambda = 1`` the sum telescopes to
    ``R_h - V_h(s_h)``: reward-to-go with ``V`` as its baseline, unbiased for any ``V`` that does not depend
    on the trajectory's own actions.  For ``lambda < 1`` it is unbiased only with the exact ``V``.
    """
    from pgexp.estimators.kernels import gae_advantages  # compiled: imported when first needed

    adv = gae_advantages(np.ascontiguousarray(batch.rewards, dtype=np.float64), batch.baseline, batch.baseline_next,
                         np.ascontiguousarray(batch.lengths, dtype=np.int64), float(batch.gamma),
                         float(batch.params["lam"]))
    return batch.discount * adv
