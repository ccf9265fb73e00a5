r"""The compiled training engine: every run of a grid (seeds x step sizes) in one numba loop.

Scope: softmax-linear policies ``pi(a|s) ∝ exp(theta . phi(s, a))`` on small tabular problems
(:func:`pgexp.runs.tabular_exact.fits_dense`), the estimators whose registry entry names one of the
:data:`KERNELS` (:mod:`pgexp.runs.train_codes`; :attr:`pgexp.estimators.spec.Estimator.training_kernel`), and
``exact``; everything else trains through the general path of :mod:`pgexp.runs.train`.  This module holds the
interface and the loop over the grid; the kernels it calls are in :mod:`pgexp.runs.train_batch_kernels` (the
policy, the minimum-variance constants, the batches) and :mod:`pgexp.runs.train_step_kernels` (returns, baselines,
step weights, the critic, directions and updates).

**Interface.**  :func:`train_grid` takes four named tuples -- :class:`Model` (the problem and its alias
tables), :class:`Settings` (the job's options as numbers), :class:`Grid` (the runs' starting points,
step sizes and streams) and :class:`Outputs` (the arrays it fills) -- so that a new estimator or option
is a new field, never a longer signature.  Named tuples rather than a ``jitclass`` or a ``StructRef``:
numba types them structurally (a field access costs nothing), they are immutable, they need no
boilerplate, and -- unlike a ``jitclass`` -- functions that take them are cached on disk (``cache=True``).
Their cost: an njit function counts a reference to every array it receives, tuple members included (two
atomic updates per array per call; at batch size 1 these are about half of an iteration's time, by
``perf``), so the helpers called every iteration take the parts they read (``Model.dm``, ``Model.sampler``,
single arrays), not the whole tuples.  Renaming or removing one of these classes needs the stale numba
cache cleared (``pgexp/runs/__pycache__/*.nbi``): numba unpickles an old index, which names the class,
before it checks that the index is stale.

**Streams.**  Iteration ``t`` of a run draws its ``N`` trajectories from ``SeedSequence(entropy,
spawn_key=(t, 0))`` exactly as the general path does (:mod:`pgexp.sampling.seedseq` derives the key inside
the loop), and simulates them with the same alias-table draws as :func:`pgexp.sampling.tabular.sample`;
the actor-critic's critic data come from ``spawn_key=(t, 2)`` (the ``FIT`` child of
:mod:`pgexp.runs.estimate`) with the draws of :func:`pgexp.sampling.tabular.rollin_rollout`.
A run's numbers depend only on its own identity, never on the other runs of the grid.

**Notation.**  ``R_h = sum_{t>=h} gamma^(t-h) r_t`` (the return from ``h``), ``G_0 = R_0``,
``psi_h = grad log pi(a_h|s_h) = phi(s_h, a_h) - sum_b pi(b|s_h) phi(s_h, b)``; ``b_h`` is the baseline
plus the offset ``epsilon`` (``--baseline-offset``).  Step weights:
``reinforce``: ``w_h = G_0 - b_0`` (one baseline per trajectory, at ``s_0``);
``reward_to_go``: ``w_h = gamma^h (R_h - b_h)``; ``reward_to_go_common``: ``w_h = R_h - b_h`` (no ``gamma^h``);
``gae``: ``w_h = gamma^h A^GAE_h``, ``A^GAE_h = sum_l (gamma lambda)^l delta_{h+l}``, ``delta_h = r_h +
gamma b_{h+1}(s_{h+1}) - b_h(s_h)`` with ``b_{h+1} = 0`` after an episode's *end* (absorption, or the finite
horizon; a discounted episode cut by the simulation cap has not ended and bootstraps from ``b(s_T)``), one
backward pass per trajectory; ``gae_common``: ``w_h = A^GAE_h``;
``actor_critic``: ``w_h = gamma^h (f(s_h, a_h) - sum_b pi(b|s_h) f(s_h, b))`` with the critic ``f`` below.

**The actor-critic's critic** (:func:`pgexp.estimators.rollout.fit_critic`, the same numbers): ``K``
independent roll-in/roll-out samples ``(s_i, a_i, y_i)``, ``s_i ~ d^pi``, ``a_i ~ Uniform(A)``,
``E[y_i] = Q_h(s_i, a_i)`` (``K = --fit-batch-size``, default ``N``; their steps count in ``env_steps``);
``f = phi . w`` with ``w`` the minimum-norm least-squares fit of ``y`` on the rows ``phi(s_i, a_i)`` -- for
tabular features the per-cell mean, 0 on cells never sampled; otherwise ``numpy.linalg.lstsq`` itself (called
from the loop in object mode: the general engine's routine, and numba's own would add seconds of compilation).

**Per-batch updates** (default).  ``g = (1/N) sum_i sum_h w_ih psi_ih`` at ``theta_t``; SGA
``theta += eta g``; Adam on ``g``; NPG below.  Baselines: ``none`` (0), ``constant`` (leave-one-out
mean of the other trajectories' ``G_0``), ``fixed`` (the constant ``c``), ``value_exact`` (``V_h(s_h)`` at
``theta_t``), ``value_online`` (``v(s, w_t)``, the weights at the iteration's start), ``optimal_exact``
(``b*`` at ``theta_t``).  None depends on the trajectory's own actions, so ``E[g] = grad J`` for every
offset (for ``gae``: at ``lambda = 1``, where it is reward-to-go with ``b`` as its baseline).

**Per-step updates** (``--update per-step``, Sutton & Barto's REINFORCE, batch size 1; the estimators of
:data:`~pgexp.runs.train_codes.PER_STEP_KERNELS`, whose weight at ``h`` needs no later step's baseline).  The
episode is sampled with ``theta`` at its start; then for ``h = 0, 1, ...`` in order ``theta <- theta + eta w_h
psi_h(theta)`` with the score at the *current* ``theta``.  With ``value_online`` the book's order: ``delta = R_h -
v(s_h, w)``, ``w <- w + alpha_w delta x(s_h)``, ``theta <- theta + eta gamma^h (delta - epsilon) psi_h``
(``delta`` from the weights before their update).

**Online value baseline** ``v(s, w) = w . x(s)``, ``x(s) = e_s`` (one-hot states) or ``x(s) = 1``
(``value_features: constant``, the book's single weight).  Per-step: the update above after every step.
Per-batch: ``w <- w + alpha_w (1/N) sum_i sum_h (R_ih - v(s_ih, w_t)) x(s_ih)`` after the policy step
(a gradient step on the batch's squared error, normalised like the policy's).

**Minimum-variance constant** ``optimal_exact`` (one-step problems: bandits).  For ``g = psi (r - b)``
with ``s ~ mu``, ``a ~ pi``: ``tr Cov g = E||psi||^2 (r - b)^2 - ||grad J||^2``, a parabola in ``b``
minimised at ``b* = E[r ||psi||^2] / E[||psi||^2]``; ``b* + epsilon`` and ``b* - epsilon`` have the same
variance, ``tr Cov(b*) + epsilon^2 E||psi||^2`` (Chung, Thomas, Machado & Le Roux 2021).  Recomputed
exactly at every ``theta_t``.  It is vanilla PG's minimum, not NPG's: the tabular NPG update
``x = e_{(s,a)} (r - b) / pi(a|s)`` has, after removing each state's all-ones component (the part that
moves the policy), ``||x||^2 = (1 - 1/A) (r - b)^2 / pi(a|s)^2`` and a mean that does not depend on ``b``, so
its variance ``(1 - 1/A) sum mu (r - b)^2 / pi - const`` is a parabola with vertex ``optimal_npg_exact``:
``b_npg = sum mu r / pi / sum mu / pi`` (the sums over the cells ``mu(s) pi(a|s) > 0``); at ``b_npg +- epsilon``
the NPG update's variances are equal, at ``b* +- epsilon`` they are not.

**Natural policy gradient** (``--optimizer npg``, tabular features ``theta_{s,a}``).  Per state the
Fisher matrix of the softmax is ``F_s = diag(pi_s) - pi_s pi_s^T``, and ``F_s (e_a / pi(a|s)) = e_a - pi_s
= psi(s, a)``: the score of one sampled action, preconditioned by ``F_s^+``, is ``e_a / pi(a|s)`` (up to a
multiple of ``1``, which leaves the softmax unchanged).  A bandit's stochastic NPG step is therefore
``theta_a <- theta_a + eta (r - b) / pi(a)`` for the pulled arm only (Chung et al.).  The tabular-MDP form
preconditions every term of the estimator by its own state's ``F_s^+``:
``theta_{s_h, a_h} <- theta_{s_h, a_h} + eta w_h / pi(a_h|s_h)`` (summed over the batch and divided by
``N``; per step with the current ``pi``).  Its expectation is, per state,
``sum_h gamma^h P(s_h = s) (Q_h(s, .) - b) = visits(s) (A(s, .) + c_s 1)`` -- the exact NPG direction
``A(s, .)`` of Kakade / Agarwal et al. weighted by the state's discounted visits (``F = sum_s F_s``, each
state counted once); for a bandit (one state, one visit) it is exactly the NPG direction.  It uses only
sampled quantities and ``pi`` -- no model, no occupancy estimate.

**Tabular features** index ``theta`` by ``s A + a``; a problem's internal states (the last ones, e.g. the
absorbing end state of a Gymnasium toy-text task) have no parameters: logits 0, and no action is taken there.

**Divergence.**  A run stops, recorded as diverged, when ``J(theta_t)`` is not finite or the policy no
longer terminates (reason 1), when a sampled episode reaches the step cap without terminating (reason
2: the policy is numerically deterministic on a corridor), or when the update is not finite (reason 3).

**Compilation.**  Array expressions and slice assignments are written as loops: besides avoiding
temporaries, each one would compile numba's broadcasting and its error-message formatting (measured:
seconds of the first, uncached compile).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from pgexp.runs.tabular_exact import FINITE, DenseMDP, cotangent
from pgexp.runs.train_batch_kernels import optimal_constant, optimal_npg_constant, rollin_rollout_batch, sample_batch
from pgexp.runs.train_codes import (
    ACTOR_CRITIC,
    BAD_UPDATE,
    EXACT,
    FIXED,
    NOT_FINITE,
    NPG,
    OPTIMAL_EXACT,
    OPTIMAL_NPG_EXACT,
    PER_STEP,
    TRUNCATED,
    VALUE_ONLINE,
)
from pgexp.runs.train_codes import KERNELS as KERNELS  # where the estimator registry's docs point
from pgexp.runs.train_step_kernels import (
    all_finite,
    ascent_step,
    baseline_table,
    batch_weights,
    direction,
    discounts,
    fit_critic,
    keep,
    norm,
    online_value_batch,
    per_step_episode,
    policy_values,
    returns_into,
    trajectory_baselines,
)
from pgexp.sampling.rng import FIT, MAIN
from pgexp.sampling.seedseq import fill_trajectory_seeds, stream_key
from pgexp.sampling.tabular import alias_rows


class Sampler(NamedTuple):
    """What the samplers read: the problem's rewards, absorbing states, discount, horizon and objective kind (the
    arrays of :class:`~pgexp.runs.tabular_exact.DenseMDP`, shared) and the alias tables of ``P``
    (:class:`pgexp.sampling.tabular.Tables`)."""

    r: np.ndarray          # (S, A)
    absorbing: np.ndarray  # (S,) bool
    gamma: float
    horizon: int           # H, or -1
    kind: int              # pgexp.runs.tabular_exact.KIND_CODES
    max_len: int           # steps simulated per episode at most (pgexp.sampling.tabular.effective_horizon)
    mu_cdf: np.ndarray
    pi_ptr: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    p_prob: np.ndarray
    p_alias: np.ndarray


class Model(NamedTuple):
    """The problem as the kernels see it (``S`` states, ``A`` actions, ``d`` parameters), in the parts the
    helpers read."""

    dm: DenseMDP           # the exact solves
    sampler: Sampler       # the episodes
    phi: np.ndarray        # (S, A, d) features, or a (1, 1, 1) placeholder with tabular features
    tabular: bool          # theta[s A + a] is the logit of (s, a)


class Settings(NamedTuple):
    """A job's options as numbers (the codes above)."""

    estimator: int
    baseline: int
    optimizer: int
    update: int
    batch_size: int        # N
    iterations: int        # T
    fit_batch_size: int    # K: the critic's samples
    value_features: int
    offset: float          # epsilon
    fixed: float           # c of the fixed baseline
    alpha_w: float         # value_online's step size
    lam: float             # GAE's lambda
    beta1: float           # Adam
    beta2: float
    eps: float


class Grid(NamedTuple):
    """The ``R`` runs: ``thetas0`` ``(R, d)``, ``etas`` ``(R,)``, ``words`` ``(R, 4)`` (each run's entropy,
    :func:`pgexp.sampling.seedseq.entropy_words`), ``checkpoints`` ``(K,)`` iterations, ``trace_slot`` ``(R,)``
    (the row of ``Outputs.trace``, or -1)."""

    thetas0: np.ndarray
    etas: np.ndarray
    words: np.ndarray
    checkpoints: np.ndarray
    trace_slot: np.ndarray


class Outputs(NamedTuple):
    """What :func:`train_grid` fills, per run ``r`` and iteration ``t`` (rows after a divergence are untouched):
    ``J[r, t]`` exact ``J(theta_t)``; ``ret`` the batch's mean sampled return ``G_0``; ``steps`` cumulative
    env steps; ``gnorm`` the norm of the update direction before the step size; ``snorm``
    ``||theta_{t+1} - theta_t||``; ``div_at[r]`` the iteration of divergence or -1, ``reason[r]``;
    ``theta[r]`` the last finite ``theta``; ``w[r]`` the online value weights; ``ckpt[r, k]`` ``theta`` at
    ``checkpoints[k]``; ``trace[slot, t]`` ``pi`` flattened, for traced runs."""

    J: np.ndarray
    ret: np.ndarray
    steps: np.ndarray
    gnorm: np.ndarray
    snorm: np.ndarray
    div_at: np.ndarray
    reason: np.ndarray
    theta: np.ndarray
    w: np.ndarray
    ckpt: np.ndarray
    trace: np.ndarray


class Sampled(NamedTuple):
    """One iteration's ``N`` trajectories, one after another in flat buffers: trajectory ``i`` is
    ``[offs[i], offs[i] + lens[i])`` of ``states``, ``actions``, ``rewards`` and the returns ``ret`` (``R_h``);
    ``finals[i]`` the state after its last action."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    ret: np.ndarray
    offs: np.ndarray
    lens: np.ndarray
    finals: np.ndarray


# ------------------------------------------------------------------------------------ the grid

class Workspace(NamedTuple):
    """The fixed-size scratch arrays of a grid (allocated once, reused by every run and iteration)."""

    pi: np.ndarray        # (S, A) the policy at theta_t
    V: np.ndarray         # its exact values, (H + 1, S) or (1, S)
    B: np.ndarray         # the baseline per (time, state), as V (baseline_table)
    C: np.ndarray         # (S, A) the exact gradient's cotangent
    W: np.ndarray         # (S, A) the batch's summed step weights per cell
    F: np.ndarray         # (S, A) the critic f
    Af: np.ndarray        # (S, A) its advantage
    counts: np.ndarray    # (S, A) int64, critic samples per cell
    g: np.ndarray         # (d,) the direction
    delta: np.ndarray     # (d,) the step
    prev: np.ndarray      # (d,) theta before the step
    m1: np.ndarray        # (d,) Adam's moments
    m2: np.ndarray
    grad_w: np.ndarray    # (nw,) the online value update
    cur: np.ndarray       # (A,) pi(.|s) at the current theta (per-step updates)
    seeds: np.ndarray     # (N, 4) uint64 the batch's trajectory streams
    fit_seeds: np.ndarray  # (K, 4) the critic's
    fit_s: np.ndarray     # (K,) the critic's samples
    fit_a: np.ndarray
    fit_y: np.ndarray
    offs: np.ndarray      # (N,) where each trajectory starts in the step buffers
    lens: np.ndarray
    finals: np.ndarray
    G0: np.ndarray        # (N,) returns
    b0: np.ndarray        # (N,) baselines at s_0


class Buffers(NamedTuple):
    """Per-step buffers, replaced by larger ones when a batch does not fit: states, actions, rewards, returns,
    step weights and ``gamma^h``."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    ret: np.ndarray
    wts: np.ndarray
    disc: np.ndarray


@njit(inline="always")
def workspace(m, s, d, nw):
    S, A = m.dm.r.shape
    N, K = s.batch_size, s.fit_batch_size
    rows = m.dm.horizon + 1 if m.dm.kind == FINITE else 1
    return Workspace(np.empty((S, A)), np.zeros((rows, S)), np.zeros((rows, S)), np.zeros((S, A)),
                     np.zeros((S, A)), np.zeros((S, A)), np.zeros((S, A)), np.zeros((S, A), np.int64), np.zeros(d),
                     np.zeros(d), np.empty(d), np.zeros(d), np.zeros(d), np.zeros(nw), np.empty(A),
                     np.empty((N, 4), np.uint64), np.empty((K, 4), np.uint64), np.zeros(K, np.int64),
                     np.zeros(K, np.int64), np.zeros(K), np.zeros(N, np.int64), np.zeros(N, np.int64),
                     np.zeros(N, np.int64), np.empty(N), np.empty(N))


@njit(cache=True)
def fill(x, v):
    for k in range(x.shape[0]):
        x[k] = v


@njit(cache=True)
def copy_into(dst, src):
    for k in range(src.shape[0]):
        dst[k] = src[k]


@njit(cache=True)
def exact_direction(dm, phi, tabular, natural, pi, V, C, W, g):
    """The exact gradient into ``g`` (NPG: its natural form) from the values ``V`` at ``theta_t``: the expected
    weights ``W = pi C``, whose score pullback is ``grad J``; ``False`` if the occupancy solve fails."""
    S, A = pi.shape
    if not cotangent(dm, pi, V, C):
        return False
    for a in range(S):
        for b in range(A):
            W[a, b] = C[a, b] * pi[a, b]
    direction(phi, tabular, pi, W, 1, natural, g)
    return True


@njit(cache=True)
def sampled_direction(m, s, words, out_steps, out_ret, ws, buf, run, t, steps, theta, w, eta):
    """Iteration ``t``'s batch (and the critic's samples), its step weights and the direction into ``ws.g``
    (per-step updates: the steps, into ``theta`` and ``ws.delta``); the online value update.
    Returns ``(buffers, env steps so far, divergence reason or 0)``."""
    N = s.batch_size
    est = s.estimator
    sm = m.sampler
    fill_trajectory_seeds(stream_key(words, t, MAIN), ws.seeds)
    pi_prob, pi_alias = alias_rows(sm.pi_ptr, ws.pi.ravel())
    states, actions, rewards, trunc = sample_batch(ws.seeds, sm, pi_prob, pi_alias, buf.states, buf.actions,
                                                   buf.rewards, ws.offs, ws.lens, ws.finals)
    for i in range(N):
        steps += ws.lens[i]
    if est == ACTOR_CRITIC:  # the critic's own roll-in/roll-out samples, on the FIT stream
        fill_trajectory_seeds(stream_key(words, t, FIT), ws.fit_seeds)
        steps += rollin_rollout_batch(ws.fit_seeds, sm, pi_prob, pi_alias, True, ws.fit_s, ws.fit_a, ws.fit_y)
    out_steps[run, t] = steps
    n = states.shape[0]
    ret = buf.ret if buf.ret.shape[0] >= n else np.empty(n)
    wts = buf.wts if buf.wts.shape[0] >= n else np.empty(n)
    buf = Buffers(states, actions, rewards, ret, wts, discounts(buf.disc, n, m.sampler.gamma))
    if trunc:
        return buf, steps, TRUNCATED
    returns_into(rewards, ws.offs, ws.lens, m.sampler.gamma, ret)
    smp = Sampled(states, actions, rewards, ret, ws.offs, ws.lens, ws.finals)
    level = s.offset + (optimal_constant(m.phi, m.tabular, m.dm.mu, m.dm.r, ws.pi) if s.baseline == OPTIMAL_EXACT
                        else optimal_npg_constant(m.dm.mu, m.dm.r, ws.pi) if s.baseline == OPTIMAL_NPG_EXACT
                        else s.fixed if s.baseline == FIXED else 0.0)
    rows = baseline_table(s.baseline, ws.V, w, s.value_features, s.offset, level, ws.B)
    out_ret[run, t] = trajectory_baselines(s.baseline, s.offset, ws.B, N, smp, ws.G0, ws.b0)
    if est == ACTOR_CRITIC:
        fit_critic(m.phi, m.tabular, ws.pi, ws.fit_s, ws.fit_a, ws.fit_y, ws.F, ws.counts, ws.Af)
    natural = s.optimizer == NPG
    if s.update == PER_STEP:  # the episode was sampled at theta_t; scores at the current theta
        per_step_episode(m.phi, m.tabular, s, ws.B, rows, natural, theta, ws.delta, eta, smp, buf.disc, ws.G0[0],
                         ws.b0[0], w, ws.cur)
    else:
        batch_weights(sm.absorbing, sm.kind, sm.horizon, sm.gamma, s, ws.B, rows, smp, buf.disc, ws.G0, ws.b0, ws.Af,
                      ws.W, wts)
        direction(m.phi, m.tabular, ws.pi, ws.W, N, natural, ws.g)
        if s.baseline == VALUE_ONLINE:  # after the policy's direction: same batch, the old weights
            online_value_batch(N, smp, w, s.value_features, s.alpha_w, ws.grad_w)
    return buf, steps, 0


@njit(inline="always")
def train_run(m, s, grid, out, ws, buf, run):
    """Run ``run`` of the grid for ``s.iterations`` iterations into ``out``; returns the (maybe grown) buffers."""
    d = ws.g.shape[0]
    theta = grid.thetas0[run].copy()
    eta = grid.etas[run]
    w = np.zeros(out.w.shape[1])
    fill(ws.m1, 0.0)
    fill(ws.m2, 0.0)
    adam_t = 0
    steps = 0
    out.div_at[run] = -1
    out.reason[run] = 0
    keeps = grid.checkpoints.shape[0] > 0 or grid.trace_slot[run] >= 0
    for t in range(s.iterations + 1):  # row t: arguments of per-iteration calls are few (each costs refcounts)
        J, ok = policy_values(m.dm, m.phi, m.tabular, theta, ws.pi, ws.V)
        out.J[run, t] = J if ok else np.nan
        out.steps[run, t] = steps
        out.ret[run, t] = np.nan
        out.gnorm[run, t] = np.nan
        out.snorm[run, t] = np.nan
        if keeps:
            keep(grid.checkpoints, grid.trace_slot, out.ckpt, out.trace, theta, ws.pi, run, t)
        if not ok:
            out.div_at[run], out.reason[run] = t, NOT_FINITE
            break
        if t == s.iterations:
            break
        copy_into(ws.prev, theta)
        fill(ws.delta, 0.0)
        if s.estimator == EXACT:
            ok = exact_direction(m.dm, m.phi, m.tabular, s.optimizer == NPG, ws.pi, ws.V, ws.C, ws.W, ws.g)
            reason = 0 if ok else NOT_FINITE
        else:
            buf, steps, reason = sampled_direction(m, s, grid.words[run], out.steps, out.ret, ws, buf, run, t, steps,
                                                   theta, w, eta)
        if reason:
            out.div_at[run], out.reason[run] = t, reason
            break
        if s.update == PER_STEP and s.estimator != EXACT:
            out.gnorm[run, t] = norm(ws.delta) / eta
        else:
            adam_t = ascent_step(s, ws.g, ws.delta, eta, ws.m1, ws.m2, adam_t)
            out.gnorm[run, t] = norm(ws.g)
            for k in range(d):
                theta[k] += ws.delta[k]
        out.snorm[run, t] = norm(ws.delta)
        if not (np.isfinite(out.snorm[run, t]) and all_finite(theta)):
            out.div_at[run], out.reason[run] = t, BAD_UPDATE
            out.snorm[run, t] = np.nan
            copy_into(theta, ws.prev)
            break
    copy_into(out.theta[run], theta)
    copy_into(out.w[run], w)
    return buf


@njit(cache=True)
def train_grid(m, s, grid, out):
    """Run every row of the grid for ``s.iterations`` iterations into ``out`` (see the module docstring).

    ``m``: :class:`Model`, ``s``: :class:`Settings`, ``grid``: :class:`Grid`, ``out``: :class:`Outputs`.
    """
    ws = workspace(m, s, grid.thetas0.shape[1], out.w.shape[1])
    buf = Buffers(np.empty(1024, np.int32), np.empty(1024, np.int32), np.empty(1024), np.empty(1024), np.empty(1024),
                  discounts(np.empty(0), 1024, m.sampler.gamma))
    for run in range(grid.thetas0.shape[0]):
        buf = train_run(m, s, grid, out, ws, buf, run)
