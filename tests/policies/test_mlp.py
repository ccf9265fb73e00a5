"""The torch MLP policy on tabular problems: autograd scores, exact gradients, unbiased estimators.

* On a linear ``f`` the torch.func score equals the closed-form softmax-linear score (float64, 1e-12).
* MLP scores equal central finite differences of ``log pi``.
* ``exact.gradient`` with the MLP (``probs_vjp`` of the exact cotangent) equals central finite
  differences of the exact ``J`` and torch autograd of :func:`pgexp.exact_torch.objective`.
* Every registry estimator claimed unbiased is unbiased with the MLP policy (Bonferroni z-test, 1e-4).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.stats import norm

from pgexp import exact
from pgexp.analysis.metrics import estimator_metrics
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.exact.autograd import objective
from pgexp.policies import (
    DenseFeatures,
    SoftmaxLinearPolicy,
    TabularFeatures,
    make_policy,
)
from pgexp.policies.mlp import (
    LinearTorchPolicy,
    MLPPolicy,
    MLPSpec,
    TorchMLP,
    as_tensor,
    parse_mlp_spec,
    theta_for,
)
from pgexp.problems.problem import Problem, build_problem
from pgexp.runs.estimate import run_estimate

PROBLEMS = {
    "corridor-episodic": ("short_corridor", None, None),
    "garnet-finite": ("garnet:states=5,actions=3,branching=2,seed=4", 0.95, 6),
    "garnet-discounted": ("garnet:states=6,actions=2,branching=3,seed=1", 0.9, "inf"),
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def mlp_problem(pid: str, policy: str = "mlp:hidden=5,seed=3") -> Problem:
    env, gamma, horizon = PROBLEMS[pid]
    prob = build_problem(env, policy=policy, gamma=gamma, horizon=horizon)
    return dataclasses.replace(prob, theta=theta_for(prob.policy, "init"), theta_spec="init")


def central_fd(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f: (d,) -> array`` along every coordinate, ``f.shape + (d,)``."""
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


# --------------------------------------------------------------------------- spec / construction

def test_spec_parsing_and_registry():
    assert parse_mlp_spec("mlp:hidden=64x64,seed=0") == MLPSpec((64, 64), "tanh", 0)
    assert parse_mlp_spec("mlp:hidden=32,activation=relu,seed=2") == MLPSpec((32,), "relu", 2)
    assert parse_mlp_spec("mlp:hidden=none").hidden == ()
    assert parse_mlp_spec("mlp").name == "mlp:activation=tanh,hidden=64x64,seed=0"
    for bad in ("mlp:width=3", "mlp:hidden=0x4", "mlp:hidden=abc", "mlp:activation=gelu", "mlp:seed=-1"):
        with pytest.raises(UserError):
            parse_mlp_spec(bad)
    feats = TabularFeatures(4, 3)
    pol = make_policy("mlp:hidden=6x5,seed=1", feats)
    assert isinstance(pol, MLPPolicy)
    assert pol.dim == 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3
    assert pol.name == "mlp:activation=tanh,hidden=6x5,seed=1"
    with pytest.raises(UserError):
        make_policy("conv", feats)


def test_init_is_seeded_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    pol = MLPPolicy(TabularFeatures(5, 2), MLPSpec((7,), "tanh", 0))
    a, b = pol.default_theta(), pol.initial_theta(0)
    c = pol.initial_theta(1)
    assert torch.equal(state, torch.random.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])
    assert a.dtype == np.float64 and a.shape == (pol.dim,)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # PyTorch's nn.Linear bounds: |w| <= 1/sqrt(fan_in)
    first = a[: 7 * 5]
    assert np.abs(first).max() <= 1 / np.sqrt(5) + 1e-15


def test_theta_for_init_and_passthrough():
    pol = MLPPolicy(TabularFeatures(3, 2), MLPSpec((4,), "tanh", 5))
    np.testing.assert_array_equal(theta_for(pol, "init"), pol.default_theta())
    np.testing.assert_array_equal(theta_for(pol, None), pol.default_theta())
    assert np.all(theta_for(pol, "zeros") == 0)
    lin = SoftmaxLinearPolicy(TabularFeatures(3, 2))
    assert np.all(theta_for(lin, None) == 0)
    with pytest.raises(UserError):
        theta_for(lin, "init")


def test_functional_network_matches_a_plain_module():
    net = TorchMLP(4, 3, (6, 5), "relu")
    theta = net.init(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 5), torch.nn.ReLU(),
                              torch.nn.Linear(5, 3)).double()
    torch.nn.utils.vector_to_parameters(torch.as_tensor(theta), ref.parameters())
    x = torch.as_tensor(np.random.default_rng(0).standard_normal((10, 4)))
    torch.testing.assert_close(net(as_tensor(theta), x), ref(x), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- linear f: closed form = autograd

@pytest.mark.parametrize("kind", ["tabular", "dense"])
def test_linear_torch_policy_reproduces_closed_form(kind, rng):
    S, A, d = 5, 3, 4
    feats = TabularFeatures(S, A) if kind == "tabular" else DenseFeatures(rng.standard_normal((S, A, d)))
    closed, auto = SoftmaxLinearPolicy(feats), LinearTorchPolicy(feats)
    theta = rng.standard_normal(feats.dim)
    np.testing.assert_allclose(auto.probs(theta), closed.probs(theta), rtol=0, atol=1e-14)
    np.testing.assert_allclose(auto.score_table(theta), closed.score_table(theta), rtol=0, atol=1e-12)
    W = rng.standard_normal((2, 7, S, A))
    np.testing.assert_allclose(auto.score_pullback(theta, W), closed.score_pullback(theta, W), rtol=0, atol=1e-12)
    C = rng.standard_normal((S, A))
    np.testing.assert_allclose(auto.probs_vjp(theta, C), closed.probs_vjp(theta, C), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- MLP scores

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_score_equals_finite_differences(activation, rng):
    pol = MLPPolicy(TabularFeatures(4, 3), MLPSpec((5,), activation, 2))
    theta = pol.default_theta() + 0.3 * rng.standard_normal(pol.dim)
    table = pol.score_table(theta)
    assert table.shape == (4, 3, pol.dim)
    fd = central_fd(pol.log_probs, theta)
    np.testing.assert_allclose(table, fd, rtol=0, atol=1e-8)
    # pullback = weighted sum of the score table, for any leading shape; probs_vjp = pi-weighted pullback
    W = rng.standard_normal((3, 2, 4, 3))
    np.testing.assert_allclose(pol.score_pullback(theta, W), np.einsum("...sa,sad->...d", W, table), rtol=0, atol=1e-12)
    C = rng.standard_normal((4, 3))
    np.testing.assert_allclose(pol.probs_vjp(theta, C), pol.score_pullback(theta, C * pol.probs(theta)),
                               rtol=0, atol=1e-12)
    # sum_a grad pi(a|s) = 0
    np.testing.assert_allclose(pol.probs_vjp(theta, np.ones((4, 3))), 0.0, atol=1e-13)


def test_score_pullback_chunked_equals_unchunked(rng, monkeypatch):
    from pgexp.policies import mlp

    pol = MLPPolicy(TabularFeatures(6, 2), MLPSpec((4,), "tanh", 0))
    theta = pol.default_theta()
    W = rng.standard_normal((50, 6, 2))
    full = pol.score_pullback(theta, W)
    monkeypatch.setattr(mlp, "VMAP_ELEMENTS", 24)  # -> chunks of 1
    assert pol._chunk(50) == 1
    np.testing.assert_allclose(pol.score_pullback(theta, W), full, rtol=0, atol=1e-14)
    assert pol.score_pullback(theta, np.zeros((0, 6, 2))).shape == (0, pol.dim)


# --------------------------------------------------------------------------- exact gradient

@pytest.mark.parametrize("pid", list(PROBLEMS))
def test_exact_gradient_equals_fd_and_autograd_of_exact_objective(pid):
    prob = mlp_problem(pid)
    pol, mdp = prob.policy, prob.mdp
    theta = prob.theta + 0.5 * np.random.default_rng(1).standard_normal(prob.policy.dim)
    J, grad, _ = exact.gradient(mdp, pol, theta)
    th = torch.tensor(theta, requires_grad=True)
    J_t = objective(mdp, torch.softmax(pol.logits_torch(th), dim=-1))
    (auto,) = torch.autograd.grad(J_t, th)
    assert abs(J_t.item() - J) <= 1e-10 * (1 + abs(J))
    scale = 1 + np.abs(grad).max()
    np.testing.assert_allclose(grad, auto.numpy(), rtol=0, atol=1e-10 * scale)
    fd = central_fd(lambda x: exact.J(mdp, pol, x), theta, eps=1e-5)
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-7 * scale)
    assert np.linalg.norm(grad) > 1e-6  # a non-trivial check


# --------------------------------------------------------------------------- unbiased Monte Carlo estimators

ALPHA = 1e-4
LAM = 0.7


def _unbiased_cases():
    from pgexp.runs.check import baseline_names

    for est in ESTIMATORS.values():
        for baseline in baseline_names(est):
            if est.is_unbiased(baseline, {"lam": LAM}) and "finite" in est.objectives:
                yield pytest.param(est.name, baseline, id=f"{est.name}-{baseline}")


@pytest.mark.parametrize("estimator,baseline", list(_unbiased_cases()))
def test_registry_estimators_unbiased_with_mlp_policy(estimator, baseline):
    prob = mlp_problem("garnet-finite", policy="mlp:hidden=4,seed=1")
    if ESTIMATORS[estimator].min_group_size is not None:  # a group estimator: batches of 2 prompts x 4 responses
        from pgexp.sampling.groups import with_group_size

        prob = with_group_size(prob, 4)
    M, N = 400, 8
    table = run_estimate(prob, estimator, baseline, params={"lam": LAM}, batch_size=N, replicates=M, seed=7,
                         progress=False)
    G = np.stack(table.column("grad").to_numpy(zero_copy_only=False))
    g_true = np.asarray(table.column("grad_exact")[0].as_py())
    z = estimator_metrics(G, g_true, N, n_resamples=10)["bias_max_z"]
    bound = norm.isf(ALPHA / (2 * prob.policy.dim))  # Bonferroni over the coordinates
    assert z < bound, f"{estimator}~{baseline}: max |z| = {z:.2f} >= {bound:.2f}"
