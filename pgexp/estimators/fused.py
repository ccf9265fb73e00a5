r"""Fused kernels: a stack of replicates sampled, weighted and accumulated in one compiled pass, every pair at once.

The general route (:mod:`pgexp.runs.engine`) materialises ``(N, L)`` arrays -- states, rewards, baseline
values, step weights -- and reduces them.  For the estimators and baselines whose step weights follow a
rule known here (a spec's ``kernel`` field), this module computes the same numbers without them: each
replicate's ``n`` trajectories are simulated into small block buffers (or read from arrays already drawn),
and for every pair the weights of each trajectory are computed backwards and added onto that replicate's
``(s, a)`` cells, ``W[p, k, s A + a] = sum_{i in k} sum_h w^p_ih [s_ih = s, a_ih = a]``; the score pull-back
of ``W`` is the estimate.  The draws are those of :func:`pgexp.sampling.tabular.sample` (same streams, same
alias tables), the weights and the order of every sum those of the general route, so both give the same
numbers bit for bit (``tests/runs/test_engine.py``).

**Rules** (``R_h = sum_{t>=h} gamma^(t-h) r_t`` by the backward recursion, ``b_h = b_h(s_h)`` the baseline,
``b'_h = b_{h+1}(s_{h+1})``, zero after an episode's end):

* ``reinforce``:           ``w_h = R_0 - b_0``;
* ``reward_to_go``:        ``w_h = gamma^h (R_h - b_h)``;   ``reward_to_go_common``: ``w_h = R_h - b_h``;
* ``gae``:                 ``w_h = gamma^h Â_h``,  ``Â_h = delta_h + gamma lambda Â_{h+1}``,
  ``delta_h = r_h + gamma b'_h - b_h``;   ``gae_common``: ``w_h = Â_h``;
* ``advantage``:           ``w_h = gamma^h A_h(s_h, a_h)`` from a table: the estimator's fit, one per replicate
  (the actor-critic's critic), else the exact advantage.

**Baselines**: ``zero``; ``table`` -- a ``(B, H', S)`` table ``b_h(s) = T[k, min(h, H' - 1), s]`` (``B = 1``: one for
every replicate; ``H' = 1``: stationary): the exact ``V``, a value fitted per replicate, a fixed constant;
``leave_one_out`` -- the mean ``G_0 = sum_h gamma^h r_h`` of the other trajectories of the replicate.

Tables of different shapes travel flat (:func:`flat`: ``data``, with each pair's offset and shape), and
every group of arrays as one tuple, so the kernels are compiled once whatever the number of pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pgexp.sampling.tabular import simulate_block

RULES = {"reinforce": 0, "reward_to_go": 1, "reward_to_go_common": 2, "gae": 3, "gae_common": 4, "advantage": 5}
BASELINE_KINDS = {"zero": 0, "table": 1, "leave_one_out": 2}


@njit(cache=True)
def forward_returns(rewards, lengths, gamma):
    """``G_0 = sum_h gamma^h r_h`` of each trajectory, summed in step order: ``(N,)``."""
    n = rewards.shape[0]
    out = np.zeros(n)
    for i in range(n):
        g = 1.0
        acc = 0.0
        for h in range(lengths[i]):
            acc += g * rewards[i, h]
            g *= gamma
        out[i] = acc
    return out


def flat(tables: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tables of any shapes ``(B, H', ...)`` as one flat array with each one's offset, ``B`` and ``H'`` (a missing
    table: offset 0, shape 1 x 1)."""
    data, off, nb, nh, pos = [np.zeros(1)], [], [], [], 1
    for t in tables:
        arr = np.zeros((1, 1)) if t is None else np.ascontiguousarray(t, dtype=np.float64)
        if t is not None:
            data.append(arr.ravel())
        off.append(pos if t is not None else 0)
        nb.append(arr.shape[0])
        nh.append(arr.shape[1])
        pos += arr.size if t is not None else 0
    return (np.concatenate(data), *(np.asarray(x, dtype=np.int64) for x in (off, nb, nh)))  # type: ignore[return-value]


@njit(inline="always")
def table_value(data, off, nb, nh, S, k, h, s):
    """``T[k, min(h, H' - 1), s]`` of a flat ``(B, H', S)`` table (``B = 1``: shared by every replicate)."""
    kk = k if nb > 1 else 0
    return data[off + (kk * nh + min(h, nh - 1)) * S + s]


@njit(inline="always")
def value_at(data, off, nb, nh, S, k, h, s, kind, loo):
    """``b_h(s)`` of a pair: its table's value (``kind`` 1), else the leave-one-out mean ``loo`` (0 for ``zero``)."""
    if kind == 1:
        return table_value(data, off, nb, nh, S, k, h, s)
    return loo


@njit(inline="always")
def gae_weights(i, m, k, states, rewards, ended, final, gamma, lam, S, data, off, nb, nh, kind, loo, scale, w):
    """GAE's ``Â_h`` (times ``scale[h]``: ``gamma^h`` for ``gae``, ones for ``gae_common``) into ``w[:m]``; the value
    after the last step is zero if the episode ended there."""
    acc = 0.0
    # going backwards, the value after step h is the value at step h + 1, looked up one iteration earlier
    nxt = 0.0 if ended[i] else value_at(data, off, nb, nh, S, k, m, final[i], kind, loo)
    for h in range(m - 1, -1, -1):
        b = value_at(data, off, nb, nh, S, k, h, states[i, h], kind, loo)
        acc = (rewards[i, h] + gamma * nxt - b) + gamma * lam * acc
        w[h] = scale[h] * acc
        nxt = b


@njit(inline="always")
def return_weights(i, m, k, rule, states, rewards, gamma, disc, S, data, off, nb, nh, kind, loo, w):
    """``reinforce``, ``reward_to_go``, ``reward_to_go_common`` (module docstring) into ``w[:m]``."""
    acc = 0.0
    if rule == 0:
        for h in range(m - 1, -1, -1):
            acc = rewards[i, h] + gamma * acc
        b0 = value_at(data, off, nb, nh, S, k, 0, states[i, 0], kind, loo)
        for h in range(m):
            w[h] = acc - b0
    elif rule == 1:
        for h in range(m - 1, -1, -1):
            acc = rewards[i, h] + gamma * acc
            w[h] = disc[h] * (acc - value_at(data, off, nb, nh, S, k, h, states[i, h], kind, loo))
    else:
        for h in range(m - 1, -1, -1):
            acc = rewards[i, h] + gamma * acc
            w[h] = acc - value_at(data, off, nb, nh, S, k, h, states[i, h], kind, loo)


@njit(cache=True)
def weigh_block(k, n, block, g0, gamma, S, pairs, values, advantages, disc, power, w, W):
    """Every pair's weights of replicate ``k`` (rows ``0 .. n - 1`` of the block buffers ``block = (states, actions,
    rewards, lengths, ended, final)``), added onto ``W[p, k]`` in trajectory order, steps ascending (the general
    route's order); returns the replicate's sum of ``G_0``.  ``pairs = (rules, lams, kinds)``; ``values``,
    ``advantages``: flat tables (:func:`flat`).  ``disc``: ``gamma^h`` by repeated multiplication (the reward-to-go
    kernel's), ``power``: numpy's ``gamma ** arange`` (``Batch.discount``, GAE's and the tables'; :func:`discounts`).
    Branches are taken per pair, outside the loops over steps."""
    states, actions, rewards, lengths, ended, final = block
    rules, lams, kinds = pairs
    v_data, v_off, v_nb, v_nh = values
    a_data, a_off, a_nb, a_nh = advantages
    A = W.shape[2] // S
    ones = np.ones(power.shape[0])
    total = 0.0
    for i in range(n):
        total += g0[i]
    for p in range(rules.shape[0]):
        rule, kind, lam = rules[p], kinds[p], lams[p]
        off, nb, nh = v_off[p], v_nb[p], v_nh[p]
        Wp = W[p, k]
        for i in range(n):
            m = lengths[i]
            if m == 0:
                continue
            loo = (total - g0[i]) / (n - 1) if kind == 2 and n > 1 else 0.0
            if rule == 3 or rule == 4:
                gae_weights(i, m, k, states, rewards, ended, final, gamma, lam, S, v_data, off, nb, nh, kind, loo,
                            power if rule == 3 else ones, w)
            elif rule == 5:
                kk = k if a_nb[p] > 1 else 0
                base = a_off[p] + kk * a_nh[p] * S * A
                for h in range(m):
                    w[h] = power[h] * a_data[base + (min(h, a_nh[p] - 1) * S + states[i, h]) * A + actions[i, h]]
            else:
                return_weights(i, m, k, rule, states, rewards, gamma, disc, S, v_data, off, nb, nh, kind, loo, w)
            for h in range(m):
                Wp[states[i, h] * A + actions[i, h]] += w[h]
    return total


@njit(cache=True)
def discounts(gamma, L):
    """``gamma^h`` for ``h < L`` by repeated multiplication (the reward-to-go kernel's).  The general route also
    uses numpy's ``gamma ** arange(L)`` (``Batch.discount``), which rounds differently from a compiled ``pow``: the
    kernels take that one as an argument (``power``), so both routes give the same numbers."""
    disc = np.empty(L)
    g = 1.0
    for h in range(L):
        disc[h] = g
        g *= gamma
    return disc


@njit(cache=True)
def fused_stack(seeds, n, tables, limit, horizon, episodic, gamma, power, pairs, values, advantages, out):
    """Simulate the stack (``seeds``: ``n`` per replicate, replicate after replicate; at most ``limit`` steps each;
    ``tables``: :func:`pgexp.sampling.tabular.kernel_tables`; ``power``: ``gamma ** arange(limit)``, see
    :func:`discounts`) and weigh every pair (see :func:`weigh_block`) into ``out = (W (P, blocks, S A), steps,
    g0_sum, truncated)``, the last three per replicate: environment steps, the sum of ``G_0``, and the episodic
    trajectories cut by ``limit``.  ``horizon``: the finite horizon, else -1."""
    W, steps, g0_sum, truncated = out
    r, absorbing = tables[8], tables[9]
    S = r.shape[0]
    blocks = seeds.shape[0] // n
    L = min(limit, 256)  # block buffers grow (and the block is drawn again) when an episode outlives them
    states = np.zeros((n, L), np.int32)
    actions = np.zeros((n, L), np.int32)
    rewards = np.zeros((n, L))
    lengths = np.zeros(n, np.int64)
    final = np.zeros(n, np.int64)
    ended = np.zeros(n, np.bool_)
    g0 = np.zeros(n)
    for k in range(blocks):
        while not simulate_block(seeds, k * n, n, tables, limit, gamma, (states, actions, rewards, lengths, final),
                                 g0):
            L = min(2 * L, limit)
            states = np.zeros((n, L), np.int32)
            actions = np.zeros((n, L), np.int32)
            rewards = np.zeros((n, L))
        used = 0
        cut = 0
        for i in range(n):
            used += lengths[i]
            ended[i] = absorbing[final[i]] or (horizon >= 0 and lengths[i] == horizon)
            if episodic and lengths[i] >= limit and not absorbing[final[i]]:
                cut += 1
        steps[k] = used
        truncated[k] = cut
        g0_sum[k] = weigh_block(k, n, (states, actions, rewards, lengths, ended, final), g0, gamma, S, pairs, values,
                                advantages, discounts(gamma, L), power, np.empty(L), W)


@njit(cache=True)
def fused_arrays(block, n, gamma, power, S, pairs, values, advantages, W, g0_sum):
    """:func:`fused_stack` on a stack already drawn as arrays: ``block = (states, actions, rewards, lengths, ended,
    final)``, each ``(N, L)`` or ``(N,)`` (``final``: the state after the last action; ``ended``: the episode ended
    there)."""
    states, actions, rewards, lengths, ended, final = block
    blocks = states.shape[0] // n
    L = states.shape[1]
    disc = discounts(gamma, L)
    w = np.empty(L)
    for k in range(blocks):
        lo, hi = k * n, (k + 1) * n
        g0 = forward_returns(rewards[lo:hi], lengths[lo:hi], gamma)
        rows = (states[lo:hi], actions[lo:hi], rewards[lo:hi], lengths[lo:hi], ended[lo:hi], final[lo:hi])
        g0_sum[k] = weigh_block(k, n, rows, g0, gamma, S, pairs, values, advantages, disc, power, w, W)
