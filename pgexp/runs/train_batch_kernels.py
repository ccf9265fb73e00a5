"""The compiled training engine's policy and batches (:mod:`pgexp.runs.train_kernels` derives them): ``pi`` at
``theta``, the minimum-variance constants at ``pi``, and a batch's episodes and the critic's roll-in/roll-out
samples, drawn exactly as :mod:`pgexp.sampling.tabular` draws them."""

from __future__ import annotations

import numpy as np
from numba import njit

from pgexp.runs.tabular_exact import EPISODIC
from pgexp.sampling.rng import next_uniform
from pgexp.sampling.tabular import draw_alias, draw_start, rollin_rollout_one


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
