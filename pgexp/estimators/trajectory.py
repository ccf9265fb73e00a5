"""Estimators that score plain trajectories: reinforce, reward_to_go, advantage_exact, gae.

Notation: ``R_h = sum_{t>=h} gamma^(t-h) r_t`` (return from h), ``G_h = gamma^h R_h`` (the DESIGN's
``G_h = sum_{t>=h} gamma^t r_t``), score ``= grad log pi(a_h | s_h)``.
"""

from __future__ import annotations

import numpy as np

from pgexp.estimators.base import Context, WeightedScores, time_lookup
from pgexp.estimators.baselines import fit_state_values, leave_one_out_mean
from pgexp.estimators.kernels import gae_advantages, returns_from, reward_to_go_weights
from pgexp.sampling.tabular import Trajectories


def _discount(ctx: Context, L: int) -> np.ndarray:
    return ctx.mdp.gamma ** np.arange(L, dtype=np.float64)


def learned_values(ctx: Context, aux: Trajectories) -> np.ndarray:
    """``value_learned``: per-state mean of the return from h on an independent batch, ``(S,)``."""
    R = returns_from(aux.rewards, aux.lengths, ctx.mdp.gamma)
    return fit_state_values(aux.states, R, aux.mask, ctx.mdp.num_states)


def state_baseline(ctx: Context, baseline: str, states: np.ndarray, aux: Trajectories | None) -> np.ndarray:
    """``b(s_h)`` (time-indexed for ``value_exact`` with a finite horizon) on ``states`` ``(N, L)``."""
    if baseline == "value_exact":
        return time_lookup(ctx.value_table, states)
    if baseline == "value_learned":
        assert aux is not None
        return learned_values(ctx, aux)[states]
    raise AssertionError(baseline)


def reinforce(ctx: Context, traj: Trajectories, baseline: str, aux: Trajectories | None, lam: float) -> WeightedScores:
    """``(sum_h score_h) (G_0 - b)``; ``b`` is a constant or ``b(s_0)``."""
    R = returns_from(traj.rewards, traj.lengths, ctx.mdp.gamma)
    G0 = R[:, 0] if R.shape[1] else np.zeros(traj.num)
    mask = traj.mask.astype(np.float64)
    if baseline in ("none", "optimal"):
        b = np.zeros(traj.num)
    elif baseline == "constant":
        b = leave_one_out_mean(G0)
    else:
        b = state_baseline(ctx, baseline, traj.states[:, :1], aux)[:, 0]
    return WeightedScores(traj.states, traj.actions, (G0 - b)[:, None] * mask, traj.lengths, traj.env_steps, G0,
                          c=mask if baseline == "optimal" else None)


def reward_to_go(ctx: Context, traj: Trajectories, baseline: str, aux: Trajectories | None, lam: float) -> WeightedScores:
    """``sum_h score_h (G_h - gamma^h b(s_h))`` -- the Q-based policy gradient."""
    n = traj.num
    if baseline in ("none", "optimal"):
        b, per_step = np.zeros((n, 1)), False
    elif baseline == "constant":  # leave-one-out mean of the other trajectories' G_0
        G0 = returns_from(traj.rewards, traj.lengths, ctx.mdp.gamma)[:, 0] if traj.states.shape[1] else np.zeros(n)
        b, per_step = leave_one_out_mean(G0)[:, None], False
    else:
        b, per_step = state_baseline(ctx, baseline, traj.states, aux), True
    w, G0 = reward_to_go_weights(traj.rewards, traj.lengths, ctx.mdp.gamma, b, per_step)
    c = np.where(traj.mask, _discount(ctx, traj.states.shape[1])[None, :], 0.0) if baseline == "optimal" else None
    return WeightedScores(traj.states, traj.actions, w, traj.lengths, traj.env_steps, G0, c=c)


def advantage_exact(ctx: Context, traj: Trajectories, baseline: str, aux: Trajectories | None, lam: float) -> WeightedScores:
    """``sum_h gamma^h score_h A_h(s_h, a_h)`` with the oracle advantage (time-indexed for finite H)."""
    table = ctx.advantage_table
    L = traj.states.shape[1]
    h = np.minimum(np.arange(L), table.shape[0] - 1)
    A = table[h[None, :], traj.states, traj.actions]
    w = np.where(traj.mask, _discount(ctx, L)[None, :] * A, 0.0)
    R = returns_from(traj.rewards, traj.lengths, ctx.mdp.gamma)
    G0 = R[:, 0] if L else np.zeros(traj.num)
    return WeightedScores(traj.states, traj.actions, w, traj.lengths, traj.env_steps, G0)


def gae(ctx: Context, traj: Trajectories, baseline: str, aux: Trajectories | None, lam: float) -> WeightedScores:
    """``sum_h gamma^h score_h Â_h`` with GAE(lambda) advantages from the baseline's value function.

    ``delta_h = r_h + gamma V_{h+1}(s_{h+1}) - V_h(s_h)`` with ``V = 0`` after the horizon or in an
    absorbing state; a truncated discounted trajectory bootstraps from ``V`` of its last state.
    ``baseline`` names ``V``: ``value_exact``, ``value_learned`` or ``none`` (``V = 0``).
    """
    mdp = ctx.mdp
    n, L = traj.states.shape
    if baseline == "none":
        V_now = np.zeros((n, L))
        V_next = np.zeros((n, L))
    else:
        if baseline == "value_exact":
            table = ctx.value_table  # (H+1, S) or (1, S)
        else:
            table = learned_values(ctx, aux)[None, :]  # type: ignore[arg-type]
        V_now = time_lookup(table, traj.states)
        # successor states: s_{h+1} inside the trajectory, the final state after the last action
        nxt = np.zeros_like(traj.states)  # padding must stay a valid state index
        nxt[:, :-1] = traj.states[:, 1:]
        nxt[np.arange(n), np.maximum(traj.lengths - 1, 0)] = traj.final_states
        if table.shape[0] > 1:  # time-indexed: V_{h+1}, with V_H = 0 in the last row of the table
            h1 = np.minimum(np.arange(1, L + 1), table.shape[0] - 1)
            V_next = table[h1[None, :], nxt]
        else:
            V_next = table[0][nxt]
        V_next = np.where(ctx.tables.absorbing[nxt], 0.0, V_next)
        if mdp.horizon is not None:  # V(s_H) = 0: nothing is bootstrapped past a finite horizon
            at_h = traj.lengths >= mdp.horizon
            V_next[at_h, traj.lengths[at_h] - 1] = 0.0
    adv = gae_advantages(traj.rewards, V_now, V_next, traj.lengths, mdp.gamma, float(lam))
    w = np.where(traj.mask, _discount(ctx, L)[None, :] * adv, 0.0)
    R = returns_from(traj.rewards, traj.lengths, mdp.gamma)
    G0 = R[:, 0] if L else np.zeros(n)
    return WeightedScores(traj.states, traj.actions, w, traj.lengths, traj.env_steps, G0)
