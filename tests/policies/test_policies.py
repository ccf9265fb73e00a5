"""Softmax-linear policy: probabilities, stability, and the closed-form score against two references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgexp.errors import UserError
from pgexp.policies import (
    DenseFeatures,
    SoftmaxLinearPolicy,
    TabularFeatures,
    make_features,
    make_policy,
)
from pgexp.policies.theta import make_theta
from pgexp.problems import make_env


def _policies():
    rng = np.random.default_rng(0)
    yield "tabular", SoftmaxLinearPolicy(TabularFeatures(5, 3))
    yield "dense", SoftmaxLinearPolicy(DenseFeatures(rng.standard_normal((5, 3, 4))))


@pytest.fixture(params=list(_policies()), ids=lambda p: p[0])
def policy(request):
    return request.param[1]


def test_probabilities_are_a_distribution(policy):
    theta = np.random.default_rng(1).standard_normal(policy.dim)
    pi = policy.probs(theta)
    assert pi.shape == (5, 3) and np.all(pi > 0)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_huge_logits_are_stable():
    pol = SoftmaxLinearPolicy(TabularFeatures(2, 3))
    theta = np.array([1000.0, 999.0, -1000.0, 800.0, 800.0, 800.0])
    pi = pol.probs(theta)
    assert np.all(np.isfinite(pi))
    np.testing.assert_allclose(pi[0], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0.0], atol=1e-15)
    np.testing.assert_allclose(pi[1], 1 / 3, atol=1e-15)


def test_score_matches_finite_differences_of_log_pi(policy):
    theta = np.random.default_rng(2).standard_normal(policy.dim)
    table = policy.score_table(theta)
    eps = 1e-6
    fd = np.empty_like(table)
    for k in range(policy.dim):
        e = np.zeros(policy.dim)
        e[k] = eps
        fd[..., k] = (policy.log_probs(theta + e) - policy.log_probs(theta - e)) / (2 * eps)
    # central differences: truncation O(eps^2 |d^3 log pi|) + round-off O(1e-16 / eps) ~ 1e-10
    np.testing.assert_allclose(table, fd, atol=1e-8)


def test_score_matches_torch_autograd(policy):
    theta = np.random.default_rng(3).standard_normal(policy.dim)
    phi = torch.as_tensor(policy.features.dense())
    th = torch.tensor(theta, requires_grad=True)
    logp = torch.log_softmax(phi @ th, dim=-1)
    S, A = logp.shape
    auto = np.stack([np.stack([torch.autograd.grad(logp[s, a], th, retain_graph=True)[0].numpy() for a in range(A)])
                     for s in range(S)])
    np.testing.assert_allclose(policy.score_table(theta), auto, rtol=1e-12, atol=1e-13)


def test_score_pullback_and_vjp_agree_with_the_table(policy, rng):
    theta = rng.standard_normal(policy.dim)
    W = rng.standard_normal((7, 5, 3))
    table = policy.score_table(theta)
    np.testing.assert_allclose(policy.score_pullback(theta, W), np.einsum("nsa,sad->nd", W, table), atol=1e-12)
    C = rng.standard_normal((5, 3))
    pi = policy.probs(theta)
    np.testing.assert_allclose(policy.probs_vjp(theta, C), np.einsum("sa,sa,sad->d", C, pi, table), atol=1e-12)


def test_score_has_zero_mean_under_pi(policy, rng):
    theta = rng.standard_normal(policy.dim)
    mean = np.einsum("sa,sad->sd", policy.probs(theta), policy.score_table(theta))
    np.testing.assert_allclose(mean, 0.0, atol=1e-14)


def test_feature_specs():
    m = make_env("short_corridor")
    assert make_features(None, m).name == "native" and make_features(None, m).dim == 2
    assert make_features("tabular", m).dim == 8
    f = make_features("random:d=3,seed=1", m)
    assert f.dim == 3 and np.array_equal(f.dense(), make_features("random:seed=1,d=3", m).dense())
    g = make_env("garnet")
    assert make_features(None, g).name == "tabular"
    with pytest.raises(UserError, match="brings no features"):
        make_features("native", g)
    with pytest.raises(UserError, match="unknown kind 'onehot'"):
        make_features("onehot", g)
    with pytest.raises(UserError, match="unknown kind 'transformer'"):
        make_policy("transformer", f)


def test_theta_specs(tmp_path):
    assert np.array_equal(make_theta("zeros", 3), np.zeros(3))
    a = make_theta("random:seed=4,scale=2", 5)
    assert np.array_equal(a, make_theta("random:scale=2,seed=4", 5))
    assert not np.array_equal(a, make_theta("random:seed=5,scale=2", 5))
    np.save(tmp_path / "t.npy", a)
    assert np.array_equal(make_theta(str(tmp_path / "t.npy"), 5), a)
    with pytest.raises(UserError, match="has 5 entries; this policy has dim = 4"):
        make_theta(str(tmp_path / "t.npy"), 4)
    with pytest.raises(UserError, match="allowed: init, zeros"):
        make_theta("ones", 3)  # the message lists init, zeros, random, PATH.npy
