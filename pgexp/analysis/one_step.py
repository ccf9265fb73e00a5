r"""Exact moments of one-step (bandit) updates with a constant baseline: the variance that b* +- epsilon share.

In a one-step problem (:func:`pgexp.runs.train_options.one_step`) an episode is ``s ~ mu``, ``a ~ pi(.|s)``, reward
``r(s, a)``.  With a constant baseline ``b`` the score-function estimate is ``g = psi(s, a) (r(s, a) - b)``,
``psi = grad log pi``; the tabular natural-gradient update is ``x = e_{(s,a)} (r(s, a) - b) / pi(a|s)``
(:mod:`pgexp.runs.train_kernels`).  Both are finite mixtures over the ``S x A`` outcomes, so their mean and
covariance are exact sums:

* ``E g = grad J`` for every ``b``; ``tr Cov g = sum mu pi ||psi||^2 (r - b)^2 - ||grad J||^2``, a parabola in
  ``b`` with vertex ``b* = E[r ||psi||^2] / E[||psi||^2]``, so ``tr Cov g(b* + e) = tr Cov g(b* - e) =
  tr Cov g(b*) + e^2 E||psi||^2``;
* ``E x = mu(s) (r(s, .) - b)`` (it depends on ``b`` only along each state's all-ones direction, which
  leaves the softmax unchanged), ``tr Cov x = sum mu pi ||x||^2 - ||E x||^2``; its minimiser is not ``b*``,
  so ``b* + e`` and ``b* - e`` need not give NPG the same variance.  ``trace_cov_policy`` is the variance
  of ``x`` after removing each state's all-ones component (the part that moves the policy);
* that part is ``x_c = c_a (r - b) / pi(a|s)`` with ``c_a`` the centred ``e_a``, ``||c_a||^2 = 1 - 1/A``,
  and its mean ``mu(s) (r(s, .) - mean_a r(s, a))`` does not depend on ``b``; so
  ``tr Cov x_c = (1 - 1/A) sum mu (r - b)^2 / pi - const``, a parabola with vertex
  ``b_npg = sum mu r / pi / sum mu / pi`` (:func:`optimal_npg_constant`; sums over the cells with
  ``mu pi > 0``), and ``b_npg + e`` and ``b_npg - e`` give the NPG update the same variance,
  ``tr Cov x_c(b_npg) + e^2 (1 - 1/A) sum mu / pi``.  ``b*`` is vanilla PG's minimum, ``b_npg`` NPG's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pgexp import exact
from pgexp.errors import UserError
from pgexp.policies.softmax_linear import SoftmaxLinearPolicy
from pgexp.problems.problem import Problem


def softmax_linear(problem: Problem) -> SoftmaxLinearPolicy:
    """The problem's policy, which must be softmax-linear (its closed-form score table)."""
    if not isinstance(problem.policy, SoftmaxLinearPolicy):
        raise UserError("baseline-variance: softmax-linear policies only (--policy linear)")
    return problem.policy


def optimal_constant(problem: Problem) -> float:
    """``b* = E[r ||psi||^2] / E[||psi||^2]`` at ``problem.theta`` (one-step problems)."""
    policy = softmax_linear(problem)
    pi = policy.probs(problem.theta)
    sq = (policy.score_table(problem.theta) ** 2).sum(axis=2)  # (S, A)
    w = problem.mdp.mu[:, None] * pi * sq
    return float((w * problem.mdp.r).sum() / w.sum())


def optimal_npg_constant(problem: Problem) -> float:
    """``b_npg = sum mu r / pi / sum mu / pi`` at ``problem.theta``: the vertex of the NPG update's variance."""
    pi = softmax_linear(problem).probs(problem.theta)
    w = np.where(problem.mdp.mu[:, None] * pi > 0, problem.mdp.mu[:, None] / np.where(pi > 0, pi, 1.0), 0.0)
    return float((w * problem.mdp.r).sum() / w.sum())


def _moments(prob: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean and trace covariance of a finite mixture: outcome ``k`` has probability ``prob[k]``, value
    ``vectors[k]``."""
    mean = prob @ vectors
    return mean, float(prob @ (vectors**2).sum(axis=1) - mean @ mean)


def one_step_moments(problem: Problem, baseline: float) -> dict[str, float]:
    """Exact ``mean`` / ``tr Cov`` of the gradient estimate and of the NPG update for the constant ``baseline``."""
    from pgexp.runs.train_options import one_step

    if not one_step(problem.mdp):
        raise UserError("baseline-variance: one-step problems only (every episode one action: bandits, H = 1)")
    mdp, pol = problem.mdp, softmax_linear(problem)
    S, A = mdp.num_states, mdp.num_actions
    pi = pol.probs(problem.theta)
    psi = pol.score_table(problem.theta)  # (S, A, d)
    p = (mdp.mu[:, None] * pi).ravel()
    adv = (mdp.r - baseline).ravel()
    g = psi.reshape(S * A, -1) * adv[:, None]
    g_mean, g_var = _moments(p, g)
    x = np.zeros((S * A, S * A))
    live = p > 0
    x[np.flatnonzero(live), np.flatnonzero(live)] = adv[live] / pi.ravel()[live]
    _, x_var = _moments(p, x)
    centre = np.kron(np.eye(S), np.eye(A) - np.ones((A, A)) / A)  # remove each state's all-ones component
    _, x_var_policy = _moments(p, x @ centre)
    _, grad, _ = exact.gradient(mdp, problem.policy, problem.theta)
    return {"grad_bias_sq": float(((g_mean - grad) ** 2).sum()), "grad_trace_cov": g_var,
            "npg_trace_cov": x_var, "npg_trace_cov_policy": x_var_policy, "grad_norm_sq": float(grad @ grad)}


def baseline_variance_table(problem: Problem, offsets: list[float]) -> pd.DataFrame:
    """One row per centre (``baseline``: ``optimal_exact`` = ``b*``, vanilla PG's minimum, then
    ``optimal_npg_exact`` = ``b_npg``, NPG's) and offset ``e``: ``b_star``, ``b_npg``, the baseline
    ``baseline_value = centre + e`` and :func:`one_step_moments` at ``problem.theta`` -- the exact variance of
    both updates (``grad_trace_cov`` vanilla, ``npg_trace_cov`` / ``npg_trace_cov_policy`` NPG) whichever
    optimizer uses the baseline."""
    b_star, b_npg = optimal_constant(problem), optimal_npg_constant(problem)
    rows = [{"baseline": name, "offset": float(e), "b_star": b_star, "b_npg": b_npg,
             "baseline_value": centre + e, **one_step_moments(problem, centre + e)}
            for name, centre in (("optimal_exact", b_star), ("optimal_npg_exact", b_npg)) for e in offsets]
    return pd.DataFrame(rows)
