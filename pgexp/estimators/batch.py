"""What an estimator sees: a :class:`Batch` of trajectories, padded to a common length ``L``.

Every estimator of the lecture is a weighted sum of score vectors, so an estimator is a function
``fn(batch) -> w`` of shape ``(N, L)`` with

    g_i = sum_{h < lengths[i]} w[i, h] grad log pi(a_ih | s_ih),

and the batch estimate is ``(1/N) sum_i g_i``.  The runner (:mod:`pgexp.runs.estimate`) samples the
batch, fills in the chosen baseline's values, calls ``fn`` and turns the weights into gradients (one
accumulation and one score pull-back on tabular problems; ``torch.func`` on continuous ones).  Weights
on padding are ignored.

**Baseline values and episode ends.**  ``batch.baseline[i, h] = b_h(s_ih)`` and ``batch.baseline_next[i, h]
= b_{h+1}(s_{i,h+1})`` (the state after the last action for the last step).  After an episode's *end*
the value is zero.  Each track's sampler says which episodes ended (``Batch.ended``, one flag per
trajectory) and :func:`with_baseline` is the one place that zeroes the value after them:

* an absorbing state was entered (nothing more can be earned);
* the finite horizon ``H`` was reached (``V_H = 0``: the objective stops there -- a stationary learned
  value must not bootstrap past it, which would bias GAE);
* a continuous-state task's time limit or cap (part of its finite-horizon objective).

**Stacks of replicates.**  The runner draws every replicate of a cell in one compiled call and hands
the estimator a *stack*: ``blocks`` independent batches of ``n`` trajectories each, block ``k`` in rows
``[k n, (k + 1) n)``, each trajectory with its own random stream (so a trajectory is the same whether it
is drawn alone or in a stack).  An estimator registered ``vectorized=True`` computes each trajectory's
weights from its own block only (the built-ins are per-trajectory formulas, which qualifies them
trivially; a batch-level statistic uses :meth:`Batch.block_sums` / ``batch.block_ids``); any other is
called once per block with a batch of its own (``blocks = 1``), so a plug-in never sees a stack unless it
asks for one.

**Groups.**  With ``--group-size G`` (:mod:`pgexp.sampling.groups`) the batch is sampled as language-model
fine-tuning samples it: ``n / G`` prompts (initial states) per replicate, ``G`` responses (trajectories) to each,
group ``g`` in rows ``[g G, (g + 1) G)`` (``batch.group_ids``, :meth:`Batch.group_sums`); a group estimator
(:mod:`pgexp.estimators.groups`) builds its baseline and normalisation from its own group, or from its block.

A *truncated* trajectory of an infinite-horizon objective (discounted, simulated for ``T`` steps with
``gamma^T < 1e-12``; or episodic, cut at the step cap and reported ``truncated``) has not ended: the
objective goes on, so ``baseline_next`` keeps ``b(s_T)`` and GAE bootstraps from it, as the exact value
of the neglected tail would (its weight ``gamma^T`` is below 1e-12 in the discounted case anyway).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pgexp.estimators.correction import ActionValues, Corrected

_UNSET = np.zeros((0, 0))  # the default of the optional arrays below (filled in by __post_init__)


@dataclass(eq=False)
class Batch:
    """A batch of ``N`` trajectories (or, for the roll-in/roll-out scheme, ``N`` single scored steps).

    Attributes:
        states: ``(N, L)`` int state indices (tabular), or ``(N, L, obs_dim)`` float64 observations
            (continuous-state tasks) or states (linear-quadratic problems); padding beyond ``lengths[i]``.
        actions: ``(N, L)`` int actions, or ``(N, L, m)`` float64 continuous actions (linear-quadratic problems,
            Box-action tasks: as the Gaussian policy sampled them).
        rewards: ``(N, L)`` float64 ``r(s_h, a_h)``; zero padding.
        lengths: ``(N,)`` int64 number of scored steps.
        gamma: the discount.
        horizon: the finite horizon ``H``, or ``None`` (infinite-horizon objective).
        times: ``(N, L)`` int time index ``h`` of each step (a roll-in sample: its roll-in time); by default
            ``h`` itself, and then ``aligned`` is True.
        successors: ``next_states``, or a function that computes it when first asked for (a tabular
            batch's shifted copy of ``states`` costs as much as an estimator, and most never need it).
        ended: ``(N,)`` bool: the episode *ended* after its last step (see the module docstring).
        truncated: ``(N,)`` bool: cut by a cap rather than ended by the task (tabular: an infinite-horizon
            episode cut by the simulation cap; continuous: the time limit or cap).
        track: ``tabular``, ``continuous`` or ``lqr``.
        baseline: ``(N, L)`` the chosen baseline's ``b_h(s_h)`` (zero for ``none``).
        baseline_next: ``(N, L)`` ``b_{h+1}(s_{h+1})``, zero after an episode's end (an action-dependent baseline: its
            critic's state value there).
        baseline_state: ``(N, L)`` the baseline's state value at ``s_h``: ``baseline`` itself for a state baseline; for
            an action-dependent one (``baseline`` = ``b(s_h, a_h)``) the critic's ``E_{a~pi} Q̂(s_h, a)``.
        baseline_correction: ``(N, L, K)`` an action-dependent baseline's analytic correction direction, ``None`` for a
            state baseline (:mod:`pgexp.estimators.correction`); ``critic_correction``: its critic's (all-action).
        params: the estimator's hyperparameters, e.g. ``{"lam": 0.95}``.
        fitted: the estimator's own auxiliary fit (e.g. the actor-critic's critic), else ``None``; for a stack
            of ``blocks > 1`` replicates, one fit per block along the first axis.
        final_states: ``(N,)`` the state after the last action (tabular trajectories), else ``None``.
        costs: ``(N,)`` environment steps each row cost, where that is not its ``lengths`` (a roll-in/roll-out
            sample: roll-in plus roll-out); ``None``: ``lengths``.
        blocks: independent batch estimates stacked in this batch: rows ``[k n, (k + 1) n)`` are replicate ``k``'s
            ``n = N / blocks`` trajectories (see "Stacks of replicates" in the module docstring).
        group_size: ``G``, responses per prompt: rows ``[g G, (g + 1) G)`` are group ``g``'s responses to one prompt
            (the same initial state), a block holds ``n / G`` whole groups (see "Groups" in the module docstring);
            ``1``: every trajectory its own prompt.
        context: the problem at ``theta`` (the track's context: ``pi``, tables, ...), for advanced use.
        env_steps: environment steps the batch cost (default ``lengths.sum()``).
        given_returns: ``(N, L)`` returns supplied by the sampler (the roll-out's ``y``), else ``None``.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    gamma: float
    horizon: int | None
    successors: np.ndarray | Callable[[], np.ndarray]
    ended: np.ndarray
    truncated: np.ndarray
    track: str
    times: np.ndarray = field(default_factory=lambda: _UNSET)
    context: Any = None
    env_steps: int = -1
    given_returns: np.ndarray | None = None
    exact: Callable[[Batch], Mapping[str, np.ndarray]] | None = None
    baseline: np.ndarray = field(default_factory=lambda: _UNSET)
    baseline_next: np.ndarray = field(default_factory=lambda: _UNSET)
    baseline_state: np.ndarray = field(default_factory=lambda: _UNSET)
    baseline_correction: np.ndarray | None = None
    critic_correction: np.ndarray | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    fitted: Any = None
    blocks: int = 1
    costs: np.ndarray | None = None
    final_states: np.ndarray | None = None
    group_size: int = 1

    def __post_init__(self) -> None:
        self.aligned = self.times is _UNSET  # times[i, h] = h: the discount is one row, broadcast
        if self.aligned:
            self.times = np.broadcast_to(np.arange(self.shape[1]), self.shape)
        if self.env_steps < 0:
            self.env_steps = int(self.lengths.sum())
        zeros = np.broadcast_to(np.float64(0.0), self.shape)  # read-only: baselines are replaced, never written
        if self.baseline is _UNSET:
            self.baseline = zeros
        if self.baseline_next is _UNSET:
            self.baseline_next = zeros
        if self.baseline_state is _UNSET:
            self.baseline_state = self.baseline

    @property
    def num(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def block_size(self) -> int:
        """``n``: trajectories per replicate (the batch size of one estimate)."""
        return self.num // self.blocks

    @cached_property
    def block_ids(self) -> np.ndarray:
        """``(N,)`` int64: the replicate (block) of each trajectory."""
        return np.repeat(np.arange(self.blocks, dtype=np.int64), self.block_size)

    def block_sums(self, x: ArrayLike) -> np.ndarray:
        """Per-trajectory values ``(N, ...)`` summed within each block: ``(blocks, ...)``."""
        a = np.asarray(x)
        return a.reshape(self.blocks, self.block_size, *a.shape[1:]).sum(axis=1)

    @cached_property
    def group_ids(self) -> np.ndarray:
        """``(N,)`` int64: the group (prompt) of each trajectory, ``0 .. N / G - 1`` within this batch."""
        return np.arange(self.num, dtype=np.int64) // self.group_size

    def group_sums(self, x: ArrayLike) -> np.ndarray:
        """Per-trajectory values ``(N, ...)`` summed within each group: ``(N / G, ...)``."""
        a = np.asarray(x)
        return a.reshape(self.num // self.group_size, self.group_size, *a.shape[1:]).sum(axis=1)

    @property
    def block_steps(self) -> np.ndarray:
        """``(blocks,)`` int64 environment steps of each replicate."""
        return self.block_sums(self.lengths if self.costs is None else self.costs).astype(np.int64)

    def block(self, k: int) -> Batch:
        """Replicate ``k`` of a stack as a batch of its own (``blocks = 1``)."""
        if self.blocks == 1:
            return self
        n = self.block_size
        rows = slice(k * n, (k + 1) * n)
        sub = copy.copy(self)
        per_row = ("states", "actions", "rewards", "lengths", "ended", "truncated", "given_returns", "costs",
                   "final_states", "mask",
                   "returns", "first_returns", "next_states", "end_mask", "block_ids", "baseline_correction",
                   "critic_correction")
        for name in per_row:
            value = self.__dict__.get(name)
            if value is not None:
                sub.__dict__[name] = value[rows]
        for name in ("times", "baseline", "baseline_next", "baseline_state", "discount"):
            value = self.__dict__.get(name)
            if value is not None:
                sub.__dict__[name] = value[rows] if value.shape[0] == self.num else value
        if callable(self.successors):
            parent = self
            sub.successors = lambda: parent.next_states[rows]
        else:
            sub.successors = self.successors[rows]
        sub.__dict__.pop("_exact", None)
        sub.__dict__.pop("group_ids", None)
        sub.fitted = None if self.fitted is None else self.fitted[k]
        sub.blocks = 1
        sub.block_ids = np.zeros(n, np.int64)
        sub.env_steps = int(sub.block_steps[0])
        return sub

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, L)``."""
        return (int(self.actions.shape[0]), int(self.actions.shape[1]))

    @cached_property
    def mask(self) -> np.ndarray:
        """``(N, L)`` True on real steps."""
        return np.arange(self.shape[1])[None, :] < self.lengths[:, None]

    @cached_property
    def next_states(self) -> np.ndarray:
        """Like ``states``: ``s_{h+1}``; at the last step the state after the last action."""
        return self.successors() if callable(self.successors) else self.successors

    @cached_property
    def end_mask(self) -> np.ndarray:
        """``(N, L)`` True at the last step of an episode that *ended* there: the value after it is zero."""
        last = np.zeros(self.shape, bool)
        rows = np.flatnonzero(self.ended & (self.lengths > 0))
        last[rows, self.lengths[rows] - 1] = True
        return last

    @cached_property
    def discount(self) -> np.ndarray:
        """``(N, L)`` ``gamma^h`` at each step's time index."""
        if self.aligned:
            return np.broadcast_to(self.gamma ** np.arange(self.shape[1], dtype=np.float64), self.shape)
        return self.gamma ** self.times.astype(np.float64)

    @cached_property
    def returns(self) -> np.ndarray:
        """``(N, L)`` return from each step ``R_h = sum_{t >= h} gamma^(t-h) r_t`` (zero on padding).

        ``returns[:, 0]`` is ``G_0``; for a roll-in/roll-out sample it is the roll-out's ``y``.
        """
        if self.given_returns is not None:
            return self.given_returns
        from pgexp.estimators.kernels import returns_from  # compiled: imported when first needed

        return returns_from(np.ascontiguousarray(self.rewards, dtype=np.float64),
                            np.ascontiguousarray(self.lengths, dtype=np.int64), float(self.gamma))

    @cached_property
    def first_returns(self) -> np.ndarray:
        """``(N,)`` ``G_0 = sum_h gamma^h r_h`` summed in step order (a roll-out's ``y``), without the full
        ``returns`` table."""
        if self.given_returns is not None:
            return self.given_returns[:, 0]
        from pgexp.estimators.fused import forward_returns  # compiled: imported when first needed

        return forward_returns(np.ascontiguousarray(self.rewards, dtype=np.float64),
                               np.ascontiguousarray(self.lengths, dtype=np.int64), float(self.gamma))

    @cached_property
    def _exact(self) -> Mapping[str, np.ndarray]:
        if self.exact is None:
            raise AttributeError("the exact V, Q, A exist only on tabular problems")
        return self.exact(self)

    @property
    def V(self) -> np.ndarray:
        """``(N, L)`` exact ``V_h(s_h)`` (tabular problems; time-indexed for a finite horizon)."""
        return self._exact["V"]

    @property
    def Q(self) -> np.ndarray:
        """``(N, L)`` exact ``Q_h(s_h, a_h)`` (tabular problems)."""
        return self._exact["Q"]

    @property
    def A(self) -> np.ndarray:
        """``(N, L)`` exact ``A_h(s_h, a_h) = Q_h - V_h`` (tabular problems)."""
        return self._exact["A"]

    def replace(self, **changes: Any) -> Batch:
        """A shallow copy with some attributes changed (cached returns and masks are kept)."""
        new = copy.copy(self)
        new.__dict__.update(changes)
        return new


def masked(batch: Batch, values: ArrayLike) -> np.ndarray:
    """``values`` broadcast to ``(N, L)``, float64, zero on padding (zero itself is a read-only broadcast
    view, no memory; another scalar costs one multiplication)."""
    if np.ndim(values) == 0:
        if float(values) == 0.0:  # type: ignore[arg-type]
            return np.broadcast_to(np.float64(0.0), batch.shape)
        return batch.mask * float(values)  # type: ignore[arg-type]
    return np.where(batch.mask, np.broadcast_to(np.asarray(values, dtype=np.float64), batch.shape), 0.0)


def with_baseline(batch: Batch, now: ArrayLike | ActionValues, nxt: ArrayLike) -> Batch:
    """The batch with baseline values ``now`` (``b_h(s_h)``) and ``nxt`` (``b_{h+1}(s_{h+1})``), both
    broadcastable to ``(N, L)``; zero on padding and, for ``nxt``, after an episode's end.  An action-dependent
    baseline gives ``now`` as :class:`~pgexp.estimators.correction.ActionValues`: ``baseline`` is then its value at
    the sampled action, ``baseline_state`` its critic's state value and ``baseline_correction`` / ``critic_correction``
    its correction directions (zero on padding)."""
    after = masked(batch, nxt)
    if np.ndim(nxt) or float(nxt) != 0.0:  # type: ignore[arg-type]
        after = np.where(batch.end_mask, 0.0, after)
    if isinstance(now, ActionValues):
        live = batch.mask[..., None]
        k = np.where(live, now.correction, 0.0)
        critic = k if now.critic is None else np.where(live, now.critic, 0.0)
        return batch.replace(baseline=masked(batch, now.taken), baseline_next=after,
                             baseline_state=masked(batch, now.state), baseline_correction=k, critic_correction=critic)
    base = masked(batch, now)
    return batch.replace(baseline=base, baseline_next=after, baseline_state=base, baseline_correction=None,
                         critic_correction=None)


def step_weights(fn: Callable[[Batch], Any], batch: Batch, name: str = "estimator") -> Any:
    """``fn(batch)`` as float64 ``(N, L)`` weights, or a :class:`~pgexp.estimators.correction.Corrected` with
    ``(N, L)`` weights and an ``(N, L, K)`` correction; a wrong shape is refused by name.  Weights on padding
    are never read (the tracks' gradients only sum real steps)."""
    from pgexp.errors import UserError

    out = fn(batch)
    if isinstance(out, Corrected):
        w, k = np.asarray(out.score, dtype=np.float64), np.asarray(out.correction, dtype=np.float64)
        if w.shape != batch.shape or k.ndim != 3 or k.shape[:2] != batch.shape:
            raise UserError(f"estimator {name}: returned a correction with weights {w.shape} and correction "
                            f"{k.shape}; expected (N, L) = {batch.shape} and (N, L, K)")
        return Corrected(w, k)
    w = np.asarray(out, dtype=np.float64)
    if w.shape != batch.shape:
        raise UserError(f"estimator {name}: returned weights of shape {w.shape}; expected (N, L) = {batch.shape}")
    return w
