r"""The compiled training engine: every run of a grid (seeds x step sizes) in one numba loop.

Scope: softmax-linear policies ``pi(a|s) ∝ exp(theta . phi(s, a))`` on small tabular problems
(:func:`pgexp.runs.tabular_exact.fits_dense`), the estimators whose registry entry names one of the
:data:`KERNELS` below (:attr:`pgexp.estimators.spec.Estimator.training_kernel`), and ``exact``;
everything else trains through the general path of :mod:`pgexp.runs.train`.

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
:data:`PER_STEP_KERNELS`, whose weight at ``h`` needs no later step's baseline).  The episode is sampled
with ``theta`` at its start; then for ``h = 0, 1, ...`` in order ``theta <- theta + eta w_h psi_h(theta)``
with the score at the *current* ``theta``.  With ``value_online`` the book's order: ``delta = R_h - v(s_h,
w)``, ``w <- w + alpha_w delta x(s_h)``, ``theta <- theta + eta gamma^h (delta - epsilon) psi_h``
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
from numba import njit, objmode

from pgexp.runs.tabular_exact import EPISODIC, FINITE, DenseMDP, cotangent, values
from pgexp.sampling.rng import FIT, MAIN, next_uniform
from pgexp.sampling.seedseq import fill_trajectory_seeds, stream_key
from pgexp.sampling.tabular import alias_rows, draw_alias, draw_start, rollin_rollout_one

REINFORCE, REWARD_TO_GO, EXACT, REWARD_TO_GO_COMMON, GAE, GAE_COMMON, ACTOR_CRITIC = range(7)
# the step weights this engine implements, by the name an estimator's spec gives as its ``training_kernel``
KERNELS = {"reinforce": REINFORCE, "reward_to_go": REWARD_TO_GO, "reward_to_go_common": REWARD_TO_GO_COMMON,
           "gae": GAE, "gae_common": GAE_COMMON, "actor_critic": ACTOR_CRITIC}
EXACT_ESTIMATOR = "exact"  # ascend the exact gradient (not a registered estimator)
KERNEL_PARAMS = {"gae": ("lam",), "gae_common": ("lam",)}  # the hyperparameters a kernel reads
PER_STEP_KERNELS = ("reinforce", "reward_to_go", "reward_to_go_common")
NONE, CONSTANT, VALUE_EXACT, VALUE_ONLINE, OPTIMAL_EXACT, FIXED, OPTIMAL_NPG_EXACT = range(7)
BASELINE_CODES = {"none": NONE, "constant": CONSTANT, "value_exact": VALUE_EXACT, "value_online": VALUE_ONLINE,
                  "optimal_exact": OPTIMAL_EXACT, "fixed": FIXED, "optimal_npg_exact": OPTIMAL_NPG_EXACT}
SGA, ADAM, NPG = 0, 1, 2
OPTIMIZER_CODES = {"sga": SGA, "adam": ADAM, "npg": NPG}
PER_BATCH, PER_STEP = 0, 1
UPDATE_CODES = {"per_batch": PER_BATCH, "per_step": PER_STEP}
VALUE_FEATURE_CODES = {"onehot": 0, "constant": 1}
NOT_FINITE, TRUNCATED, BAD_UPDATE = 1, 2, 3
DIVERGENCE_REASONS = {0: "", NOT_FINITE: "J not finite or policy does not terminate",
                      TRUNCATED: "episode hit the step cap", BAD_UPDATE: "update not finite"}


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


# ------------------------------------------------------------------------------------ the policy

@njit(cache=True)
def state_probs(phi, tabular, theta, s, out):
    """``pi(.|s)`` at ``theta`` into ``out`` ``(A,)`` (max-shifted softmax)."""
    A = out.shape[0]
    m = -np.inf
    for a in range(A):
        if tabular:
            z = theta[s * A + a] if s * A + a < theta.shape[0] else 0.0  # an internal state: no parameters
        else:
            z = 0.0
            for k in range(theta.shape[0]):
                z += phi[s, a, k] * theta[k]
        out[a] = z
        m = max(m, z)
    tot = 0.0
    for a in range(A):
        out[a] = np.exp(out[a] - m)
        tot += out[a]
    for a in range(A):
        out[a] = out[a] / tot


@njit(cache=True)
def policy_table(phi, tabular, theta, pi):
    """``pi`` ``(S, A)`` at ``theta``."""
    for s in range(pi.shape[0]):
        state_probs(phi, tabular, theta, s, pi[s])


@njit(cache=True)
def optimal_constant(phi, tabular, mu, r, pi):
    """``b* = E[r ||psi||^2] / E[||psi||^2]`` over ``s ~ mu, a ~ pi`` (one-step problems)."""
    S, A = pi.shape
    d = phi.shape[2]
    num = 0.0
    den = 0.0
    for s in range(S):
        if mu[s] == 0.0:
            continue
        for a in range(A):
            if tabular:
                sq = 1.0 - 2.0 * pi[s, a]
                for b in range(A):
                    sq += pi[s, b] * pi[s, b]
            else:
                sq = 0.0
                for k in range(d):
                    m = 0.0
                    for b in range(A):
                        m += pi[s, b] * phi[s, b, k]
                    sq += (phi[s, a, k] - m) ** 2
            weight = mu[s] * pi[s, a] * sq
            num += weight * r[s, a]
            den += weight
    return num / den if den > 0.0 else 0.0


@njit(cache=True)
def optimal_npg_constant(mu, r, pi):
    """``b_npg = sum mu r / pi / sum mu / pi`` over the cells with ``mu(s) pi(a|s) > 0`` (one-step problems):
    the constant that minimises the variance of the tabular NPG update's policy part (module docstring)."""
    S, A = pi.shape
    num = 0.0
    den = 0.0
    for s in range(S):
        if mu[s] == 0.0:
            continue
        for a in range(A):
            if pi[s, a] > 0.0:
                num += mu[s] * r[s, a] / pi[s, a]
                den += mu[s] / pi[s, a]
    return num / den if den > 0.0 else 0.0


# ------------------------------------------------------------------------------------ sampling

@njit(cache=True)
def sample_batch(seeds, m, pi_prob, pi_alias, S_buf, A_buf, R_buf, offs, lens, finals):  # m: a Sampler
    """Simulate ``len(seeds)`` episodes of the model ``m`` one after another into flat buffers (grown by doubling).

    The draws are those of :func:`pgexp.sampling.tabular.sample`: start state, then per step an action
    and a next state, each from one uniform of the trajectory's own xoshiro256** stream.
    Returns ``(S_buf, A_buf, R_buf, truncated)``; trajectory ``i`` is ``[offs[i], offs[i] + lens[i])``,
    ``finals[i]`` the state after its last action.
    """
    r, absorbing, mu_cdf, pi_ptr = m.r, m.absorbing, m.mu_cdf, m.pi_ptr  # no tuple fields in the loop
    indptr, indices, p_prob, p_alias, max_len = m.indptr, m.indices, m.p_prob, m.p_alias, m.max_len
    A = r.shape[1]
    episodic = m.kind == EPISODIC
    pos = 0
    truncated = False
    st = np.empty(4, np.uint64)
    for i in range(seeds.shape[0]):
        for j in range(4):
            st[j] = seeds[i, j]
        s = draw_start(mu_cdf, next_uniform(st))
        offs[i] = pos
        h = 0
        while h < max_len and not absorbing[s]:
            if pos >= S_buf.shape[0]:
                S_buf, A_buf, R_buf = grown(S_buf, A_buf, R_buf, pos)
            a = draw_alias(pi_ptr, pi_prob, pi_alias, s, next_uniform(st))
            S_buf[pos] = s
            A_buf[pos] = a
            R_buf[pos] = r[s, a]
            row = s * A + a
            s = indices[indptr[row] + draw_alias(indptr, p_prob, p_alias, row, next_uniform(st))]
            pos += 1
            h += 1
        lens[i] = h
        finals[i] = s
        if episodic and h >= max_len and not absorbing[s]:
            truncated = True  # the step cap, not absorption, ended it
    return S_buf, A_buf, R_buf, truncated


@njit(cache=True)
def grown(S_buf, A_buf, R_buf, pos):
    """The three step buffers at twice their size, the first ``pos`` entries kept."""
    n = 2 * S_buf.shape[0]
    S2 = np.empty(n, np.int32)
    A2 = np.empty(n, np.int32)
    R2 = np.empty(n)
    for k in range(pos):
        S2[k] = S_buf[k]
        A2[k] = A_buf[k]
        R2[k] = R_buf[k]
    return S2, A2, R2


@njit(cache=True)
def rollin_rollout_batch(seeds, m, pi_prob, pi_alias, uniform_action, states, actions, y):  # m: a Sampler
    """``len(seeds)`` roll-in/roll-out samples with the draws of :func:`pgexp.sampling.tabular.rollin_rollout`
    into ``states``, ``actions``, ``y``; returns the environment steps they cost.

    Roll in to ``h ~ q(h) ∝ gamma^h`` (geometric for ``H = inf``, truncated to ``{0..H-1}`` by the inverse
    CDF otherwise), take ``a ~ pi`` (``uniform_action``: ``a ~ Uniform(A)``), roll out with termination
    probability ``1 - gamma`` per step (``H = inf``, undiscounted sum) or to the horizon, discounted.
    """
    r, absorbing, mu_cdf, pi_ptr = m.r, m.absorbing, m.mu_cdf, m.pi_ptr  # no tuple fields in the loop
    indptr, indices, p_prob, p_alias = m.indptr, m.indices, m.p_prob, m.p_alias
    st = np.empty(4, np.uint64)
    total_steps = 0
    for i in range(seeds.shape[0]):
        for j in range(4):
            st[j] = seeds[i, j]
        s, a, _, total, used = rollin_rollout_one(st, mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob,
                                                  p_alias, r, absorbing, m.gamma, m.horizon, uniform_action)
        states[i] = s
        actions[i] = a
        y[i] = total
        total_steps += used
    return total_steps


# ------------------------------------------------------------------------------------ step weights

@njit(cache=True)
def returns_into(R_buf, offs, lens, gamma, out):
    """``out[o + h] = R_h`` of every trajectory (backward recursion ``R_h = r_h + gamma R_{h+1}``)."""
    for i in range(offs.shape[0]):
        acc = 0.0
        o = offs[i]
        for h in range(lens[i] - 1, -1, -1):
            acc = R_buf[o + h] + gamma * acc
            out[o + h] = acc


@njit(cache=True)
def baseline_table(code, V, w, vf, offset, level, B):
    """``B[h, s]``, the baseline (plus offset) of a step in state ``s`` at time ``h`` (beyond the last row: the
    last row) for this iteration: ``V_h(s)`` (``value_exact``, time-indexed for a finite horizon), ``v(s, w)``
    (``value_online``), else the constant ``level`` (0, ``c`` or ``b*``, plus the offset; not for
    ``constant``).  Returns the rows filled.  The step loops index this table: a call per step with arrays
    as arguments costs reference counting (measured: ~20 ns a step, as much as the rest of the weights)."""
    S = B.shape[1]
    if code == VALUE_EXACT:
        for h in range(V.shape[0]):
            for s in range(S):
                B[h, s] = V[h, s] + offset
        return V.shape[0]
    for s in range(S):
        B[0, s] = w[s if vf == 0 else 0] + offset if code == VALUE_ONLINE else level
    return 1


@njit(cache=True)
def discounts(disc, n, gamma):
    """``gamma^h`` for ``h < n`` (by repeated multiplication, as the estimators' kernels), grown on demand."""
    if disc.shape[0] >= n:
        return disc
    disc = np.empty(n)
    acc = 1.0
    for h in range(n):
        disc[h] = acc
        acc *= gamma
    return disc


@njit(cache=True)
def trajectory_baselines(code, offset, B, N, smp, G0, b0):
    """``G0[i]`` (the return of trajectory ``i``) and ``b0[i]`` (its baseline at ``s_0``: ``B[0, s_0]``, or the
    leave-one-out mean of the other ``G0`` for ``constant``), offset included; returns the mean ``G0``."""
    tot = 0.0
    for i in range(N):
        G0[i] = smp.ret[smp.offs[i]] if smp.lens[i] > 0 else 0.0
        tot += G0[i]
    for i in range(N):
        if code == CONSTANT:
            b0[i] = (tot - G0[i]) / (N - 1) + offset
        else:
            b0[i] = B[0, smp.states[smp.offs[i]] if smp.lens[i] > 0 else 0]
    return tot / N


@njit(inline="always")
def step_weight(est, d, ret_h, b_h, G0_i, b0_i):
    """``w_h`` of the estimators that need no later step (scalars only, so it can be inlined in a step loop):
    ``G_0 - b_0`` (reinforce), ``gamma^h (R_h - b_h)`` (reward_to_go, ``d = gamma^h``) or ``R_h - b_h``
    (reward_to_go_common, ``d = 1``)."""
    if est == REINFORCE:
        return G0_i - b0_i
    return d * (ret_h - b_h)


@njit(cache=True)
def gae_weights(states, rewards, o, L, nxt, gamma, lam, common, B, rows, disc, wts):
    """One trajectory's GAE weights (steps ``o .. o + L - 1``) into ``wts``, in one backward pass:
    ``delta_h = r_h + gamma b_{h+1} - b_h``, ``A_h = delta_h + gamma lambda A_{h+1}``, ``w_h = gamma^h A_h``
    (``common``: ``A_h``); ``nxt`` is ``b_L`` after the last step (0 if the episode ended)."""
    acc = 0.0
    for h in range(L - 1, -1, -1):
        now = B[min(h, rows - 1), states[o + h]]
        acc = (rewards[o + h] + gamma * nxt - now) + gamma * lam * acc
        wts[o + h] = acc if common else disc[h] * acc
        nxt = now


@njit(cache=True)
def batch_weights(absorbing, kind, horizon, gamma, s, B, rows, smp, disc, G0, b0, Af, W, wts):
    """Every step's weight into ``wts`` (see the module docstring; ``B`` from :func:`baseline_table`), then
    ``W[s, a] = sum_{i,h: (s_ih, a_ih) = (s, a)} w_ih`` over the batch, in trajectory and time order."""
    est = s.estimator
    states, actions, rewards, ret, offs, lens, finals = smp
    for i in range(s.batch_size):
        o, L = offs[i], lens[i]
        if est == GAE or est == GAE_COMMON:  # b_L: 0 after an end (absorbed, or the finite horizon reached)
            ended = absorbing[finals[i]] or (kind == FINITE and L == horizon)
            nxt = 0.0 if ended else B[min(L, rows - 1), finals[i]]
            gae_weights(states, rewards, o, L, nxt, gamma, s.lam, est == GAE_COMMON, B, rows, disc, wts)
        elif est == ACTOR_CRITIC:
            for h in range(L):
                wts[o + h] = disc[h] * Af[states[o + h], actions[o + h]]
        else:
            d = 1.0
            for h in range(L):
                b = b0[i] if s.baseline == CONSTANT else B[min(h, rows - 1), states[o + h]]
                if est == REWARD_TO_GO:
                    d = disc[h]
                wts[o + h] = step_weight(est, d, ret[o + h], b, G0[i], b0[i])
    for a in range(W.shape[0]):
        for b in range(W.shape[1]):
            W[a, b] = 0.0
    for i in range(s.batch_size):
        o = offs[i]
        for h in range(lens[i]):
            W[states[o + h], actions[o + h]] += wts[o + h]


@njit(cache=True)
def fit_critic(phi, tabular, pi, states, actions, y, F, count, Af):
    """The critic's advantage ``Af = f - sum_b pi(b|.) f(., b)`` into ``Af`` ``(S, A)`` from the samples
    ``(states, actions, y)``: ``f`` the minimum-norm least-squares fit on the features (module docstring)."""
    S, A = pi.shape
    K = y.shape[0]
    if tabular:  # one-hot rows: the per-cell mean, 0 where never sampled
        for s in range(S):
            for a in range(A):
                F[s, a] = 0.0
                count[s, a] = 0
        for i in range(K):
            F[states[i], actions[i]] += y[i]
            count[states[i], actions[i]] += 1
        for s in range(S):
            for a in range(A):
                F[s, a] = F[s, a] / max(count[s, a], 1)
    else:
        d = phi.shape[2]
        X = np.empty((K, d))
        for i in range(K):
            for k in range(d):
                X[i, k] = phi[states[i], actions[i], k]
        with objmode(w="float64[:]"):  # numpy's own call (the general engine's): the same minimum-norm solution
            w = np.linalg.lstsq(X, y, rcond=None)[0]
        for s in range(S):
            for a in range(A):
                f = 0.0
                for k in range(d):
                    f += phi[s, a, k] * w[k]
                F[s, a] = f
    for s in range(S):
        mean = 0.0
        for a in range(A):
            mean += pi[s, a] * F[s, a]
        for a in range(A):
            Af[s, a] = F[s, a] - mean


@njit(cache=True)
def online_value_batch(N, smp, w, vf, alpha_w, grad_w):
    """``w <- w + alpha_w (1/N) sum_i sum_h (R_ih - v(s_ih, w)) x(s_ih)`` (every residual at the old ``w``)."""
    for k in range(grad_w.shape[0]):
        grad_w[k] = 0.0
    for i in range(N):
        o = smp.offs[i]
        for h in range(smp.lens[i]):
            j = smp.states[o + h] if vf == 0 else 0
            grad_w[j] += smp.ret[o + h] - w[j]
    for k in range(w.shape[0]):
        w[k] += alpha_w * grad_w[k] / N


# ------------------------------------------------------------------------------------ directions, updates

@njit(cache=True)
def pull_into(phi, tabular, pi, W, n, out):
    """``out = (1/n) sum_{s,a} (W - pi sum_a W)[s, a] phi(s, a)`` -- the score pullback of weights ``W``."""
    S, A = pi.shape
    d = out.shape[0]
    for k in range(d):
        out[k] = 0.0
    for s in range(S):
        tot = 0.0
        for a in range(A):
            tot += W[s, a]
        for a in range(A):
            c = W[s, a] - pi[s, a] * tot
            if c == 0.0:
                continue
            if tabular:
                if s * A + a < d:
                    out[s * A + a] += c
            else:
                for k in range(d):
                    out[k] += c * phi[s, a, k]
    for k in range(d):
        out[k] = out[k] / n


@njit(cache=True)
def direction(phi, tabular, pi, W, n, natural, out):
    """The update direction from per-(s, a) weights ``W``: the score pullback (:func:`pull_into`), or with
    ``natural`` the tabular NPG direction ``W[s, a] / pi(a|s) / n``."""
    if not natural:
        pull_into(phi, tabular, pi, W, n, out)
        return
    S, A = pi.shape
    for k in range(out.shape[0]):
        out[k] = 0.0
    for s in range(S):
        for a in range(A):
            if W[s, a] != 0.0 and s * A + a < out.shape[0]:
                out[s * A + a] = W[s, a] / pi[s, a] / n


@njit(cache=True)
def score_step(phi, tabular, natural, theta, delta, s, a, scale, cur):
    """``theta += scale psi(s, a)`` at the current ``theta`` (``natural``: ``theta_{s,a} += scale / pi(a|s)``);
    the change is added to ``delta``."""
    A = cur.shape[0]
    state_probs(phi, tabular, theta, s, cur)
    if natural:
        step = scale / cur[a]
        theta[s * A + a] += step
        delta[s * A + a] += step
    elif tabular:
        for b in range(A):
            step = scale * ((1.0 if b == a else 0.0) - cur[b])
            theta[s * A + b] += step
            delta[s * A + b] += step
    else:
        for k in range(theta.shape[0]):
            mk = 0.0
            for b in range(A):
                mk += cur[b] * phi[s, b, k]
            step = scale * (phi[s, a, k] - mk)
            theta[k] += step
            delta[k] += step


@njit(cache=True)
def per_step_episode(phi, tabular, s, B, rows, natural, theta, delta, eta, smp, disc, G0_i, b0_i, w, cur):
    """The book's REINFORCE over the batch's one episode: for ``h`` in order, the weight ``w_h`` (the online
    baseline from the current weights ``w``), the online value update, then ``theta += eta w_h psi_h(theta)``."""
    states, actions, _, ret, offs, lens, _ = smp
    online = s.baseline == VALUE_ONLINE
    o = offs[0]
    for h in range(lens[0]):
        st = states[o + h]
        j = st if s.value_features == 0 else 0
        if online:
            b = w[j] + s.offset
        else:
            b = b0_i if s.baseline == CONSTANT else B[min(h, rows - 1), st]
        wt = step_weight(s.estimator, 1.0 if s.estimator == REWARD_TO_GO_COMMON else disc[h], ret[o + h], b, G0_i,
                         b0_i)
        if online:
            w[j] += s.alpha_w * (ret[o + h] - w[j])
        score_step(phi, tabular, natural, theta, delta, st, actions[o + h], eta * wt, cur)


@njit(cache=True)
def ascent_step(s, g, delta, eta, m1, m2, adam_t):
    """``delta = eta g`` (SGA, NPG) or Adam's step from ``g``; returns Adam's step count."""
    if s.optimizer != ADAM:
        for k in range(g.shape[0]):
            delta[k] = eta * g[k]
        return adam_t
    adam_t += 1
    b1, b2 = s.beta1, s.beta2
    c1 = 1.0 - b1 ** float(adam_t)
    c2 = 1.0 - b2 ** float(adam_t)
    for k in range(g.shape[0]):
        m1[k] = b1 * m1[k] + (1.0 - b1) * g[k]
        m2[k] = b2 * m2[k] + (1.0 - b2) * g[k] * g[k]
        delta[k] = eta * (m1[k] / c1) / (np.sqrt(m2[k] / c2) + s.eps)
    return adam_t


@njit(cache=True)
def norm(x):
    tot = 0.0
    for v in x:
        tot += v * v
    return np.sqrt(tot)


@njit(cache=True)
def all_finite(x):
    for v in x:
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True)
def policy_values(dm, phi, tabular, theta, pi, V):
    """``pi`` and the exact values at ``theta`` (into ``pi``, ``V``); returns ``(J, ok)``: whether ``J`` is finite
    (and the policy terminates)."""
    policy_table(phi, tabular, theta, pi)
    return values(dm, pi, V)


@njit(cache=True)
def keep(checkpoints, trace_slot, ckpt, trace, theta, pi, run, t):
    """``theta`` at a checkpoint, ``pi`` of a traced run (called only where a run keeps anything)."""
    S, A = pi.shape
    for k in range(checkpoints.shape[0]):
        if checkpoints[k] == t:
            for j in range(theta.shape[0]):
                ckpt[run, k, j] = theta[j]
    slot = trace_slot[run]
    if slot >= 0:
        for s in range(S):
            for a in range(A):
                trace[slot, t, s * A + a] = pi[s, a]


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
