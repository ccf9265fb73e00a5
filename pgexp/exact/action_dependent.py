r"""Exact moments of estimators with an action-dependent control variate, and of the all-action estimator.

**The form.**  Every such estimator (:mod:`pgexp.estimators.correction`) is, per trajectory,

    g = sum_h [ sigma_h w_h + eps_h(s_h) ],     eps_h(s) = sum_a pi(a|s) sigma(s, a) k_h(s, a),

a weight family ``w_h = Pi_h + F_h + e_h`` (:mod:`pgexp.exact.families`; the control variate enters its present term
``e`` and, for REINFORCE, its past) plus a *state term* ``eps_h(s_h)``: the correction ``sum_a grad pi(a|s) k_h(s, a)``
with ``k`` the control variate times the estimator's coefficient.  With a critic ``Q̂_h(s, a)`` (``V̂_h = sum_a pi Q̂_h``):

=============== ========================================================= =============================================
estimator       step weight ``w_h``                                       correction ``k_h``
=============== ========================================================= =============================================
reward_to_go    ``G_h - gamma^h Q̂_h(s_h, a_h)``                           ``gamma^h Q̂_h``
reinforce       ``G_0 - Q̂_0(s_0, a_0)`` at every step                     ``Q̂_0`` at ``h = 0`` only
gae (lambda)    ``gamma^h (Â_h - Q̂_h(s_h, a_h) + V̂_h(s_h))``, ``Â`` of ``V̂``    ``gamma^h Q̂_h``
all_action      0                                                         ``gamma^h Q̂_h``
=============== ========================================================= =============================================

(REINFORCE's ``-Q̂_0(s_0, a_0)`` is ``e_0`` at step 0 and joins the past ``Pi_h`` of later steps through ``rho_0``.)

**Moments** (``g = g_X + E_X`` with ``E = sum_h eps_h(s_h)``; for a second family ``Y`` likewise)::

    E[g g'^T] = E[g_X g_Y^T] + E[g_X E_Y^T] + E[g_Y E_X^T]^T + E[E_X E_Y^T].

The first is the family recursion (:mod:`pgexp.exact.recursion`).  The others need only forward passes, with the
Markov property and ``E[sigma_h | s_h, past] = 0`` as there:

* ``E[g_X E_Y^T]`` -- split by which comes first.  A score step ``t`` after the state term's step ``u < t``: given the
  history up to ``s_t``, ``E[sigma_t w_t | .] = u1_t(s_t) = sum_a pi sigma (M1_t + e_t)`` (``Pi_t`` has a mean-zero
  score), giving ``sum_s u1_t(s) Hp_t(s)^T`` with ``Hp_t(s) = E[sum_{u<t} eps_u(s_u); s_t = s]``.  The same step
  (``t = u``): ``sum_s p_t(s) u1_t(s) eps_t(s)^T``.  A score step before (``t < u``): write ``w_t = B_{t,u} + beta^{u-t}
  F_u`` (``B`` known before ``a_u``, as in the recursion); given ``s_u`` and the past, ``E[F_u | .] = N_u(s_u) =
  sum_a pi M1_u``, so the sum over ``t < u`` is ``sum_s (Fa_u(s) + N_u(s) Fd_u(s)) eps_u(s)^T`` with the recursion's
  forward vectors ``Fa_u = E[sum_{t<u} sigma_t B_{t,u}; s]`` and ``Fd_u = E[sum_{t<u} beta^{u-t} sigma_t; s]``.
* ``E[E_X E_Y^T] = sum_h sum_s [Hp^X_h eps^Y_h{}^T + p_h eps^X_h eps^Y_h{}^T + eps^X_h Hp^Y_h{}^T]``.
* ``E[E] = sum_h sum_s p_h(s) eps_h(s)``.

Cost ``O(L (S A d + nnz(P) d))`` beyond the recursion (``+ O(L S d^2)`` for the full matrix).  Brute force
(:func:`literal_gradients`) applies the table above to every enumerated trajectory; tests hold the two equal.

**The optimal action-dependent baseline** (``q_optimal``, reward-to-go).  Per step, ``b = Q`` is optimal
(:mod:`pgexp.estimators.action_dependent`).  For the whole trajectory's ``tr Cov g``, write ``g(b) = g_0 - Delta(b)``
with ``g_0`` reward-to-go without baseline and ``Delta = sum_{h,s,a} b_h(s, a) phi_{hsa}``, ``phi_{hsa} = gamma^h
1{s_h = s} (1{a_h = a} - pi(a|s)) sigma(s, a)``.  ``E Delta = 0``, so minimising ``tr Cov g`` is least squares of
``g_0`` on the ``phi``.  Their Gram matrix is block-diagonal in ``(h, s)`` -- across steps the later ``phi`` has mean
zero given everything the earlier one depends on -- with ``E[phi_a' phi_a'] = gamma^{2h} p_h(s) pi_a sigma_a' sigma_a'
(delta_aa' - pi_a')``, and ``E[phi_a' g_0] = gamma^h p_h(s) pi_a sigma_a' (E[g_0 | s, a] - E[g_0 | s])``.  Splitting
``g_0 = sum_t sigma_t G_t`` into ``t < h`` (``G_t`` contains ``G_h``, whose mean given ``(s_h, a_h)`` is ``gamma^h
Q_h``), ``t = h`` and ``t > h`` (mean ``gamma^t eps_{Q,t}(s_t)``, ``eps_Q = sum_a pi sigma Q``)::

    E[g_0 | s, a] - E[g_0 | s]
        = gamma^h [ z_h(s) A_h(s, a) + sigma_a Q_h(s, a) - eps_{Q,h}(s) + Gamma_h(s, a) - Gamma̅_h(s) ],

``z_h(s) = E[sum_{t<h} sigma_t | s_h = s]`` (the past scores), ``Gamma_h(s, a) = E[sum_{t>h} gamma^{t-h}
eps_{Q,t}(s_t) | s, a]`` (the future gradient ``a`` leads to), ``Gamma̅ = sum_a pi Gamma``.  The normal equations of
block ``(h, s)``, divided by ``gamma^{2h} p pi_a``, are ``|sigma_a|^2 b_a - sigma_a' sum_a' pi_a' sigma_a' b_a' =
sigma_a' (...)``; ``b = Q + beta`` solves the ``sigma_a Q - eps_Q`` part, leaving an ``A x A`` system per
state and step::

    |sigma_a|^2 beta_a - sigma_a' sum_a' pi_a' sigma_a' beta_a'
        = sigma_a' (z_h(s) A_h(s, a) + Gamma_h(s, a) - Gamma̅_h(s)).

``z`` comes forward (``p_{h+1} z_{h+1} = push(p_h (z_h + sigma))``), ``Gamma`` backward (``Gamma_h = gamma P
(eps_{Q,h+1} + Gamma̅_{h+1})``).  ``beta`` is what ``Q`` misses: the correlation of the action with the past scores
(their weights ``G_t`` carry ``Q_h``) and with the gradient terms of the states it leads to.  A state never reached
keeps ``b = Q``; a singular block takes the least-squares solution of least norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import enumeration as en
from pgexp.exact import families as fam
from pgexp.exact import recursion as rec
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.exact.moments import FULL_MAX_DIM, MAX_CELLS, ExactMoments, batch_rows, choose_method, refers_to
from pgexp.problems.problem import Problem

ESTIMATORS = ("reinforce", "reward_to_go", "gae", "all_action")
BASELINES = ("q_exact", "q_optimal")
SUPPORTED: dict[str, tuple[str, ...]] = {"reinforce": ("q_exact",), "reward_to_go": ("q_exact", "q_optimal"),
                                         "gae": ("q_exact",), "all_action": ("q_exact",)}
LAMBDA_ESTIMATORS = ("gae",)
COV_MAX_DIM = 64


def covers(estimator: str, baseline: str) -> bool:
    """Whether this engine computes ``estimator~baseline`` (the action-dependent pairs and the all-action one)."""
    return estimator == "all_action" or baseline.partition(":")[0] in BASELINES


def check_pair(estimator: str, baseline: str) -> None:
    """Refuse a pair the engine does not cover, naming those it does."""
    if baseline not in SUPPORTED.get(estimator, ()):
        pairs = ", ".join(f"{e}~{b}" for e, bs in SUPPORTED.items() for b in bs)
        raise UserError(f"exact variance: {estimator}~{baseline} is not covered with an action-dependent baseline; "
                        f"allowed: {pairs}")


@dataclass(frozen=True, eq=False)
class CorrectedFamily:
    """``g = sum_h [sigma_h w_h + sum_a pi sigma k_h(s_h, a)]``: a weight family and the correction ``k (L, S, A)``."""

    family: fam.WeightFamily
    k: np.ndarray


def critic_tables(st: ExactSetup, Q: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(Q (L, S, A), V (L+1, S))``: the exact ``Q_h`` and ``V_h`` (``Q = None``), or a critic table's -- ``(S, A)``
    stationary or ``(L, S, A)`` -- with ``V̂_h = sum_a pi Q̂_h`` (row ``L``: 0 at a finite horizon, the stationary
    ``V̂`` at a discounted run's cut); zero in absorbing states."""
    if Q is None:
        Qt = st.value_steps[:st.L, :, None] + st.advantage_steps
        V = st.value_steps
    else:
        q = np.asarray(Q, dtype=np.float64)
        shape = (st.num_states, st.num_actions)
        if q.shape == shape:
            Qt = np.repeat(q[None], st.L, axis=0)
        elif q.shape == (st.L, *shape):
            Qt = q.copy()
        else:
            raise UserError(f"critic table of shape {q.shape}; allowed: {shape} or {(st.L, *shape)}")
        V = np.zeros((st.L + 1, st.num_states))
        V[:st.L] = np.einsum("hsa,sa->hs", Qt, st.pi)
        if st.kind != "finite":
            V[st.L] = V[st.L - 1]
    Qt = np.where(st.absorbing[None, :, None], 0.0, Qt)
    V = np.where(st.absorbing[None, :], 0.0, V)
    return Qt, V


def corrected_family(st: ExactSetup, estimator: str, Q: np.ndarray, V: np.ndarray,
                     lam: float = 0.95) -> CorrectedFamily:
    """The :class:`CorrectedFamily` of ``estimator`` with the critic ``Q (L, S, A)``, ``V (L+1, S)`` (module table)."""
    disc = st.disc[:, None, None]
    if estimator == "reward_to_go":
        X = fam.family(st, "reward_to_go")
        return CorrectedFamily(_with(X, e=-disc * Q), disc * Q)
    if estimator == "reinforce":
        X = fam.family(st, "reinforce")
        e, rho, k = np.zeros_like(X.e), np.array(X.rho, dtype=np.float64), np.zeros_like(Q)
        e[0], k[0] = -Q[0], Q[0]
        rho[0] = rho[0] - Q[0] / X.kappa
        return CorrectedFamily(_with(X, e=e, rho=rho), k)
    if estimator == "gae":
        X = fam.family(st, "gae", values=V, lam=lam)
        return CorrectedFamily(_with(X, e=-disc * (Q - V[:st.L, :, None])), disc * Q)
    if estimator == "all_action":
        S, A = st.num_states, st.num_actions
        zE = np.zeros((st.L, S, A))
        return CorrectedFamily(fam.WeightFamily(np.zeros(S), 0.0, zE, zE, np.zeros((st.L + 1, S)), 0.0, zE), disc * Q)
    raise AssertionError(estimator)


def _with(X: fam.WeightFamily, **changes: Any) -> fam.WeightFamily:
    parts = {k: getattr(X, k) for k in ("p0", "kappa", "rho", "c", "nu", "beta", "e")} | changes
    return fam.WeightFamily(**parts)


def state_terms(st: ExactSetup, k: np.ndarray) -> np.ndarray:
    """``eps_h(s) = sum_a pi(a|s) sigma(s, a) k_h(s, a)``, ``(L, S, d)``, zero in absorbing states."""
    eps = np.einsum("hsa,sad->hsd", st.pi[None] * k, st.sigma)
    eps[:, st.absorbing] = 0.0
    return eps


# --------------------------------------------------------------------------- the recursion

class _Forward:
    """``push``: ``(S, A, ...)`` weighted by ``pi`` and moved to the next state; ``acc``: ``sum_s a(s) b(s)^T``."""

    def __init__(self, st: ExactSetup, full: bool) -> None:
        self.S, self.A = st.num_states, st.num_actions
        self.pi, self.PT, self.full = st.pi, st.mdp.P.T.tocsr(), full
        self.alive = (~st.absorbing).astype(np.float64)

    def push(self, q: np.ndarray) -> np.ndarray:
        S, A = self.S, self.A
        q = q * self.pi.reshape((S, A) + (1,) * (q.ndim - 2))
        return (self.PT @ q.reshape(S * A, -1)).reshape((S, *q.shape[2:]))

    def acc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.T @ b if self.full else np.einsum("sd,sd->d", a, b)


def cross_moment(st: ExactSetup, X: fam.WeightFamily, epsY: np.ndarray, full: bool = True) -> np.ndarray:
    """``E[g_X E_Y^T]`` (module docstring): ``g_X = sum_h sigma_h w^X_h``, ``E_Y = sum_h eps^Y_h(s_h)``; ``(d, d)`` or
    its diagonal."""
    f = _Forward(st, full)
    S, A, d = st.sigma.shape
    sigma, alive = st.sigma, f.alive
    pis = st.pi[:, :, None] * sigma
    M1 = rec.backward(st, X, X).M1X
    p, Pm = st.mdp.mu.copy(), st.mdp.mu * X.p0
    Fa, Fd, Hp = np.zeros((S, d)), np.zeros((S, d)), np.zeros((S, d))
    out = np.zeros((d, d)) if full else np.zeros(d)
    for h in range(st.L):
        p, Pm = p * alive, Pm * alive
        Fa, Fd, Hp = Fa * alive[:, None], Fd * alive[:, None], Hp * alive[:, None]
        e, eps = X.e[h], epsY[h]
        N = np.einsum("sa,sa->s", st.pi, M1[h])
        u1 = np.einsum("sad,sa->sd", pis, M1[h] + e)
        out += f.acc(Fa + N[:, None] * Fd + p[:, None] * u1, eps) + f.acc(u1, Hp)
        if h == st.L - 1:
            break
        c, pc = X.c[h], p[:, None]
        Fe = f.push(Fd[:, None, :] + sigma * pc[:, :, None])
        Fa = f.push(Fa[:, None, :] + c[:, :, None] * Fd[:, None, :]
                    + sigma * (Pm[:, None] + pc * (e + c))[:, :, None]) + X.nu[h + 1][:, None] * Fe
        Fd = X.beta * Fe
        Hp = f.push(np.broadcast_to((Hp + pc * eps)[:, None, :], (S, A, d)))
        Pm = f.push(Pm[:, None] + X.kappa * X.rho[h] * pc)
        p = f.push(np.broadcast_to(pc, (S, A)))
    return out


def state_moments(st: ExactSetup, epsX: np.ndarray, epsY: np.ndarray,
                  full: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(E[E_X], E[E_Y], E[E_X E_Y^T])`` of the state terms (module docstring)."""
    f = _Forward(st, full)
    S, A = f.S, f.A
    d = epsX.shape[2]
    p = st.mdp.mu.copy()
    HX, HY = np.zeros((S, d)), np.zeros((S, d))
    mX, mY = np.zeros(d), np.zeros(d)
    out = np.zeros((d, d)) if full else np.zeros(d)
    for h in range(st.L):
        p = p * f.alive
        HX, HY = HX * f.alive[:, None], HY * f.alive[:, None]
        ex, ey = epsX[h], epsY[h]
        mX += p @ ex
        mY += p @ ey
        out += f.acc(HX + p[:, None] * ex, ey) + f.acc(ex, HY)
        if h == st.L - 1:
            break
        pc = p[:, None]
        HX = f.push(np.broadcast_to((HX + pc * ex)[:, None, :], (S, A, d)))
        HY = f.push(np.broadcast_to((HY + pc * ey)[:, None, :], (S, A, d)))
        p = f.push(np.broadcast_to(pc, (S, A)))
    return mX, mY, out


def moments(st: ExactSetup, X: CorrectedFamily, Y: CorrectedFamily | None = None, *,
            full: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(E[g_X], E[g_Y], E[g_X g_Y^T])`` of corrected families (``Y = None``: ``Y = X``)."""
    epsX = state_terms(st, X.k)
    if Y is None:
        mF, _, second = rec.moments(st, X.family, full=full)
        C = cross_moment(st, X.family, epsX, full)
        mE, _, EE = state_moments(st, epsX, epsX, full)
        mean = mF + mE
        return mean, mean, second + C + (C.T if full else C) + EE
    epsY = state_terms(st, Y.k)
    mFX, mFY, second = rec.moments(st, X.family, Y.family, full=full)
    CXY = cross_moment(st, X.family, epsY, full)
    CYX = cross_moment(st, Y.family, epsX, full)
    mEX, mEY, EE = state_moments(st, epsX, epsY, full)
    return mFX + mEX, mFY + mEY, second + CXY + (CYX.T if full else CYX) + EE


# --------------------------------------------------------------------------- brute force

def literal_gradients(st: ExactSetup, paths: en.Paths, estimator: str, Q: np.ndarray, V: np.ndarray,
                      lam: float = 0.95) -> np.ndarray:
    """Every enumerated trajectory's estimate ``(n, d)``, from the formulas (module table), not from the families."""
    return literal_steps(st, paths, estimator, Q, V, lam).sum(axis=1)


def literal_steps(st: ExactSetup, paths: en.Paths, estimator: str, Q: np.ndarray, V: np.ndarray,
                  lam: float = 0.95) -> np.ndarray:
    """Each step's contribution ``sigma_h w_h + eps_h(s_h)`` to every enumerated trajectory's estimate, ``(n, L, d)``
    (zero after the episode's end), from the formulas of the module table."""
    n, L = paths.states.shape
    mask = paths.mask
    h = np.arange(L)[None, :]
    disc = st.disc[None, :]
    G, _ = en.returns(st, paths)
    q_taken = Q[np.minimum(h, st.L - 1), paths.states, paths.actions]
    coef = np.where(mask, disc, 0.0)
    if estimator == "reward_to_go":
        w = G - disc * q_taken
    elif estimator == "reinforce":
        w = np.broadcast_to((G[:, 0] - q_taken[:, 0])[:, None], (n, L))
        coef = np.zeros((n, L))
        coef[:, 0] = mask[:, 0]
    elif estimator == "gae":
        adv = en.gae_advantages(st, paths, V, lam)
        w = disc * (adv - q_taken + V[np.minimum(h, st.L - 1), paths.states])
    elif estimator == "all_action":
        w = np.zeros((n, L))
    else:
        raise AssertionError(estimator)
    steps = np.where(mask, w, 0.0)[..., None] * st.sigma[paths.states, paths.actions]
    rows = Q[np.minimum(h, st.L - 1), paths.states]                                     # (n, L, A)
    k = coef[..., None] * rows * st.pi[paths.states]
    return steps + np.einsum("nla,nlad->nld", k, st.sigma[paths.states])


# --------------------------------------------------------------------------- the optimal baseline

def optimal_action_baseline(st: ExactSetup) -> np.ndarray:
    """The whole-trajectory variance-minimising ``b_h(s, a)`` of reward-to-go, ``(L, S, A)`` (module docstring)."""
    S, A, d = st.sigma.shape
    L, gamma, sigma, pi = st.L, st.gamma, st.sigma, st.pi
    Q, V = critic_tables(st)
    Adv = Q - V[:L, :, None]
    alive = ~st.absorbing
    epsQ = np.einsum("hsa,sad->hsd", pi[None] * Q, sigma)
    epsQ[:, ~alive] = 0.0
    Gam = np.zeros((L, S, A, d))
    nxt = np.zeros((S, d))                                      # eps_{Q,h+1} + Gamma̅_{h+1} on arrival, 0 once over
    for h in range(L - 1, -1, -1):
        Gam[h] = gamma * st.mdp.expected_next(nxt)
        nxt = np.where(alive[:, None], epsQ[h] + np.einsum("sa,sad->sd", pi, Gam[h]), 0.0)
    f = _Forward(st, True)
    p, Z = st.mdp.mu.copy(), np.zeros((S, d))                   # Z = E[sum_{t<h} sigma_t; s_h]
    b = Q.copy()
    sq = np.einsum("sad,sad->sa", sigma, sigma)
    for h in range(L):
        p, Z = p * f.alive, Z * f.alive[:, None]
        for s in np.flatnonzero((p > 0) & alive):
            z = Z[s] / p[s]
            gbar = pi[s] @ Gam[h, s]
            rhs = np.einsum("ad,ad->a", sigma[s], z[None, :] * Adv[h, s][:, None] + Gam[h, s] - gbar[None, :])
            M = np.diag(sq[s]) - (sigma[s] @ sigma[s].T) * pi[s][None, :]
            b[h, s] += np.linalg.lstsq(M, rhs, rcond=None)[0]
        if h == L - 1:
            break
        pc = p[:, None]
        Z = f.push(Z[:, None, :] + sigma * pc[:, :, None])
        p = f.push(np.broadcast_to(pc, (S, A)))
    return b


# --------------------------------------------------------------------------- entry points

def baseline_table(st: ExactSetup, baseline: str) -> tuple[np.ndarray, np.ndarray]:
    """The control variate's ``(Q (L, S, A), V (L+1, S))`` of ``q_exact`` or ``q_optimal``."""
    if baseline == "q_optimal":
        return critic_tables(st, optimal_action_baseline(st))
    return critic_tables(st)


def trajectory_moments(problem: Problem | ExactSetup, estimator: str, baseline: str = "q_exact", *, lam: float = 0.95,
                       method: str = "auto", full: bool | None = None,
                       max_trajectories: int = en.MAX_TRAJECTORIES) -> ExactMoments:
    """Exact moments of one trajectory's estimate for an action-dependent pair (``enumeration`` or ``dp``)."""
    check_pair(estimator, baseline)
    if estimator == "gae" and not 0.0 <= float(lam) <= 1.0:
        raise UserError(f"--lam: GAE's lambda must be in [0, 1], got {lam}")
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    full = st.dim <= FULL_MAX_DIM if full is None else bool(full)
    if st.L * st.num_states * st.num_actions > MAX_CELLS:
        raise UserError(f"exact variance: {st.L} steps x {st.num_states} states x {st.num_actions} actions is too "
                        f"large for the recursion's tables (> {MAX_CELLS:.0e}); give a smaller --horizon")
    method = choose_method(st, estimator, method)
    Q, V = baseline_table(st, baseline)
    if method == "dp":
        mean, _, second = moments(st, corrected_family(st, estimator, Q, V, lam), full=full)
        cov = second - np.outer(mean, mean) if full else second - mean * mean
        return ExactMoments(mean, cov, st.grad, "dp", full)
    paths = en.enumerate_paths(st, max_trajectories)
    mean, cov = en.centred_cov(paths.probs, literal_gradients(st, paths, estimator, Q, V, lam))
    return ExactMoments(mean, cov if full else np.diag(cov).copy(), st.grad, "enumeration", full,
                        n_trajectories=paths.num)


def exact_variance(problem: Problem, estimator: str, baseline: str = "q_exact", *, lam: float = 0.95,
                   method: str = "auto", batch_sizes: Sequence[int] = ()) -> dict:
    """The ``pgexp exact-variance`` JSON of an action-dependent pair (the keys of
    :func:`pgexp.exact.moments.exact_variance`)."""
    st = make_setup(problem)
    mom = trajectory_moments(st, estimator, baseline, lam=lam, method=method)
    out: dict = {"estimator": estimator, "baseline": baseline}
    if estimator in LAMBDA_ESTIMATORS:
        out["lam"] = float(lam)
    out.update({"objective": st.kind, "gamma": st.gamma, "horizon": problem.mdp.horizon, "steps": st.L,
                "refers_to": refers_to(st, estimator), "method": mom.method, "dim": int(mom.mean.size)})
    if mom.n_trajectories is not None:
        out["n_trajectories"] = mom.n_trajectories
    out["mean"] = [float(x) for x in mom.mean]
    out["trace_cov"] = mom.trace_cov
    if mom.full and mom.mean.size <= COV_MAX_DIM:
        out["cov"] = [[float(x) for x in row] for row in mom.cov]
    out["grad"] = [float(x) for x in st.grad]
    out["grad_norm"] = float(np.linalg.norm(st.grad))
    if batch_sizes:
        out["batch"] = batch_rows(problem, st, mom, estimator, baseline, float(lam), batch_sizes)
    return out


__all__ = ["BASELINES", "ESTIMATORS", "SUPPORTED", "CorrectedFamily", "corrected_family", "covers", "critic_tables",
           "cross_moment", "exact_variance", "literal_gradients", "literal_steps", "moments", "optimal_action_baseline",
           "state_moments", "state_terms", "trajectory_moments"]
