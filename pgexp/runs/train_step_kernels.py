"""The compiled training engine's steps (:mod:`pgexp.runs.train_kernels` derives them): returns and baselines,
the step weights of each estimator, the critic's fit, the score pull-back into the direction (NPG's natural form
included), the per-step and per-batch updates, and what a run keeps."""

from __future__ import annotations

import numpy as np
from numba import njit, objmode

from pgexp.runs.tabular_exact import FINITE, values
from pgexp.runs.train_batch_kernels import policy_table, state_probs
from pgexp.runs.train_codes import (
    ACTOR_CRITIC,
    ADAM,
    CONSTANT,
    GAE,
    GAE_COMMON,
    REINFORCE,
    REWARD_TO_GO,
    REWARD_TO_GO_COMMON,
    VALUE_EXACT,
    VALUE_ONLINE,
)


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
