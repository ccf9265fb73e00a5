r"""Exact moments of the lecture's roll-in/roll-out estimator under its own sampling scheme.

One sample (:func:`pgexp.sampling.tabular.rollin_rollout`): draw the roll-in time ``h`` with
``q(h) = gamma^h / Z`` (``Z = sum_{h<H} gamma^h``; geometric ``(1 - gamma) gamma^h`` with ``Z = 1/(1-gamma)``
for ``H = inf``), follow ``pi`` for ``h`` steps from ``s_0 ~ mu`` (an absorbed roll-in scores nothing),
take ``a ~ pi(.|s_h)``, roll out to get ``y``, and return ``g = Z sigma(s_h, a) (y - b_h(s_h))``.

* finite ``H``: ``y = sum_{t=h}^{H-1} gamma^(t-h) r_t`` (to the horizon or absorption);
* ``H = inf``: ``y = r_h + xi_1 (r_{h+1} + xi_2 (...))`` with independent ``xi ~ Bernoulli(gamma)`` (terminate
  with probability ``1 - gamma`` after each reward; undiscounted sum), ending at absorption.

Both have ``E[y | h, s, a] = Q_h(s, a)``.  Second moments, with ``n_k(s) = sum_a pi(a|s) Y_k(s, a)``
(0 in absorbing states):

* finite: backward over ``h``: ``Y1_h = r + gamma P n1_{h+1}``,
  ``Y2_h = r^2 + 2 gamma r P n1_{h+1} + gamma^2 P n2_{h+1}``;
* ``H = inf``: ``xi^2 = xi`` gives ``Y2 = r^2 + 2 gamma r P V + gamma P n2`` with
  ``(I - gamma P_pi) n2 = sum_a pi (r^2 + 2 gamma r P V)`` (one linear solve), ``Y1 = Q``.

The sample ``(h, s, a)`` (live) has probability ``omega_h(s, a) = q(h) p_h(s) pi(a|s)`` with ``p_h`` the
state distribution at step ``h`` restricted to non-absorbing states (for ``H = inf``:
``sum_h omega_h = (1 - gamma) visits(s) pi(a|s)``).  With ``u = Z sigma y`` (no baseline), ``v = Z sigma``
(what a constant multiplies) and ``R = y`` (what the leave-one-out constant averages; 0 for an absorbed
roll-in)::

    E[u] = Z sum omega sigma Y1,     E[u u^T] = Z^2 sum omega sigma sigma^T Y2,
    E[u v^T] = Z^2 sum omega sigma sigma^T Y1,     E[v v^T] = Z^2 sum omega sigma sigma^T,
    E[R] = sum omega Y1,     E[R^2] = sum omega Y2,     E[v R] = E[u],

and a state baseline ``b_h(s)`` replaces ``Y2`` by ``Y2 - 2 b Y1 + b^2``.  No truncation is involved: these
are the moments of the sampler's estimator for ``H = inf`` too.

:func:`enumerate_samples` lists every (roll-in, roll-out) path instead; for ``H = inf`` that terminates
only when every path is absorbed within a bounded number of steps (an acyclic MDP), which is what the
tests use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.exact.model import ExactSetup
from pgexp.exact.values import policy_transition, solve
from pgexp.sampling.tabular import occupancy_mass

MAX_SAMPLES = 2_000_000
MAX_DEPTH = 200  # H = inf enumeration: roll-ins and roll-outs must be absorbed within this many steps


@dataclass(frozen=True, eq=False)
class RolloutWeights:
    """Per ``(s, a)`` sums over roll-in times of ``omega_h`` times ``1, Y1, Y2`` and, for a state baseline
    ``b``, ``b``, ``b Y1`` and ``b^2``; each ``(S, A)``.  ``Z`` is the occupancy mass."""

    Z: float
    W0: np.ndarray
    W1: np.ndarray
    W2: np.ndarray
    Wb: np.ndarray
    Wb1: np.ndarray
    Wbb: np.ndarray


def rollout_weights(st: ExactSetup, b_steps: np.ndarray | None = None) -> RolloutWeights:
    """The sums of the module docstring; ``b_steps`` ``(L, S)`` (finite) or ``(1, S)`` (``H = inf``)."""
    mdp = st.mdp
    S, A = st.num_states, st.num_actions
    alive = ~st.absorbing
    pi, r, g = st.pi, mdp.r, st.gamma
    horizon = mdp.horizon
    Z = occupancy_mass(g, horizon)
    zero = np.zeros((S, A))
    W0, W1, W2, Wb, Wb1, Wbb = (zero.copy() for _ in range(6))
    if horizon is None:
        if g >= 1.0:
            raise UserError("rollin_rollout: defined for the finite and discounted objectives, "
                            "not gamma = 1 with H = inf")
        V = np.nan_to_num(st.ev.V, nan=0.0)
        Y1 = r + g * mdp.expected_next(V)
        M = sp.eye_array(S, format="csr") - g * policy_transition(mdp, pi)
        rhs = np.where(alive, np.einsum("sa,sa->s", pi, r * r + 2 * g * r * mdp.expected_next(V)), 0.0)
        n2 = np.where(alive, solve(M, rhs), 0.0)
        Y2 = r * r + 2 * g * r * mdp.expected_next(V) + g * mdp.expected_next(n2)
        omega = ((1.0 - g) * np.where(alive, st.ev.visits, 0.0))[:, None] * pi
        b = np.zeros(S) if b_steps is None else b_steps[0]
        return RolloutWeights(Z, omega, omega * Y1, omega * Y2, omega * b[:, None], omega * b[:, None] * Y1,
                              omega * (b * b)[:, None])
    H = int(horizon)
    Y1s, Y2s = np.empty((H, S, A)), np.empty((H, S, A))
    n1, n2 = np.zeros(S), np.zeros(S)
    for h in range(H - 1, -1, -1):
        E = mdp.expected_next(np.stack([n1, n2], axis=1))
        Y1s[h] = r + g * E[..., 0]
        Y2s[h] = r * r + 2 * g * r * E[..., 0] + g * g * E[..., 1]
        n1 = np.where(alive, np.einsum("sa,sa->s", pi, Y1s[h]), 0.0)
        n2 = np.where(alive, np.einsum("sa,sa->s", pi, Y2s[h]), 0.0)
    p = mdp.mu.copy()
    for h in range(H):
        omega = (g ** h / Z) * np.where(alive, p, 0.0)[:, None] * pi
        b = np.zeros(S) if b_steps is None else b_steps[h]
        W0 += omega
        W1 += omega * Y1s[h]
        W2 += omega * Y2s[h]
        Wb += omega * b[:, None]
        Wb1 += omega * b[:, None] * Y1s[h]
        Wbb += omega * (b * b)[:, None]
        p = (p[:, None] * pi).ravel() @ mdp.P
    return RolloutWeights(Z, W0, W1, W2, Wb, Wb1, Wbb)


def _outer(st: ExactSetup, w: np.ndarray, full: bool) -> np.ndarray:
    """``sum_{s,a} w(s,a) sigma sigma^T`` (or its diagonal)."""
    flat = st.sigma.reshape(-1, st.dim)
    ww = w.reshape(-1)
    return (flat * ww[:, None]).T @ flat if full else ww @ (flat * flat)


def _vec(st: ExactSetup, w: np.ndarray) -> np.ndarray:
    return w.reshape(-1) @ st.sigma.reshape(-1, st.dim)


@dataclass(frozen=True, eq=False)
class RolloutMoments:
    """``E[g]``, ``E[g g^T]`` for the state baseline given, and the moments of ``u, v, R`` (docstring)."""

    mean: np.ndarray
    second: np.ndarray
    mu: np.ndarray
    Euu: np.ndarray
    Euv: np.ndarray
    Evv: np.ndarray
    mR: float
    ER2: float


def rollout_moments(st: ExactSetup, b_steps: np.ndarray | None = None, fixed: float | None = None, *,
                    full: bool = True) -> RolloutMoments:
    """Exact moments by the formulas of the module docstring (``fixed``: a constant baseline ``c``)."""
    w = rollout_weights(st, b_steps)
    Z = w.Z
    Euu = Z * Z * _outer(st, w.W2, full)
    Euv = Z * Z * _outer(st, w.W1, full)
    Evv = Z * Z * _outer(st, w.W0, full)
    mu = Z * _vec(st, w.W1)
    if fixed is not None:
        c = float(fixed)
        second = Z * Z * _outer(st, w.W2 - 2 * c * w.W1 + c * c * w.W0, full)
        mean = Z * _vec(st, w.W1 - c * w.W0)
    else:
        second = Z * Z * _outer(st, w.W2 - 2 * w.Wb1 + w.Wbb, full)
        mean = Z * _vec(st, w.W1 - w.Wb)
    return RolloutMoments(mean, second, mu, Euu, Euv, Evv, float(w.W1.sum()), float(w.W2.sum()))


# --------------------------------------------------------------------------- enumeration

@dataclass(frozen=True, eq=False)
class RolloutSamples:
    """Every (roll-in, roll-out) outcome: probability, roll-in time, ``(s, a)``, live flag, ``y``; ``(n,)``."""

    probs: np.ndarray
    times: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    live: np.ndarray
    y: np.ndarray


def _rollout(st: ExactSetup, s: np.ndarray, a: np.ndarray, prob: np.ndarray, t0: np.ndarray,
             max_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every roll-out continuation of each ``(s, a)`` started at time ``t0``: ``(parent index, prob, y)``."""
    mdp = st.mdp
    g, H = st.gamma, st.mdp.horizon
    A = st.num_actions
    P = mdp.P
    idx = np.arange(s.size)
    y = np.zeros(s.size)
    disc = np.ones(s.size)
    t = t0.copy()
    done_i, done_p, done_y = [], [], []
    for _ in range(MAX_DEPTH + 1):
        if idx.size == 0:
            break
        y = y + disc * mdp.r[s, a]
        t = t + 1
        if H is None:                                 # stop with probability 1 - gamma after the reward
            done_i.append(idx)
            done_p.append(prob * (1.0 - g))
            done_y.append(y)
            prob = prob * g
        else:
            disc = disc * g
            end = t >= H
            done_i.append(idx[end])
            done_p.append(prob[end])
            done_y.append(y[end])
            keep = ~end
            idx, s, a, prob, y, disc, t = idx[keep], s[keep], a[keep], prob[keep], y[keep], disc[keep], t[keep]
        # branch over s' and then a' (absorbing s' ends the roll-out)
        rows = s * A + a
        counts = P.indptr[rows + 1] - P.indptr[rows]
        parent = np.repeat(np.arange(rows.size), counts)
        pos = P.indptr[rows][parent] + (np.arange(parent.size) - np.repeat(np.cumsum(counts) - counts, counts))
        s2, p2 = P.indices[pos].astype(np.int64), prob[parent] * P.data[pos]
        ab = st.absorbing[s2]
        done_i.append(idx[parent][ab])
        done_p.append(p2[ab])
        done_y.append(y[parent][ab])
        parent, s2, p2 = parent[~ab], s2[~ab], p2[~ab]
        a2 = np.tile(np.arange(A), parent.size)
        parent, s2 = np.repeat(parent, A), np.repeat(s2, A)
        p2 = np.repeat(p2, A) * st.pi[s2, a2]
        ok = p2 > 0
        parent, s2, a2, p2 = parent[ok], s2[ok], a2[ok], p2[ok]
        idx, s, a, prob, y, disc, t = idx[parent], s2, a2, p2, y[parent], disc[parent], t[parent]
        if sum(x.size for x in done_i) + idx.size > max_samples:
            raise UserError(f"rollin_rollout enumeration: more than {max_samples:.0e} outcomes; use method='dp'")
    else:
        raise UserError(f"rollin_rollout enumeration: roll-outs longer than {MAX_DEPTH} steps (H = inf needs an "
                        "MDP whose paths are absorbed within a bounded number of steps); use method='dp'")
    return np.concatenate(done_i), np.concatenate(done_p), np.concatenate(done_y)


def enumerate_samples(st: ExactSetup, max_samples: int = MAX_SAMPLES) -> RolloutSamples:
    """Every outcome of one roll-in/roll-out sample, with its probability (module docstring)."""
    mdp = st.mdp
    _S, A = st.num_states, st.num_actions
    g, H = st.gamma, mdp.horizon
    Z = occupancy_mass(g, H)
    last = (H - 1) if H is not None else MAX_DEPTH
    start = np.flatnonzero(mdp.mu > 0)
    cur, prob = start.astype(np.int64), mdp.mu[start].copy()
    recs: list[tuple] = []
    tail = 1.0  # roll-in-time mass not yet used (H = inf)
    for h in range(last + 1):
        qh = g ** h / Z if H is not None else (1.0 - g) * g ** h
        tail -= qh
        live = ~st.absorbing[cur]
        if (~live).any():
            n = int((~live).sum())
            recs.append((qh * prob[~live], np.full(n, h), cur[~live], np.zeros(n, np.int64), np.zeros(n, bool),
                         np.zeros(n)))
        if live.any():
            s = np.repeat(cur[live], A)
            a = np.tile(np.arange(A), int(live.sum()))
            p = np.repeat(prob[live], A) * st.pi[s, a]
            ok = p > 0
            s, a, p = s[ok], a[ok], p[ok]
            parent, pr, y = _rollout(st, s, a, qh * p, np.full(s.size, h), max_samples)
            recs.append((pr, np.full(pr.size, h), s[parent], a[parent], np.ones(pr.size, bool), y))
        if H is None and not live.any():
            break
        # one roll-in step for the live part; absorbed mass stays where it is
        ptr_s = cur[live]
        rows_p = prob[live]
        s_rep = np.repeat(ptr_s, A)
        a_rep = np.tile(np.arange(A), ptr_s.size)
        p_rep = np.repeat(rows_p, A) * st.pi[s_rep, a_rep]
        rows = s_rep * A + a_rep
        counts = mdp.P.indptr[rows + 1] - mdp.P.indptr[rows]
        par = np.repeat(np.arange(rows.size), counts)
        pos = mdp.P.indptr[rows][par] + (np.arange(par.size) - np.repeat(np.cumsum(counts) - counts, counts))
        nxt, pn = mdp.P.indices[pos].astype(np.int64), p_rep[par] * mdp.P.data[pos]
        keep = pn > 0
        cur = np.concatenate([cur[~live], nxt[keep]])
        prob = np.concatenate([prob[~live], pn[keep]])
        if sum(r[0].size for r in recs) + cur.size > max_samples:
            raise UserError(f"rollin_rollout enumeration: more than {max_samples:.0e} outcomes; use method='dp'")
    else:
        if H is None:
            raise UserError(f"rollin_rollout enumeration: roll-ins not absorbed within {MAX_DEPTH} steps; "
                            "use method='dp'")
    if H is None and tail > 0:  # every roll-in longer than the deepest path is absorbed: g = 0, y = 0
        recs.append((np.array([tail]), np.array([last + 1]), np.array([0]), np.array([0]), np.zeros(1, bool),
                     np.zeros(1)))
    cols = [np.concatenate([r[i] for r in recs]) for i in range(6)]
    return RolloutSamples(cols[0], cols[1].astype(np.int64), cols[2].astype(np.int64), cols[3].astype(np.int64),
                          cols[4], cols[5])
