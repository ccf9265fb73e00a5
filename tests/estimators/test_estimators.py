"""Estimator tests: the generic checks of ``pgexp check-estimator`` run over the registry, plus the
specific properties of the built-ins.

``test_registry_check`` is one pytest case per (estimator, check) of :func:`estimator_checks` -- the
very function a user runs on a plug-in -- so a new registry entry is tested without new test code:
unbiasedness of every pair the registry claims unbiased (Bonferroni z-bound at a 1e-4 family-wise
false-alarm rate, against the exact gradient, on every objective), determinism, common random numbers,
shapes, finite output, and affinity in the baseline where the per-coordinate optimal baseline is used.
The estimators known to be biased are shown biased with the same statistic.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_problem
from scipy.stats import norm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS, parse_baseline
from pgexp.estimators.baselines import leave_one_out_mean, optimal_coefficients
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem
from pgexp.runs.check import ALPHA, CHECK_PROBLEMS, CheckProblem, estimator_checks, max_z
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, estimate_batch, run_estimate
from pgexp.sampling.rng import job_entropy

CHECKS = [c for name in ESTIMATORS for c in estimator_checks(name)]


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
def test_registry_check(check):
    result = check.run()
    assert result.passed, result.line


def _batches(prob, estimator, baseline, M, N, params=None, fit_batch_size=None, seed=0):
    t = run_estimate(prob, estimator, baseline, params=params, batch_size=N, replicates=M, seed=seed,
                     fit_batch_size=fit_batch_size, progress=False)
    return np.asarray(t.column("grad").to_pylist()), t


# Biases that do not shrink with the batch size (a fitted V's bias would, so it is no demonstration).
@pytest.mark.parametrize("estimator,baseline,lam,problem", [
    ("gae", "none", 0.3, ("garnet:states=4,actions=2,branching=2,seed=0", None, 1.0, 6)),  # the return is cut short
    ("gae", "none", 0.0, ("chain:length=4", None, 0.7, "inf")),  # only the immediate reward: blind to the far end
    ("actor_critic", "none", 0.95, ("garnet:states=5,actions=3,branching=3,seed=2", "random:d=3,seed=1", 0.8, "inf")),
])
def test_biased_estimators_are_biased(estimator, baseline, lam, problem):
    params = {"lam": lam} if estimator == "gae" else {}
    assert not ESTIMATORS[estimator].is_unbiased(baseline, params)
    prob = make_problem(*problem)
    _, g_true, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    G, _ = _batches(prob, estimator, baseline, M=400, N=32, params=params)
    assert max_z(G, g_true)[0] > norm.isf(ALPHA / (2 * prob.policy.dim))


def test_the_registry_says_when_gae_is_unbiased():
    gae = ESTIMATORS["gae"]
    assert gae.is_unbiased("value_exact", {"lam": 0.3})
    assert all(gae.is_unbiased(b, {"lam": 1.0}) for b in gae.baselines)
    assert gae.is_unbiased("q_exact", {"lam": 0.3})  # the exact Q's V, and a corrected control variate
    assert not any(gae.is_unbiased(b, {"lam": 0.95}) for b in gae.baselines if b not in ("value_exact", "q_exact"))
    assert gae.params() == {"lam": 0.95}  # the default, written once in the spec


def test_gae_with_a_learned_value_at_a_finite_horizon_does_not_bootstrap_past_it():
    """The value after the horizon is zero: the batch's successor values end with the episode."""
    prob = make_problem("garnet:states=5,actions=3,branching=3,seed=0", None, 1.0, 5)
    ctx = make_context(prob)
    batch = ctx.sample("trajectories", np.random.SeedSequence(1), 20)
    assert batch.ended.all() and (batch.lengths == 5).all()
    from pgexp.runs.engine import apply_baseline

    aux = ctx.sample("trajectories", np.random.SeedSequence(2), 20)
    b = apply_baseline(ctx, parse_baseline("value_learned"), batch, aux, np.random.SeedSequence(3))
    assert np.all(b.baseline_next[:, -1] == 0) and np.all(b.baseline_next[:, :-1] != 0)


def _bandit(actions: int = 2, horizon: int = 1) -> Problem:
    P = np.ones((1, actions, 1))
    r = np.linspace(1.0, 0.2, actions)[None, :]
    mdp = make_mdp(P, r, np.ones(1), gamma=1.0, horizon=horizon, name="bandit")
    pol = SoftmaxLinearPolicy(TabularFeatures(1, actions))
    return Problem(mdp, pol, np.zeros(actions), "bandit", "tabular", "linear", "zeros")


@pytest.mark.parametrize("horizon", [1, 5])
def test_advantage_exact_has_zero_variance_on_a_uniform_two_armed_bandit(horizon):
    # score(a) A(a) = pi(other)^2 (r_0 - r_1) (1, -1) for a in {0, 1}: the same vector when pi is uniform
    prob = _bandit(2, horizon)
    _, g_true, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    G, _ = _batches(prob, "advantage_exact", "none", M=50, N=3)
    np.testing.assert_allclose(G, np.broadcast_to(g_true, G.shape), rtol=0, atol=1e-14)
    R, _ = _batches(prob, "reinforce", "none", M=50, N=3)
    assert R.std(axis=0).max() > 0.1  # whereas REINFORCE is noisy on the same problem


@pytest.mark.parametrize("spec", [("garnet:states=4,actions=2,branching=2,seed=0", None, 1.0, 6),
                                  ("short_corridor", None, None, None)])
@pytest.mark.parametrize("baseline", ["value_exact", "value_learned", "fixed:c=2.5"])
def test_gae_lambda_one_equals_reward_to_go_with_the_same_baseline(spec, baseline):
    prob = make_problem(*spec)
    ctx = make_context(prob)
    for m in range(3):
        g_gae = estimate_batch(ctx, ESTIMATORS["gae"], baseline, {"lam": 1.0}, 7, 99, m, per_trajectory=True).grad
        g_rtg = estimate_batch(ctx, ESTIMATORS["reward_to_go"], baseline, None, 7, 99, m, per_trajectory=True).grad
        np.testing.assert_allclose(g_gae, g_rtg, rtol=0, atol=1e-11 * (1 + np.abs(g_rtg).max()))


def test_fixed_zero_is_no_baseline_and_the_canonical_name_is_the_column():
    prob = make_problem("garnet:states=4,actions=2,branching=2,seed=0", None, 1.0, 6)
    a, _ = _batches(prob, "reward_to_go", "none", M=5, N=4)
    b, t = _batches(prob, "reward_to_go", "fixed:c=0", M=5, N=4)
    np.testing.assert_array_equal(a, b)
    assert t.column("baseline")[0].as_py() == "fixed:c=0"
    assert parse_baseline("fixed:c=0.50").name == "fixed:c=0.5"
    for bad in ("fixed", "fixed:c=x", "fixed:d=1", "constant:c=1"):
        with pytest.raises(UserError, match="--baseline"):
            parse_baseline(bad)


def test_fit_batch_size_cuts_the_fitted_baselines_variance_and_is_charged_in_env_steps():
    """A fitted baseline on K = 64 independent trajectories instead of K = N = 2: lower variance (the
    fit's own noise shrinks), and every estimate pays N + K trajectories' steps.

    Variance is compared on common random numbers (the same estimate batches, only the fitting batch
    grows): per replicate ``q = ||g - grad J||^2`` (mean: tr Cov, both are unbiased); the paired
    differences must be negative beyond a one-sided z-bound at 1e-4.
    """
    prob = make_problem("garnet:states=5,actions=3,branching=3,seed=0", None, 1.0, 8)
    _, g_true, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    M, N = 400, 2
    for baseline in ("optimal", "value_learned"):
        small, ts = _batches(prob, "reinforce", baseline, M=M, N=N)
        large, tl = _batches(prob, "reinforce", baseline, M=M, N=N, fit_batch_size=64)
        assert set(ts.column("env_steps").to_pylist()) == {8 * (N + N)}
        assert set(tl.column("env_steps").to_pylist()) == {8 * (N + 64)}
        assert tl.column("fit_batch_size")[0].as_py() == 64
        d = ((large - g_true) ** 2).sum(axis=1) - ((small - g_true) ** 2).sum(axis=1)
        z = d.mean() / (d.std(ddof=1) / np.sqrt(M))
        assert z < -norm.isf(ALPHA), (baseline, z, d.mean())
    _, t0 = _batches(prob, "reinforce", "none", M=3, N=N, fit_batch_size=64)
    assert set(t0.column("env_steps").to_pylist()) == {8 * N} and t0.column("fit_batch_size")[0].as_py() is None


def test_common_random_numbers_across_estimators():
    """Estimators that consume plain trajectories see the same ones: same batch returns."""
    prob = make_problem("garnet:states=5,actions=3,branching=3,seed=2", "random:d=3,seed=1", 0.8, "inf")
    returns = {}
    for name, est in ESTIMATORS.items():
        if est.sampling == "trajectories" and "discounted" in est.objectives:
            for baseline in est.baselines:
                b = baseline + (":c=1" if BASELINES[baseline].options else "")
                t = run_estimate(prob, name, b, batch_size=6, replicates=3, seed=1, progress=False)
                returns[(name, baseline)] = t.column("batch_return_mean").to_pylist()
    first = next(iter(returns.values()))
    assert len(returns) > 5 and all(v == first for v in returns.values())


def test_leave_one_out_constant():
    x = np.array([1.0, 2.0, 6.0])
    np.testing.assert_allclose(leave_one_out_mean(x), [4.0, 3.5, 1.5])
    with pytest.raises(UserError, match="batch-size >= 2"):
        leave_one_out_mean(np.array([1.0]))


def test_optimal_coefficients_minimise_each_coordinates_variance(rng):
    u = rng.standard_normal((500, 3)) + 2.0
    v = rng.standard_normal((500, 3))
    b = optimal_coefficients(u, v)
    for k in range(3):
        best = np.mean((u[:, k] - b[k] * v[:, k]) ** 2)
        for delta in (-0.01, 0.01):
            assert best < np.mean((u[:, k] - (b[k] + delta) * v[:, k]) ** 2)


@pytest.mark.parametrize("estimator,baseline,horizon,match", [
    ("advantage_exact", "constant", 5, "not meaningful"),
    ("actor_critic", "value_exact", "inf", "not meaningful"),
    ("rollin_rollout", "none", "episodic", "defined for the finite and discounted objectives"),
    ("reinforce", "nonsense", 5, "unknown 'nonsense'"),
    ("nonsense", "none", 5, "unknown 'nonsense'"),
])
def test_meaningless_combinations_are_refused(estimator, baseline, horizon, match):
    episodic = horizon == "episodic"
    prob = make_problem("short_corridor", None, None, None) if episodic else make_problem("garnet", None, 0.9, horizon)
    with pytest.raises(UserError, match=match):
        check_combination(prob, estimator, baseline, 4)


def test_constant_baseline_needs_two_trajectories():
    prob = make_problem("garnet", None, 0.9, 5)
    with pytest.raises(UserError, match="batch-size >= 2"):
        check_combination(prob, "reinforce", "constant", 1)


def test_every_registered_baseline_is_known():
    for est in ESTIMATORS.values():
        assert set(est.baselines) <= set(BASELINES)


def test_check_problems_cover_every_objective():
    kinds = {make_context(cp.build()).kind for cp in CHECK_PROBLEMS}
    assert kinds == {"finite", "discounted", "episodic"}
    assert CheckProblem("x", "short_corridor", None, None, None, 1, 1).build().track == "tabular"


def test_job_entropy_ignores_the_estimator():
    prob = make_problem("garnet", None, 0.9, 5)
    from pgexp.runs.estimate import stream_identity

    ident = stream_identity(prob, 4, 0)
    assert "estimator" not in ident and job_entropy(ident, prob.theta) == job_entropy(dict(ident), prob.theta)
    assert stream_identity(prob, 4, 0, purpose="confirm")["purpose"] == "confirm"
