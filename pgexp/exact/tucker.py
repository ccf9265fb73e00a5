r"""The per-time-step variance decomposition of Tucker et al. (2018), exactly, on finite MDPs.

**The paper's definitions** (Tucker, Bhupatiraju, Gu, Turner, Ghahramani & Levine, "The Mirage of Action-Dependent
Baselines in Reinforcement Learning", ICML 2018, Section 3; their notation adapted to pgexp's).  The policy gradient
is a sum over time steps of terms ``g_t = grad log pi(a_t|s_t) (Â(s_t, a_t, tau_t) - phi(s_t, a_t)) + grad_theta
E_{a~pi(.|s_t)} phi(s_t, a)``, where ``Â`` is the advantage (here: the return) estimated from the rest of the
trajectory ``tau_t`` and ``phi`` the (state- or state-action-dependent) control variate.  By the law of total
variance, conditioning on ``s_t`` and then on ``a_t``, the variance of a step's term splits into three parts::

    Sigma = E_{s,a}[ Var_{tau|s,a}( g_t ) ]              = Sigma_tau   (the rest of the trajectory, given s_t, a_t)
          + E_s[ Var_{a|s}( E_{tau|s,a}[ g_t ] ) ]       = Sigma_a     (the action a_t, given s_t)
          + Var_s( E_{a,tau|s}[ g_t ] )                  = Sigma_s     (the state s_t).

A control variate ``phi(s, a)`` with its correction changes only ``Sigma_a``: given ``(s, a)`` it is a constant
(``Sigma_tau`` is untouched), and given ``s`` the correction makes its mean zero (``Sigma_s`` is untouched).  With
``phi = Q`` (the exact action value) ``E_{tau|s,a} g_t = grad E_a Q(s_t, a)`` no longer depends on ``a``: ``Sigma_a
= 0``.  The paper's claim: on the benchmarks, ``Sigma_a`` with a good state baseline is small next to ``Sigma_tau``
and ``Sigma_s``, so the action-dependent baseline has little left to remove.

**What pgexp computes.**  For a trajectory estimator written as a corrected weight family
(:mod:`pgexp.exact.action_dependent`; a state baseline is the case ``k = 0``), step ``h`` contributes ``g_h =
sigma(s_h, a_h) w_h + eps_h(s_h)`` (zero once the episode is over: "over" is one more value of ``s_h``, with ``g_h =
0``).  With the backward moments ``M1_h(s, a) = E[F_h | s, a]``, ``M2_h = E[F_h^2 | s, a]`` and the forward ones
``p_h(s)``, ``Pm_h(s) = E[Pi_h; s]``, ``PP_h(s) = E[Pi_h^2; s]`` (the past ``Pi_h`` and the future ``F_h`` are
independent given ``s_h``, and ``a_h`` is independent of the past given ``s_h``)::

    m_h(s, a) = E[w_h | s, a] = Pm/p + M1 + e,      v_h(s, a) = E[w_h^2 | s, a] - m^2 = PP/p - (Pm/p)^2 + M2 - M1^2,
    mu_h(s)   = E[g_h | s]    = u1_h(s) + eps_h(s),  u1 = sum_a pi sigma (M1 + e),

    Sigma_tau,h = sum_{s,a} p pi v sigma sigma',
    Sigma_a,h   = sum_{s,a} p pi (sigma m - u1)(sigma m - u1)'           (the correction eps cancels),
    Sigma_s,h   = sum_s p mu mu' - (sum_s p mu)(sum_s p mu)'.

They add up to ``Cov g_h`` exactly, step by step; summed over steps they give ``sum_h tr Cov g_h``, which differs from
the whole trajectory's ``tr Cov g`` by the covariances between steps (``cross_time``, reported beside them -- the
paper's per-step analysis leaves them out).  The tables carry traces; :func:`step_terms` also gives the matrices.

Brute force (:func:`enumerated_terms`): every trajectory, each step's contribution from the estimator's formula, the
conditional means as probability-weighted group means over ``s_h`` and over ``(s_h, a_h)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import action_dependent as ad
from pgexp.exact import enumeration as en
from pgexp.exact import families as fam
from pgexp.exact import moments as mo
from pgexp.exact import recursion as rec
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.problems.problem import Problem

if TYPE_CHECKING:
    import pandas as pd

TERMS = ("sigma_tau", "sigma_a", "sigma_s")
STATE_PAIRS = {"reinforce": ("none", "value_exact"), "reward_to_go": ("none", "value_exact"),
               "gae": ("none", "value_exact"), "advantage_exact": ("none",)}
COLUMNS = ("step", *TERMS, "total", "sigma_tau_share", "sigma_a_share", "sigma_s_share", "trace_cov", "cross_time")


def supported() -> dict[str, tuple[str, ...]]:
    """Every ``estimator: baselines`` the decomposition covers (state baselines and the action-dependent pairs)."""
    out = {e: tuple(bs) for e, bs in STATE_PAIRS.items()}
    for e, bs in ad.SUPPORTED.items():
        out[e] = out.get(e, ()) + bs
    return out


def check_pair(estimator: str, baseline: str) -> None:
    if baseline not in supported().get(estimator, ()):
        pairs = ", ".join(f"{e}~{b}" for e, bs in supported().items() for b in bs)
        raise UserError(f"Tucker decomposition: {estimator}~{baseline} not covered; allowed: {pairs}")


def pair_family(st: ExactSetup, estimator: str, baseline: str, lam: float = 0.95) -> ad.CorrectedFamily:
    """The corrected family of a covered pair (a state baseline: correction ``k = 0``)."""
    check_pair(estimator, baseline)
    if ad.covers(estimator, baseline):
        Q, V = ad.baseline_table(st, baseline)
        return ad.corrected_family(st, estimator, Q, V, lam)
    b = mo.Baseline(baseline)
    X = fam.family(st, estimator, **mo.family_args(st, estimator, b, None), lam=lam)
    return ad.CorrectedFamily(X, np.zeros((st.L, st.num_states, st.num_actions)))


@dataclass(frozen=True, eq=False)
class StepTerms:
    """Per step ``h``: ``sigma_tau``, ``sigma_a``, ``sigma_s`` as ``(L, d, d)`` matrices (``full``) or traces ``(L,)``,
    and the step means ``mean`` ``(L, d)``."""

    sigma_tau: np.ndarray
    sigma_a: np.ndarray
    sigma_s: np.ndarray
    mean: np.ndarray

    def traces(self) -> dict[str, np.ndarray]:
        def tr(x: np.ndarray) -> np.ndarray:
            return np.trace(x, axis1=1, axis2=2) if x.ndim == 3 else x

        return {k: tr(getattr(self, k)) for k in TERMS}


def step_terms(st: ExactSetup, X: ad.CorrectedFamily, *, full: bool = False) -> StepTerms:
    """The three terms of every step by the recursion (module docstring)."""
    F = X.family
    S, A, d = st.sigma.shape
    L, pi, sigma = st.L, st.pi, st.sigma
    bw = rec.backward(st, F, F)
    eps = ad.state_terms(st, X.k)
    pis = pi[:, :, None] * sigma
    alive = (~st.absorbing).astype(np.float64)
    PT = st.mdp.P.T.tocsr()

    def push(q: np.ndarray) -> np.ndarray:
        q = q * pi
        return PT @ q.reshape(S * A)

    shape = (L, d, d) if full else (L,)
    tau, act, sta = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    means = np.zeros((L, d))
    p, Pm, PP = st.mdp.mu.copy(), st.mdp.mu * F.p0, st.mdp.mu * F.p0 ** 2
    for h in range(L):
        p, Pm, PP = p * alive, Pm * alive, PP * alive
        M1, M2, e = bw.M1X[h], bw.M2[h], F.e[h]
        safe = np.where(p > 0, p, 1.0)
        past = np.where(p > 0, Pm / safe, 0.0)
        past_var = np.where(p > 0, PP / safe - past ** 2, 0.0)
        m = past[:, None] + M1 + e
        v = np.maximum(past_var[:, None] + M2 - M1 * M1, 0.0) * (p[:, None] > 0)       # round-off below zero
        u1 = np.einsum("sad,sa->sd", pis, M1 + e)
        mu = u1 + eps[h]
        dev = sigma * m[:, :, None] - u1[:, None, :]                                      # (S, A, d)
        wt = p[:, None] * pi                                                              # (S, A)
        mean = p @ mu
        means[h] = mean
        if full:
            tau[h] = np.einsum("sa,sad,sae->de", wt * v, sigma, sigma)
            act[h] = np.einsum("sa,sad,sae->de", wt, dev, dev)
            sta[h] = np.einsum("s,sd,se->de", p, mu, mu) - np.outer(mean, mean)
        else:
            tau[h] = np.sum(wt * v * np.einsum("sad,sad->sa", sigma, sigma))
            act[h] = np.sum(wt * np.einsum("sad,sad->sa", dev, dev))
            sta[h] = float(p @ np.einsum("sd,sd->s", mu, mu) - mean @ mean)
        if h == L - 1:
            break
        rho = F.kappa * F.rho[h]
        pc = p[:, None]
        p, Pm, PP = push(np.broadcast_to(pc, (S, A))), push(Pm[:, None] + rho * pc), \
            push(PP[:, None] + 2 * rho * Pm[:, None] + rho * rho * pc)
    return StepTerms(tau, act, sta, means)


def enumerated_terms(st: ExactSetup, estimator: str, baseline: str, lam: float = 0.95, *, full: bool = False,
                     max_trajectories: int = en.MAX_TRAJECTORIES) -> StepTerms:
    """The same terms by brute force: every trajectory's step contributions from the formulas, grouped."""
    check_pair(estimator, baseline)
    paths = en.enumerate_paths(st, max_trajectories)
    L = paths.states.shape[1]
    if ad.covers(estimator, baseline):
        Q, V = ad.baseline_table(st, baseline)
        steps = ad.literal_steps(st, paths, estimator, Q, V, lam)
    else:
        args = mo.literal_args(st, estimator, mo.Baseline(baseline), None)
        w = en.literal_weights(st, paths, estimator, **args, lam=lam)
        steps = np.where(paths.mask, w, 0.0)[..., None] * st.sigma[paths.states, paths.actions]
    p = paths.probs
    d = st.dim
    shape = (L, d, d) if full else (L,)
    tau, act, sta = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    means = np.zeros((L, d))

    def spread(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
        dx = x - mean[None, :]
        return (dx * p[:, None]).T @ dx if full else p @ np.einsum("nd,nd->n", dx, dx)

    def group_means(ids: np.ndarray, x: np.ndarray) -> np.ndarray:
        K = int(ids.max()) + 1
        P = np.bincount(ids, weights=p, minlength=K)
        sums = np.stack([np.bincount(ids, weights=p * x[:, j], minlength=K) for j in range(d)], axis=1)
        return (sums / np.where(P > 0, P, 1.0)[:, None])[ids]

    for h in range(L):
        live = paths.mask[:, h]
        s = np.where(live, paths.states[:, h], -1)                         # -1: the episode is over
        a = np.where(live, paths.actions[:, h], -1)
        by_s = np.unique(s, return_inverse=True)[1].reshape(-1)
        by_sa = np.unique(np.stack([s, a], axis=1), axis=0, return_inverse=True)[1].reshape(-1)
        x = steps[:, h]
        mean = p @ x
        means[h] = mean
        m_s, m_sa = group_means(by_s, x), group_means(by_sa, x)
        total, between_sa, between_s = spread(x, mean), spread(m_sa, mean), spread(m_s, mean)
        tau[h], act[h], sta[h] = total - between_sa, between_sa - between_s, between_s
    return StepTerms(tau, act, sta, means)


def decomposition(problem: Problem | ExactSetup, estimator: str, baseline: str, *, lam: float = 0.95,
                  method: str = "dp") -> dict:
    """Per-step traces and their sums, with the whole trajectory's ``tr Cov g`` and ``cross_time``.

    Returns ``{"sigma_tau": (L,), "sigma_a": (L,), "sigma_s": (L,), "trace_cov": float, "cross_time": float}``.
    """
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    check_pair(estimator, baseline)
    if method not in ("dp", "enumeration"):
        raise UserError(f"Tucker decomposition: method {method!r}; allowed: dp, enumeration")
    terms = (step_terms(st, pair_family(st, estimator, baseline, lam)) if method == "dp"
             else enumerated_terms(st, estimator, baseline, lam))
    tr = terms.traces()
    whole = trace_cov(st, estimator, baseline, lam)
    steps = float(sum(tr[k].sum() for k in TERMS))
    return {**tr, "trace_cov": whole, "cross_time": whole - steps}


def trace_cov(st: ExactSetup, estimator: str, baseline: str, lam: float = 0.95) -> float:
    """The whole trajectory's exact ``tr Cov g`` (the recursion)."""
    if ad.covers(estimator, baseline):
        return ad.trajectory_moments(st, estimator, baseline, lam=lam, method="dp", full=False).trace_cov
    return mo.trajectory_moments(st, estimator, baseline, lam=lam, method="dp", full=False).trace_cov


def _rows(res: dict, per_step: bool) -> list[dict]:
    def shares(row: dict) -> dict:
        tot = row["total"]
        for k in TERMS:
            row[f"{k}_share"] = row[k] / tot if tot > 0 else float("nan")
        return row

    head = {k: float(res[k].sum()) for k in TERMS}
    out = [shares({"step": None, **head, "total": sum(head.values()), "trace_cov": res["trace_cov"],
                   "cross_time": res["cross_time"]})]
    if per_step:
        for h in range(res["sigma_tau"].size):
            row = {k: float(res[k][h]) for k in TERMS}
            out.append(shares({"step": h, **row, "total": sum(row.values()), "trace_cov": float("nan"),
                               "cross_time": float("nan")}))
    return out


def lqr_decomposition(problem, estimator: str, baseline: str, *, lam: float = 0.95) -> dict:
    """The same terms on a scalar linear-quadratic problem (:func:`pgexp.exact.lqr_action_dependent.tucker_steps`)."""
    from pgexp.exact import lqr_action_dependent as la

    terms = la.tucker_steps(problem, estimator, baseline, lam)
    tr = {k: np.trace(v, axis1=1, axis2=2) for k, v in terms.items()}
    whole = la.trajectory_moments(problem, estimator, baseline, lam=lam).trace_cov
    return {**tr, "trace_cov": whole, "cross_time": whole - float(sum(v.sum() for v in tr.values()))}


def tucker_table(problem_builder: Callable[[int | None], Problem], horizons: Sequence[int | None],
                 pairs: Sequence[tuple[str, str]], *, lam: float = 0.95, per_step: bool = True) -> pd.DataFrame:
    """One row per horizon x pair (``step`` null: summed over steps, with ``trace_cov`` and ``cross_time``) and,
    with ``per_step``, one per step.  Columns: ``horizon, estimator, baseline, lam`` and :data:`COLUMNS`.  A
    linear-quadratic problem (scalar) goes to :func:`lqr_decomposition`."""
    import pandas as pd

    out = []
    for H in horizons:
        problem = problem_builder(H)
        lqr = getattr(problem, "track", "tabular") == "lqr"
        if lqr:
            from pgexp.exact import lqr_action_dependent as la

            for est, base in pairs:
                la.check_pair(est, base, problem, tucker=True)
            lqr_problem: Any = problem
            h = -1 if lqr_problem.horizon is None else int(lqr_problem.horizon)
        else:
            for est, base in pairs:
                check_pair(est, base)
            st = make_setup(problem)
            h = -1 if problem.mdp.horizon is None else int(problem.mdp.horizon)
        for est, base in pairs:
            head = {"horizon": h, "estimator": est, "baseline": base,
                    "lam": float(lam) if est == "gae" else float("nan")}
            res = lqr_decomposition(problem, est, base, lam=lam) if lqr else decomposition(st, est, base, lam=lam)
            for row in _rows(res, per_step):
                out.append({**head, **row})
    df = pd.DataFrame(out, columns=["horizon", "estimator", "baseline", "lam", *COLUMNS])
    df["step"] = df["step"].astype("Int64")
    return df


__all__ = ["COLUMNS", "TERMS", "StepTerms", "decomposition", "enumerated_terms", "lqr_decomposition", "pair_family",
           "step_terms", "supported", "tucker_table"]
