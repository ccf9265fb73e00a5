"""Compiled batch sampler for tabular MDPs.

``sample(mdp, pi, seeds, horizon)`` simulates one trajectory per row of ``seeds`` (see
:mod:`pgexp.sampling.rng`) and returns padded arrays ``states``, ``actions`` (int32) and ``rewards`` (float64)
of shape ``(N, L)`` with per-trajectory ``lengths``.  Actions and next states are drawn from Walker
alias tables (Vose's construction) -- one uniform and no data-dependent loop per draw; the alias
tables of ``P`` live in its CSR layout, so rows may have any number of entries.

Episode lengths:

* finite horizon ``H``: ``H`` steps, or fewer if an absorbing state is entered (no action is taken
  in an absorbing state: the episode is over, and its rewards would be zero anyway);
* discounted, ``H = inf``: truncated after ``T = ceil(log(1e-12) / log(gamma))`` steps, where
  ``gamma^T`` falls below 1e-12 -- the neglected tail of any return is at most
  ``1e-12 max|r| / (1 - gamma)`` (the lecture's roll-out estimators use geometric termination
  instead, see :func:`rollin_rollout`);
* episodic (``gamma = 1``, ``H = inf``): until absorption, capped at ``max_steps`` (reported).

``steps`` overrides the length for an infinite-horizon objective: the practice option ``--truncate T``
(:mod:`pgexp.estimators.practice`) cuts every episode after ``T`` steps.  Each trajectory owns its random
stream and draws the same numbers step by step, so a cut trajectory is the prefix of the uncut one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from pgexp.problems.mdp import FiniteMDP, objective_kind
from pgexp.sampling.rng import next_uniform

TRUNCATION_TOL = 1e-12
EPISODIC_MAX_STEPS = 100_000


def effective_horizon(mdp: FiniteMDP, max_steps: int = EPISODIC_MAX_STEPS) -> int:
    """Steps simulated per trajectory at most (see the module docstring)."""
    kind = objective_kind(mdp)
    if kind == "finite":
        return int(mdp.horizon)  # type: ignore[arg-type]
    if kind == "discounted":
        if mdp.gamma == 0.0:
            return 1
        return max(1, math.ceil(math.log(TRUNCATION_TOL) / math.log(mdp.gamma)))
    return max_steps


@dataclass(frozen=True, eq=False)
class Tables:
    """The MDP and policy as flat alias tables for the compiled kernels.

    Row ``j`` of a CSR-laid-out alias table with ``k`` entries starting at ``ptr[j]`` is sampled by
    ``u -> i = floor(u k), f = u k - i``: take entry ``i`` if ``f < prob[ptr[j] + i]``, else entry
    ``alias[ptr[j] + i]``.
    """

    mu_cdf: np.ndarray      # (S,) initial distribution (binary search, once per trajectory)
    pi_ptr: np.ndarray      # (S + 1,) rows of the policy's alias table
    pi_prob: np.ndarray     # (S*A,)
    pi_alias: np.ndarray    # (S*A,) int32, an action
    indptr: np.ndarray      # (S*A + 1,) CSR row pointers of P
    indices: np.ndarray     # (nnz,) int32 next states
    p_prob: np.ndarray      # (nnz,)
    p_alias: np.ndarray     # (nnz,) int32, an offset within the row
    r: np.ndarray           # (S, A)
    absorbing: np.ndarray   # (S,) bool


@njit(cache=True)
def alias_rows(ptr, probs):
    """Vose's alias tables for every CSR row of ``probs`` (each row sums to one)."""
    prob = np.ones(probs.shape[0])
    alias = np.zeros(probs.shape[0], np.int32)
    small = np.empty(probs.shape[0], np.int64)
    large = np.empty(probs.shape[0], np.int64)
    scaled = np.empty(probs.shape[0])
    for row in range(ptr.shape[0] - 1):
        start, end = ptr[row], ptr[row + 1]
        k = end - start
        total = 0.0
        for j in range(start, end):
            total += probs[j]
        ns = 0
        nl = 0
        for j in range(k):
            scaled[j] = probs[start + j] * k / total
            if scaled[j] < 1.0:
                small[ns] = j
                ns += 1
            else:
                large[nl] = j
                nl += 1
        while ns > 0 and nl > 0:
            ns -= 1
            sj = small[ns]
            lj = large[nl - 1]
            prob[start + sj] = scaled[sj]
            alias[start + sj] = lj
            scaled[lj] = (scaled[lj] + scaled[sj]) - 1.0
            if scaled[lj] < 1.0:
                nl -= 1
                small[ns] = lj
                ns += 1
        # leftovers are 1 up to round-off: they always keep their own entry
        for j in range(nl):
            prob[start + large[j]] = 1.0
            alias[start + large[j]] = large[j]
        for j in range(ns):
            prob[start + small[j]] = 1.0
            alias[start + small[j]] = small[j]
    return prob, alias


def make_tables(mdp: FiniteMDP, pi: np.ndarray) -> Tables:
    """Precompute the alias tables of ``pi`` ``(S, A)`` and of every row of ``P``."""
    P = mdp.P
    S, A = pi.shape
    mu_cdf = np.cumsum(mdp.mu)
    mu_cdf[np.flatnonzero(mdp.mu)[-1]:] = 1.0
    pi_ptr = np.arange(0, S * A + 1, A, dtype=np.int64)
    pi_prob, pi_alias = alias_rows(pi_ptr, np.ascontiguousarray(pi, dtype=np.float64).ravel())
    indptr = P.indptr.astype(np.int64)
    p_prob, p_alias = alias_rows(indptr, P.data.astype(np.float64))
    return Tables(
        mu_cdf=mu_cdf, pi_ptr=pi_ptr, pi_prob=pi_prob, pi_alias=pi_alias,
        indptr=indptr, indices=P.indices.astype(np.int32), p_prob=p_prob, p_alias=p_alias,
        r=np.ascontiguousarray(mdp.r), absorbing=mdp.absorbing_states(),
    )


@njit(cache=True)
def draw_alias(ptr, prob, alias, row, u):
    """Offset (within row ``row``) drawn from a CSR alias table with one uniform ``u``; branch-free select."""
    start = ptr[row]
    k = ptr[row + 1] - start
    x = u * k
    i = min(int(x), k - 1)
    return i if x - i < prob[start + i] else alias[start + i]


@njit(cache=True)
def draw_start(mu_cdf, u):
    lo, hi = 0, mu_cdf.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if mu_cdf[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    return min(lo, mu_cdf.shape[0] - 1)


LANES = 8  # trajectories stepped in lockstep so their dependency chains overlap (32 -> 39 M steps/s, measured)


@njit(cache=True)
def simulate_block(seeds, i0, n, tables, limit, gamma, buffers, g0):
    """Simulate trajectories ``i0 .. i0 + n - 1`` (one per row of ``seeds``) for at most ``limit`` steps into rows
    ``0 .. n - 1`` of ``buffers = (states, actions, rewards, lengths, final)`` -- ``(n, L)``, ``(n, L)``, ``(n, L)``,
    ``(n,)``, ``(n,)`` (the state after the last action) -- and ``G_0 = sum_h gamma^h r_h`` (summed in step order)
    into ``g0``; ``tables``: :func:`kernel_tables`.  Entries beyond a trajectory's length are left as they were.

    Per trajectory: a start state, then per step an action and a next state, each from one uniform of its own
    xoshiro256** stream; :data:`LANES` trajectories are stepped in lockstep.  Returns False when a trajectory
    outlived the buffers (``L < limit``): grow them and draw again (the draws are the same).
    """
    mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob, p_alias, r, absorbing = tables
    states, actions, rewards, lengths, final = buffers
    A = r.shape[1]
    L = min(limit, states.shape[1])
    st = np.empty((LANES, 4), np.uint64)
    cur = np.empty(LANES, np.int64)
    alive = np.empty(LANES, np.bool_)
    disc = np.empty(LANES)
    for j0 in range(0, n, LANES):
        nb = min(LANES, n - j0)
        for j in range(nb):
            for q in range(4):
                st[j, q] = seeds[i0 + j0 + j, q]
            cur[j] = draw_start(mu_cdf, next_uniform(st[j]))
            alive[j] = True
            lengths[j0 + j] = 0
            g0[j0 + j] = 0.0
            disc[j] = 1.0
        for h in range(L):
            any_alive = False
            for j in range(nb):
                if alive[j]:
                    s = cur[j]
                    if absorbing[s]:
                        alive[j] = False
                        continue
                    a = draw_alias(pi_ptr, pi_prob, pi_alias, s, next_uniform(st[j]))
                    states[j0 + j, h] = s
                    actions[j0 + j, h] = a
                    rew = r[s, a]
                    rewards[j0 + j, h] = rew
                    g0[j0 + j] += disc[j] * rew
                    disc[j] *= gamma
                    row = s * A + a
                    cur[j] = indices[indptr[row] + draw_alias(indptr, p_prob, p_alias, row, next_uniform(st[j]))]
                    lengths[j0 + j] = h + 1
                    any_alive = True
            if not any_alive:
                break
        for j in range(nb):
            final[j0 + j] = cur[j]
            if L < limit and lengths[j0 + j] == L and not absorbing[cur[j]]:
                return False
    return True


@dataclass(frozen=True, eq=False)
class Trajectories:
    """A batch of trajectories, padded to a common length ``L``.

    Attributes:
        states, actions: ``(N, L)`` int32; entries at ``h >= lengths[i]`` are padding (0).
        rewards: ``(N, L)`` float64 ``r(s_h, a_h)``; padding is 0.
        lengths: ``(N,)`` number of actions taken.
        final_states: ``(N,)`` the state after the last action (absorbing, or where truncated).
        truncated: ``(N,)`` True where an episodic trajectory hit ``max_steps`` before absorbing.
        first_returns: ``(N,)`` ``G_0 = sum_h gamma^h r_h``, summed in step order.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    final_states: np.ndarray
    truncated: np.ndarray
    first_returns: np.ndarray

    @property
    def num(self) -> int:
        return self.states.shape[0]

    @property
    def mask(self) -> np.ndarray:
        """``(N, L)`` True on real steps."""
        return np.arange(self.states.shape[1])[None, :] < self.lengths[:, None]

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


# The alias tables a kernel takes after the seeds, in its argument order (a fixed length, so a type checker can
# count the kernel's arguments through ``*_args(t)``).
KernelTables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _args(t: Tables) -> KernelTables:
    return (t.mu_cdf, t.pi_ptr, t.pi_prob, t.pi_alias, t.indptr, t.indices, t.p_prob, t.p_alias)


def kernel_tables(t: Tables) -> tuple:
    """The sampler's tables as one tuple, for kernels that take them whole: ``(mu_cdf, pi_ptr, pi_prob, pi_alias,
    indptr, indices, p_prob, p_alias, r, absorbing)``."""
    return (*_args(t), t.r, t.absorbing)


BUFFER_STEPS = 256  # an open-ended episode's first buffer length (doubled, and the batch drawn again, if exceeded)


def padded_width(mdp: FiniteMDP, steps: int | None = None, max_steps: int = EPISODIC_MAX_STEPS) -> int:
    """The width :func:`sample` allocates its ``(N, L)`` arrays with at first: the horizon of a finite problem,
    the effective one of a discounted problem, ``steps`` when episodes are cut, else :data:`BUFFER_STEPS` (an
    open-ended episode's buffer grows to the longest one)."""
    limit = effective_horizon(mdp, max_steps) if steps is None else int(steps)
    return min(limit, BUFFER_STEPS) if objective_kind(mdp) == "episodic" and steps is None else limit


def sample(mdp: FiniteMDP, tables: Tables, seeds: np.ndarray, *, max_steps: int = EPISODIC_MAX_STEPS,
           steps: int | None = None) -> Trajectories:
    """Simulate ``len(seeds)`` trajectories of ``mdp`` under the policy in ``tables`` (``steps``: cut an
    infinite-horizon problem's episodes after that many steps; see the module docstring).  The arrays are as wide
    as the longest trajectory needs (the horizon, for a finite one)."""
    n = seeds.shape[0]
    limit = effective_horizon(mdp, max_steps) if steps is None else int(steps)
    open_ended = objective_kind(mdp) == "episodic" and steps is None
    L = padded_width(mdp, steps, max_steps)
    lengths, final, g0 = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n)
    while True:
        states, actions, rewards = np.zeros((n, L), np.int32), np.zeros((n, L), np.int32), np.zeros((n, L))
        if simulate_block(seeds, 0, n, kernel_tables(tables), limit, float(mdp.gamma),
                          (states, actions, rewards, lengths, final), g0):
            break
        L = min(2 * L, limit)
    if open_ended:  # as wide as the longest trajectory, and at least one (padding) column: G_0 is always defined
        width = max(int(lengths.max(initial=0)), 1)
        if width < L:
            states, actions = np.ascontiguousarray(states[:, :width]), np.ascontiguousarray(actions[:, :width])
            rewards = np.ascontiguousarray(rewards[:, :width])
    truncated = ((lengths >= limit) & ~tables.absorbing[final] if objective_kind(mdp) == "episodic"
                 else np.zeros(n, bool))
    return Trajectories(states, actions, rewards, lengths, final, truncated, g0)


# ------------------------------------------------------------------ the lecture's roll-in / roll-out

@njit(cache=True)
def rollin_rollout_one(st, mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob, p_alias, r, absorbing,
                       gamma, horizon, uniform_action):
    """One roll-in/roll-out sample from the stream state ``st`` (advanced in place): returns
    ``(s, a, h, y, steps)`` -- the state and action rolled in to at time ``h``, the roll-out's return ``y`` and the
    environment steps both took.  Shared by the estimate engine and the compiled trainer, so both draw alike."""
    A = r.shape[1]
    s = draw_start(mu_cdf, next_uniform(st))
    used = 0
    # roll in to h ~ q(h) ∝ gamma^h: geometric (H = inf), or truncated to {0..H-1} by inverse CDF
    if horizon < 0:
        h = 0
        while next_uniform(st) < gamma:
            h += 1
    elif gamma < 1.0:
        u = next_uniform(st)
        h = int(np.floor(np.log(1.0 - u * (1.0 - gamma ** horizon)) / np.log(gamma)))
        h = min(max(h, 0), horizon - 1)
    else:
        h = min(int(next_uniform(st) * horizon), horizon - 1)
    t = 0
    while t < h and not absorbing[s]:
        a = draw_alias(pi_ptr, pi_prob, pi_alias, s, next_uniform(st))
        row = s * A + a
        s = indices[indptr[row] + draw_alias(indptr, p_prob, p_alias, row, next_uniform(st))]
        used += 1
        t += 1
    if uniform_action:
        a = min(int(next_uniform(st) * A), A - 1)
    else:
        a = draw_alias(pi_ptr, pi_prob, pi_alias, s, next_uniform(st))
    # roll out: H = inf -> terminate with probability 1 - gamma after each step (undiscounted sum);
    # finite H -> run to the horizon with discounted rewards gamma^(t-h) r_t.  Either way E[y] = Q_h(s, a).
    total = 0.0
    disc = 1.0
    cur_s = s
    cur_a = a
    t = h
    while not absorbing[cur_s] and (horizon < 0 or t < horizon):
        total += disc * r[cur_s, cur_a]
        used += 1
        t += 1
        if horizon < 0:
            if next_uniform(st) >= gamma:
                break
        else:
            disc *= gamma
            if t >= horizon:
                break
        row = cur_s * A + cur_a
        cur_s = indices[indptr[row] + draw_alias(indptr, p_prob, p_alias, row, next_uniform(st))]
        if absorbing[cur_s]:
            break
        cur_a = draw_alias(pi_ptr, pi_prob, pi_alias, cur_s, next_uniform(st))
    return s, a, h, total, used


@njit(cache=True)
def _rollin_rollout_kernel(seeds, tables, gamma, horizon, uniform_action, out):
    """:func:`rollin_rollout_one` per stream of ``seeds`` ``(N, 4)``: ``tables`` as :func:`kernel_tables` gives them
    (one structure, unpacked once), ``out`` = ``(states, actions, times, y, steps)``, each ``(N,)``, filled."""
    mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob, p_alias, r, absorbing = tables
    start_states, start_actions, start_times, y, steps = out
    for i in range(seeds.shape[0]):
        st = seeds[i].copy()
        s, a, h, total, used = rollin_rollout_one(st, mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob,
                                                  p_alias, r, absorbing, gamma, horizon, uniform_action)
        start_states[i] = s
        start_actions[i] = a
        start_times[i] = h
        y[i] = total
        steps[i] = used


def occupancy_mass(gamma: float, horizon: int | None) -> float:
    """``Z = sum_{h<H} gamma^h``, the total mass of the (unnormalised) discounted occupancy."""
    if horizon is None:
        return 1.0 / (1.0 - gamma)
    return float(horizon) if gamma == 1.0 else (1.0 - gamma**horizon) / (1.0 - gamma)


def rollin_rollout(tables: Tables, seeds: np.ndarray, gamma: float, horizon: int | None = None, *,
                   uniform_action: bool = False):
    """The lecture's sampler: ``(s, a) ~ d^pi`` by roll-in, and ``y`` with ``E[y] = Q_h(s, a)`` by roll-out.

    Roll in to ``h ~ q(h) ∝ gamma^h`` (geometric for ``H = inf``; truncated to ``{0..H-1}`` otherwise),
    take ``a ~ pi`` (or uniform, for a critic's data); roll out with termination probability
    ``1 - gamma`` per step (``H = inf``) or to the horizon with discounting (finite ``H``).  Then
    ``grad J = Z E[score(s, a) Q_h(s, a)]`` with ``Z = occupancy_mass(gamma, H)``.
    Returns ``(states, actions, times, y, env_steps)``, each ``(N,)``.  Not for ``gamma = 1, H = inf``.
    """
    n = seeds.shape[0]
    s = np.zeros(n, np.int64)
    a = np.zeros(n, np.int64)
    h = np.zeros(n, np.int64)
    y = np.zeros(n)
    steps = np.zeros(n, np.int64)
    _rollin_rollout_kernel(seeds, kernel_tables(tables), float(gamma), -1 if horizon is None else int(horizon),
                           uniform_action, (s, a, h, y, steps))
    return s, a, h, y, steps
