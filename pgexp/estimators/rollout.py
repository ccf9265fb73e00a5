"""The lecture's sampling-based estimators: roll-in/roll-out and actor-critic.

Roll-in: ``s_0 ~ mu``, follow ``pi`` for ``h ~ q(h) ∝ gamma^h`` steps, so ``s_h ~ d^pi`` (the normalised
discounted occupancy); take ``a ~ pi(.|s)``.  Roll-out: ``y`` with ``E[y] = Q_h(s, a)`` (geometric
termination for ``H = inf``, as in the lecture; to the horizon for finite ``H``).  Then
``grad J = Z E[score(s, a) Q_h(s, a)]`` with ``Z = sum_{h<H} gamma^h`` (``1 / (1 - gamma)`` for ``H = inf``).
Defined for the finite and discounted objectives (not ``gamma = 1, H = inf``, where ``Z`` is infinite).
"""

from __future__ import annotations

import numpy as np

from pgexp.estimators.base import Context, WeightedScores
from pgexp.estimators.baselines import fit_state_values, leave_one_out_mean
from pgexp.estimators.kernels import returns_from
from pgexp.policies.features import TabularFeatures
from pgexp.sampling.tabular import Trajectories, occupancy_mass
from pgexp.sampling.tabular import rollin_rollout as sample_rollin_rollout


def rollin_rollout(ctx: Context, seeds: np.ndarray, baseline: str, aux_seeds: np.ndarray | None, lam: float) -> WeightedScores:
    """``Z score(s, a) (y - b_h(s))`` per roll-in/roll-out sample (``Z = 1 / (1 - gamma)`` for ``H = inf``)."""
    mdp = ctx.mdp
    s, a, h, y, steps = sample_rollin_rollout(ctx.tables, seeds, mdp.gamma, mdp.horizon)
    env_steps = int(steps.sum())
    if baseline in ("none", "optimal"):
        b = np.zeros_like(y)
    elif baseline == "constant":
        b = leave_one_out_mean(y)
    elif baseline == "value_exact":  # V_h(s_h): time-indexed for a finite horizon
        table = ctx.value_table
        b = table[np.minimum(h, table.shape[0] - 1), s]
    else:  # value_learned: per-state mean of independent roll-out values (E[y | s] = V(s))
        s2, _, _, y2, steps2 = sample_rollin_rollout(ctx.tables, aux_seeds, mdp.gamma, mdp.horizon)
        env_steps += int(steps2.sum())
        b = fit_state_values(s2[:, None], y2[:, None], np.ones((y2.size, 1), bool), mdp.num_states)[s]
    scale = occupancy_mass(mdp.gamma, mdp.horizon)
    # a roll-in that was absorbed before step h scores nothing: the episode had ended
    live = (~ctx.tables.absorbing[s]).astype(np.int64)
    ones = np.ones((y.size, 1))
    return WeightedScores(s[:, None], a[:, None], ((y - b) * scale)[:, None], live, env_steps, y,
                          c=ones * scale if baseline == "optimal" else None)


def fit_critic(ctx: Context, aux_seeds: np.ndarray) -> tuple[np.ndarray, int]:
    """Least-squares critic ``f(s, a) = w . phi(s, a)`` on the policy's features, ``(S, A)``.

    Data: ``s ~ d^pi`` by roll-in, ``a ~ Uniform(A)``, target ``y`` with ``E[y] = Q_h(s, a)`` by roll-out,
    from an independent batch.  Minimum-norm least squares (``lstsq``): with tabular features that is
    the per-(s, a) mean, and pairs never sampled get 0.
    """
    s, a, _, y, steps = sample_rollin_rollout(ctx.tables, aux_seeds, ctx.mdp.gamma, ctx.mdp.horizon, uniform_action=True)
    feats = ctx.problem.policy.features
    S, A = ctx.mdp.num_states, ctx.mdp.num_actions
    if isinstance(feats, TabularFeatures):  # one-hot rows: min-norm least squares = per-cell mean, 0 if unseen
        cell = s * A + a
        total = np.bincount(cell, weights=y, minlength=S * A)
        count = np.bincount(cell, minlength=S * A)
        return (total / np.maximum(count, 1)).reshape(S, A), int(steps.sum())
    # design matrix rows phi(s_i, a_i) = pullback of the one-hot (s_i, a_i) cell
    onehot = np.zeros((y.size, S, A))
    onehot[np.arange(y.size), s, a] = 1.0
    X = feats.pullback(onehot)
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    return feats.logits(w), int(steps.sum())


def actor_critic(ctx: Context, traj: Trajectories, baseline: str, aux_seeds: np.ndarray | None, lam: float) -> WeightedScores:
    """``sum_h gamma^h score_h (f(s_h, a_h) - E_{a'~pi} f(s_h, a'))`` with the fitted critic ``f``."""
    f, critic_steps = fit_critic(ctx, aux_seeds)  # type: ignore[arg-type]
    adv = f - np.einsum("sa,sa->s", ctx.pi, f)[:, None]
    L = traj.states.shape[1]
    disc = ctx.mdp.gamma ** np.arange(L, dtype=np.float64)
    w = np.where(traj.mask, disc[None, :] * adv[traj.states, traj.actions], 0.0)
    G0 = returns_from(traj.rewards, traj.lengths, ctx.mdp.gamma)[:, 0] if L else np.zeros(traj.num)
    return WeightedScores(traj.states, traj.actions, w, traj.lengths, traj.env_steps + critic_steps, G0)
