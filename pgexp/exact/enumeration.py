"""Brute force: every trajectory with its probability, and the estimators' formulas applied literally.

This is the reference the moment recursion (:mod:`pgexp.exact.recursion`) is tested against, so the
weights here are written straight from the definitions (DESIGN §5, GAE's ``delta``), not from the
weight families.  Zero-probability branches are pruned; an episode ends at absorption or after ``L``
steps (:mod:`pgexp.exact.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError
from pgexp.exact.model import ExactSetup
from pgexp.progress import track

MAX_TRAJECTORIES = 1_000_000
CHUNK = 65_536  # trajectories per block when turning weights into gradients


@dataclass(frozen=True, eq=False)
class Paths:
    """Every positive-probability trajectory.

    Attributes:
        states, actions: ``(n, L)`` int64, padded with 0 after ``lengths``.
        lengths: ``(n,)`` actions taken.
        probs: ``(n,)`` probabilities (sum to one).
        final: ``(n,)`` the state each stops in (absorbing, or ``s_L``).
    """

    states: np.ndarray
    actions: np.ndarray
    lengths: np.ndarray
    probs: np.ndarray
    final: np.ndarray

    @property
    def num(self) -> int:
        return int(self.probs.size)

    @property
    def mask(self) -> np.ndarray:
        return np.arange(self.states.shape[1])[None, :] < self.lengths[:, None]

    def take(self, sl: slice) -> Paths:
        return Paths(self.states[sl], self.actions[sl], self.lengths[sl], self.probs[sl], self.final[sl])


def branches(st: ExactSetup) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per state, its positive-probability ``(a, s', pi(a|s) P(s'|s,a))`` branches in CSR layout."""
    S, A = st.num_states, st.num_actions
    P = st.mdp.P.tocoo()
    s, a = np.divmod(P.row.astype(np.int64), A)
    prob = st.pi[s, a] * P.data
    keep = prob > 0
    s, a, s2, prob = s[keep], a[keep], P.col[keep].astype(np.int64), prob[keep]
    order = np.lexsort((s2, a, s))
    s, a, s2, prob = s[order], a[order], s2[order], prob[order]
    ptr = np.zeros(S + 1, np.int64)
    np.add.at(ptr, s + 1, 1)
    return np.cumsum(ptr), a, s2, prob


def count_trajectories(st: ExactSetup, limit: float = np.inf) -> float:
    """Number of positive-probability trajectories, level by level (stops early above ``limit``)."""
    S = st.num_states
    ptr, _, s2, _ = branches(st)
    src = np.repeat(np.arange(S), np.diff(ptr))
    K = np.zeros((S, S))
    np.add.at(K, (src, s2), 1.0)
    n = (st.mdp.mu > 0).astype(np.float64)
    done = 0.0
    alive = ~st.absorbing
    with np.errstate(over="ignore"):
        for _ in range(st.L):
            done += n[~alive].sum()
            n = (n * alive) @ K
            if done + n.sum() > limit:  # every live path has at least one branch: counts never shrink
                return float(done + n.sum())
    return float(done + n.sum())


def enumerate_paths(st: ExactSetup, max_trajectories: int = MAX_TRAJECTORIES) -> Paths:
    """All trajectories (refuses with :class:`~pgexp.errors.UserError` beyond ``max_trajectories``)."""
    n_est = count_trajectories(st, max_trajectories)
    if n_est > max_trajectories:
        raise UserError(f"exact variance: more than {max_trajectories:.0e} trajectories to enumerate "
                        f"(at least {n_est:.3g}); use method='dp'")
    L = st.L
    ptr, br_a, br_s2, br_p = branches(st)
    start = np.flatnonzero(st.mdp.mu > 0)
    cur = start.astype(np.int64)
    prob = st.mdp.mu[start].copy()
    S_hist = np.zeros((cur.size, L), np.int64)
    A_hist = np.zeros((cur.size, L), np.int64)
    out = []
    for h in track(range(L), desc="enumerating trajectories", unit="step"):
        ended = st.absorbing[cur]
        if ended.any():
            out.append((S_hist[ended], A_hist[ended], np.full(int(ended.sum()), h), prob[ended], cur[ended]))
        live = ~ended
        cur, prob, S_hist, A_hist = cur[live], prob[live], S_hist[live], A_hist[live]
        counts = ptr[cur + 1] - ptr[cur]
        parent = np.repeat(np.arange(cur.size), counts)
        local = np.arange(parent.size) - np.repeat(np.cumsum(counts) - counts, counts)
        br = ptr[cur][parent] + local
        S_hist = S_hist[parent]
        A_hist = A_hist[parent]
        S_hist[:, h] = cur[parent]
        A_hist[:, h] = br_a[br]
        prob = prob[parent] * br_p[br]
        cur = br_s2[br]
    out.append((S_hist, A_hist, np.full(cur.size, L), prob, cur))
    cols = [np.concatenate([o[i] for o in out]) for i in range(5)]
    return Paths(cols[0], cols[1], cols[2].astype(np.int64), cols[3], cols[4])


# --------------------------------------------------------------------------- literal weights

def _rewards(st: ExactSetup, paths: Paths) -> np.ndarray:
    return np.where(paths.mask, st.mdp.r[paths.states, paths.actions], 0.0)


def returns(st: ExactSetup, paths: Paths) -> tuple[np.ndarray, np.ndarray]:
    """``(G, R)``, each ``(n, L)``: ``G_h = sum_{t>=h} gamma^t r_t`` and ``R_h = sum_{t>=h} gamma^(t-h) r_t``."""
    rew = _rewards(st, paths)
    G = np.cumsum((st.disc[None, :] * rew)[:, ::-1], axis=1)[:, ::-1]
    R = np.zeros_like(rew)
    acc = np.zeros(paths.num)
    for h in range(st.L - 1, -1, -1):
        acc = rew[:, h] + st.gamma * acc
        R[:, h] = acc
    return G, R


def gae_advantages(st: ExactSetup, paths: Paths, V: np.ndarray, lam: float) -> np.ndarray:
    """``Â_h = sum_l (gamma lam)^l delta_{h+l}`` with ``delta_h = r_h + gamma V_{h+1}(s_{h+1}) - V_h(s_h)``;
    ``s_{h+1}`` of the last step is the state the episode stops in; ``V`` ``(L+1, S)``, ``(n, L)``."""
    n, L = paths.states.shape
    rew = _rewards(st, paths)
    nxt = np.zeros_like(paths.states)
    nxt[:, :-1] = paths.states[:, 1:]
    last = np.maximum(paths.lengths - 1, 0)
    nxt[np.arange(n), last] = paths.final
    h = np.arange(L)[None, :]
    V_next = np.where(st.absorbing[nxt], 0.0, V[h + 1, nxt])
    delta = np.where(paths.mask, rew + st.gamma * V_next - V[h, paths.states], 0.0)
    adv = np.zeros((n, L))
    acc = np.zeros(n)
    for t in range(L - 1, -1, -1):
        acc = delta[:, t] + st.gamma * lam * acc
        adv[:, t] = acc
    return np.where(paths.mask, adv, 0.0)


def literal_weights(st: ExactSetup, paths: Paths, estimator: str, *, b0: np.ndarray | None = None,
                    b_steps: np.ndarray | None = None, fixed: float | None = None, values: np.ndarray | None = None,
                    lam: float = 1.0) -> np.ndarray:
    """Step weights ``w`` ``(n, L)`` from the formulas (zero padding): the callable the estimator's exact spec
    declares (:attr:`pgexp.estimators.exact_spec.ExactSpec.weights`; the built-ins' are below).

    ``b0`` ``(S,)``: reinforce's ``b(s_0)``; ``b_steps`` ``(L, S)``: a state baseline ``b_h(s)``; ``fixed``: a
    constant baseline (reinforce: ``b``; reward_to_go: ``gamma^h b``); ``values`` ``(L+1, S)``: GAE's ``V``.
    """
    from pgexp.exact.catalogue import exact_spec

    weights = exact_spec(estimator).weights_fn(estimator)
    return weights(st, paths, b0=b0, b_steps=b_steps, fixed=fixed, values=values, lam=lam)


# Each built-in: (st, paths, *, b0, b_steps, fixed, values, lam) -> w (n, L); the arguments it does not read are
# ignored.

def reinforce(st: ExactSetup, paths: Paths, *, b0: np.ndarray | None = None, fixed: float | None = None,
              **_: object) -> np.ndarray:
    """``w_h = G_0 - b(s_0)``."""
    G, _R = returns(st, paths)
    b = np.zeros(paths.num) if b0 is None else b0[paths.states[:, 0]] * (paths.lengths > 0)
    if fixed is not None:
        b = b + fixed
    return np.where(paths.mask, (G[:, 0] - b)[:, None], 0.0)


def _step_baseline(st: ExactSetup, paths: Paths, b_steps: np.ndarray | None, fixed: float | None) -> np.ndarray:
    """``b_h(s_h)`` ``(n, L)`` of a state baseline plus a constant."""
    n, L = paths.states.shape
    base = np.zeros((n, L)) if b_steps is None else b_steps[np.minimum(np.arange(L)[None, :], L - 1), paths.states]
    return base + fixed if fixed is not None else base


def reward_to_go(st: ExactSetup, paths: Paths, *, b_steps: np.ndarray | None = None, fixed: float | None = None,
                 **_: object) -> np.ndarray:
    """``w_h = G_h - gamma^h b_h(s_h)``."""
    G, _R = returns(st, paths)
    return np.where(paths.mask, G - st.disc[None, :] * _step_baseline(st, paths, b_steps, fixed), 0.0)


def reward_to_go_common(st: ExactSetup, paths: Paths, *, b_steps: np.ndarray | None = None,
                        fixed: float | None = None, **_: object) -> np.ndarray:
    """``w_h = R_h - b_h(s_h)`` (no ``gamma^h``)."""
    _G, R = returns(st, paths)
    return np.where(paths.mask, R - _step_baseline(st, paths, b_steps, fixed), 0.0)


def advantage_exact(st: ExactSetup, paths: Paths, **_: object) -> np.ndarray:
    """``w_h = gamma^h A_h(s_h, a_h)`` (the oracle advantage)."""
    h = np.arange(paths.states.shape[1])[None, :]
    return np.where(paths.mask, st.disc[None, :] * st.advantage_steps[h, paths.states, paths.actions], 0.0)


def gae(st: ExactSetup, paths: Paths, *, values: np.ndarray | None = None, lam: float = 1.0,
        **_: object) -> np.ndarray:
    """``w_h = gamma^h Â_h`` (GAE(lambda) with the value table ``values``; ``None``: ``V = 0``)."""
    V = np.zeros((paths.states.shape[1] + 1, st.num_states)) if values is None else values
    return gae_advantages(st, paths, V, lam) * st.disc[None, :]


def gae_common(st: ExactSetup, paths: Paths, *, values: np.ndarray | None = None, lam: float = 1.0,
               **_: object) -> np.ndarray:
    """``w_h = Â_h`` (no ``gamma^h``)."""
    V = np.zeros((paths.states.shape[1] + 1, st.num_states)) if values is None else values
    return gae_advantages(st, paths, V, lam)


def gradients(st: ExactSetup, paths: Paths, w: np.ndarray) -> np.ndarray:
    """``g_i = sum_h w_ih sigma(s_ih, a_ih)``, ``(n, d)`` (padding has ``w = 0``)."""
    g = np.zeros((paths.num, st.dim))
    for h in range(paths.states.shape[1]):
        g += w[:, h:h + 1] * st.sigma[paths.states[:, h], paths.actions[:, h]]
    return g


def weighted_moments(probs: np.ndarray, X: np.ndarray, Y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(E[X], E[X Y^T])`` of rows with probabilities ``probs`` (``Y = None``: ``Y = X``)."""
    Y = X if Y is None else Y
    return probs @ X, (X * probs[:, None]).T @ Y


def centred_cov(probs: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, cov)`` with the covariance summed over centred rows (no cancellation)."""
    mean = probs @ X
    Xc = X - mean[None, :]
    return mean, (Xc * probs[:, None]).T @ Xc
