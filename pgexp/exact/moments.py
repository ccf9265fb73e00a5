"""Exact mean and covariance of the per-trajectory policy-gradient estimates (finite horizon).

The Monte-Carlo estimators of :mod:`pgexp.estimators.trajectory` return, per trajectory, one
vector ``g``; here its exact first and second moments are computed for a softmax-linear policy, by
two independent routes:

* :func:`enumerate_moments` lists every trajectory with its probability (zero-probability branches
  pruned, episodes ending at absorption) and applies the estimator formulas literally;
* :func:`dp_moments` is a forward-backward dynamic programme, polynomial in ``S, A, H, d``.

Trajectory semantics (as :func:`pgexp.sampling.sample`): ``s_0 ~ mu``; at each ``h < H`` an
absorbing state ends the episode (no action, nothing scored); otherwise ``a_h ~ pi(.|s_h)``,
reward ``r(s_h, a_h)``, ``s_{h+1} ~ P(.|s_h, a_h)``.  ``G_h = sum_{t>=h} gamma^t r_t``,
``sigma_h = grad log pi(a_h|s_h)``.

The dynamic programme
---------------------
Every estimator handled here is ``g = sum_h sigma_h w_h`` with one step weight of the form

    w_h = Pi_h + lam G_h + e_h(s_h, a_h),      Pi_0 = p0(s_0),  Pi_{h+1} = Pi_h + kappa gamma^h r_h,

(reinforce: ``kappa = lam = 1``, ``p0 = -b(s_0)``, ``e = 0``; reward-to-go: ``kappa = 0``, ``p0 = 0``,
``lam = 1``, ``e_h = -gamma^h b_h(s)``; advantage_exact: ``lam = 0``, ``e_h = gamma^h A_h``; the
direction ``v = sum_h c_h sigma_h`` of a constant baseline: ``lam = 0``, ``e_h = c_h``).  ``Pi_h`` is
known before ``a_h`` (the past), ``y_h = lam G_h + e_h`` is the present-and-future part.

1. Backward: ``M1_h(s,a) = E[G_h | s,a]``, ``M2_h(s,a) = E[G_h^2 | s,a]`` from
   ``G_h = gamma^h r(s,a) + G_{h+1}`` (zero at absorbing states and at ``h = H``).
2. Forward, joint with ``1{s_h = s}``: ``p_h(s)``, ``E[Pi_h]``, ``E[Pi_h^X Pi_h^Y]`` and the vectors
   ``Fd = E[sum_{t<h} sigma_t]``, ``Fa = E[sum_{t<h} sigma_t B_{t,h}]``, ``Fc = E[sum_{t<h} sigma_t Pi_h]``,
   where ``w_t = B_{t,h} + lam G_h`` splits an earlier weight at ``h`` (``B`` is known before ``a_h``).
3. Same-step terms: ``E[sigma_h sigma_h^T w_h^2] = sum_{s,a} sigma sigma^T pi(a|s) E[(Pi_h + y_h)^2; s_h=s | a]``
   with the square expanded into forward (``Pi``) times backward (``M1, M2``) moments.
4. Cross terms ``t < h``: by the Markov property at ``s_h``, ``E[sigma_t w_t w_h sigma_h^T]
   = E[sigma_t B (E[sigma y | s_h])^T] + lam E[sigma_t Pi_h (E[sigma G | s_h])^T]
   + lam E[sigma_t (E[sigma G y | s_h])^T]``
   (the term ``E[sigma | s] = sum_a pi sigma = 0`` drops exactly), i.e. ``Fa^T u1 + lam (Fc^T u2 + Fd^T u3)``
   summed over ``h``; the ``t > h`` terms are its transpose.
5. ``E[g] = sum_h sum_s p_h(s) E[sigma y | s]``, ``Cov = E[g g^T] - E[g] E[g]^T``.  Cost
   ``O(H (S A d + nnz(P) d + S d^2))``.  Two different weights ``X, Y`` give ``E[g_X g_Y^T]`` the
   same way (forward of ``X``, backward of ``Y``, plus the transpose of the swap): that is how the
   optimal constant and per-coordinate baselines get ``Cov(u, v)``.

Baselines: ``none``, ``value_exact`` (time-indexed exact ``V_h``; reinforce uses ``V_0(s_0)``),
``constant`` -- a *fixed* scalar ``c`` (default: ``J = E[G_0]``, the large-batch limit of the
Monte-Carlo leave-one-out mean) -- and ``optimal`` -- Greensmith et al.'s per-coordinate
``b_k = E[u_k v_k] / E[v_k^2]`` computed exactly (the limit of the fitted one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import values as exact
from pgexp.problems.problem import Problem
from pgexp.progress import track as with_progress

MAX_TRAJECTORIES = 1_000_000
COV_MAX_DIM = 64
ESTIMATORS = ("reinforce", "reward_to_go", "advantage_exact")
BASELINES = {
    "reinforce": ("none", "value_exact", "constant", "optimal"),
    "reward_to_go": ("none", "value_exact", "constant", "optimal"),
    "advantage_exact": ("none",),
}
_CHUNK = 65_536  # trajectories per block when enumerating


# --------------------------------------------------------------------------- common set-up

@dataclass(eq=False)
class _Setup:
    """Everything both routes need, computed once per problem."""

    problem: Problem
    H: int
    gamma: float
    pi: np.ndarray          # (S, A)
    sigma: np.ndarray       # (S, A, d) score table
    absorbing: np.ndarray   # (S,) bool
    ev: exact.Evaluation
    disc: np.ndarray        # (H,) gamma^h

    @property
    def mdp(self):
        return self.problem.mdp

    @property
    def dim(self) -> int:
        return self.sigma.shape[2]

    def advantage(self) -> np.ndarray:
        """``A_h(s, a)``, ``(H, S, A)``."""
        return np.stack([self.ev.Q_step(self.mdp, h) - self.ev.V_steps[h][:, None] for h in range(self.H)])


def _setup(problem: Problem) -> _Setup:
    mdp = problem.mdp
    if mdp.horizon is None:
        raise UserError("exact variance: only finite horizons are supported (this problem has H = inf); "
                        "give --horizon H")
    if not hasattr(problem.policy, "score_table"):
        raise UserError(f"exact variance: needs a softmax-linear policy with a score table, got {problem.policy!r}")
    pi = problem.policy.probs(problem.theta)
    sigma = np.asarray(problem.policy.score_table(problem.theta), dtype=np.float64)
    H = int(mdp.horizon)
    return _Setup(problem, H, float(mdp.gamma), pi, sigma, mdp.absorbing_states(), exact.evaluate(mdp, pi),
                  float(mdp.gamma) ** np.arange(H, dtype=np.float64))


def _check(estimator: str, baseline: str) -> None:
    if estimator not in BASELINES:
        raise UserError(f"exact variance: estimator {estimator!r} not supported; allowed: {', '.join(ESTIMATORS)}")
    if baseline not in BASELINES[estimator]:
        raise UserError(f"exact variance: baseline {baseline!r} not supported with {estimator}; "
                        f"allowed: {', '.join(BASELINES[estimator])}")


def _resolve_constant(st: _Setup, baseline: str, constant: float | None) -> float | None:
    if baseline != "constant":
        return None
    return float(st.ev.J) if constant is None else float(constant)


# --------------------------------------------------------------------------- enumeration

def _branches(st: _Setup) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per state, its positive-probability ``(a, s', pi(a|s) P(s'|s,a))`` branches in CSR layout."""
    mdp = st.mdp
    S, A = mdp.num_states, mdp.num_actions
    P = mdp.P.tocoo()
    s, a = np.divmod(P.row.astype(np.int64), A)
    prob = st.pi[s, a] * P.data
    keep = prob > 0
    s, a, s2, prob = s[keep], a[keep], P.col[keep].astype(np.int64), prob[keep]
    order = np.lexsort((s2, a, s))
    s, a, s2, prob = s[order], a[order], s2[order], prob[order]
    ptr = np.zeros(S + 1, np.int64)
    np.add.at(ptr, s + 1, 1)
    return np.cumsum(ptr), a, s2, prob


def count_trajectories(problem: Problem, limit: float = np.inf) -> float:
    """Number of positive-probability trajectories, counted level by level (stops early above ``limit``)."""
    st = _setup(problem)
    return _count(st, limit)


def _count(st: _Setup, limit: float = np.inf) -> float:
    S = st.mdp.num_states
    ptr, _, s2, _ = _branches(st)
    src = np.repeat(np.arange(S), np.diff(ptr))
    K = np.zeros((S, S))
    np.add.at(K, (src, s2), 1.0)
    n = (st.mdp.mu > 0).astype(np.float64)
    done = 0.0
    alive = ~st.absorbing
    with np.errstate(over="ignore"):
        for _ in range(st.H):
            done += n[~alive].sum()
            n = (n * alive) @ K
            if done + n.sum() > limit:  # every live path has at least one branch: counts never shrink
                return float(done + n.sum())
    return float(done + n.sum())


def _enumerate_paths(st: _Setup, max_trajectories: int, *, with_final: bool = False):
    """All trajectories: ``states, actions (N, H)`` (padded), ``lengths (N,)``, ``prob (N,)`` and, with
    ``with_final``, the state each stops in ``(N,)`` (absorbing, or ``s_H``)."""
    n_est = _count(st, max_trajectories)
    if n_est > max_trajectories:
        raise UserError(f"exact variance: more than {max_trajectories:.0e} trajectories to enumerate "
                        f"(at least {n_est:.3g}); use method='dp'")
    H = st.H
    ptr, br_a, br_s2, br_p = _branches(st)
    start = np.flatnonzero(st.mdp.mu > 0)
    cur = start.astype(np.int64)
    prob = st.mdp.mu[start].copy()
    S_hist = np.zeros((cur.size, H), np.int64)
    A_hist = np.zeros((cur.size, H), np.int64)
    out = []  # (states, actions, length, prob, final state) blocks of finished paths
    for h in with_progress(range(H), desc="enumerating trajectories", unit="step"):
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
    out.append((S_hist, A_hist, np.full(cur.size, H), prob, cur))
    columns = tuple(np.concatenate([o[i] for o in out]) for i in range(5))
    return columns if with_final else columns[:4]


def _weights_literal(st: _Setup, states, actions, lengths, estimator: str, baseline: str, c: float | None):
    """Step weights ``w (N, H)`` straight from the estimator formulas (DESIGN §5); ``optimal`` -> ``(u, v)``."""
    mdp = st.mdp
    N, H = states.shape
    mask = np.arange(H)[None, :] < lengths[:, None]
    disc = st.disc[None, :]
    rew = np.where(mask, mdp.r[states, actions], 0.0)
    G = np.cumsum((disc * rew)[:, ::-1], axis=1)[:, ::-1]  # G_h = sum_{t>=h} gamma^t r_t
    V = st.ev.V_steps
    if estimator == "advantage_exact":
        Adv = st.advantage()
        return np.where(mask, disc * Adv[np.arange(H)[None, :], states, actions], 0.0)
    if baseline == "optimal":
        u = _weights_literal(st, states, actions, lengths, estimator, "none", None)
        v = np.where(mask, 1.0 if estimator == "reinforce" else disc, 0.0)
        return u, v
    if estimator == "reinforce":
        if baseline == "none":
            b = 0.0
        elif baseline == "value_exact":
            b = V[0][states[:, 0]]
        else:
            b = c
        X = G[:, 0] - b
        return np.where(mask, X[:, None], 0.0)
    # reward_to_go
    if baseline == "none":
        b = 0.0
    elif baseline == "value_exact":
        b = V[np.arange(H)[None, :], states]
    else:
        b = c
    return np.where(mask, G - disc * b, 0.0)


def _gradients(st: _Setup, states, actions, w) -> np.ndarray:
    """``g_i = sum_h w_ih sigma(s_ih, a_ih)``, ``(N, d)`` (padding has ``w = 0``)."""
    g = np.zeros((states.shape[0], st.dim))
    for h in range(states.shape[1]):
        g += w[:, h:h + 1] * st.sigma[states[:, h], actions[:, h]]
    return g


def _enumerated_gradients(st: _Setup, estimator: str, baseline: str, c: float | None,
                          max_trajectories: int):
    """Per-trajectory gradients (and their probabilities) of every trajectory, blockwise."""
    states, actions, lengths, probs = _enumerate_paths(st, max_trajectories)
    blocks = []
    for i in with_progress(range(0, probs.size, _CHUNK), desc="trajectory gradients", unit="block"):
        sl = slice(i, i + _CHUNK)
        w = _weights_literal(st, states[sl], actions[sl], lengths[sl], estimator, baseline, c)
        if isinstance(w, tuple):
            blocks.append(tuple(_gradients(st, states[sl], actions[sl], x) for x in w))
        else:
            blocks.append((_gradients(st, states[sl], actions[sl], w),))
    return blocks, probs


def enumerate_moments(problem: Problem, estimator: str, baseline: str = "none", constant: float | None = None, *,
                      max_trajectories: int = MAX_TRAJECTORIES) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact ``(mean (d,), cov (d, d), n_trajectories)`` of the per-trajectory estimate by enumeration.

    Refuses (:class:`~pgexp.errors.UserError`, a ``ValueError``) beyond ``max_trajectories``.
    """
    _check(estimator, baseline)
    st = _setup(problem)
    c = _resolve_constant(st, baseline, constant)
    blocks, probs = _enumerated_gradients(st, estimator, baseline, c, max_trajectories)
    offs = np.cumsum([0] + [b[0].shape[0] for b in blocks])

    if baseline == "optimal":
        # b_k = E[u_k v_k] / E[v_k^2] from the enumerated u, v; then g = u - b (.) v
        num = sum(probs[offs[i]:offs[i + 1]] @ (b[0] * b[1]) for i, b in enumerate(blocks))
        den = sum(probs[offs[i]:offs[i + 1]] @ (b[1] * b[1]) for i, b in enumerate(blocks))
        bk = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        blocks = [(b[0] - bk[None, :] * b[1],) for b in blocks]
    mean = sum(probs[offs[i]:offs[i + 1]] @ b[0] for i, b in enumerate(blocks))
    cov = np.zeros((st.dim, st.dim))
    for i, b in enumerate(blocks):  # second pass, centred: no cancellation
        x = b[0] - mean[None, :]
        cov += (x * probs[offs[i]:offs[i + 1], None]).T @ x
    return np.asarray(mean, dtype=np.float64), cov, int(probs.size)


# --------------------------------------------------------------------------- dynamic programme

@dataclass(frozen=True, eq=False)
class _Weights:
    """``w_h = Pi_h + lam G_h + e_h(s_h, a_h)``, ``Pi_0 = p0(s_0)``, ``Pi_{h+1} = Pi_h + kappa gamma^h r_h``."""

    kappa: float
    p0: np.ndarray   # (S,)
    lam: float
    e: np.ndarray    # (H, S, A)


def _weights(st: _Setup, estimator: str, baseline: str, c: float | None) -> _Weights:
    S, A = st.mdp.num_states, st.mdp.num_actions
    H = st.H
    zS = np.zeros(S)
    zE = np.zeros((H, S, A))
    disc = st.disc[:, None, None]
    V = st.ev.V_steps
    if estimator == "advantage_exact":
        return _Weights(0.0, zS, 0.0, disc * st.advantage())
    if estimator == "reinforce":
        p0 = {"none": zS, "value_exact": -V[0], "constant": np.full(S, -(c or 0.0))}[baseline]
        return _Weights(1.0, p0, 1.0, zE)
    if baseline == "none":
        return _Weights(0.0, zS, 1.0, zE)
    b = V[:H, :, None] if baseline == "value_exact" else np.full((H, S, 1), float(c))  # type: ignore[arg-type]
    return _Weights(0.0, zS, 1.0, np.broadcast_to(-disc * b, (H, S, A)).copy())


def _direction(st: _Setup, estimator: str) -> _Weights:
    """``v = sum_h c_h sigma_h``, what a constant baseline multiplies.

    ``c_h = 1`` (reinforce) or ``gamma^h`` (reward-to-go).
    """
    S, A = st.mdp.num_states, st.mdp.num_actions
    ch = np.ones(st.H) if estimator == "reinforce" else st.disc
    return _Weights(0.0, np.zeros(S), 0.0, np.broadcast_to(ch[:, None, None], (st.H, S, A)).copy())


def _return_moments(st: _Setup) -> tuple[np.ndarray, np.ndarray]:
    """``M1_h(s,a) = E[G_h | s_h=s, a_h=a]``, ``M2_h(s,a) = E[G_h^2 | s, a]``, each ``(H, S, A)``."""
    mdp = st.mdp
    S, A = mdp.num_states, mdp.num_actions
    M1 = np.empty((st.H, S, A))
    M2 = np.empty((st.H, S, A))
    N1 = np.zeros(S)
    N2 = np.zeros(S)
    alive = ~st.absorbing
    for h in with_progress(range(st.H - 1, -1, -1), desc="return moments", unit="step"):
        rho = st.disc[h] * mdp.r
        EN = mdp.expected_next(np.stack([N1, N2], axis=1))  # (S, A, 2)
        M1[h] = rho + EN[..., 0]
        M2[h] = rho * rho + 2.0 * rho * EN[..., 0] + EN[..., 1]
        N1 = np.where(alive, np.einsum("sa,sa->s", st.pi, M1[h]), 0.0)
        N2 = np.where(alive, np.einsum("sa,sa->s", st.pi, M2[h]), 0.0)
    return M1, M2


def _pass(st: _Setup, X: _Weights, Y: _Weights, M1: np.ndarray, M2: np.ndarray):
    """One forward sweep: ``E[g_Y]``, the same-step part of ``E[g_X g_Y^T]`` and its ``t < t'`` part
    ``sum_{t<t'} E[sigma_t w^X_t w^Y_t' sigma_t'^T]`` (forward moments of ``X``, backward of ``Y``)."""
    mdp = st.mdp
    S, A, d = st.sigma.shape
    pi, sigma = st.pi, st.sigma
    PT = mdp.P.T.tocsr()
    pis = pi[:, :, None] * sigma                      # pi(a|s) sigma(s, a)
    alive = (~st.absorbing).astype(np.float64)
    mu = mdp.mu
    p, PmX, PmY, PP = mu.copy(), mu * X.p0, mu * Y.p0, mu * X.p0 * Y.p0
    track = X.lam != 0.0                              # Fc, Fd only enter through lam_X
    Fa = np.zeros((S, d))
    Fc = np.zeros((S, d))
    Fd = np.zeros((S, d))
    Wd = np.zeros((S, A))
    cross = np.zeros((d, d))
    mean = np.zeros(d)
    lX, lY, kX, kY = X.lam, Y.lam, X.kappa, Y.kappa

    def push(q: np.ndarray) -> np.ndarray:           # (S, A, ...) -> (S, ...): sum_{s,a} q P(s'|s,a)
        return (PT @ q.reshape(S * A, -1)).reshape((S,) + q.shape[2:])

    for h in with_progress(range(st.H), desc="second moments (DP)", unit="step"):
        p, PmX, PmY, PP = p * alive, PmX * alive, PmY * alive, PP * alive   # absorbed: episode over
        Fa *= alive[:, None]
        rho = st.disc[h] * mdp.r
        m1, m2, eX, eY = M1[h], M2[h], X.e[h], Y.e[h]
        yY = lY * m1 + eY                             # E[y^Y | s, a]
        yX = lX * m1 + eX
        u1 = np.einsum("sad,sa->sd", pis, yY)         # E[sigma y^Y | s]
        mean += p @ u1
        if track:
            Fc *= alive[:, None]
            Fd *= alive[:, None]
            u2 = np.einsum("sad,sa->sd", pis, m1)                  # E[sigma G | s]
            u3 = np.einsum("sad,sa->sd", pis, lY * m2 + eY * m1)   # E[sigma G y^Y | s]
            cross += np.concatenate([Fa, lX * Fc, lX * Fd]).T @ np.concatenate([u1, u2, u3])
        else:
            cross += Fa.T @ u1
        Wd += pi * (PP[:, None] + PmX[:, None] * yY + PmY[:, None] * yX
                    + p[:, None] * (lX * lY * m2 + (lX * eY + lY * eX) * m1 + eX * eY))
        if h == st.H - 1:
            break
        pc = p[:, None]
        scal = np.stack([pc * np.ones((1, A)), PmX[:, None] + kX * rho * pc, PmY[:, None] + kY * rho * pc,
                         PP[:, None] + kX * rho * PmY[:, None] + kY * rho * PmX[:, None] + kX * kY * rho * rho * pc],
                        axis=-1) * pi[:, :, None]
        vecs = [Fa[:, None, :] + sigma * (PmX[:, None] + pc * (lX * rho + eX))[:, :, None]]
        if track:
            vecs[0] = vecs[0] + lX * rho[:, :, None] * Fd[:, None, :]
            vecs.append(Fc[:, None, :] + kY * rho[:, :, None] * Fd[:, None, :]
                        + sigma * (PmY[:, None] + kY * rho * pc)[:, :, None])
            vecs.append(Fd[:, None, :] + sigma * pc[:, :, None])
        vec = np.concatenate(vecs, axis=-1) * pi[:, :, None]
        scal, vec = push(scal), push(vec)
        p, PmX, PmY, PP = scal[:, 0], scal[:, 1], scal[:, 2], scal[:, 3]
        Fa = vec[:, :d]
        if track:
            Fc, Fd = vec[:, d:2 * d], vec[:, 2 * d:]
    flat = sigma.reshape(S * A, d)
    diag = (flat * Wd.reshape(-1, 1)).T @ flat
    return mean, diag, cross


def _dp_second(st: _Setup, X: _Weights, Y: _Weights | None, M):
    """``(E[g_X], E[g_Y], E[g_X g_Y^T])`` (``Y = None``: ``Y = X``)."""
    if Y is None:
        mean, diag, cross = _pass(st, X, X, *M)
        return mean, mean, diag + cross + cross.T
    mY, diag, cXY = _pass(st, X, Y, *M)
    mX, _, cYX = _pass(st, Y, X, *M)
    return mX, mY, diag + cXY + cYX.T


def _optimal_dp(st: _Setup, estimator: str, M) -> dict:
    """Exact moments of ``u`` (no baseline), ``v`` (the constant-baseline direction) and ``E[u v^T]``."""
    U = _weights(st, estimator, "none", None)
    Vd = _direction(st, estimator)
    mu_, _, Euu = _dp_second(st, U, None, M)
    mv, _, Evv = _dp_second(st, Vd, None, M)
    _, _, Euv = _dp_second(st, U, Vd, M)
    return {"mu": mu_, "mv": mv, "Euu": Euu, "Evv": Evv, "Euv": Euv}


def _per_coordinate(mom: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greensmith et al.'s ``b_k = E[u_k v_k] / E[v_k^2]`` and the exact mean and covariance of ``u - b (.) v``."""
    num, den = np.diag(mom["Euv"]), np.diag(mom["Evv"])
    b = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    mean = mom["mu"] - b * mom["mv"]
    second = mom["Euu"] - mom["Euv"] * b[None, :] - b[:, None] * mom["Euv"].T + b[:, None] * mom["Evv"] * b[None, :]
    return b, mean, second - np.outer(mean, mean)


def dp_moments(problem: Problem, estimator: str, baseline: str = "none",
               constant: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(mean (d,), cov (d, d))`` of the per-trajectory estimate by the forward-backward programme."""
    _check(estimator, baseline)
    st = _setup(problem)
    M = _return_moments(st)
    if baseline == "optimal":
        _, mean, cov = _per_coordinate(_optimal_dp(st, estimator, M))
        return mean, cov
    X = _weights(st, estimator, baseline, _resolve_constant(st, baseline, constant))
    mean, _, second = _dp_second(st, X, None, M)
    return mean, second - np.outer(mean, mean)


# --------------------------------------------------------------------------- public summaries

def exact_variance(problem: Problem, estimator: str, baseline: str = "none", constant: float | None = None,
                   method: str = "auto") -> dict:
    """Exact per-trajectory mean and covariance as plain values.

    Keys: ``mean`` (list), ``trace_cov``, ``cov`` (list of lists, only when ``d <= 64``), ``method``
    (``"enumeration"`` | ``"dp"``), ``n_trajectories`` (enumeration only), ``estimator``, ``baseline``,
    ``dim``, ``horizon``, ``gamma``, and ``constant`` (the fixed ``c`` used, for ``baseline = constant``).
    ``method = "auto"`` enumerates when there are at most 10^6 trajectories, else runs the DP.
    """
    _check(estimator, baseline)
    if method not in ("auto", "enumeration", "dp"):
        raise UserError(f"exact variance: method {method!r}; allowed: auto, enumeration, dp")
    st = _setup(problem)
    c = _resolve_constant(st, baseline, constant)
    if method == "auto":
        method = "enumeration" if _count(st, MAX_TRAJECTORIES) <= MAX_TRAJECTORIES else "dp"
    out: dict = {"estimator": estimator, "baseline": baseline}
    if c is not None:
        out["constant"] = c
    if method == "enumeration":
        mean, cov, n = enumerate_moments(problem, estimator, baseline, c)
        out["n_trajectories"] = n
    else:
        mean, cov = dp_moments(problem, estimator, baseline, c)
    out.update({"method": method, "dim": int(mean.size), "horizon": st.H, "gamma": st.gamma,
                "mean": [float(x) for x in mean], "trace_cov": float(np.trace(cov))})
    if mean.size <= COV_MAX_DIM:
        out["cov"] = [[float(x) for x in row] for row in cov]
    return out


def optimal_constant(problem: Problem, estimator: str) -> dict:
    """Exact variance-minimising constant baselines for ``g = u - c v`` (reinforce / reward_to_go).

    ``u`` is the estimator without baseline, ``v = sum_h c_h sigma_h`` (``c_h = 1`` for reinforce,
    ``gamma^h`` for reward-to-go), exactly what the Monte-Carlo ``constant``/``optimal`` baselines multiply.

    * scalar: ``tr Cov(u - c v)`` is quadratic in ``c``; ``c* = tr Cov(u, v) / tr Cov(v)``;
    * per coordinate (Greensmith, Bartlett & Baxter): ``b_k = E[u_k v_k] / E[v_k^2]`` (second moments,
      as :func:`pgexp.estimators.baselines.optimal_coefficients`; ``E[v] = 0`` so it is also the
      per-coordinate variance minimiser).

    Returns ``{estimator, c_star, trace_cov_c_star, b_star (list), trace_cov_b_star, trace_cov_none,
    trace_cov_J}`` (the last: the fixed constant ``c = J``).
    """
    if estimator not in ("reinforce", "reward_to_go"):
        raise UserError(f"optimal constant: defined for reinforce and reward_to_go, not {estimator!r}")
    st = _setup(problem)
    M = _return_moments(st)
    mom = _optimal_dp(st, estimator, M)
    mu_, mv = mom["mu"], mom["mv"]
    tr_uu = np.trace(mom["Euu"]) - mu_ @ mu_
    tr_uv = np.trace(mom["Euv"]) - mu_ @ mv
    tr_vv = np.trace(mom["Evv"]) - mv @ mv
    c_star = tr_uv / tr_vv if tr_vv > 0 else 0.0
    b, _, cov_b = _per_coordinate(mom)
    J = float(st.ev.J)

    def tr(c: float) -> float:
        return float(tr_uu - 2.0 * c * tr_uv + c * c * tr_vv)

    return {"estimator": estimator, "c_star": float(c_star), "trace_cov_c_star": tr(c_star),
            "b_star": [float(x) for x in b], "trace_cov_b_star": float(np.trace(cov_b)),
            "trace_cov_none": tr(0.0), "J": J, "trace_cov_J": tr(J)}


def variance_curve(problem_builder: Callable[[int], Problem], horizons: Sequence[int], estimator: str,
                   baseline: str = "none", constant: float | None = None, method: str = "auto") -> list[dict]:
    """Exact per-trajectory ``trace_cov`` for each horizon (``problem_builder(H) -> Problem``)."""
    rows = []
    for H in horizons:
        res = exact_variance(problem_builder(H), estimator, baseline, constant, method)
        row = {"horizon": int(H), "trace_cov": res["trace_cov"], "method": res["method"], "estimator": estimator,
               "baseline": baseline}
        for k in ("constant", "n_trajectories"):
            if k in res:
                row[k] = res[k]
        rows.append(row)
    return rows


# Pairs with an exact counterpart of the Monte-Carlo estimator.  The Monte-Carlo ``constant`` baseline is a
# leave-one-out mean (no fixed constant); ``optimal`` is exact here and fitted on an independent batch
# there, so its Monte-Carlo variance is slightly larger by the fitting noise.
EXACT_PAIRS = (("reinforce", "none"), ("reinforce", "value_exact"), ("reinforce", "optimal"),
               ("reward_to_go", "none"), ("reward_to_go", "value_exact"), ("reward_to_go", "optimal"),
               ("advantage_exact", "none"))


def exact_curves(problem_builder: Callable[[int], Problem], horizons: Sequence[int],
                 pairs: Sequence[tuple[str, str]], method: str = "dp") -> list[dict]:
    """Exact per-trajectory ``tr Cov`` for every (pair, finite horizon), one dict per point.

    The dynamic programme by default: it equals enumeration to round-off (tests) and its cost does not
    grow with the number of trajectories.
    """
    rows = []
    for h in horizons:
        problem = problem_builder(h)
        for est, base in pairs:
            out = exact_variance(problem, est, base, method=method)
            rows.append({"estimator": est, "baseline": base, "horizon": int(h), "var_per_traj_exact": out["trace_cov"],
                         "method": out["method"], "dim": out["dim"]})
    return rows
