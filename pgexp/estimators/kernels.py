"""Compiled loops over padded trajectory arrays: returns-to-go and per-(s, a) weight accumulation."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def returns_from(rewards, lengths, gamma):
    """``R[i, h] = sum_{t >= h} gamma^(t-h) r[i, t]`` (the return from step h, discounted from h), ``(N, L)``."""
    n, L = rewards.shape
    R = np.zeros((n, L))
    for i in range(n):
        acc = 0.0
        for h in range(lengths[i] - 1, -1, -1):
            acc = rewards[i, h] + gamma * acc
            R[i, h] = acc
    return R


@njit(cache=True)
def accumulate(states, actions, weights, lengths, num_states, num_actions, group):
    """Sum step weights onto their (s, a) cells, ``group`` consecutive trajectories per row: ``(ceil(N / group),
    S*A)`` (``group = 1``: per trajectory; the block size: per replicate of a stack; ``N``: the batch total)."""
    n = states.shape[0]
    group = max(group, 1)
    rows = (n + group - 1) // group
    W = np.zeros((max(rows, 1), num_states * num_actions))
    for i in range(n):
        row = i // group
        for h in range(lengths[i]):
            W[row, states[i, h] * num_actions + actions[i, h]] += weights[i, h]
    return W


@njit(cache=True)
def gae_advantages(rewards, values_now, values_next, lengths, gamma, lam):
    """``Â_h = sum_l (gamma lam)^l delta_{h+l}``, ``delta_h = r_h + gamma V(s_{h+1}) - V(s_h)``, ``(N, L)``."""
    n, L = rewards.shape
    out = np.zeros((n, L))
    for i in range(n):
        acc = 0.0
        for h in range(lengths[i] - 1, -1, -1):
            delta = rewards[i, h] + gamma * values_next[i, h] - values_now[i, h]
            acc = delta + gamma * lam * acc
            out[i, h] = acc
    return out


@njit(cache=True)
def reward_to_go_weights(rewards, lengths, gamma, baseline, per_step):
    """Step weights ``gamma^h (R_h - b_ih)`` of reward-to-go in one backward pass, and ``G_0``.

    ``baseline`` is ``(N, L)`` (``per_step``) or ``(N, 1)`` (a per-trajectory constant); zero padding.
    Eight trajectories run in lockstep so the recursion ``R_h = r_h + gamma R_{h+1}`` of one does not
    stall the others (its floating-point latency otherwise dominates).
    """
    n, L = rewards.shape
    w = np.zeros((n, L))
    G0 = np.zeros(n)
    disc = np.empty(L)
    g = 1.0
    for h in range(L):
        disc[h] = g
        g *= gamma
    lanes = 8
    acc = np.zeros(lanes)
    for i0 in range(0, n, lanes):
        nb = min(lanes, n - i0)
        top = 0
        for j in range(nb):
            acc[j] = 0.0
            top = max(top, lengths[i0 + j])
        for h in range(top - 1, -1, -1):
            for j in range(nb):
                i = i0 + j
                if h < lengths[i]:
                    acc[j] = rewards[i, h] + gamma * acc[j]
                    b = baseline[i, h] if per_step else baseline[i, 0]
                    w[i, h] = disc[h] * (acc[j] - b)
        for j in range(nb):
            G0[i0 + j] = acc[j]
    return w, G0
