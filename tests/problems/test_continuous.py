"""Continuous-state problems (CartPole, Acrobot): sampler, per-sample gradients, the shared estimators,
jobs against the Monte-Carlo reference, training, and the per-sample-gradient benchmark.

No exact gradient exists for CartPole, so unbiasedness is tested *relatively*: on the same episodes
(common random numbers) every unbiased estimator's batch mean must agree with REINFORCE's -- the paired
differences have mean zero, checked per coordinate with a Bonferroni z-bound (family-wise 1e-4) derived
from the replicates' own standard error.  A biased estimator (GAE with lambda < 1 and V = 0) is shown
to fail the same test.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.stats import norm

from pgexp.analysis.metrics import job_metrics, metrics_frame
from pgexp.bench.pergrad import _loop_module, bench_pergrad, loop_scores
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.estimators.value_models import fit_fourier_value
from pgexp.policies.mlp import MLPSpec
from pgexp.policies.obs_mlp import ObsMLPPolicy, parse_obs_policy
from pgexp.problems.continuous import gym_task, is_continuous_gym
from pgexp.problems.problem import build_problem
from pgexp.runs.context import ContinuousContext, make_context
from pgexp.runs.estimate import check_combination, estimate_batch, run_estimate_grid
from pgexp.runs.reference import reference_gradient
from pgexp.runs.train import train_run
from pgexp.runs.train_tables import run_table

ALPHA = 1e-4
CARTPOLE = "gym:CartPole-v1"


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def assert_same(a, b):
    """Tables equal bit for bit (NaN equal to NaN)."""
    import pandas as pd

    pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)


def tiny(horizon=20, hidden="4", env=CARTPOLE, theta=None):
    return build_problem(env, policy=f"mlp:hidden={hidden},seed=0", gamma=0.99, horizon=horizon, theta=theta)


def episodes(prob, n, seq):
    return make_context(prob).sample("trajectories", seq, n)


# --------------------------------------------------------------------------- environments and sampler

def test_env_detection_and_task():
    assert is_continuous_gym("gym:CartPole-v1") and is_continuous_gym("gym:Acrobot-v1")
    assert not is_continuous_gym("gym:FrozenLake-v1:map_name=4x4,is_slippery=true")
    assert not is_continuous_gym("garnet:states=4")
    t = gym_task("CartPole-v1")
    assert (t.obs_dim, t.num_actions, t.max_steps, t.vectorised) == (4, 2, 500, True)
    assert t.horizon(None) == 500 and t.horizon(20) == 20 and t.horizon(10_000) == 500
    a = gym_task("gym:Acrobot-v1")
    assert (a.obs_dim, a.num_actions, a.vectorised) == (6, 3, False)
    with pytest.raises(UserError):
        gym_task("gym:NoSuchEnv-v0")
    with pytest.raises(UserError):
        gym_task("gym:FrozenLake-v1")


@pytest.mark.parametrize("env,cap", [(CARTPOLE, 30), ("gym:Acrobot-v1", 12)])
def test_sampler_is_deterministic(env, cap):
    prob = tiny(cap, env=env)
    a = episodes(prob, 7, np.random.SeedSequence(5))
    b = episodes(prob, 7, np.random.SeedSequence(5))
    c = episodes(prob, 7, np.random.SeedSequence(6))
    for f in ("states", "actions", "rewards", "lengths", "truncated"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.states[:, 0], c.states[:, 0])
    assert a.lengths.max() <= cap and a.states.shape == (7, a.lengths.max(), prob.task.obs_dim)
    # padding is zero, steps inside are recorded
    assert np.all(a.rewards[~a.mask] == 0) and np.all(a.states[~a.mask] == 0)
    if env == CARTPOLE:
        assert np.all(a.rewards[a.mask] == 1.0)
        assert np.all(~a.truncated | (a.lengths == cap)) and a.ended.all()
    else:
        assert np.all(a.rewards[a.mask] == -1.0)
    assert np.all(a.actions < prob.task.num_actions) and np.all(a.actions >= 0)


def test_vectorised_cartpole_matches_single_env_dynamics():
    """Replaying an episode's actions in a plain gym.make env from the same start state gives the same path."""
    prob = tiny(60)
    ep = episodes(prob, 5, np.random.SeedSequence(3))
    env = gym.make("CartPole-v1")
    for i in range(ep.num):
        env.reset(seed=0)
        env.unwrapped.state = ep.states[i, 0].astype(np.float64)
        for h in range(ep.lengths[i]):
            obs, _, term, _, _ = env.step(int(ep.actions[i, h]))
            if h + 1 < ep.lengths[i]:
                np.testing.assert_allclose(obs, ep.states[i, h + 1], atol=1e-4)
        assert term == (not ep.truncated[i])
    env.close()


def test_action_frequencies_follow_the_policy():
    prob = tiny(1)  # one step per episode: first action only
    ep = episodes(prob, 4000, np.random.SeedSequence(11))
    p = prob.policy.probs(prob.theta, ep.states[:, 0])[:, 1]
    k = ep.actions[:, 0].sum()
    z = (k - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 4.5


# --------------------------------------------------------------------------- per-sample gradients

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_vmap_per_sample_gradients_equal_loop_of_backward(activation):
    pol = ObsMLPPolicy(4, 3, MLPSpec((8, 6), activation, 1))
    theta = pol.default_theta()
    rng = np.random.default_rng(0)
    obs, acts = rng.standard_normal((50, 4)), rng.integers(0, 3, 50)
    v = pol.step_scores(theta, obs, acts)
    module = _loop_module(pol, theta, torch.float64)
    lp = loop_scores(module, torch.as_tensor(obs), torch.as_tensor(acts)).numpy()
    np.testing.assert_allclose(v, lp, rtol=0, atol=1e-10)
    out = np.empty_like(v)
    assert pol.step_scores(theta, obs, acts, out=out) is out
    np.testing.assert_array_equal(out, v)


def test_trajectory_and_batch_gradients_are_weighted_step_scores():
    prob = tiny(25, hidden="5")
    ep = episodes(prob, 6, np.random.SeedSequence(2))
    w = np.where(ep.mask, np.random.default_rng(1).standard_normal(ep.mask.shape), 0.0)
    pol = prob.policy
    per = pol.trajectory_gradients(prob.theta, ep.states, ep.actions, w)
    m = ep.mask
    scores = pol.step_scores(prob.theta, ep.states[m], ep.actions[m])
    expect = np.zeros_like(per)
    np.add.at(expect, np.nonzero(m)[0], w[m][:, None] * scores)
    np.testing.assert_allclose(per, expect, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pol.batch_gradient(prob.theta, ep.states, ep.actions, w), per.mean(axis=0),
                               rtol=0, atol=1e-12)


def test_score_has_zero_mean_under_the_policy():
    pol = ObsMLPPolicy(4, 3, MLPSpec((5,), "tanh", 0))
    theta = pol.default_theta()
    o = np.random.default_rng(0).standard_normal((1, 4))
    p = pol.probs(theta, o)[0]
    S = pol.step_scores(theta, np.repeat(o, 3, 0), np.arange(3))
    np.testing.assert_allclose(p @ S, 0.0, atol=1e-14)


# --------------------------------------------------------------------------- estimators (the registered ones)

def _paired_batches(prob, combos, M, N, seed=0):
    """Batch means of each (estimator, baseline, lam) on the same episodes (common random numbers), ``(M, d)`` each."""
    ctx = make_context(prob)
    out = {c: [] for c in combos}
    for m in range(M):
        for est, bl, lam in combos:
            b = estimate_batch(ctx, ESTIMATORS[est], bl, {"lam": lam}, N, seed, m)
            out[(est, bl, lam)].append(b.grad)
    return {c: np.asarray(v) for c, v in out.items()}


def _max_z(D):
    se = D.std(axis=0, ddof=1) / np.sqrt(D.shape[0])
    return float(np.max(np.abs(D.mean(axis=0)) / se))


def test_unbiased_estimators_agree_with_reinforce_and_gae_lambda_below_one_does_not():
    prob = tiny(20, hidden="4")
    ref = ("reinforce", "none", 1.0)
    unbiased = [("reward_to_go", "none", 1.0), ("reward_to_go", "constant", 1.0),
                ("reward_to_go", "value_learned", 1.0), ("reinforce", "constant", 1.0),
                ("reinforce", "value_learned", 1.0), ("gae", "value_learned", 1.0), ("reward_to_go", "optimal", 1.0)]
    biased = ("gae", "none", 0.5)
    G = _paired_batches(prob, [ref, *unbiased, biased], M=200, N=10)
    bound = norm.isf(ALPHA / (2 * prob.policy.dim * len(unbiased)))
    for c in unbiased:
        z = _max_z(G[c] - G[ref])
        assert z < bound, f"{c}: max |z| = {z:.2f} >= {bound:.2f}"
    assert _max_z(G[biased] - G[ref]) > bound  # the same test has the power to see a real bias
    # variance reduction shows: reward-to-go with a learned value beats REINFORCE
    tr = {c: np.trace(np.cov(G[c].T)) for c in G}
    assert tr[("reward_to_go", "value_learned", 1.0)] < tr[ref]


def test_gae_lambda_one_equals_reward_to_go_with_the_same_value():
    ctx = make_context(tiny(30, hidden="4"))
    for baseline in ("value_learned", "none"):
        g_gae = estimate_batch(ctx, ESTIMATORS["gae"], baseline, {"lam": 1.0}, 8, 1, 0, per_trajectory=True).grad
        g_rtg = estimate_batch(ctx, ESTIMATORS["reward_to_go"], baseline, None, 8, 1, 0, per_trajectory=True).grad
        np.testing.assert_allclose(g_gae, g_rtg, rtol=0, atol=1e-10 * (1 + np.abs(g_rtg).max()))


def test_learned_value_fits_returns():
    prob = tiny(100, hidden="4")
    value = fit_fourier_value(episodes(prob, 300, np.random.SeedSequence(0)), prob.horizon, np.random.SeedSequence(1))
    test = episodes(prob, 1000, np.random.SeedSequence(2))
    R = test.returns[test.mask]
    resid = R - value(test.states, test.times)[test.mask]
    # out of sample R^2 ~ 0.47 (and ~0.50 when fitted on 10x the data: the rest is the return's own noise)
    assert resid.var() < 0.7 * R.var()


def test_estimator_errors():
    prob = tiny(10)
    with pytest.raises(UserError, match="batch-size >= 2"):
        check_combination(prob, "reward_to_go", "constant", 1)
    with pytest.raises(UserError, match="not available for continuous"):
        check_combination(prob, "actor_critic", "none", 4)
    with pytest.raises(UserError, match="not available for continuous"):
        check_combination(prob, "reinforce", "value_exact", 4)
    with pytest.raises(UserError, match="not meaningful"):
        check_combination(prob, "gae", "constant", 4)
    with pytest.raises(UserError, match="no exact values"):
        build_problem(CARTPOLE, track="tabular")
    with pytest.raises(UserError, match="--features"):
        build_problem(CARTPOLE, features="tabular")
    with pytest.raises(UserError):
        parse_obs_policy("conv")
    assert parse_obs_policy("linear").hidden == ()
    assert parse_obs_policy(None) == MLPSpec((32,), "tanh", 0)


# --------------------------------------------------------------------------- jobs

def _grid(estimator, baseline, **kw):
    return run_estimate_grid(lambda h: tiny(h), [20], [4, 16], estimator, baseline, replicates=5, seed=3,
                             reference_batch=300, progress=False, **kw)


def test_estimate_table_works_with_metrics():
    t = _grid("reward_to_go", "value_learned")
    assert t.num_rows == 10
    for col in ("env", "policy", "theta", "gamma", "horizon", "dim", "estimator", "baseline", "batch_size", "replicate",
                "grad", "grad_exact", "env_steps", "batch_return_mean", "J_exact", "reference_rel_se", "unbiased"):
        assert col in t.column_names, col
    df = t.to_pandas()
    assert df["horizon"].iloc[0] == 20 and df["theta"].iloc[0] == "init" and df["features"].iloc[0] == "obs"
    assert len(df["grad"].iloc[0]) == df["dim"].iloc[0]
    m = metrics_frame([df], n_resamples=50)
    assert list(m["batch_size"]) == [4, 16]
    assert np.all(np.isfinite(m["cosine"])) and np.all(np.isfinite(m["rel_mse"]))
    row = job_metrics(df[df.batch_size == 16].reset_index(drop=True), n_resamples=50)
    assert 0 < row["reference_rel_se"] < 1
    # deterministic; estimators share episodes (common random numbers) and the reference
    assert_same(t, _grid("reward_to_go", "value_learned"))
    r = _grid("reinforce", "none").to_pandas()
    np.testing.assert_array_equal(r["batch_return_mean"], df["batch_return_mean"])
    np.testing.assert_array_equal(np.stack(r["grad_exact"]), np.stack(df["grad_exact"]))
    assert np.all(r["env_steps"] < df["env_steps"])  # value_learned pays for its fitting batch
    big = _grid("reward_to_go", "value_learned", fit_batch_size=32).to_pandas()
    assert np.all(big["env_steps"] > df["env_steps"]) and set(big["fit_batch_size"]) == {32}


def test_reference_standard_error_shrinks_like_one_over_sqrt_n():
    ctx = make_context(tiny(20, hidden="4"))
    assert isinstance(ctx, ContinuousContext)
    small, large = reference_gradient(ctx, 300, 0), reference_gradient(ctx, 1200, 0)
    assert 1.4 < small.rel_se / large.rel_se < 2.8
    # the large reference lies within a few of its own standard errors of the small one's
    z = np.abs(small.grad - large.grad) / np.sqrt(small.se**2 + large.se**2)
    assert z.max() < norm.isf(ALPHA / (2 * ctx.problem.policy.dim))


# --------------------------------------------------------------------------- training (the shared loop)

def test_training_is_deterministic_and_improves():
    prob = tiny(500, hidden="16")
    kw = dict(batch_size=16, step_size=0.02, iterations=20, seed=0, optimizer="adam", eval_episodes=20)
    a = run_table(prob, train_run(prob, "reward_to_go", "constant", **kw), {"estimator": "reward_to_go"})
    b = run_table(prob, train_run(prob, "reward_to_go", "constant", **kw), {"estimator": "reward_to_go"})
    assert_same(a, b)
    df = a.to_pandas()
    assert list(df["iteration"]) == list(range(21)) and not df["diverged"].any()
    steps = df["env_steps"].to_numpy()
    assert np.all(np.diff(steps[:-1]) > 0) and steps[-1] == steps[-2]  # no batch is drawn at the last row
    assert df["J_star"].iloc[0] == 500 and np.array_equal(df["J"], df["eval_return"])
    assert df["eval_return"].iloc[-3:].mean() > df["eval_return"].iloc[0] + 15
    with pytest.raises(UserError, match="exact gradient exists only"):
        train_run(prob, "exact", batch_size=1, step_size=0.1, iterations=1, seed=0)


def test_training_marks_divergence_and_keeps_rows(monkeypatch):
    import pgexp.runs.train_general as tr

    real = tr.estimate_batch
    calls = {"n": 0}

    def flaky(*args, **kw):
        b = real(*args, **kw)
        calls["n"] += 1
        return dataclasses.replace(b, grad=b.grad * np.nan) if calls["n"] == 3 else b

    monkeypatch.setattr(tr, "estimate_batch", flaky)
    run = train_run(tiny(20), "reinforce", "none", batch_size=4, step_size=0.1, iterations=10, seed=0,
                    optimizer="sga", eval_episodes=3)
    assert run.diverged and run.rows["iteration"] == [0, 1, 2] and run.rows["diverged"] == [False, False, True]
    assert np.isnan(run.rows["grad_norm"][-1])


# --------------------------------------------------------------------------- bench

def test_bench_pergrad_reports_a_speedup():
    r = bench_pergrad(batch=200, hidden=(32, 32), repeats=3, threads=1)
    assert set(r) >= {"vmap_seconds", "loop_seconds", "ratio", "batch"}
    assert r["max_abs_diff"] < 1e-10
    assert r["ratio"] > 1
