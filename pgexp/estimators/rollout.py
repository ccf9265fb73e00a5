"""The lecture's sampling-based estimators: roll-in/roll-out and actor-critic.

Roll-in: ``s_0 ~ mu``, follow ``pi`` for ``h ~ q(h) ∝ gamma^h`` steps, so ``s_h ~ d^pi`` (the normalised
discounted occupancy); take ``a ~ pi(.|s)``.  Roll-out: ``y`` with ``E[y] = Q_h(s, a)`` (geometric
termination for ``H = inf``, as in the lecture; to the horizon for finite ``H``).  Then
``grad J = Z E[score(s, a) Q_h(s, a)]`` with ``Z = sum_{h<H} gamma^h`` (``1 / (1 - gamma)`` for ``H = inf``).
Defined for the finite and discounted objectives (not ``gamma = 1, H = inf``, where ``Z`` is infinite).
The sampler (:func:`pgexp.sampling.tabular.rollin_rollout`) hands the estimator a batch of single steps:
``states``, ``actions``, ``times`` of shape ``(N, 1)`` and ``returns[:, 0] = y``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pgexp.estimators.batch import Batch


def rollin_rollout(batch: Batch) -> np.ndarray:
    """``Z score(s, a) (y - b_h(s))`` per roll-in/roll-out sample (a roll-in absorbed before ``h`` scores nothing)."""
    from pgexp.sampling.tabular import occupancy_mass

    return occupancy_mass(batch.gamma, batch.horizon) * (batch.returns - batch.baseline)


def fit_critic(ctx: Any, source: Any, n: int) -> tuple[np.ndarray, Any]:
    """The actor-critic's critic, fitted on ``n`` independent roll-in/roll-out samples: ``(A_f (S, A), env_steps)``;
    from a :class:`~pgexp.sampling.rng.Streams` stack, one critic per replicate: ``((blocks, S, A), (blocks,))``.

    Least squares ``f(s, a) = w . phi(s, a)`` on the policy's features with data ``s ~ d^pi`` (roll-in),
    ``a ~ Uniform(A)``, target ``y`` with ``E[y] = Q_h(s, a)`` (roll-out); minimum-norm (``lstsq``): with
    tabular features that is the per-(s, a) mean, and pairs never sampled get 0.  Returned as the
    critic's advantage ``A_f(s, a) = f(s, a) - sum_a' pi(a'|s) f(s, a')``.
    """
    from pgexp.policies.features import TabularFeatures
    from pgexp.sampling.rng import as_streams

    data = ctx.sample("rollin_rollout", source, n, uniform_action=True)
    s, a, y = data.states[:, 0], data.actions[:, 0], data.returns[:, 0]
    feats = ctx.problem.policy.features
    S, A, B = ctx.mdp.num_states, ctx.mdp.num_actions, data.blocks
    if isinstance(feats, TabularFeatures):  # one-hot rows: min-norm least squares = per-cell mean, 0 if unseen
        cell = data.block_ids * (S * A) + s * A + a
        total = np.bincount(cell, weights=y, minlength=B * S * A)
        count = np.bincount(cell, minlength=B * S * A)
        f = (total / np.maximum(count, 1)).reshape(B, S, A)
    else:  # design matrix rows phi(s_i, a_i) = pullback of the one-hot (s_i, a_i) cell; one fit per replicate
        f = np.empty((B, S, A))
        m = data.block_size
        for k in range(B):
            rows = slice(k * m, (k + 1) * m)
            onehot = np.zeros((m, S, A))
            onehot[np.arange(m), s[rows], a[rows]] = 1.0
            w, *_ = np.linalg.lstsq(feats.pullback(onehot), y[rows], rcond=None)
            f[k] = feats.logits(w)
    adv = f - np.einsum("sa,ksa->ks", ctx.pi, f)[:, :, None]
    if as_streams(source) is None:
        return adv[0], data.env_steps
    return adv, data.block_steps


def actor_critic(batch: Batch) -> np.ndarray:
    """``sum_h gamma^h score_h (f(s_h, a_h) - E_{a'~pi} f(s_h, a'))``: the critic's advantage is ``batch.fitted``
    (``(S, A)``, or one per replicate ``(blocks, S, A)`` in a stack)."""
    fitted = np.asarray(batch.fitted)
    if fitted.ndim == 2:
        return batch.discount * fitted[batch.states, batch.actions]
    return batch.discount * fitted[batch.block_ids[:, None], batch.states, batch.actions]
