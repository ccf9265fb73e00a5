r"""Where an estimator's variance comes from: the time-ordered (Doob martingale) decomposition.

A trajectory is the sequence ``X = (X_0, X_1, ...) = (s_0, a_0, s_1, a_1, ..., s_len)``; after the episode
ends nothing more is random.  With ``F_k`` the information in ``X_0..X_k`` and ``M_k = E[g | F_k]`` (``M_{-1} =
E g``), the increments ``D_k = M_k - M_{k-1}`` are orthogonal, so::

    tr Cov g = sum_k E ||D_k||^2 = sum_k E[ tr Cov(E[g | X_0..X_k] | X_0..X_{k-1}) ],

and each term is credited to what ``X_k`` is: ``initial_state`` (``s_0``), ``actions`` (``a_h``: the
policy's randomness) or ``transitions`` (``s_{h+1}``: the environment's).  Unlike conditioning on the
whole state sequence, this never credits an action's randomness to the states it leads to: on the
short corridor (fixed start, deterministic moves) every bit of variance is the actions'.  The same
martingale view of the score-function estimator underlies the variance analysis of Tucker et al.
(2018), "The Mirage of Action-Dependent Baselines" (they split the variance of the gradient by
conditioning on states and actions to show that action-dependent baselines remove little of it); the
three-way credit here is ours.

Exact by recursion (any horizon).  For a weight family ``w_h = Pi_h + F_h + e_h`` (:mod:`pgexp.exact.families`)
with backward moments ``M1_h(s,a) = E[F_h | s,a]``, ``N_h(s) = sum_a pi M1_h``, arrival values
``A_{h+1}(s') = nu_{h+1}(s') + beta N_{h+1}(s')`` and the *future gradient*
``phi_h(s) = E[sum_{t>=h} sigma_t (w_t - Pi_h) | s_h = s] = sum_a pi (sigma (M1_h + e_h) + P phi_{h+1})``,
the conditional mean after ``s_h`` is ``sum_{t<h} sigma_t (B_{t,h} + beta^{h-t} N_h(s_h)) + phi_h(s_h)``
(``B`` as in :mod:`pgexp.exact.recursion`; ``E[sigma_t Pi_h | s_h] = 0`` for ``t >= h``).  Differencing:

* ``s_0``:  ``D = phi_0(s_0) - E g``;
* ``a_h``:  ``D = (M1_h(s,a) - N_h(s)) D_h + Pi_h sigma(s,a) + chi_h(s,a)``,
  ``chi = sigma (M1 + e) + P phi_{h+1} - phi_h(s)``, with ``D_h = sum_{t<h} beta^{h-t} sigma_t``;
* ``s_{h+1}``: ``D = (A_{h+1}(s') - Ā(s,a)) (D_h + sigma_h) + phi_{h+1}(s') - P phi_{h+1}(s,a)``, bars = ``E_{s'}``.

The past enters only through ``D_h`` and ``Pi_h``, so ``E ||D||^2`` needs the forward moments
``p, E[Pi], E[Pi^2], E[D_h], E[Pi D_h], E ||D_h||^2`` jointly with ``s_h`` -- pushed forward with
``D_{h+1} = beta (D_h + sigma_h)``, ``Pi_{h+1} = Pi_h + kappa rho_h`` -- at cost ``O(L (S A d + nnz(P) d))``.
The per-coordinate optimal baseline ``g_k = u_k - b_k v_k`` is one family per coordinate with the
present term ``e_h - b_k c_h``: only ``chi`` and ``phi`` change.  The leave-one-out ``constant`` is
decomposed at its per-trajectory limit, the fixed ``c = E[G_0]`` (:mod:`pgexp.exact.moments`).

Brute force (:func:`enumerated_decomposition`): every trajectory, ``M_k`` as probability-weighted group
means over equal prefixes ``X_0..X_k``, and ``E ||M_k - M_{k-1}||^2`` summed.  Tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from pgexp.errors import UserError
from pgexp.exact import enumeration as en
from pgexp.exact import families as fam
from pgexp.exact import moments as mo
from pgexp.exact import recursion as rec
from pgexp.exact.catalogue import decomposable, reads_lambda
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.problems.problem import Problem

if TYPE_CHECKING:
    import pandas as pd

SOURCES = ("initial_state", "actions", "transitions")
COLUMNS = ("step", *SOURCES, "total", "initial_state_share", "actions_share", "transitions_share")


def __getattr__(name: str) -> Any:
    """``DECOMPOSABLE``: :func:`pgexp.exact.catalogue.decomposable`, derived from the registry when read."""
    if name == "DECOMPOSABLE":
        return decomposable()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _setup_family(st: ExactSetup, estimator: str, baseline: mo.Baseline, lam: float,
                  value: np.ndarray | None) -> tuple[fam.WeightFamily, np.ndarray | None, np.ndarray | None]:
    """``(family, f (L,) or None, b (d,) or None)``: ``w_{h,k} = w_h + f_h b_k`` (the optimal baseline)."""
    if baseline.kind == "optimal":
        b = np.asarray(mo.trajectory_moments(st, estimator, baseline, method="dp").info["b_star"])
        return fam.family(st, estimator), -fam.direction_weights(st, estimator), b
    if baseline.kind == "constant":  # the per-trajectory limit: the fixed c = E[G_0]
        c = mo.trajectory_moments(st, estimator, baseline, method="dp").info["mean_return"]
        baseline = mo.Baseline("fixed", c)
    args = mo.family_args(st, estimator, baseline, value) if baseline.kind != "none" else {}
    return fam.family(st, estimator, **args, lam=lam), None, None


def _check(estimator: str, baseline: str | mo.Baseline) -> mo.Baseline:
    b = mo.check_combination(estimator, baseline)
    if estimator not in decomposable():
        raise UserError(f"variance decomposition: {estimator} samples its own roll-in/roll-out times, not one "
                        f"trajectory; decomposable: {', '.join(decomposable())}")
    return b


def doob_decomposition(problem: Problem | ExactSetup, estimator: str, baseline: str | mo.Baseline = "none", *,
                       lam: float = 0.95, value: np.ndarray | None = None) -> dict:
    """Exact per-step Doob terms by the recursion (module docstring).

    Returns ``{"initial_state": float, "actions": (L,), "transitions": (L,), "total": float}`` (per step ``h``:
    the terms of ``a_h`` and ``s_{h+1}``).  The loops over steps run compiled
    (:func:`pgexp.exact.doob_kernels.doob_kernel`): the numbers of :func:`doob_decomposition_reference`, bit for bit.
    """
    from pgexp.exact import doob_kernels

    b = _check(estimator, baseline)
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    X, f, bk = _setup_family(st, estimator, b, float(lam), value)
    mdp = st.mdp
    bw = rec.backward(st, X, X)
    c = np.ascontiguousarray
    optimal = f is not None and bk is not None
    model = (st.csr_P, st.csr_PT, st.pi_c, c(st.sigma, dtype=np.float64), ~st.absorbing)
    family = (bw.M1X, c(X.e, dtype=np.float64), c(X.nu, dtype=np.float64), float(X.beta), X.beta ** 2,
              float(X.kappa), c(X.rho, dtype=np.float64), c(f, dtype=np.float64) if optimal else np.zeros(0),
              c(bk, dtype=np.float64) if optimal else np.zeros(0))
    phi, actions, transitions = doob_kernels.doob_kernel(model, family,
                                                         (mdp.mu.copy(), mdp.mu * X.p0, mdp.mu * X.p0 ** 2))
    mean = mdp.mu @ phi[0]
    dev = phi[0] - mean[None, :]
    initial = float(mdp.mu @ np.einsum("sd,sd->s", dev, dev))
    total = initial + float(actions.sum() + transitions.sum())
    return {"initial_state": initial, "actions": actions, "transitions": transitions, "total": total}


def _future_reference(st: ExactSetup, X: fam.WeightFamily, f: np.ndarray | None, bk: np.ndarray | None,
                      M1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``N_h(s)`` ``(L + 1, S)`` and the future gradient ``phi_h(s)`` ``(L + 1, S, d)`` for ``h = 0..L`` (zero at
    ``h = L`` and when absorbed), from the family ``X`` and its first moments ``M1`` (numpy)."""
    S, _, d = st.sigma.shape
    L = st.L
    pi, sigma, alive = st.pi, st.sigma, ~st.absorbing
    N = np.zeros((L + 1, S))
    phi = np.zeros((L + 1, S, d))
    for h in range(L - 1, -1, -1):
        N[h] = np.where(alive, np.einsum("sa,sa->s", pi, M1[h]), 0.0)
        Sy = sigma * (M1[h] + X.e[h])[:, :, None]
        if f is not None and bk is not None:
            Sy = Sy + f[h] * sigma * bk[None, None, :]
        nxt = st.mdp.expected_next(phi[h + 1])                     # (S, A, d)
        phi[h] = np.where(alive[:, None], np.einsum("sa,sad->sd", pi, Sy + nxt), 0.0)
    return N, phi


def doob_decomposition_reference(problem: Problem | ExactSetup, estimator: str,
                                 baseline: str | mo.Baseline = "none", *, lam: float = 0.95,
                                 value: np.ndarray | None = None) -> dict:
    """:func:`doob_decomposition` in numpy and scipy.sparse, one call per array operation of a step."""
    b = _check(estimator, baseline)
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    X, f, bk = _setup_family(st, estimator, b, float(lam), value)
    mdp = st.mdp
    S, A, d = st.sigma.shape
    L = st.L
    pi, sigma = st.pi, st.sigma
    alive = ~st.absorbing
    alive_f = alive.astype(np.float64)
    M1 = rec.backward_reference(st, X, X).M1X
    N, phi = _future_reference(st, X, f, bk, M1)
    mean = mdp.mu @ phi[0]
    dev = phi[0] - mean[None, :]
    initial = float(mdp.mu @ np.einsum("sd,sd->s", dev, dev))

    Pc = mdp.P.tocsr()
    rows = np.repeat(np.arange(S * A), np.diff(Pc.indptr))
    cols, pv = Pc.indices, Pc.data
    sig2 = np.einsum("sad,sad->sa", sigma, sigma)
    p, QP, QPP = mdp.mu.copy(), mdp.mu * X.p0, mdp.mu * X.p0 ** 2
    QD, QPD, QDD = np.zeros((S, d)), np.zeros((S, d)), np.zeros(S)
    actions, transitions = np.zeros(L), np.zeros(L)
    PT = Pc.T.tocsr()

    def push(q: np.ndarray) -> np.ndarray:
        q = q * pi.reshape((S, A) + (1,) * (q.ndim - 2))
        return (PT @ q.reshape(S * A, -1)).reshape((S, *q.shape[2:]))

    for h in range(L):
        p, QP, QPP, QDD = p * alive_f, QP * alive_f, QPP * alive_f, QDD * alive_f
        QD *= alive_f[:, None]
        QPD *= alive_f[:, None]
        # action a_h
        Sy = sigma * (M1[h] + X.e[h])[:, :, None]
        if f is not None and bk is not None:
            Sy = Sy + f[h] * sigma * bk[None, None, :]
        Pphi = mdp.expected_next(phi[h + 1])
        chi = Sy + Pphi - phi[h][:, None, :]
        dM = M1[h] - N[h][:, None]
        term = (dM ** 2 * QDD[:, None] + sig2 * QPP[:, None] + np.einsum("sad,sad->sa", chi, chi) * p[:, None]
                + 2 * dM * np.einsum("sad,sd->sa", sigma, QPD) + 2 * dM * np.einsum("sad,sd->sa", chi, QD)
                + 2 * np.einsum("sad,sad->sa", sigma, chi) * QP[:, None])
        actions[h] = float(np.sum(pi * term))
        # transition s_{h+1}
        arrive = X.nu[h + 1] + X.beta * N[h + 1]                 # A_{h+1}(s'), 0 once over
        Abar = mdp.expected_next(arrive)                          # (S, A)
        diff = arrive[cols] - Abar.reshape(-1)[rows]
        varA = np.bincount(rows, weights=pv * diff * diff, minlength=S * A).reshape(S, A)
        dphi = phi[h + 1][cols] - Pphi.reshape(S * A, d)[rows]
        varphi = np.bincount(rows, weights=pv * np.einsum("nd,nd->n", dphi, dphi), minlength=S * A).reshape(S, A)
        cov = (sp.csr_array((pv * diff, cols, Pc.indptr), shape=Pc.shape) @ phi[h + 1]).reshape(S, A, d)
        EE2 = QDD[:, None] + 2 * np.einsum("sad,sd->sa", sigma, QD) + sig2 * p[:, None]
        EE = QD[:, None, :] + sigma * p[:, None, None]
        tterm = varA * EE2 + varphi * p[:, None] + 2 * np.einsum("sad,sad->sa", cov, EE)
        transitions[h] = float(np.sum(pi * tterm))
        if h == L - 1:
            break
        rho = X.kappa * X.rho[h]
        pc = p[:, None]
        scal = push(np.stack([np.broadcast_to(pc, (S, A)), QP[:, None] + rho * pc,
                              QPP[:, None] + 2 * rho * QP[:, None] + rho * rho * pc,
                              QDD[:, None] + 2 * np.einsum("sad,sd->sa", sigma, QD) + sig2 * pc], axis=-1))
        vec = push(np.concatenate([QD[:, None, :] + sigma * pc[:, :, None],
                                   QPD[:, None, :] + sigma * QP[:, None, None]
                                   + rho[:, :, None] * (QD[:, None, :] + sigma * pc[:, :, None])], axis=-1))
        p, QP, QPP = scal[:, 0], scal[:, 1], scal[:, 2]
        QDD = X.beta ** 2 * scal[:, 3]
        QD, QPD = X.beta * vec[:, :d], X.beta * vec[:, d:]
    total = initial + float(actions.sum() + transitions.sum())
    return {"initial_state": initial, "actions": actions, "transitions": transitions, "total": total}


def _gradients(st: ExactSetup, paths: en.Paths, estimator: str, b: mo.Baseline, lam: float,
               value: np.ndarray | None) -> np.ndarray:
    """Per-trajectory estimates by the literal formulas (``optimal``: ``u - b* (.) v`` with the exact ``b*``)."""
    if b.kind == "optimal":
        bk = np.asarray(mo.trajectory_moments(st, estimator, b, method="enumeration").info["b_star"])
        u = en.gradients(st, paths, en.literal_weights(st, paths, estimator))
        v = en.gradients(st, paths, np.where(paths.mask, fam.direction_weights(st, estimator)[None, :], 0.0))
        return u - bk[None, :] * v
    if b.kind == "constant":
        b = mo.Baseline("fixed", mo.trajectory_moments(st, estimator, b, method="enumeration").info["mean_return"])
    args = mo.literal_args(st, estimator, b, value)
    return en.gradients(st, paths, en.literal_weights(st, paths, estimator, **args, lam=lam))


def enumerated_decomposition(problem: Problem | ExactSetup, estimator: str, baseline: str | mo.Baseline = "none", *,
                             lam: float = 0.95, value: np.ndarray | None = None,
                             max_trajectories: int = en.MAX_TRAJECTORIES) -> dict:
    """The same terms as :func:`doob_decomposition`, by brute force over every trajectory's prefixes."""
    b = _check(estimator, baseline)
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    paths = en.enumerate_paths(st, max_trajectories)
    g = _gradients(st, paths, estimator, b, float(lam), value)
    p = paths.probs
    n, L = paths.states.shape
    rows = np.arange(n)
    full_states = np.full((n, L + 1), -1, np.int64)                  # s_0..s_len, then -1
    full_states[:, :L] = np.where(paths.mask, paths.states, -1)
    full_states[rows, paths.lengths] = paths.final
    acts = np.where(paths.mask, paths.actions, -1)
    seq = [full_states[:, 0]]
    for h in range(L):
        seq += [acts[:, h], full_states[:, h + 1]]
    ids = np.zeros(n, np.int64)
    prev = np.broadcast_to(p @ g, g.shape)
    terms = []
    for x in seq:
        ids = np.unique(np.stack([ids, x], axis=1), axis=0, return_inverse=True)[1].reshape(-1)
        K = int(ids.max()) + 1
        P = np.bincount(ids, weights=p, minlength=K)
        sums = np.stack([np.bincount(ids, weights=p * g[:, j], minlength=K) for j in range(g.shape[1])], axis=1)
        M = (sums / np.where(P > 0, P, 1.0)[:, None])[ids]
        dM = M - prev
        terms.append(float(p @ np.einsum("nd,nd->n", dM, dM)))
        prev = M
    actions = np.array(terms[1::2])
    transitions = np.array(terms[2::2])
    return {"initial_state": terms[0], "actions": actions, "transitions": transitions, "total": float(sum(terms))}


def _rows(res: dict, per_step: bool) -> list[dict]:
    def shares(row: dict) -> dict:
        tot = row["total"]
        for s in SOURCES:
            row[f"{s}_share"] = row[s] / tot if tot > 0 else float("nan")
        return row

    out = [shares({"step": None, "initial_state": res["initial_state"], "actions": float(res["actions"].sum()),
                   "transitions": float(res["transitions"].sum()), "total": res["total"]})]
    if per_step:
        for h in range(res["actions"].size):
            init = res["initial_state"] if h == 0 else 0.0
            a, t = float(res["actions"][h]), float(res["transitions"][h])
            out.append(shares({"step": h, "initial_state": init, "actions": a, "transitions": t,
                               "total": init + a + t}))
    return out


def decomposition_table(problem_builder: Callable[[int | None], Problem], horizons: Sequence[int | None],
                        pairs: Sequence[str | tuple[str, str]], *, lam: float = 0.95,
                        per_step: bool = False) -> pd.DataFrame:
    """One row per horizon x ``(estimator, baseline)`` (``pairs``: tuples or ``"estimator~baseline"``), and with
    ``per_step`` one more per step ``h`` (the terms of ``a_h`` and ``s_{h+1}``; the initial state's on ``h = 0``).

    Columns: ``horizon, estimator, baseline, lam, step`` (null on whole-trajectory rows), ``initial_state,
    actions, transitions, total`` (trace variances of one trajectory's estimate; the three sum to ``total``)
    and their ``_share`` s, ``skipped_reason`` (``None`` when computed; rollin_rollout is not one trajectory).
    """
    import pandas as pd

    combos = [p if isinstance(p, tuple) else tuple(p.split("~", 1)) for p in pairs]
    for est, base in combos:
        mo.check_combination(est, base)
    out = []
    for H in horizons:
        problem = problem_builder(H)
        st = make_setup(problem)
        h = -1 if problem.mdp.horizon is None else int(problem.mdp.horizon)
        for est, base in combos:
            head = {"horizon": h, "estimator": est, "baseline": base,
                    "lam": float(lam) if reads_lambda(est) else float("nan")}
            if est not in decomposable():
                out.append({**head, "step": None, **{k: float("nan") for k in COLUMNS[1:]},
                            "skipped_reason": "samples its own roll-in/roll-out times, not one trajectory"})
                continue
            for row in _rows(doob_decomposition(st, est, base, lam=lam), per_step):
                out.append({**head, **row, "skipped_reason": None})
    df = pd.DataFrame(out, columns=["horizon", "estimator", "baseline", "lam", *COLUMNS, "skipped_reason"])
    df["step"] = df["step"].astype("Int64")
    return df
