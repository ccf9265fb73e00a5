"""Estimators that score plain trajectories: reinforce, reward_to_go, advantage_exact, gae, and the common
variants reward_to_go_common and gae_common.

Each is ``fn(batch) -> w`` (``(N, L)``, see :mod:`pgexp.estimators.batch`), written exactly as a user's
plug-in would be.  Notation: ``R_h = sum_{t>=h} gamma^(t-h) r_t`` (``batch.returns``, the return from
``h``), ``G_h = gamma^h R_h``, ``b_h = batch.baseline`` and ``score_h = grad log pi(a_h | s_h)``.

**The common variants** are what most code computes: the same step weights without the ``gamma^h``
factor (Nota & Thomas 2020, "Is the policy gradient a gradient?").  With ``R_h`` the return discounted
from step ``h``, ``E[R_h | s_h, a_h] = Q_h(s_h, a_h)``, so

    E[g_common] = sum_h E[score_h Q_h(s_h, a_h)] = sum_h sum_s p_h(s) sum_a grad pi(a|s) Q_h(s, a),

the policy-gradient theorem with *undiscounted* state weights ``p_h`` in place of ``gamma^h p_h``: the
gradient of no objective in general (biased for ``gamma < 1``; at ``gamma = 1`` it is ``reward_to_go``
itself).  The sum over ``h`` is finite for a finite horizon and for an episodic problem; for a discounted
problem that never ends it grows with the simulated length, so they are defined for the finite and
episodic objectives only.

All of them are affine in the baseline, so each takes the per-coordinate ``optimal`` baseline from the
generic route: its weights at ``b = 0`` and ``b = 1`` give the direction the baseline multiplies.

**Action-dependent baselines** (``q_exact``, ``q_fitted``; :mod:`pgexp.estimators.correction`): ``b_h =
b(s_h, a_h)`` at the sampled action, and each estimator adds back what that costs in mean -- the coefficient ``c_h``
it gives ``b`` at step ``h`` times ``grad E_{a~pi} b(s_h, a)``: ``gamma^h`` for reward-to-go and GAE, and for
REINFORCE (every step weighs ``G_0 - b(s_0, a_0)``) 1 at ``h = 0`` only, since a later step's score has mean zero
given the past that ``b(s_0, a_0)`` belongs to.
"""

from __future__ import annotations

import numpy as np

from pgexp.estimators.batch import Batch
from pgexp.estimators.correction import Corrected, corrected


def reinforce(batch: Batch) -> np.ndarray | Corrected:
    """``g = (sum_h score_h) (G_0 - b_0(s_0))``: every step weighs the whole return (with ``b(s_0, a_0)``, plus
    ``grad E_a b(s_0, a)``: module docstring)."""
    w = np.broadcast_to(batch.returns[:, :1] - batch.baseline[:, :1], batch.shape)
    if batch.baseline_correction is None:
        return w
    first = np.zeros(batch.shape)
    first[:, 0] = 1.0
    return corrected(batch, w, first)


def reward_to_go(batch: Batch) -> np.ndarray | Corrected:
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
    return corrected(batch, w, batch.discount)


def advantage_exact(batch: Batch) -> np.ndarray:
    """``g = sum_h gamma^h score_h A_h(s_h, a_h)`` with the oracle advantage (tabular problems)."""
    return batch.discount * batch.A


def gae(batch: Batch) -> np.ndarray | Corrected:
    """``g = sum_h gamma^h score_h Â_h`` with GAE(lambda) advantages (Schulman et al. 2016) of ``V = b``.

    ``Â_h = sum_{l >= 0} (gamma lambda)^l delta_{h+l}``, ``delta_h = r_h + gamma V_{h+1}(s_{h+1}) - V_h(s_h)``
    with ``V = batch.baseline`` and ``V_{h+1}(s_{h+1}) = batch.baseline_next`` -- zero after an episode's
    end (absorption, or the finite horizon: ``V_H = 0``).  At ``lambda = 1`` the sum telescopes to
    ``R_h - V_h(s_h)``: reward-to-go with ``V`` as its baseline, unbiased for any ``V`` that does not depend
    on the trajectory's own actions.  For ``lambda < 1`` it is unbiased only with the exact ``V``.

    With an action-dependent baseline (Q-Prop's form) ``V`` is its critic's state value ``V̂(s) = E_a Q̂(s, a)`` and
    the control variate ``b(s_h, a_h) - V̂(s_h)`` is subtracted from ``Â_h`` and corrected: ``g = sum_h gamma^h
    [score_h (Â_h - b(s_h, a_h) + V̂(s_h)) + grad E_a b(s_h, a)]`` (``E_a[score V̂] = 0``).  Given ``(s_h, a_h)``, with
    the exact ``Q`` the step's mean is then ``Q - b``: the action's own noise is what the control variate removes.
    """
    from pgexp.estimators.kernels import gae_advantages  # compiled: imported when first needed

    adv = gae_advantages(np.ascontiguousarray(batch.rewards, dtype=np.float64), batch.baseline_state,
                         batch.baseline_next, np.ascontiguousarray(batch.lengths, dtype=np.int64), float(batch.gamma),
                         float(batch.params["lam"]))
    if batch.baseline_correction is None:
        return batch.discount * adv
    return corrected(batch, batch.discount * (adv - batch.baseline + batch.baseline_state), batch.discount)


def reward_to_go_common(batch: Batch) -> np.ndarray:
    """``g = sum_h score_h (R_h - b_h(s_h))``: reward-to-go without the ``gamma^h`` factor (module docstring)."""
    return np.where(batch.mask, batch.returns - batch.baseline, 0.0)


def gae_common(batch: Batch) -> np.ndarray:
    """``g = sum_h score_h Â_h``: GAE(lambda) advantages (see :func:`gae`) without the ``gamma^h`` factor, as PPO
    implementations use them."""
    from pgexp.estimators.kernels import gae_advantages  # compiled: imported when first needed

    return gae_advantages(np.ascontiguousarray(batch.rewards, dtype=np.float64), batch.baseline, batch.baseline_next,
                          np.ascontiguousarray(batch.lengths, dtype=np.int64), float(batch.gamma),
                          float(batch.params["lam"]))
