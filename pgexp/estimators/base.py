"""What every estimator produces, and the context it works in.

Every estimator of the lecture is a weighted sum of score vectors,
``g_i = sum_h w_ih grad log pi(a_ih | s_ih)  -  b * sum_h c_ih grad log pi(a_ih | s_ih)``,
so an estimator returns :class:`WeightedScores` -- the (s, a) pairs it scores, their weights ``w`` and,
for the per-coordinate optimal baseline, the direction ``c`` that the baseline multiplies.  One
generic path (:func:`to_gradients`) turns weights into per-trajectory gradients or a batch mean with
one accumulation and one ``score_pullback``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pgexp import exact
from pgexp.estimators.kernels import accumulate
from pgexp.exact.values import objective_kind
from pgexp.problems.problem import Problem
from pgexp.sampling.tabular import Tables, effective_horizon, make_tables


@dataclass(eq=False)
class Context:
    """A problem at ``theta`` with everything estimators look up: ``pi``, sampler tables, exact values."""

    problem: Problem

    @property
    def mdp(self):
        return self.problem.mdp

    @property
    def kind(self) -> str:
        return objective_kind(self.mdp)

    @cached_property
    def pi(self) -> np.ndarray:
        return self.problem.policy.probs(self.problem.theta)

    @cached_property
    def tables(self) -> Tables:
        return make_tables(self.mdp, self.pi)

    @cached_property
    def evaluation(self) -> exact.Evaluation:
        return exact.evaluate(self.mdp, self.pi)

    @cached_property
    def value_table(self) -> np.ndarray:
        """Exact ``V_h(s)``: ``(H+1, S)`` for a finite horizon (``V_H = 0``), else ``(1, S)``."""
        ev = self.evaluation
        if ev.V_steps is not None:
            return ev.V_steps
        return np.nan_to_num(ev.V, nan=0.0)[None, :]

    @cached_property
    def advantage_table(self) -> np.ndarray:
        """Exact ``A_h(s, a)``: ``(H, S, A)`` for a finite horizon, else ``(1, S, A)``."""
        ev = self.evaluation
        if ev.V_steps is not None:
            H = ev.V_steps.shape[0] - 1
            return np.stack([ev.Q_step(self.mdp, h) - ev.V_steps[h][:, None] for h in range(H)])
        return np.nan_to_num(ev.A, nan=0.0)[None, :, :]

    @cached_property
    def max_len(self) -> int:
        return effective_horizon(self.mdp)


def time_lookup(table: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``table[h, states[:, h]]`` for a time-indexed ``(H', S)`` table (``H' = 1``: stationary)."""
    n, L = states.shape
    if table.shape[0] == 1:
        return table[0][states]
    h = np.minimum(np.arange(L), table.shape[0] - 1)
    return table[h[None, :], states]


@dataclass(eq=False)
class WeightedScores:
    """``g_i = sum_h w[i,h] score(s[i,h], a[i,h]) - b (.) sum_h c[i,h] score(s[i,h], a[i,h])``.

    Attributes:
        states, actions: ``(N, L)`` the scored pairs (padded; only ``h < lengths[i]`` count).
        w: ``(N, L)`` step weights with any scalar/state baseline already applied.
        lengths: ``(N,)``.
        c: ``(N, L)`` the direction the per-coordinate optimal baseline multiplies, or ``None``.
        b: ``(d,)`` per-coordinate baseline (only with ``c``).
        env_steps: environment steps used, including any auxiliary batch.
        returns: ``(N,)`` per-trajectory return (``G_0``, or the roll-out ``y``).
    """

    states: np.ndarray
    actions: np.ndarray
    w: np.ndarray
    lengths: np.ndarray
    env_steps: int
    returns: np.ndarray
    c: np.ndarray | None = None
    b: np.ndarray | None = field(default=None)


def to_gradients(ctx: Context, ws: WeightedScores, *, per_trajectory: bool) -> np.ndarray:
    """Per-trajectory gradients ``(N, d)`` or the batch mean ``(d,)``."""
    S, A = ctx.mdp.num_states, ctx.mdp.num_actions
    policy, theta = ctx.problem.policy, ctx.problem.theta
    n = ws.states.shape[0]

    def pull(weights: np.ndarray) -> np.ndarray:
        W = accumulate(ws.states, ws.actions, weights, ws.lengths, S, A, per_trajectory)
        return policy.score_pullback(theta, W.reshape(-1, S, A), pi=ctx.pi)

    g = pull(ws.w)
    if ws.c is not None and ws.b is not None:
        g = g - ws.b[None, :] * pull(ws.c)
    return g if per_trajectory else g[0] / n
