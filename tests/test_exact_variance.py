"""Exact per-trajectory moments: enumeration vs the forward-backward DP vs Monte Carlo.

Tolerances:
* enumeration mean vs ``exact.gradient``: two float64 routes, so agreement to ~1e-15 relative;
  1e-10 (scaled by the gradient's size) leaves a wide margin and still catches any modelling slip.
* DP vs enumeration: ``rtol = 1e-9``, with ``atol = 1e-14 * B^2`` for entries that are zero
  analytically, ``B`` a bound on ``|g|`` (every entry is a sum of at most a few hundred products of
  numbers of size ``<= B^2``, each with relative round-off ~1e-16; ``cov = E[g g^T] - mean mean^T``
  cancels to an absolute, not relative, error).
* Monte Carlo: ``q_i = ||g_i - E g||^2`` (exact mean) has ``E q = tr Cov`` exactly; the sample mean
  of ``q`` must lie within ``z * SE`` with ``SE = std(q) / sqrt(N)`` estimated from the data and
  ``z = norm.isf(alpha / (2K))`` for the ``K`` comparisons of one test (family-wise ``alpha = 1e-4``).
  The mean is checked the same way per coordinate with the exact variance.  Seeds are fixed, so the
  tests are deterministic; the bound says how surprising a failure would be by chance.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import norm

from pgexp import exact
from pgexp.estimators import ESTIMATORS
from pgexp.exact.moments import (
    BASELINES,
    MAX_TRAJECTORIES,
    _enumerated_gradients,
    _setup,
    count_trajectories,
    dp_moments,
    enumerate_moments,
    exact_variance,
    optimal_constant,
    variance_curve,
)
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem, build_problem
from pgexp.runs.context import TabularContext
from pgexp.runs.estimate import estimate_batch, linear_parts
from pgexp.sampling.rng import MAIN, job_entropy, stream

ALPHA = 1e-4
THETA = "random:seed=1,scale=0.7"
C = 0.5  # the fixed constant baseline of the DP-vs-enumeration comparisons

GARNET = "garnet:states=3,actions=2,branching=2"
SMALL = (
    [(f"corridor-H{H}", "short_corridor", None, None, H) for H in (3, 4, 5, 6)]
    + [(f"garnet-g{g}-H{H}", GARNET, None, g, H) for g in (1.0, 0.9) for H in (2, 3, 4, 5)]
    + [("chain-H4", "chain:length=3", None, None, 4),
       ("garnet-randfeat-H4", "garnet:states=4,actions=3,branching=2,seed=2", "random:d=3,seed=0", 0.8, 4)]
)
COMBOS = [(e, b) for e, bs in BASELINES.items() for b in bs]


def _problem(env, features, gamma, horizon, theta=THETA) -> Problem:
    return build_problem(env, features=features, theta=theta, gamma=gamma, horizon=horizon)


_CACHE: dict = {}


def _small(pid: str) -> Problem:
    if pid not in _CACHE:
        spec = next(s for s in SMALL if s[0] == pid)
        _CACHE[pid] = _problem(*spec[1:])
    return _CACHE[pid]


def _g_bound(prob: Problem) -> float:
    """A bound on ``|g|`` for every estimator here: ``H max|sigma| 2 max|r| sum_h gamma^h`` (weights are
    returns or differences of two return-sized numbers; ``C`` is smaller than that bound on these problems)."""
    mdp = prob.mdp
    H = int(mdp.horizon)
    sig = np.linalg.norm(prob.policy.score_table(prob.theta), axis=-1).max()
    R = max(np.abs(mdp.r).max() * np.sum(mdp.gamma ** np.arange(H)), C)
    return H * sig * 2 * R


def _zbound(k: int) -> float:
    return float(norm.isf(ALPHA / (2 * k)))


# --------------------------------------------------------------------------- exact routes agree

@pytest.mark.parametrize("pid", [s[0] for s in SMALL])
def test_enumeration_mean_is_the_exact_gradient_and_dp_matches_enumeration(pid):
    prob = _small(pid)
    _, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    n_count = count_trajectories(prob)
    scale = _g_bound(prob) ** 2
    for est, bl in COMBOS:
        m_en, cov_en, n = enumerate_moments(prob, est, bl, C)
        assert n == n_count
        np.testing.assert_allclose(m_en, grad, rtol=0, atol=1e-10 * max(1.0, np.abs(grad).max()), err_msg=f"{est}/{bl}")
        m_dp, cov_dp = dp_moments(prob, est, bl, C)
        np.testing.assert_allclose(m_dp, m_en, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(grad).max()),
                                   err_msg=f"{est}/{bl}")
        np.testing.assert_allclose(cov_dp, cov_en, rtol=1e-9, atol=1e-14 * scale, err_msg=f"{est}/{bl}")
        assert np.allclose(cov_dp, cov_dp.T, rtol=0, atol=1e-14 * scale)
        assert np.linalg.eigvalsh(cov_dp).min() >= -1e-14 * scale


def _bandit(rewards, theta) -> Problem:
    A = len(rewards)
    mdp = make_mdp(np.ones((1, A, 1)), np.asarray(rewards, float)[None, :], np.ones(1), gamma=1.0, horizon=1)
    return Problem(mdp, SoftmaxLinearPolicy(TabularFeatures(1, A)), np.asarray(theta, float), "bandit", "tabular",
                   "linear", "x")


def test_one_step_bandit_matches_the_closed_form():
    # H = 1: g = sigma_a (r_a - b); E g = sum_a pi_a sigma_a r_a, E g g^T = sum_a pi_a (r_a - b)^2 sigma_a sigma_a^T
    r, theta = [1.0, -0.5, 2.0], [0.3, -0.2, 0.1]
    prob = _bandit(r, theta)
    pi = prob.policy.probs(prob.theta)[0]
    sig = np.eye(3) - pi[None, :]
    r = np.asarray(r)
    J = pi @ r
    for bl, b in (("none", 0.0), ("value_exact", J), ("constant", 0.7)):
        mean = (pi * r) @ sig
        cov = (sig * (pi * (r - b) ** 2)[:, None]).T @ sig - np.outer(mean, mean)
        for method in ("enumeration", "dp"):
            res = exact_variance(prob, "reinforce", bl, 0.7, method=method)
            np.testing.assert_allclose(res["mean"], mean, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(res["cov"], cov, rtol=1e-12, atol=1e-15)


def test_absorption_ends_the_episode():
    # starting in the absorbing state: one empty trajectory, g = 0 even with a nonzero constant baseline
    prob = _small("corridor-H4")
    mdp = prob.mdp
    ab = np.flatnonzero(mdp.absorbing_states())
    assert ab.size == 1
    mu = np.zeros(mdp.num_states)
    mu[ab[0]] = 1.0
    p2 = Problem(mdp.replace(mu=mu), prob.policy, prob.theta, "x", "x", "x", "x")
    for method in ("enumeration", "dp"):
        res = exact_variance(p2, "reinforce", "constant", 3.0, method=method)
        assert res["trace_cov"] == 0.0 and not any(res["mean"])
    assert exact_variance(p2, "reinforce", "none")["n_trajectories"] == 1


# --------------------------------------------------------------------------- Monte Carlo

def _mc_gradients(prob: Problem, est: str, baseline: str, n: int, seed: int, blocks: int = 1) -> np.ndarray:
    ctx = TabularContext(prob)
    entropy = job_entropy({"test_exact_variance": seed}, prob.theta)
    return np.concatenate([estimate_batch(ctx, ESTIMATORS[est], baseline, None, n // blocks, entropy, m,
                                          per_trajectory=True).grad for m in range(blocks)])


def _mc_fixed(prob: Problem, est: str, b: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``u - b (.) v`` per trajectory with a *fixed* (not fitted) baseline, through the production code."""
    ctx = TabularContext(prob)
    batch = ctx.sample("trajectories", stream(job_entropy({"fixed": seed}, prob.theta), 0, MAIN), n)
    u, c = linear_parts(ESTIMATORS[est], batch)
    b = np.broadcast_to(np.asarray(b, float), (prob.policy.dim,))
    return ctx.gradients(batch, u, per_trajectory=True) - b * ctx.gradients(batch, c, per_trajectory=True)


def _z_trace(g: np.ndarray, mean: np.ndarray, trace: float) -> float:
    q = np.einsum("nd,nd->n", g - mean, g - mean)
    return abs(q.mean() - trace) / (q.std(ddof=1) / np.sqrt(q.size))


def _z_mean(g: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    var = np.diag(cov)
    dev = np.abs(g.mean(axis=0) - mean)
    ok = var > 1e-300
    assert np.all(dev[~ok] < 1e-12)
    return float(np.max(dev[ok] / np.sqrt(var[ok] / g.shape[0]), initial=0.0))


MC_PROBLEMS = ["corridor-H6", "garnet-g0.9-H5", "garnet-randfeat-H4"]
MC_COMBOS = [("reinforce", "none"), ("reinforce", "value_exact"), ("reward_to_go", "none"),
             ("reward_to_go", "value_exact"), ("advantage_exact", "none")]


@pytest.mark.parametrize("pid", MC_PROBLEMS)
def test_monte_carlo_variance_agrees_with_exact(pid):
    prob = _small(pid)
    N = 200_000
    z = _zbound(2 * len(MC_COMBOS))  # trace and mean for each combination
    for i, (est, bl) in enumerate(MC_COMBOS):
        mean, cov = dp_moments(prob, est, bl)
        g = _mc_gradients(prob, est, bl, N, seed=i)
        assert _z_trace(g, mean, np.trace(cov)) < z, (est, bl)
        assert _z_mean(g, mean, cov) < z, (est, bl)


@pytest.mark.parametrize("pid", ["corridor-H6", "garnet-g0.9-H5"])
def test_monte_carlo_with_fixed_constants(pid):
    prob = _small(pid)
    N = 200_000
    cases = [(est, bl) for est in ("reinforce", "reward_to_go") for bl in ("constant", "optimal")]
    z = _zbound(len(cases))
    for i, (est, bl) in enumerate(cases):
        if bl == "constant":
            b = np.full(prob.policy.dim, C)
        else:
            b = np.asarray(optimal_constant(prob, est)["b_star"])
        mean, cov = dp_moments(prob, est, bl, C)
        g = _mc_fixed(prob, est, b, N, seed=i)
        assert _z_trace(g, mean, np.trace(cov)) < z, (est, bl)


# --------------------------------------------------------------------------- optimal constants

@pytest.mark.parametrize("pid", ["corridor-H5", "garnet-g1.0-H4", "garnet-randfeat-H4"])
@pytest.mark.parametrize("est", ["reinforce", "reward_to_go"])
def test_optimal_constants_minimise_the_exact_variance(pid, est):
    prob = _small(pid)
    res = optimal_constant(prob, est)
    c = res["c_star"]
    at = exact_variance(prob, est, "constant", c, method="dp")["trace_cov"]
    scale = max(1.0, at)
    assert abs(at - res["trace_cov_c_star"]) <= 1e-9 * scale
    assert res["trace_cov_c_star"] <= res["trace_cov_none"] + 1e-12 * scale
    for delta in (-0.01, 0.01):
        assert at <= exact_variance(prob, est, "constant", c + delta, method="enumeration")["trace_cov"] + 1e-12 * scale
    # per coordinate: tr Cov(u - b (.) v) from the enumerated u, v; b* beats every one-coordinate nudge
    st = _setup(prob)
    blocks, probs = _enumerated_gradients(st, est, "optimal", None, MAX_TRAJECTORIES)
    u = np.concatenate([b[0] for b in blocks])
    v = np.concatenate([b[1] for b in blocks])

    def trace(b):
        g = u - b[None, :] * v
        m = probs @ g
        return float(probs @ np.einsum("nd,nd->n", g - m, g - m))

    b = np.asarray(res["b_star"])
    best = trace(b)
    assert abs(best - res["trace_cov_b_star"]) <= 1e-9 * max(1.0, best)
    assert best <= res["trace_cov_c_star"] + 1e-12 * scale  # d free constants do at least as well as one
    for k in range(b.size):
        for delta in (-0.01, 0.01):
            nudged = b.copy()
            nudged[k] += delta
            assert best <= trace(nudged) + 1e-12 * scale


# --------------------------------------------------------------------------- large problems

LARGE = ("garnet:states=30,actions=4", None, None, 40)


def test_dp_on_a_problem_too_big_to_enumerate_agrees_with_monte_carlo():
    prob = _problem(*LARGE)
    assert count_trajectories(prob, limit=MAX_TRAJECTORIES) > MAX_TRAJECTORIES
    with pytest.raises(ValueError, match="enumerate"):
        enumerate_moments(prob, "reinforce", "none")
    combos = [("reinforce", "value_exact"), ("reward_to_go", "none"), ("advantage_exact", "none")]
    z = _zbound(2 * len(combos))
    t0 = time.perf_counter()
    results = [exact_variance(prob, est, bl) for est, bl in combos]
    assert time.perf_counter() - t0 < 5.0
    _, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    for i, ((est, bl), res) in enumerate(zip(combos, results)):
        assert res["method"] == "dp" and "cov" not in res and "n_trajectories" not in res  # d = 120 > 64
        mean = np.asarray(res["mean"])
        np.testing.assert_allclose(mean, grad, rtol=0, atol=1e-10 * max(1.0, np.abs(grad).max()))
        g = _mc_gradients(prob, est, bl, 200_000, seed=100 + i, blocks=4)
        assert _z_trace(g, mean, res["trace_cov"]) < z, (est, bl)
        _, cov = dp_moments(prob, est, bl)
        assert _z_mean(g, mean, cov) < z, (est, bl)


def test_variance_curve_and_auto_method():
    build = lambda H: _problem(GARNET, None, 0.9, H)  # noqa: E731
    rows = variance_curve(build, [2, 4, 12], "reward_to_go", "value_exact")
    assert [r["horizon"] for r in rows] == [2, 4, 12]
    assert [r["method"] for r in rows] == ["enumeration", "enumeration", "dp"]  # 3 * 4^12 > 1e6
    for r in rows:
        ref = exact_variance(build(r["horizon"]), "reward_to_go", "value_exact", method="dp")["trace_cov"]
        assert abs(r["trace_cov"] - ref) <= 1e-9 * ref
    rows = variance_curve(build, [3], "reinforce", "constant")
    assert rows[0]["constant"] == pytest.approx(exact.J(build(3).mdp, build(3).policy, build(3).theta))


def test_refusals():
    with pytest.raises(ValueError, match="finite horizon"):
        exact_variance(_problem(GARNET, None, 0.9, "inf"), "reinforce", "none")
    prob = _small("garnet-g1.0-H3")
    with pytest.raises(ValueError, match="not supported"):
        exact_variance(prob, "gae", "none")
    with pytest.raises(ValueError, match="not supported"):
        exact_variance(prob, "advantage_exact", "value_exact")
    with pytest.raises(ValueError, match="enumerate"):
        enumerate_moments(prob, "reinforce", "none", max_trajectories=10)
    with pytest.raises(ValueError, match="method"):
        exact_variance(prob, "reinforce", "none", method="magic")
