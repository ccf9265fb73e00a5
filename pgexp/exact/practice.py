r"""Exact counterparts of the practice options (:mod:`pgexp.estimators.practice`): the cut and its bootstrap,
the scale of advantage normalisation, and the exact moments of a practice variant.

**Truncation.**  A run with ``--truncate T`` is the weight family of its estimator on a set-up with
``L = T`` (:func:`pgexp.exact.model.make_setup`), the value after the cut being zero (value tables get a
zero row ``L``: the cut *ends* the episode) and a cut episode's return completed by the bootstrap value
(:func:`pgexp.exact.families.family`'s ``bootstrap``).  ``value_exact`` bootstraps with the stationary
``V``; ``none`` with nothing; ``value_learned`` is fitted on a random batch and has no exact counterpart.
The mean against the *untruncated* ``grad J`` is the cost of the cut; with exact bootstrapping it is
``- gamma^T sum_s p_T(s) grad V(s)`` (derived in :mod:`pgexp.estimators.practice`), which
:func:`truncation_bias` computes directly, independently of the recursion.

**Normalisation scale.**  ``s`` is the population standard deviation of the step weights, ``s² =
E[sum_h w_h²] / E[len] - m²`` with ``m = E[sum_h w_h] / E[len]``.  For a weight family without a past part
(``w_h = F_h + e_h``: reward_to_go, gae, their common variants, advantage_exact) the backward moments of
:func:`pgexp.exact.recursion.backward` give ``E[w_h | s, a] = M1_h + e_h`` and ``E[w_h² | s, a] = M2_h + 2 e_h M1_h
+ e_h²``; summing them over the forward state distribution ``p_h`` gives the three expectations
(:func:`step_weight_moments`).

**Normalised batches** have no closed form (a ratio of sums): their exact mean and covariance come from
enumerating batches (:mod:`pgexp.exact.normalization`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pgexp.errors import UserError
from pgexp.estimators.practice import NORMALIZE_EPS, Practice, check_normalizable
from pgexp.exact import families as fam
from pgexp.exact import recursion as rec
from pgexp.exact.catalogue import Baseline, parse_baseline, reads_lambda
from pgexp.exact.model import ExactSetup, make_setup
from pgexp.problems.mdp import objective_kind
from pgexp.problems.problem import Problem

EXACT_BOOTSTRAPS = ("none", "value_exact")  # value_learned is fitted on a random batch


def practice_setup(problem: Problem, practice: Practice) -> ExactSetup:
    """The set-up of a run with these options (``L = T`` when truncated)."""
    return make_setup(problem, truncation=practice.truncate)


def practice_family(st: ExactSetup, estimator: str, baseline: Baseline | str, practice: Practice,
                    lam: float = 0.95) -> fam.WeightFamily:
    """The weight family of ``estimator~baseline`` under ``practice``'s cut (normalisation is not a family)."""
    from pgexp.exact.moments import family_args

    b = parse_baseline(baseline) if isinstance(baseline, str) else baseline
    if b.kind in ("optimal", "constant", "value_table"):
        raise UserError(f"exact practice moments: baseline {b.label!r} not covered; allowed: none, value_exact, "
                        "fixed:c=VALUE")
    args = family_args(st, estimator, b, None) if b.kind != "none" else {}  # GAE's fixed:c: the constant V = c
    boot = None
    if practice.truncate is not None:
        if practice.bootstrap not in EXACT_BOOTSTRAPS:
            raise UserError(f"exact practice moments: bootstrap {practice.bootstrap!r} is fitted on a random batch; "
                            f"allowed: {', '.join(EXACT_BOOTSTRAPS)}")
        if "values" in args:  # the cut ends the episode: nothing after it but the bootstrap
            args["values"] = np.array(args["values"], dtype=np.float64, copy=True)
            args["values"][st.L] = 0.0
        if practice.bootstrap == "value_exact":
            boot = st.value_steps[st.L]
    return fam.family(st, estimator, **args, lam=lam, bootstrap=boot)


def step_weight_moments(st: ExactSetup, X: fam.WeightFamily) -> tuple[float, float, float]:
    """``(E[len], E[sum_h w_h], E[sum_h w_h²])`` of a family without a past part (module docstring)."""
    if X.has_past:
        raise ValueError("step-weight moments need a family without a past part (not reinforce)")
    bw = rec.backward(st, X, X)
    alive = (~st.absorbing).astype(np.float64)
    p = st.mdp.mu.copy()
    n = w1 = w2 = 0.0
    for h in range(st.L):
        p = p * alive
        m1 = bw.M1X[h] + X.e[h]
        m2 = bw.M2[h] + 2.0 * X.e[h] * bw.M1X[h] + X.e[h] ** 2
        n += float(p.sum())
        w1 += float(p @ np.einsum("sa,sa->s", st.pi, m1))
        w2 += float(p @ np.einsum("sa,sa->s", st.pi, m2))
        p = (p[:, None] * st.pi).ravel() @ st.mdp.P
    return n, w1, w2


@dataclass(frozen=True)
class Scale:
    """The step weights' population mean ``m`` and standard deviation ``s``; a normalised estimate tends to
    ``E g / factor`` (``factor = s + ε``, recorded as ``normalize_scale``) as ``N -> inf``."""

    m: float
    s: float

    @property
    def factor(self) -> float:
        return self.s + NORMALIZE_EPS


def normalization_scale(problem: Problem | ExactSetup, estimator: str, baseline: str, practice: Practice,
                        lam: float = 0.95) -> Scale:
    """The exact :class:`Scale` of ``estimator~baseline``'s step weights under ``practice``'s cut."""
    check_normalizable(estimator, baseline)
    st = problem if isinstance(problem, ExactSetup) else practice_setup(problem, practice)
    n, w1, w2 = step_weight_moments(st, practice_family(st, estimator, baseline, practice, lam))
    if n <= 0:
        return Scale(0.0, 0.0)
    m = w1 / n
    return Scale(m, float(np.sqrt(max(w2 / n - m * m, 0.0))))


def practice_moments(problem: Problem | ExactSetup, estimator: str, baseline: str, practice: Practice,
                     lam: float = 0.95, *, full: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(mean, cov, grad J)`` of one trajectory's estimate under ``practice``'s cut (no normalisation:
    a normalised estimate is not a sum over trajectories; see :mod:`pgexp.exact.normalization`).  ``cov`` is
    ``(d, d)``, or its diagonal when not ``full``; ``grad J`` is the untruncated objective's."""
    if practice.normalize_advantages:
        raise ValueError("practice_moments: a normalised batch estimate has no per-trajectory moments")
    st = problem if isinstance(problem, ExactSetup) else practice_setup(problem, practice)
    X = practice_family(st, estimator, baseline, practice, lam)
    mean, _, second = rec.moments(st, X, full=full)
    cov = second - (np.outer(mean, mean) if full else mean * mean)
    return mean, cov, st.grad


def practice_variance(problem: Problem, estimator: str, baseline: str, practice: Practice, *, lam: float = 0.95,
                      batch_sizes: Sequence[int] = ()) -> dict:
    """``pgexp exact-variance --truncate T --bootstrap B``: the JSON of
    :func:`pgexp.exact.moments.exact_variance` for the cut estimator (the moment recursion), against the
    untruncated ``grad J``; ``truncation_bias`` is the derived ``- gamma^T sum_s p_T(s) grad V(s)`` for
    reward-to-go with exact bootstrapping."""
    from pgexp.exact.batch import quality
    from pgexp.exact.catalogue import check_combination

    check_combination(estimator, baseline)
    st = practice_setup(problem, practice)
    mean, cov, grad = practice_moments(st, estimator, baseline, practice, lam)
    out: dict = {"estimator": estimator, "baseline": baseline, "truncate": practice.truncate,
                 "bootstrap": practice.bootstrap, "objective": st.kind, "gamma": st.gamma, "steps": st.L,
                 "method": "dp", "dim": int(mean.size), "mean": [float(x) for x in mean],
                 "trace_cov": float(np.trace(cov)), "grad": [float(x) for x in grad],
                 "grad_norm": float(np.linalg.norm(grad)), "bias_sq": float((mean - grad) @ (mean - grad))}
    if reads_lambda(estimator):
        out["lam"] = float(lam)
    if practice.bootstrap == "value_exact" and estimator in ("reward_to_go", "advantage_exact"):
        out["truncation_bias"] = [float(x) for x in truncation_bias(problem, int(practice.truncate or 0))]
    if batch_sizes:
        out["batch"] = [{"batch_size": int(n), **quality(mean, cov / int(n), grad, int(n))} for n in batch_sizes]
    return out


def truncation_bias(problem: Problem, truncate: int) -> np.ndarray:
    """``- gamma^T sum_s p_T(s) grad V(s)``: the bias of reward-to-go cut at ``T`` with exact bootstrapping
    against the untruncated ``grad J`` (the derivation is in :mod:`pgexp.estimators.practice`), by linear
    algebra alone: ``p_T = mu P_pi^T`` and ``grad V(s) = sum_s' [(I - gamma P_pi)^-1]_{s s'} sum_a grad pi(a|s')
    Q(s', a)``, pulled back through the policy's parameters."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    from pgexp.exact import values as ex


    mdp, policy, theta = problem.mdp, problem.policy, problem.theta
    if objective_kind(mdp) == "finite":
        raise UserError("--truncate: for the discounted and episodic objectives (H = inf)")
    pi = policy.probs(theta)
    ev = ex.evaluate(mdp, pi)
    S, A = mdp.num_states, mdp.num_actions
    live = (~mdp.absorbing_states()).astype(np.float64)
    # P_pi(s, s') = sum_a pi(a|s) P(s'|s, a), with the rows of absorbing states zeroed (an ended episode goes
    # nowhere: no more visits, V = 0, grad V = 0)
    agg = sp.csr_array((pi.ravel() * np.repeat(live, A), np.arange(S * A), np.arange(0, S * A + 1, A)),
                       shape=(S, S * A))
    Ppi = (agg @ mdp.P).tocsr()
    p = np.asarray(mdp.mu, dtype=np.float64) * live
    for _ in range(int(truncate)):
        p = (Ppi.T @ p) * live
    visits = spsolve((sp.eye(S, format="csc") - mdp.gamma * Ppi.T).tocsc(), p)  # p_T (I - gamma P_pi)^-1
    adv = np.nan_to_num(ev.A, nan=0.0) * live[:, None]
    # grad of sum_s visits(s) sum_a pi(a|s) Q(s, a) with Q held fixed: the cotangent visits(s) A(s, a) (a per-state
    # constant such as V(s) has no component along the simplex)
    return -(mdp.gamma ** int(truncate)) * np.asarray(policy.probs_vjp(theta, visits[:, None] * adv), dtype=np.float64)


__all__ = ["EXACT_BOOTSTRAPS", "Scale", "normalization_scale", "practice_family", "practice_moments", "practice_setup",
           "practice_variance", "step_weight_moments", "truncation_bias"]
