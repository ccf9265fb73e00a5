r"""The compiled training engine: every run of a grid (seeds x step sizes) in one numba loop.

Scope: softmax-linear policies ``pi(a|s) ∝ exp(theta . phi(s, a))`` on small tabular problems
(:func:`pgexp.runs.tabular_exact.fits_dense`), the estimators ``reinforce``, ``reward_to_go``,
``reward_to_go_common`` and ``exact``; everything else trains through the general path of :mod:`pgexp.runs.train`.

**Streams.**  Iteration ``t`` of a run draws its ``N`` trajectories from ``SeedSequence(entropy,
spawn_key=(t, 0))`` exactly as the general path does (:mod:`pgexp.sampling.seedseq` derives the key inside
the loop), and simulates them with the same alias-table draws as :func:`pgexp.sampling.tabular.sample`.
A run's numbers depend only on its own identity, never on the other runs of the grid.

**Notation.**  ``R_h = sum_{t>=h} gamma^(t-h) r_t`` (the return from ``h``), ``G_0 = R_0``,
``psi_h = grad log pi(a_h|s_h) = phi(s_h, a_h) - sum_b pi(b|s_h) phi(s_h, b)``; ``b_h`` is the baseline
plus the offset ``epsilon`` (``--baseline-offset``).  Step weights:
``reinforce``: ``w_h = G_0 - b_0`` (one baseline per trajectory, at ``s_0``);
``reward_to_go``: ``w_h = gamma^h (R_h - b_h)``; ``reward_to_go_common``: ``w_h = R_h - b_h`` (no ``gamma^h``).

**Per-batch updates** (default).  ``g = (1/N) sum_i sum_h w_ih psi_ih`` at ``theta_t``; SGA
``theta += eta g``; Adam on ``g``; NPG below.  Baselines: ``none`` (0), ``constant`` (leave-one-out
mean of the other trajectories' ``G_0``), ``value_exact`` (``V_h(s_h)`` at ``theta_t``),
``value_online`` (``v(s, w_t)``, the weights at the iteration's start), ``optimal_exact`` (``b*`` at
``theta_t``).  None depends on the trajectory's own actions, so ``E[g] = grad J`` for every offset.

**Per-step updates** (``--update per-step``, Sutton & Barto's REINFORCE, batch size 1).  The episode
is sampled with ``theta`` at its start; then for ``h = 0, 1, ...`` in order
``theta <- theta + eta w_h psi_h(theta)`` with the score at the *current* ``theta``.  With
``value_online`` the book's order: ``delta = R_h - v(s_h, w)``, ``w <- w + alpha_w delta x(s_h)``,
``theta <- theta + eta gamma^h (delta - epsilon) psi_h`` (``delta`` from the weights before their update).

**Online value baseline** ``v(s, w) = w . x(s)``, ``x(s) = e_s`` (one-hot states) or ``x(s) = 1``
(``value_features: constant``, the book's single weight).  Per-step: the update above after every step.
Per-batch: ``w <- w + alpha_w (1/N) sum_i sum_h (R_ih - v(s_ih, w_t)) x(s_ih)`` after the policy step
(a gradient step on the batch's squared error, normalised like the policy's).

**Minimum-variance constant** ``optimal_exact`` (one-step problems: bandits).  For ``g = psi (r - b)``
with ``s ~ mu``, ``a ~ pi``: ``tr Cov g = E||psi||^2 (r - b)^2 - ||grad J||^2``, a parabola in ``b``
minimised at ``b* = E[r ||psi||^2] / E[||psi||^2]``; ``b* + epsilon`` and ``b* - epsilon`` have the same
variance, ``tr Cov(b*) + epsilon^2 E||psi||^2`` (Chung, Thomas, Machado & Le Roux 2021).  Recomputed
exactly at every ``theta_t``.

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

**Divergence.**  A run stops, recorded as diverged, when ``J(theta_t)`` is not finite or the policy no
longer terminates (reason 1), when a sampled episode reaches the step cap without terminating (reason
2: the policy is numerically deterministic on a corridor), or when the update is not finite (reason 3).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pgexp.runs.tabular_exact import cotangent, values
from pgexp.sampling.rng import next_uniform
from pgexp.sampling.seedseq import fill_trajectory_seeds, stream_key
from pgexp.sampling.tabular import alias_rows, draw_alias, draw_start

REINFORCE, REWARD_TO_GO, EXACT, REWARD_TO_GO_COMMON = 0, 1, 2, 3
ESTIMATOR_CODES = {"reinforce": REINFORCE, "reward_to_go": REWARD_TO_GO, "exact": EXACT,
                   "reward_to_go_common": REWARD_TO_GO_COMMON}
NONE, CONSTANT, VALUE_EXACT, VALUE_ONLINE, OPTIMAL_EXACT = 0, 1, 2, 3, 4
BASELINE_CODES = {"none": NONE, "constant": CONSTANT, "value_exact": VALUE_EXACT, "value_online": VALUE_ONLINE,
                  "optimal_exact": OPTIMAL_EXACT}
SGA, ADAM, NPG = 0, 1, 2
OPTIMIZER_CODES = {"sga": SGA, "adam": ADAM, "npg": NPG}
PER_BATCH, PER_STEP = 0, 1
UPDATE_CODES = {"per_batch": PER_BATCH, "per_step": PER_STEP}
VALUE_FEATURE_CODES = {"onehot": 0, "constant": 1}
NOT_FINITE, TRUNCATED, BAD_UPDATE = 1, 2, 3
DIVERGENCE_REASONS = {0: "", NOT_FINITE: "J not finite or policy does not terminate",
                      TRUNCATED: "episode hit the step cap", BAD_UPDATE: "update not finite"}


@njit(cache=True)
def state_probs(phi, tabular, theta, s, out):
    """``pi(.|s)`` at ``theta`` into ``out`` ``(A,)`` (max-shifted softmax)."""
    A = out.shape[0]
    m = -np.inf
    for a in range(A):
        if tabular:
            z = theta[s * A + a]
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
def sample_batch(seeds, mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices, p_prob, p_alias, r, absorbing, max_len,
                 episodic, S_buf, A_buf, R_buf, offs, lens):
    """Simulate ``len(seeds)`` episodes one after another into flat buffers (grown by doubling).

    The draws are those of :func:`pgexp.sampling.tabular.sample`: start state, then per step an action
    and a next state, each from one uniform of the trajectory's own xoshiro256** stream.
    Returns ``(S_buf, A_buf, R_buf, truncated)``; trajectory ``i`` is ``[offs[i], offs[i] + lens[i])``.
    """
    A = r.shape[1]
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
                grow = 2 * S_buf.shape[0]
                S2 = np.empty(grow, np.int32)
                A2 = np.empty(grow, np.int32)
                R2 = np.empty(grow)
                S2[:pos] = S_buf[:pos]
                A2[:pos] = A_buf[:pos]
                R2[:pos] = R_buf[:pos]
                S_buf, A_buf, R_buf = S2, A2, R2
            a = draw_alias(pi_ptr, pi_prob, pi_alias, s, next_uniform(st))
            S_buf[pos] = s
            A_buf[pos] = a
            R_buf[pos] = r[s, a]
            row = s * A + a
            s = indices[indptr[row] + draw_alias(indptr, p_prob, p_alias, row, next_uniform(st))]
            pos += 1
            h += 1
        lens[i] = h
        if episodic and h >= max_len and not absorbing[s]:
            truncated = True  # the step cap, not absorption, ended it
    return S_buf, A_buf, R_buf, truncated


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
def baseline_at(base, V, s, h, w, vf, bstar, offset):
    """The baseline (plus offset) of a step in state ``s`` at time ``h`` (not for ``constant``)."""
    if base == 2:  # value_exact: time-indexed for a finite horizon
        return V[min(V.shape[0] - 1, h), s] + offset
    if base == 3:  # value_online
        return w[s if vf == 0 else 0] + offset
    if base == 4:
        return bstar + offset
    return 0.0 + offset


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
            if W[s, a] != 0.0:
                out[s * A + a] = W[s, a] / pi[s, a] / n


@njit(cache=True)
def record(phi, tabular, theta, pi, P, r, mu, gamma, horizon, kind, transient, V, run, t, steps,
           checkpoints, trace_slot, J_out, ret_out, steps_out, gnorm_out, snorm_out, ckpt_out, trace_out):
    """Row ``t`` of a run: ``pi`` and the exact values at ``theta`` (into ``pi``, ``V``), ``J``, checkpoints,
    the policy trace; returns whether the policy's ``J`` is finite (and it terminates)."""
    S, A = pi.shape
    policy_table(phi, tabular, theta, pi)
    J, ok = values(P, r, mu, gamma, horizon, kind, transient, pi, V)
    J_out[run, t] = J if ok else np.nan
    for k in range(checkpoints.shape[0]):
        if checkpoints[k] == t:
            ckpt_out[run, k] = theta
    if trace_slot[run] >= 0:
        for s in range(S):
            for a in range(A):
                trace_out[trace_slot[run], t, s * A + a] = pi[s, a]
    steps_out[run, t] = steps
    ret_out[run, t] = np.nan
    gnorm_out[run, t] = np.nan
    snorm_out[run, t] = np.nan
    return ok


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
def trajectory_baselines(base, N, offs, lens, S_buf, Ret, V, w, vf, bstar, offset, G0, b0):
    """``G0[i]`` (the return of trajectory ``i``) and ``b0[i]`` (its baseline at ``s_0``, or the
    leave-one-out mean of the other ``G0`` for ``constant``), offset included; returns the mean ``G0``."""
    tot = 0.0
    for i in range(N):
        G0[i] = Ret[offs[i]] if lens[i] > 0 else 0.0
        tot += G0[i]
    for i in range(N):
        if base == CONSTANT:
            b0[i] = (tot - G0[i]) / (N - 1) + offset
        else:
            b0[i] = baseline_at(base, V, S_buf[offs[i]] if lens[i] > 0 else 0, 0, w, vf, bstar, offset)
    return tot / N


@njit(cache=True)
def step_weight(est, base, h, ret_h, s, disc, G0_i, b0_i, V, w, vf, bstar, offset):
    """``w_h``: ``G_0 - b_0`` (reinforce), ``gamma^h (R_h - b_h)`` (reward_to_go) or ``R_h - b_h``
    (reward_to_go_common: no ``gamma^h``)."""
    if est == REINFORCE:
        return G0_i - b0_i
    d = 1.0 if est == REWARD_TO_GO_COMMON else disc[h]
    if base == CONSTANT:
        return d * (ret_h - b0_i)
    return d * (ret_h - baseline_at(base, V, s, h, w, vf, bstar, offset))


@njit(cache=True)
def batch_weights(est, base, N, offs, lens, S_buf, A_buf, Ret, disc, G0, b0, V, w, vf, bstar, offset, W):
    """``W[s, a] = sum_{i,h: (s_ih, a_ih) = (s, a)} w_ih`` over the batch, in trajectory and time order."""
    W[:, :] = 0.0
    for i in range(N):
        o = offs[i]
        for h in range(lens[i]):
            s = S_buf[o + h]
            W[s, A_buf[o + h]] += step_weight(est, base, h, Ret[o + h], s, disc, G0[i], b0[i], V, w, vf, bstar, offset)


@njit(cache=True)
def online_value_batch(N, offs, lens, S_buf, Ret, w, vf, alpha_w, grad_w):
    """``w <- w + alpha_w (1/N) sum_i sum_h (R_ih - v(s_ih, w)) x(s_ih)`` (every residual at the old ``w``)."""
    grad_w[:] = 0.0
    for i in range(N):
        o = offs[i]
        for h in range(lens[i]):
            j = S_buf[o + h] if vf == 0 else 0
            grad_w[j] += Ret[o + h] - w[j]
    for k in range(w.shape[0]):
        w[k] += alpha_w * grad_w[k] / N


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
def per_step_episode(est, base, natural, phi, tabular, theta, delta, eta, o, L, S_buf, A_buf, Ret, disc, G0_i, b0_i,
                     V, w, vf, bstar, offset, alpha_w, cur):
    """The book's REINFORCE over one episode: for ``h`` in order, the weight ``w_h`` (baseline from the
    current online weights), the online value update, then ``theta += eta w_h psi_h(theta)``."""
    for h in range(L):
        s = S_buf[o + h]
        wt = step_weight(est, base, h, Ret[o + h], s, disc, G0_i, b0_i, V, w, vf, bstar, offset)
        if base == VALUE_ONLINE:
            j = s if vf == 0 else 0
            w[j] += alpha_w * (Ret[o + h] - w[j])
        score_step(phi, tabular, natural, theta, delta, s, A_buf[o + h], eta * wt, cur)


@njit(cache=True)
def ascent_step(opt, g, delta, eta, m1, m2, adam_t, betas):
    """``delta = eta g`` (SGA, NPG) or Adam's step from ``g``; returns Adam's step count."""
    if opt != ADAM:
        for k in range(g.shape[0]):
            delta[k] = eta * g[k]
        return adam_t
    adam_t += 1
    b1, b2, eps = betas[0], betas[1], betas[2]
    c1 = 1.0 - b1 ** float(adam_t)
    c2 = 1.0 - b2 ** float(adam_t)
    for k in range(g.shape[0]):
        m1[k] = b1 * m1[k] + (1.0 - b1) * g[k]
        m2[k] = b2 * m2[k] + (1.0 - b2) * g[k] * g[k]
        delta[k] = eta * (m1[k] / c1) / (np.sqrt(m2[k] / c2) + eps)
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
def train_grid(P, r, mu, gamma, horizon, kind, transient,
               mu_cdf, pi_ptr, indptr, indices, p_prob, p_alias, absorbing, max_len,
               phi, tabular, est, base, opt, upd, N, T,
               thetas0, etas, words, offset, alpha_w, vf, betas, checkpoints, trace_slot,
               J_out, ret_out, steps_out, gnorm_out, snorm_out, div_at, div_reason, theta_out, w_out, ckpt_out,
               trace_out):
    """Run every row of ``thetas0`` / ``etas`` / ``words`` for ``T`` iterations (see the module docstring).

    Outputs, per run ``r`` and iteration ``t`` (rows after a divergence are left untouched):
    ``J_out[r, t]`` exact ``J(theta_t)``; ``ret_out`` the batch's mean sampled return ``G_0``;
    ``steps_out`` cumulative env steps; ``gnorm_out`` the norm of the update direction before the step
    size; ``snorm_out`` ``||theta_{t+1} - theta_t||``; ``div_at[r]`` the iteration of divergence or -1,
    ``div_reason[r]``; ``theta_out[r]`` the last finite ``theta``; ``w_out[r]`` the online value weights;
    ``ckpt_out[r, k]`` ``theta`` at ``checkpoints[k]``; ``trace_out[slot, t]`` ``pi`` flattened, for runs
    with ``trace_slot[r] >= 0``.
    """
    S, A = r.shape
    d = thetas0.shape[1]
    nw = w_out.shape[1]
    pi = np.empty((S, A))
    V = np.zeros((horizon + 1 if kind == 0 else 1, S))
    C = np.zeros((S, A))
    W = np.zeros((S, A))
    g = np.zeros(d)
    delta = np.zeros(d)
    prev = np.empty(d)
    m1 = np.zeros(d)
    m2 = np.zeros(d)
    grad_w = np.zeros(nw)
    cur = np.empty(A)
    seeds = np.empty((N, 4), np.uint64)
    offs = np.zeros(N, np.int64)
    lens = np.zeros(N, np.int64)
    S_buf = np.empty(1024, np.int32)
    A_buf = np.empty(1024, np.int32)
    R_buf = np.empty(1024)
    Ret = np.empty(1024)
    disc = discounts(np.empty(0), 1024, gamma)
    G0 = np.empty(N)
    b0 = np.empty(N)
    natural = opt == NPG
    for run in range(thetas0.shape[0]):
        theta = thetas0[run].copy()
        eta = etas[run]
        w = np.zeros(nw)
        m1[:] = 0.0
        m2[:] = 0.0
        adam_t = 0
        steps = 0
        div_at[run] = -1
        div_reason[run] = 0
        for t in range(T + 1):
            if not record(phi, tabular, theta, pi, P, r, mu, gamma, horizon, kind, transient, V, run, t, steps,
                          checkpoints, trace_slot, J_out, ret_out, steps_out, gnorm_out, snorm_out, ckpt_out,
                          trace_out):
                div_at[run], div_reason[run] = t, NOT_FINITE
                break
            if t == T:
                break
            prev[:] = theta
            delta[:] = 0.0
            if est == EXACT:  # the expected weights: W = pi * C, so that the pullback of W is grad J
                if not cotangent(P, r, mu, gamma, horizon, kind, transient, pi, V, C):
                    div_at[run], div_reason[run] = t, NOT_FINITE
                    break
                for s in range(S):
                    for a in range(A):
                        W[s, a] = C[s, a] * pi[s, a]
                direction(phi, tabular, pi, W, 1, natural, g)
            else:
                fill_trajectory_seeds(stream_key(words[run], t, 0), seeds)
                pi_prob, pi_alias = alias_rows(pi_ptr, pi.ravel())
                S_buf, A_buf, R_buf, trunc = sample_batch(seeds, mu_cdf, pi_ptr, pi_prob, pi_alias, indptr, indices,
                                                          p_prob, p_alias, r, absorbing, max_len, kind == 2,
                                                          S_buf, A_buf, R_buf, offs, lens)
                steps += lens.sum()
                steps_out[run, t] = steps
                if trunc:
                    div_at[run], div_reason[run] = t, TRUNCATED
                    break
                if Ret.shape[0] < S_buf.shape[0]:
                    Ret = np.empty(S_buf.shape[0])
                disc = discounts(disc, S_buf.shape[0], gamma)
                returns_into(R_buf, offs, lens, gamma, Ret)
                bstar = optimal_constant(phi, tabular, mu, r, pi) if base == OPTIMAL_EXACT else 0.0
                ret_out[run, t] = trajectory_baselines(base, N, offs, lens, S_buf, Ret, V, w, vf, bstar, offset, G0, b0)
                if upd == PER_STEP:  # the episode was sampled at theta_t; scores at the current theta
                    per_step_episode(est, base, natural, phi, tabular, theta, delta, eta, offs[0], lens[0], S_buf,
                                     A_buf, Ret, disc, G0[0], b0[0], V, w, vf, bstar, offset, alpha_w, cur)
                else:
                    batch_weights(est, base, N, offs, lens, S_buf, A_buf, Ret, disc, G0, b0, V, w, vf, bstar, offset, W)
                    direction(phi, tabular, pi, W, N, natural, g)
                    if base == VALUE_ONLINE:  # after the policy's direction: same batch, the old weights
                        online_value_batch(N, offs, lens, S_buf, Ret, w, vf, alpha_w, grad_w)
            if upd == PER_STEP and est != EXACT:
                gnorm_out[run, t] = norm(delta) / eta
            else:
                adam_t = ascent_step(opt, g, delta, eta, m1, m2, adam_t, betas)
                gnorm_out[run, t] = norm(g)
                theta += delta
            snorm_out[run, t] = norm(delta)
            if not (np.isfinite(snorm_out[run, t]) and all_finite(theta)):
                div_at[run], div_reason[run] = t, BAD_UPDATE
                snorm_out[run, t] = np.nan
                theta[:] = prev
                break
        theta_out[run] = theta
        w_out[run] = w
