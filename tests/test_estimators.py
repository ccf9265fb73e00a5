"""Generic estimator tests, parametrised over the registry: a new estimator is tested by its entry.

Unbiasedness: every (estimator, baseline) the registry claims unbiased is run on problems of every
objective it supports; each coordinate's mean over M independent batch estimates must lie within a
Bonferroni z-bound (family-wise false-alarm rate 1e-4) of the exact gradient.  The estimators known
to be biased are shown biased with the same statistic.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_problem
from scipy.stats import norm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators import BASELINES, ESTIMATORS
from pgexp.estimators.base import Context
from pgexp.estimators.baselines import leave_one_out_mean, optimal_coefficients
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem
from pgexp.runs.estimate import check_combination, estimate_batch, run_estimate
from pgexp.sampling.rng import job_entropy

ALPHA = 1e-4

PROBLEMS = {
    "corridor-episodic": ("short_corridor", None, None, None),
    "garnet-finite": ("garnet:states=4,actions=2,branching=2,seed=0", None, 1.0, 6),
    "garnet-discounted-randfeat": ("garnet:states=5,actions=3,branching=3,seed=2", "random:d=3,seed=1", 0.8, "inf"),
    "chain-discounted": ("chain:length=4", None, 0.7, "inf"),
}


LAM = 0.7  # GAE's lambda in the generic tests


def _cases():
    """Every (estimator, baseline) claimed unbiased x every problem whose objective it supports."""
    for est in ESTIMATORS.values():
        for baseline in est.baselines:
            if not est.unbiased(baseline, LAM):
                continue
            for pid, (env, feats, gamma, horizon) in PROBLEMS.items():
                prob = make_problem(env, feats, gamma, horizon)
                if exact.objective_kind(prob.mdp) in est.objectives:
                    yield pytest.param(est.name, baseline, pid, id=f"{est.name}-{baseline}-{pid}")


def _replicate_means(prob, estimator, baseline, M, N, lam=0.95, seed=0):
    ctx = Context(prob)
    est = check_combination(prob, estimator, baseline, N)
    entropy = job_entropy({"test": seed, "N": N}, prob.theta)
    return np.stack([estimate_batch(ctx, est, baseline, lam, N, entropy, m).grad for m in range(M)])


def _max_z(G, g_true):
    """Largest per-coordinate |mean - exact| / SE; a constant, wrong coordinate counts as infinitely far."""
    se = G.std(axis=0, ddof=1) / np.sqrt(G.shape[0])
    dev = np.abs(G.mean(axis=0) - g_true)
    return np.max(np.where(se > 0, dev / np.where(se > 0, se, 1.0), np.where(dev > 1e-12, np.inf, 0.0)))


@pytest.mark.parametrize("estimator,baseline,pid", list(_cases()))
def test_unbiased_estimators_are_unbiased(estimator, baseline, pid):
    prob = make_problem(*PROBLEMS[pid])
    _, g_true, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    G = _replicate_means(prob, estimator, baseline, M=400, N=8, lam=LAM)
    assert G.shape == (400, prob.policy.dim) and np.all(np.isfinite(G))
    assert _max_z(G, g_true) < norm.isf(ALPHA / (2 * prob.policy.dim))


# Biases that do not shrink with the batch size (a fitted V's bias would, so it is no demonstration).
@pytest.mark.parametrize("estimator,baseline,lam,pid", [
    ("gae", "none", 0.3, "garnet-finite"),       # V = 0 and lambda < 1: the return is cut short
    ("gae", "none", 0.0, "chain-discounted"),    # only the immediate reward: blind to the far end of the chain
    ("actor_critic", "none", 0.95, "garnet-discounted-randfeat"),  # a 3-feature critic cannot represent Q
])
def test_biased_estimators_are_biased(estimator, baseline, lam, pid):
    assert not ESTIMATORS[estimator].unbiased(baseline, lam)
    prob = make_problem(*PROBLEMS[pid])
    _, g_true, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    G = _replicate_means(prob, estimator, baseline, M=400, N=32, lam=lam)
    assert _max_z(G, g_true) > norm.isf(ALPHA / (2 * prob.policy.dim))


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_shapes_and_determinism(estimator):
    est = ESTIMATORS[estimator]
    prob = make_problem(*PROBLEMS["garnet-discounted-randfeat"])
    baseline = est.baselines[0]
    a = run_estimate(prob, estimator, baseline, batch_size=5, replicates=4, seed=3, progress=False)
    b = run_estimate(prob, estimator, baseline, batch_size=5, replicates=4, seed=3, progress=False)
    assert a.equals(b)
    assert a.num_rows == 4 and all(len(g) == prob.policy.dim for g in a.column("grad").to_pylist())
    assert min(a.column("env_steps").to_pylist()) > 0
    c = run_estimate(prob, estimator, baseline, batch_size=5, replicates=4, seed=4, progress=False)
    assert not a.column("grad").equals(c.column("grad"))


def test_common_random_numbers_across_estimators():
    """Estimators that consume plain trajectories see the same ones: same batch returns."""
    prob = make_problem(*PROBLEMS["garnet-discounted-randfeat"])
    returns = {}
    for name, est in ESTIMATORS.items():
        if est.consumes == "trajectories":
            for baseline in est.baselines:
                t = run_estimate(prob, name, baseline, batch_size=6, replicates=3, seed=1, progress=False)
                returns[(name, baseline)] = t.column("batch_return_mean").to_pylist()
    first = next(iter(returns.values()))
    assert len(returns) > 5 and all(v == first for v in returns.values())


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
    G = _replicate_means(prob, "advantage_exact", "none", M=50, N=3)
    np.testing.assert_allclose(G, np.broadcast_to(g_true, G.shape), rtol=0, atol=1e-14)
    R = _replicate_means(prob, "reinforce", "none", M=50, N=3)
    assert R.std(axis=0).max() > 0.1  # whereas REINFORCE is noisy on the same problem


@pytest.mark.parametrize("pid", ["garnet-finite", "corridor-episodic"])
def test_gae_lambda_one_with_exact_values_equals_reward_to_go_with_value_baseline(pid):
    prob = make_problem(*PROBLEMS[pid])
    ctx = Context(prob)
    for m in range(3):
        g_gae = estimate_batch(ctx, ESTIMATORS["gae"], "value_exact", 1.0, 7, 99, m, per_trajectory=True).grad
        g_rtg = estimate_batch(ctx, ESTIMATORS["reward_to_go"], "value_exact", 1.0, 7, 99, m, per_trajectory=True).grad
        np.testing.assert_allclose(g_gae, g_rtg, rtol=0, atol=1e-11 * (1 + np.abs(g_rtg).max()))


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
    prob = make_problem("short_corridor", None, None, None) if horizon == "episodic" else make_problem("garnet", None, 0.9, horizon)
    with pytest.raises(UserError, match=match):
        check_combination(prob, estimator, baseline, 4)


def test_constant_baseline_needs_two_trajectories():
    prob = make_problem("garnet", None, 0.9, 5)
    with pytest.raises(UserError, match="batch-size >= 2"):
        check_combination(prob, "reinforce", "constant", 1)


def test_every_registered_baseline_is_known():
    for est in ESTIMATORS.values():
        assert set(est.baselines) <= set(BASELINES)
