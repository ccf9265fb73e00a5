"""Exact mean and covariance of every estimator pgexp can compute them for, and of its batch estimate.

The entry point of the exact engine.  Two independent routes give the moments of one trajectory's
estimate ``g``:

* ``"enumeration"`` lists every trajectory with its probability (:mod:`pgexp.exact.enumeration`; the
  roll-in/roll-out outcomes for ``rollin_rollout``, :mod:`pgexp.exact.rollout_moments`) and applies
  the estimator's formula literally;
* ``"dp"`` is the (time, state) moment recursion (:mod:`pgexp.exact.recursion`, derived there) on
  the estimator's weight family (:mod:`pgexp.exact.families`), or the roll-out formulas.

They agree to round-off (tests: ~1e-12 relative).  What the numbers refer to -- the sampler's
trajectories, truncated at ``T`` for ``H = inf`` -- is stated in :mod:`pgexp.exact.model`.  Batch
quantities (``bias_sq``, ``trace_cov``, ``mse``, ``rel_mse``, ``snr`` of the mean of ``N`` trajectories,
including the leave-one-out constant, a U-statistic) follow in :mod:`pgexp.exact.batch`.

Baselines (the same names as ``pgexp estimate`` wherever the meaning is the same):

* ``none``; ``value_exact`` (the exact ``V_h``; GAE's ``V``);
* ``constant`` -- the leave-one-out mean of the other trajectories' returns (batch quantities only: it
  needs ``N >= 2``; the per-trajectory numbers reported for it are the ``N -> inf`` limit of
  ``N Cov ĝ``, which is the fixed constant ``c = E[G_0]``);
* ``fixed:c=VALUE`` -- a fixed scalar ``c`` (a family reading a value table, GAE's: the constant ``V = c``,
  zero after an episode's end, as ``pgexp estimate`` reads it);
* ``optimal`` -- Greensmith, Bartlett & Baxter's per-coordinate ``b_k = E[u_k v_k] / E[v_k^2]``, the exact
  *oracle* (``pgexp estimate``'s ``optimal`` fits it on an independent batch, so its variance is larger);
* ``value_table`` -- GAE with a user's value table (``value=``; shapes in
  :meth:`pgexp.exact.model.ExactSetup.value_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pgexp.errors import UserError
from pgexp.exact import enumeration as en
from pgexp.exact import families as fam
from pgexp.exact import recursion as rec
from pgexp.exact.batch import LooMoments, normal_cosine, quality
from pgexp.exact.catalogue import (
    Baseline,
    check_combination,
    defined_for,
    engine_of,
    exact_pairs,
    exact_spec,
    exact_specs,
    parse_baseline,
    reads_lambda,
)
from pgexp.exact.model import ExactSetup, make_setup, memoized
from pgexp.exact.rollout_moments import enumerate_samples, rollout_moments
from pgexp.problems.problem import Problem
from pgexp.sampling.rng import job_entropy

MAX_TRAJECTORIES = en.MAX_TRAJECTORIES
COV_MAX_DIM = 64      # the JSON carries the covariance matrix up to this dimension
FULL_MAX_DIM = 512    # full covariance (and the cosine prediction) up to this dimension; its diagonal beyond
MAX_CELLS = 20_000_000  # steps x states x actions of the recursion's tables (8 bytes each, a few tables)
__all__ = ["Baseline", "ExactMoments", "check_combination", "count_trajectories", "exact_curves", "exact_pairs",
           "exact_variance", "optimal_constant", "parse_baseline", "trajectory_moments"]


def __getattr__(name: str) -> Any:
    """``SUPPORTED``, ``ESTIMATORS``, ``LAMBDA_ESTIMATORS``: :mod:`pgexp.exact.catalogue`'s (from the registry)."""
    from pgexp.exact import catalogue

    if name in ("SUPPORTED", "ESTIMATORS", "LAMBDA_ESTIMATORS"):
        return getattr(catalogue, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(eq=False)
class ExactMoments:
    """Exact moments of one trajectory's estimate.

    Attributes:
        mean: ``E g`` ``(d,)``.
        cov: ``Cov g``: ``(d, d)`` when ``full``, else its diagonal ``(d,)``.  For the leave-one-out
            ``constant``: the ``N -> inf`` limit of ``N Cov ĝ``.
        grad: exact ``grad J`` ``(d,)``.
        method: ``"enumeration"`` or ``"dp"``.
        loo: the leave-one-out ingredients (``constant`` only).
        n_trajectories: enumerated trajectories (or roll-in/roll-out outcomes).
        info: extra plain values (``b_star`` of ``optimal``, ``constant`` of ``fixed``).
    """

    mean: np.ndarray
    cov: np.ndarray
    grad: np.ndarray
    method: str
    full: bool
    loo: LooMoments | None = None
    n_trajectories: int | None = None
    info: dict = field(default_factory=dict)

    @property
    def trace_cov(self) -> float:
        return float(np.trace(self.cov)) if self.full else float(np.sum(self.cov))

    def batch_cov(self, N: int) -> np.ndarray:
        """``Cov ĝ`` of the mean of ``N`` trajectories (leave-one-out: the U-statistic's)."""
        if self.loo is not None:
            if N < 2:
                raise UserError("--batch-size: baseline 'constant' is the leave-one-out mean of the other "
                                "trajectories: needs --batch-size >= 2")
            return self.loo.batch_cov(N)
        return self.cov / N

    def batch(self, N: int) -> dict[str, float]:
        """``bias_sq, trace_cov, var_per_traj, mse, rel_mse, snr`` of the batch of ``N`` (exact)."""
        return quality(self.mean, self.batch_cov(N), self.grad, N)


# --------------------------------------------------------------------------- the two routes

def family_args(st: ExactSetup, estimator: str, b: Baseline, value: np.ndarray | None) -> dict[str, Any]:
    """Keyword arguments of :func:`~pgexp.exact.families.family` for a non-optimal, non-LOO baseline."""
    if b.kind == "none":
        return {}
    read_as = exact_spec(estimator).baseline_input  # how its family reads a state baseline
    if read_as == "values":
        if b.kind == "value_exact":
            return {"values": st.value_steps}
        if b.kind == "fixed":  # a constant V = c, zero after an episode's end (as the sampled GAE reads fixed:c)
            return {"values": st.value_table(np.full(st.num_states, b.value))}
        if value is None:
            raise UserError("--value: baseline value_table needs a value table (--value PATH.npy)")
        return {"values": st.value_table(value)}
    if read_as == "start":
        return {"b0": st.value_steps[0] if b.kind == "value_exact" else np.full(st.num_states, b.value)}
    if b.kind == "value_exact":
        return {"b_steps": st.value_steps[:st.L]}
    return {"b_steps": np.full((st.L, st.num_states), b.value)}


def literal_args(st: ExactSetup, estimator: str, b: Baseline, value: np.ndarray | None) -> dict[str, Any]:
    """Keyword arguments of :func:`~pgexp.exact.enumeration.literal_weights`: those of :func:`family_args`, save
    that a fixed constant is passed as ``fixed`` to the weights that subtract it (a family reading a value table
    takes it as the constant ``V = c`` instead)."""
    if b.kind == "fixed" and exact_spec(estimator).baseline_input != "values":
        return {"fixed": b.value}
    return family_args(st, estimator, b, value)


@dataclass(eq=False)
class _UVR:
    """Moments of ``u`` (no baseline), ``v`` (the constant's direction) and ``R`` (the return)."""

    mu: np.ndarray
    mv: np.ndarray
    Euu: np.ndarray
    Euv: np.ndarray
    Evv: np.ndarray
    EvR: np.ndarray
    mR: float
    ER2: float
    n: int | None = None


def family_moments(st: ExactSetup, estimator: str, b: Baseline, lam: float, value: np.ndarray | None,
                   full: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(E g, E[g g^T])`` (or its diagonal) of the estimator's weight family with a non-optimal, non-LOO
    baseline, by the recursion; kept on the set-up (:func:`~pgexp.exact.model.memoized`) unless a user's value
    table is given, so that pairs sharing a family (``est~none`` and the ``u`` of ``est~optimal``) compute it once."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        X = fam.family(st, estimator, **family_args(st, estimator, b, value), lam=lam)
        mean, _, second = rec.moments(st, X, full=full)
        return mean, second

    if value is not None:
        return compute()
    key = ("family_moments", estimator, b.kind, b.c, float(lam) if reads_lambda(estimator) else None, full)
    return memoized(st, key, compute)


def _uvr_dp(st: ExactSetup, estimator: str, full: bool) -> _UVR:
    """Kept on the set-up: ``optimal`` and ``constant`` of one estimator share it."""
    return memoized(st, ("uvr_dp", estimator, full), lambda: _compute_uvr_dp(st, estimator, full))


def _compute_uvr_dp(st: ExactSetup, estimator: str, full: bool) -> _UVR:
    Vd = fam.direction(st, estimator)
    mu, Euu = family_moments(st, estimator, Baseline("none"), 1.0, None, full)  # u: the family without baseline
    U = fam.family(st, estimator)
    mv, _, Evv = rec.moments(st, Vd, full=full)
    _, _, Euv = rec.moments(st, U, Vd, full=full)
    G = fam.return_family(st)
    N1, N2 = rec.state_values(st, G)
    EvR = fam.direction_weights(st, estimator) @ rec.step_means(st, G)   # E[sigma_h G_0] = E[sigma_h G_h]
    mu0 = st.mdp.mu
    return _UVR(mu, mv, Euu, Euv, Evv, EvR, float(mu0 @ N1), float(mu0 @ N2))


def _uvr_enumeration(st: ExactSetup, estimator: str, max_trajectories: int) -> _UVR:
    paths = en.enumerate_paths(st, max_trajectories)
    u = en.gradients(st, paths, en.literal_weights(st, paths, estimator))
    v = en.gradients(st, paths, np.where(paths.mask, fam.direction_weights(st, estimator)[None, :], 0.0))
    R = en.returns(st, paths)[0][:, 0] if st.L else np.zeros(paths.num)
    p = paths.probs
    mu, Euu = en.weighted_moments(p, u)
    mv, Evv = en.weighted_moments(p, v)
    _, Euv = en.weighted_moments(p, u, v)
    return _UVR(mu, mv, Euu, Euv, Evv, (p * R) @ v, float(p @ R), float(p @ (R * R)), paths.num)


def _rollout_dp(st: ExactSetup, b: Baseline, full: bool):
    """:func:`~pgexp.exact.rollout_moments.rollout_moments` for baseline ``b``, kept on the set-up (``none``,
    ``constant`` and ``optimal`` share the one without baseline)."""
    bs = _rollout_state_baseline(st, b)
    fixed = b.value if b.kind == "fixed" else None
    kind = b.kind if b.kind in ("value_exact", "fixed") else "none"
    return memoized(st, ("rollout_dp", kind, fixed, full), lambda: rollout_moments(st, bs, fixed, full=full))


def _uvr_rollout(st: ExactSetup, full: bool, method: str, max_trajectories: int) -> _UVR:
    if method == "dp":
        m = _rollout_dp(st, Baseline("none"), full)
        return _UVR(m.mu, np.zeros_like(m.mu), m.Euu, m.Euv, m.Evv, m.mu, m.mR, m.ER2)
    smp = enumerate_samples(st, max_trajectories)
    u, v, R = _rollout_rows(st, smp, np.zeros(smp.y.size))
    p = smp.probs
    mu, Euu = en.weighted_moments(p, u)
    mv, Evv = en.weighted_moments(p, v)
    _, Euv = en.weighted_moments(p, u, v)
    return _UVR(mu, mv, Euu, Euv, Evv, (p * R) @ v, float(p @ R), float(p @ (R * R)), int(p.size))


def _rollout_rows(st: ExactSetup, smp, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per outcome ``g = Z sigma (y - b)``, ``v = Z sigma`` (live) and ``R = y`` (literal formulas)."""
    from pgexp.sampling.tabular import occupancy_mass

    Z = occupancy_mass(st.gamma, st.mdp.horizon)
    sig = st.sigma[smp.states, smp.actions] * smp.live[:, None]
    return Z * sig * (smp.y - b)[:, None], Z * sig, smp.y


def _rollout_state_baseline(st: ExactSetup, b: Baseline) -> np.ndarray | None:
    if b.kind != "value_exact":
        return None
    return st.value_steps[:st.L] if st.kind == "finite" else st.value_steps[:1]


def _cov_from_second(mean: np.ndarray, second: np.ndarray, full: bool) -> np.ndarray:
    return second - np.outer(mean, mean) if full else second - mean * mean


def _from_uvr(st: ExactSetup, m: _UVR, b: Baseline, full: bool, method: str) -> ExactMoments:
    if b.kind == "optimal":
        num = np.diag(m.Euv) if full else m.Euv
        den = np.diag(m.Evv) if full else m.Evv
        bk = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        mean = m.mu - bk * m.mv
        if full:
            second = m.Euu - m.Euv * bk[None, :] - bk[:, None] * m.Euv.T + bk[:, None] * m.Evv * bk[None, :]
        else:
            second = m.Euu - 2 * bk * m.Euv + bk * bk * m.Evv
        return ExactMoments(mean, _cov_from_second(mean, second, full), st.grad, method, full,
                            n_trajectories=m.n, info={"b_star": [float(x) for x in bk]})
    # leave-one-out constant
    loo = LooMoments(_cov_from_second(m.mu, m.Euu, full), m.Euv, m.Evv, m.EvR, m.mR, m.ER2)
    return ExactMoments(m.mu, loo.limit_cov(), st.grad, method, full, loo=loo, n_trajectories=m.n,
                        info={"mean_return": m.mR})


def _plain(st: ExactSetup, estimator: str, b: Baseline, lam: float, value: np.ndarray | None, method: str,
           full: bool, max_trajectories: int) -> ExactMoments:
    info = {"constant": b.value} if b.kind == "fixed" else {}
    if engine_of(estimator) == "rollout":
        bs = _rollout_state_baseline(st, b)
        fixed = b.value if b.kind == "fixed" else None
        if method == "dp":
            r = _rollout_dp(st, b, full)
            return ExactMoments(r.mean, _cov_from_second(r.mean, r.second, full), st.grad, "dp", full, info=info)
        smp = enumerate_samples(st, max_trajectories)
        if fixed is not None:
            bb = np.full(smp.y.size, fixed)
        elif bs is not None:
            bb = bs[np.minimum(smp.times, bs.shape[0] - 1), smp.states]
        else:
            bb = np.zeros(smp.y.size)
        g = _rollout_rows(st, smp, bb)[0]
        mean, cov = en.centred_cov(smp.probs, g)
        return ExactMoments(mean, cov if full else np.diag(cov).copy(), st.grad, "enumeration", full,
                            n_trajectories=int(smp.probs.size), info=info)
    if method == "dp":
        mean, second = family_moments(st, estimator, b, lam, value, full)
        return ExactMoments(mean, _cov_from_second(mean, second, full), st.grad, "dp", full, info=info)
    paths = en.enumerate_paths(st, max_trajectories)
    w = en.literal_weights(st, paths, estimator, **literal_args(st, estimator, b, value), lam=lam)
    mean, cov = en.centred_cov(paths.probs, en.gradients(st, paths, w))
    return ExactMoments(mean, cov if full else np.diag(cov).copy(), st.grad, "enumeration", full,
                        n_trajectories=paths.num, info=info)


def choose_method(st: ExactSetup, estimator: str, method: str) -> str:
    """``"auto"``: enumeration for finite-horizon trajectory estimators with at most 10^6 trajectories
    (a cross-check at no extra cost), else the recursion."""
    if method not in ("auto", "enumeration", "dp"):
        raise UserError(f"exact variance: method {method!r}; allowed: auto, enumeration, dp")
    if method != "auto":
        return method
    if engine_of(estimator) == "rollout" or st.kind != "finite":
        return "dp"
    return "enumeration" if en.count_trajectories(st, MAX_TRAJECTORIES) <= MAX_TRAJECTORIES else "dp"


def trajectory_moments(problem: Problem | ExactSetup, estimator: str, baseline: Baseline | str = "none", *,
                       lam: float = 0.95, value: np.ndarray | None = None, method: str = "auto",
                       full: bool | None = None, max_trajectories: int = MAX_TRAJECTORIES) -> ExactMoments:
    """Exact moments of one trajectory's estimate (see the module docstring).

    Args:
        problem: a problem, or a set-up from :func:`~pgexp.exact.model.make_setup` (reused across calls).
        estimator, baseline: a combination of :data:`SUPPORTED` (``baseline`` a name or a :class:`Baseline`).
        lam: GAE's lambda (gae, gae_common).
        value: the user's value table for ``value_table``.
        method: ``"auto"``, ``"enumeration"`` or ``"dp"``.
        full: full covariance (default: when ``d <=`` :data:`FULL_MAX_DIM`), else its diagonal.
    """
    b = check_combination(estimator, baseline)
    if reads_lambda(estimator) and not 0.0 <= float(lam) <= 1.0:
        raise UserError(f"--lam: GAE's lambda must be in [0, 1], got {lam}")
    if b.kind == "value_table" and value is None:
        raise UserError("--value: baseline value_table needs a value table (--value PATH.npy)")
    if value is not None and b.kind != "value_table":
        raise UserError(f"--value: a value table is GAE's V (gae, gae_common); not used by {estimator}~{b.label}")
    st = problem if isinstance(problem, ExactSetup) else make_setup(problem)
    check_objective(st, estimator)
    full = st.dim <= FULL_MAX_DIM if full is None else bool(full)
    rollout = engine_of(estimator) == "rollout"
    if not rollout and st.L * st.num_states * st.num_actions > MAX_CELLS:
        raise UserError(f"exact variance: {st.L} steps x {st.num_states} states x {st.num_actions} actions is too "
                        f"large for the recursion's tables (> {MAX_CELLS:.0e}); give a smaller --horizon"
                        + (" (H = inf is simulated for T steps, gamma^T < 1e-12)" if st.kind == "discounted" else ""))
    method = choose_method(st, estimator, method)
    if b.kind in ("optimal", "constant"):
        if rollout:
            m = _uvr_rollout(st, full, method, max_trajectories)
        elif method == "dp":
            m = _uvr_dp(st, estimator, full)
        else:
            m = _uvr_enumeration(st, estimator, max_trajectories)
            if not full:
                m.Euu, m.Euv, m.Evv = np.diag(m.Euu).copy(), np.diag(m.Euv).copy(), np.diag(m.Evv).copy()
        return _from_uvr(st, m, b, full, method)
    return _plain(st, estimator, b, float(lam), value, method, full, max_trajectories)


def check_objective(st: ExactSetup, estimator: str) -> None:
    """Refuse an objective the estimator is not registered for (the common variants without ``gamma^h`` on a
    discounted problem; roll-in/roll-out on an episodic one)."""
    objectives = defined_for(estimator)
    if st.kind in objectives:
        return
    why = (" (without gamma^h its sum over the steps of a discounted problem grows with the simulated length); "
           "give --horizon H") if "discounted" not in objectives else ""
    raise UserError(f"{estimator}: defined for the {' and '.join(objectives)} objectives{why}")


def count_trajectories(problem: Problem, limit: float = np.inf) -> float:
    """Number of positive-probability trajectories of ``problem`` (stops counting above ``limit``)."""
    return en.count_trajectories(make_setup(problem), limit)


# --------------------------------------------------------------------------- public summaries

def refers_to(st: ExactSetup, estimator: str) -> str:
    """One sentence: what the exact numbers are the moments of."""
    if engine_of(estimator) == "rollout":
        end = "roll-out to the horizon" if st.kind == "finite" else "geometric roll-out termination (untruncated)"
        return "one roll-in/roll-out sample, geometric roll-in time and " + end
    if st.kind == "finite":
        return f"one trajectory of at most H = {st.L} steps (V_H = 0)"
    return (f"one trajectory truncated after T = {st.L} steps (gamma^T < 1e-12), as sampled; stationary V, "
            "GAE bootstraps from V(s_T)")


def cosine_seed(problem: Problem, estimator: str, baseline: str, lam: float, horizon: int) -> np.random.SeedSequence:
    """The normal-approximation cosine's stream, derived from what the prediction is about."""
    ident = {"exact_cosine": 1, "env": problem.identity()["env"], "features": problem.features_spec,
             "gamma": problem.mdp.gamma, "horizon": horizon, "estimator": estimator, "baseline": baseline,
             "lam": lam}
    return np.random.SeedSequence(job_entropy(ident, problem.theta))


def batch_rows(problem: Problem, st: ExactSetup, mom: ExactMoments, estimator: str, baseline: str, lam: float,
               batch_sizes: Sequence[int], *, cosine: bool = True) -> list[dict]:
    """One dict per batch size: the exact batch quantities and, with a full covariance, the normal-approximation
    cosine prediction ``cosine_normal`` (``cosine_normal_se``: its Monte-Carlo standard error)."""
    sizes = [int(n) for n in batch_sizes]
    for n in sizes:
        if n < 1:
            raise UserError(f"--batch-size: positive integers, got {n}")
    rows = [{"batch_size": n, **mom.batch(n)} for n in sizes]
    if cosine and mom.full and sizes:
        pred = normal_cosine(mom.mean, mom.cov, mom.grad, sizes, cosine_seed(problem, estimator, baseline, lam, st.L),
                             loo=mom.loo)
        for row, (c, se) in zip(rows, pred):
            row["cosine_normal"], row["cosine_normal_se"] = c, se
    return rows


def exact_variance(problem: Problem, estimator: str, baseline: str = "none", *, lam: float = 0.95,
                   value: np.ndarray | None = None, method: str = "auto", batch_sizes: Sequence[int] = (),
                   max_trajectories: int = MAX_TRAJECTORIES) -> dict:
    """Exact moments as plain values (the ``pgexp exact-variance`` JSON).

    Keys: ``estimator``, ``baseline``, ``lam`` (gae only), ``objective``, ``gamma``, ``horizon`` (``None``:
    infinite), ``steps`` (``L``), ``refers_to``, ``method``, ``dim``, ``mean``, ``trace_cov``, ``cov`` (only when
    ``d <= 64``), ``grad``, ``grad_norm``, ``n_trajectories`` (enumeration), ``constant`` / ``b_star`` /
    ``mean_return`` (fixed / optimal / constant), and ``batch``: one object per ``batch_sizes`` entry with
    ``batch_size, bias_sq, trace_cov, var_per_traj, mse, rel_mse, snr`` and, when the full covariance was
    computed, ``cosine_normal, cosine_normal_se`` (a prediction under the normal approximation).
    """
    b = check_combination(estimator, baseline)
    st = make_setup(problem)
    mom = trajectory_moments(st, estimator, b, lam=lam, value=value, method=method, max_trajectories=max_trajectories)
    out: dict = {"estimator": estimator, "baseline": b.label}
    if reads_lambda(estimator):
        out["lam"] = float(lam)
    out.update({"objective": st.kind, "gamma": st.gamma, "horizon": problem.mdp.horizon, "steps": st.L,
                "refers_to": refers_to(st, estimator), "method": mom.method, "dim": int(mom.mean.size)})
    if mom.n_trajectories is not None:
        out["n_trajectories"] = mom.n_trajectories
    out.update(mom.info)
    out["mean"] = [float(x) for x in mom.mean]
    out["trace_cov"] = mom.trace_cov
    if mom.full and mom.mean.size <= COV_MAX_DIM:
        out["cov"] = [[float(x) for x in row] for row in mom.cov]
    out["grad"] = [float(x) for x in st.grad]
    out["grad_norm"] = float(np.linalg.norm(st.grad))
    if batch_sizes:
        out["batch"] = batch_rows(problem, st, mom, estimator, b.label, float(lam), batch_sizes)
    return out


def optimal_constant(problem: Problem, estimator: str) -> dict:
    """Exact variance-minimising constant baselines for ``g = u - c v`` (reinforce / reward_to_go).

    * scalar: ``tr Cov(u - c v)`` is quadratic in ``c``; ``c* = tr Cov(u, v) / tr Cov(v)``;
    * per coordinate (Greensmith, Bartlett & Baxter): ``b_k = E[u_k v_k] / E[v_k^2]``.

    Returns ``{estimator, c_star, trace_cov_c_star, b_star (list), trace_cov_b_star, trace_cov_none, J,
    trace_cov_J}`` (the last: the fixed constant ``c = J``).
    """
    known = [e for e, spec in exact_specs(("family",)).items() if spec.direction is not None]
    if estimator not in known:
        raise UserError(f"optimal constant: defined for {' and '.join(known)}, not {estimator!r}")
    st = make_setup(problem)
    m = _uvr_dp(st, estimator, True)
    tr_uu = np.trace(m.Euu) - m.mu @ m.mu
    tr_uv = np.trace(m.Euv) - m.mu @ m.mv
    tr_vv = np.trace(m.Evv) - m.mv @ m.mv
    c_star = tr_uv / tr_vv if tr_vv > 0 else 0.0
    opt = _from_uvr(st, m, Baseline("optimal"), True, "dp")
    J = float(st.ev.J)

    def tr(c: float) -> float:
        return float(tr_uu - 2.0 * c * tr_uv + c * c * tr_vv)

    return {"estimator": estimator, "c_star": float(c_star), "trace_cov_c_star": tr(c_star),
            "b_star": opt.info["b_star"], "trace_cov_b_star": opt.trace_cov,
            "trace_cov_none": tr(0.0), "J": J, "trace_cov_J": tr(J)}


def exact_curves(problem_builder: Callable[[int | None], Problem], horizons: Sequence[int | None],
                 pairs: Sequence[tuple[str, str]], batch_sizes: Sequence[int], *, lam: float = 0.95,
                 method: str = "dp") -> list[dict]:
    """Exact per-trajectory and batch quantities for every (pair, horizon, batch size): one dict per
    point with ``estimator, baseline, horizon, batch_size, var_per_traj_exact`` and ``bias_sq_exact,
    trace_cov_exact, mse_exact, rel_mse_exact, snr_exact, cosine_normal, cosine_normal_se, method, dim``.

    The recursion by default: it equals enumeration to round-off (tests) and its cost does not grow with
    the number of trajectories.  ``constant`` (leave-one-out) is skipped at ``N = 1``.
    """
    rows = []
    for h in horizons:
        problem = problem_builder(h)
        st = make_setup(problem)
        for est, base in pairs:
            mom = trajectory_moments(st, est, base, lam=lam, method=method)
            sizes = [n for n in batch_sizes if not (base == "constant" and n < 2)]
            for r in batch_rows(problem, st, mom, est, base, lam, sizes):
                rows.append({"estimator": est, "baseline": base, "horizon": -1 if h is None else int(h),
                             "batch_size": r["batch_size"],
                             "lam": float(lam) if reads_lambda(est) else float("nan"),
                             "var_per_traj_exact": r["var_per_traj"],
                             **{f"{k}_exact": r[k] for k in ("bias_sq", "trace_cov", "mse", "rel_mse", "snr")},
                             "cosine_normal": r.get("cosine_normal", float("nan")),
                             "cosine_normal_se": r.get("cosine_normal_se", float("nan")),
                             "method": mom.method, "dim": int(mom.mean.size)})
    return rows
