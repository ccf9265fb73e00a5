"""Baselines: what is subtracted from the return to cut variance without adding bias.

Each registered baseline's ``values(ctx, batch, aux, seq, options) -> (b, b_next)`` gives ``b_h(s_h)`` at
the batch's steps and ``b_{h+1}(s_{h+1})`` at their successors (the runner zeroes the latter after an
episode's end, see :mod:`pgexp.estimators.batch`):

* ``none``          -- ``b = 0``.
* ``constant``      -- leave-one-out mean of the *other* trajectories' returns ``G_0`` of the batch: it
                       does not depend on the trajectory's own actions, so the estimate stays unbiased.
* ``fixed:c=VALUE`` -- the constant ``c``.
* ``value_exact``   -- the oracle ``V`` (time-indexed ``V_h`` for a finite horizon; tabular problems).
* ``value_learned`` -- the track's value model (:meth:`fit_values` of its context: the per-state mean of
                       the return on tabular problems, a ridge regression on random Fourier features of
                       the observation on continuous ones), fitted on an independent batch.
* ``optimal``       -- Greensmith, Bartlett & Baxter's variance-minimising per-coordinate constant
                       ``b_k = E[u_k v_k] / E[v_k^2]`` for ``g = u - b (.) v``, fitted on an independent batch
                       (:func:`optimal_coefficients`; the runner derives ``u`` and ``v`` from any estimator
                       that is affine in its baseline).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.batch import Batch

# Baselines only a training run has (pgexp.runs.train_kernels), with why an estimation job refuses them.
TRAINING_ONLY_BASELINES = {
    "value_online": "a value v(s, w) learned along training (w <- w + alpha_w (G_t - v(S_t, w)) x(S_t)); "
                    "an estimation job has no training to learn it from",
    "optimal_exact": "the exact minimum-variance constant b*, recomputed at every training step (one-step "
                     "problems); for estimation use --baseline optimal, or pgexp exact-variance --baseline "
                     "optimal",
    "optimal_npg_exact": "the exact constant that minimises the variance of the tabular NPG update's policy part, "
                         "sum mu r / pi / sum mu / pi, recomputed at every training step (one-step problems); "
                         "an estimation job has no NPG update",
}


def leave_one_out_mean(x: np.ndarray, blocks: int = 1) -> np.ndarray:
    """``(sum(x) - x_i) / (n - 1)`` for each ``i`` within its block of ``n = N / blocks``; needs ``n >= 2``."""
    n = x.shape[0] // max(blocks, 1)
    if n < 2:
        raise UserError("baseline 'constant' is the leave-one-out mean of the other trajectories: "
                        "needs --batch-size >= 2")
    per = x.reshape(blocks, n)
    return ((per.sum(axis=1, keepdims=True) - per) / (n - 1)).ravel()


def leave_one_out(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``constant``: ``b_i`` = the mean ``G_0`` of the other trajectories of ``i``'s batch, at every step of ``i``."""
    b = leave_one_out_mean(batch.first_returns, batch.blocks)[:, None]
    return b, b


def fixed_constant(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``fixed:c=VALUE``: the constant ``c``."""
    return options["c"], options["c"]


def exact_value(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``value_exact``: ``V_h(s_h)`` and ``V_{h+1}(s_{h+1})`` from the exact (time-indexed) values."""
    return ctx.exact_state_values(batch.states, batch.times), ctx.exact_state_values(batch.next_states, batch.times + 1)


def learned_value(ctx: Any, batch: Batch, aux: Batch | None, seq: Any, options: Mapping[str, float]):
    """``value_learned``: the track's value model fitted on the independent batch ``aux`` (one fit per replicate
    of a stack: ``aux`` has the same blocks as ``batch``)."""
    if aux is None:
        raise ValueError("value_learned needs an independent fitting batch")
    model = ctx.fit_values(aux, seq)
    mask = batch.mask  # evaluated on the real steps only (a padded batch can be mostly padding)
    times = np.broadcast_to(batch.times, batch.shape)[mask]
    blocks = np.broadcast_to(batch.block_ids[:, None], batch.shape)[mask] if batch.blocks > 1 else None
    now, nxt = np.zeros(batch.shape), np.zeros(batch.shape)
    now[mask] = model(batch.states[mask], times, blocks)
    nxt[mask] = model(batch.next_states[mask], times + 1, blocks)
    return now, nxt


def fit_state_values(states: np.ndarray, targets: np.ndarray, mask: np.ndarray, num_states: int,
                     block_ids: np.ndarray | None = None, blocks: int = 1) -> np.ndarray:
    """Least squares of ``targets`` on one-hot state features = the per-state mean, ``(blocks, S)``: one fit per
    block of rows (``block_ids`` ``(N,)``, the rows' replicate; ``None``: one block).

    States never visited in a block's fitting batch get that block's overall mean (the minimum-norm choice
    after centring), so the baseline is defined everywhere.
    """
    ids = np.zeros(states.shape[0], np.int64) if block_ids is None else block_ids
    cell = (ids[:, None] * num_states + states)[mask]
    t = targets[mask]
    total = np.bincount(cell, weights=t, minlength=blocks * num_states).reshape(blocks, num_states)
    count = np.bincount(cell, minlength=blocks * num_states).reshape(blocks, num_states)
    overall = np.zeros((blocks, 1))
    gaps = np.flatnonzero((count == 0).any(axis=1) & (count.sum(axis=1) > 0))
    if gaps.size:  # the blocks' own means (numpy's pairwise sum, as for a batch alone), only where needed
        ends = np.cumsum(count.sum(axis=1))
        for b in gaps:
            overall[b, 0] = t[ends[b] - count[b].sum():ends[b]].mean()
    return np.where(count > 0, total / np.maximum(count, 1), overall)


def exact_value_table(ctx: Any, aux: Batch | None, streams: Any, options: Mapping[str, float]) -> np.ndarray:
    """``value_exact`` for the fused kernels: ``V_h(s)``, ``(1, H', S)``."""
    return ctx.value_table[None]


def learned_value_table(ctx: Any, aux: Batch | None, streams: Any, options: Mapping[str, float]) -> np.ndarray:
    """``value_learned`` for the fused kernels: each replicate's per-state mean of the returns of its independent
    batch, ``(blocks, 1, S)`` (tabular problems: the same fit as :meth:`fit_values`)."""
    if aux is None:
        raise ValueError("value_learned needs an independent fitting batch")
    table = fit_state_values(aux.states, aux.returns, aux.mask, ctx.mdp.num_states,
                             aux.block_ids if aux.blocks > 1 else None, aux.blocks)
    return table[:, None, :]


def fixed_table(ctx: Any, aux: Batch | None, streams: Any, options: Mapping[str, float]) -> np.ndarray:
    """``fixed:c=VALUE`` for the fused kernels: ``c`` everywhere, ``(1, 1, S)``."""
    return np.full((1, 1, ctx.mdp.num_states), float(options["c"]))


def optimal_coefficients(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-coordinate ``b_k = sum_i u_ik v_ik / sum_i v_ik^2`` (0 where ``v_k`` vanishes), ``(d,)``."""
    num = np.einsum("nd,nd->d", u, v)
    den = np.einsum("nd,nd->d", v, v)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
