"""Exact quantities: Bellman identities, grad J against finite differences and torch autograd,
published values (Sutton & Barto Example 13.1, Gymnasium toy-text optima), sparse = dense."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_problem

from pgexp import exact
from pgexp.errors import UserError
from pgexp.exact.autograd import objective, softmax_linear_probs
from pgexp.problems.corridor import corridor_value
from pgexp.problems.problem import build_problem


def test_bellman_identities(small_problem):
    mdp, pol, theta = small_problem.mdp, small_problem.policy, small_problem.theta
    ev = exact.evaluate(mdp, pol.probs(theta))
    good = np.isfinite(ev.V)
    np.testing.assert_allclose((ev.pi * ev.Q).sum(1)[good], ev.V[good], atol=1e-10)
    if ev.objective != "finite":  # stationary Bellman equation Q = r + gamma P V
        np.testing.assert_allclose(ev.Q[good], (mdp.r + mdp.gamma * mdp.expected_next(np.nan_to_num(ev.V)))[good],
                                   atol=1e-10)
    assert ev.J == pytest.approx(float(mdp.mu @ np.nan_to_num(ev.V)), abs=1e-12)
    assert ev.occupancy.sum() == pytest.approx(1.0, abs=1e-12) and np.all(ev.occupancy >= -1e-15)


def test_occupancy_solves_the_flow_equation(small_problem):
    mdp, pol, theta = small_problem.mdp, small_problem.policy, small_problem.theta
    ev = exact.evaluate(mdp, pol.probs(theta))
    if ev.objective == "finite":
        p = mdp.mu.copy()
        for h in range(mdp.horizon):
            np.testing.assert_allclose(ev.state_dist[h], p, atol=1e-14)
            p = np.einsum("s,sa,sat->t", p, ev.pi, mdp.dense_P)
    elif ev.objective == "discounted":  # visits = mu + gamma visits P_pi
        P_pi = np.einsum("sa,sat->st", ev.pi, mdp.dense_P)
        np.testing.assert_allclose(ev.visits, mdp.mu + mdp.gamma * ev.visits @ P_pi, atol=1e-10)


def _fd_gradient(mdp, pol, theta, eps=1e-6):
    g = np.empty(pol.dim)
    for k in range(pol.dim):
        e = np.zeros(pol.dim)
        e[k] = eps
        g[k] = (exact.J(mdp, pol, theta + e) - exact.J(mdp, pol, theta - e)) / (2 * eps)
    return g


def test_gradient_matches_central_finite_differences(small_problem):
    mdp, pol, theta = small_problem.mdp, small_problem.policy, small_problem.theta
    J, grad, _ = exact.gradient(mdp, pol, theta)
    fd = _fd_gradient(mdp, pol, theta)
    # error of a central difference: O(eps^2 J''') + O(ulp(J) / eps) ~ 1e-9 * scale; a wrong formula is O(1)
    scale = 1.0 + abs(J) + np.abs(grad).max()
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-7 * scale)


def test_gradient_matches_torch_autograd(small_problem):
    mdp, pol, theta = small_problem.mdp, small_problem.policy, small_problem.theta
    J, grad, _ = exact.gradient(mdp, pol, theta)
    th = torch.tensor(theta, requires_grad=True)
    J_t = objective(mdp, softmax_linear_probs(th, pol.features.dense()))
    (auto,) = torch.autograd.grad(J_t, th)
    assert J_t.detach().item() == pytest.approx(J, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, auto.numpy(), rtol=1e-9, atol=1e-12 * (1 + np.abs(grad).max()))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 2 - np.sqrt(2), 0.8, 0.95])
def test_corridor_matches_the_books_closed_form(p):
    prob = build_problem("short_corridor")
    theta = np.array([np.log(p / (1 - p)), 0.0])  # pi(right) = p in every state
    J, grad, _ev = exact.gradient(prob.mdp, prob.policy, theta)
    assert J == pytest.approx(corridor_value(p), rel=1e-13)
    # d v / d theta_right = v'(p) p (1 - p) with v'(p) differentiated from the closed form;
    # theta_left gets the opposite
    dv = (2 * p * (1 - p) - (2 * p - 4) * (1 - 2 * p)) / (p * (1 - p)) ** 2
    assert grad[0] == pytest.approx(dv * p * (1 - p), rel=1e-11, abs=1e-12)
    assert grad[1] == pytest.approx(-grad[0], rel=1e-12, abs=1e-14)


def test_corridor_optimum_of_the_policy_class():
    prob = build_problem("short_corridor")
    p_star = 2 - np.sqrt(2)
    _, grad, _ = exact.gradient(prob.mdp, prob.policy, np.array([np.log(p_star / (1 - p_star)), 0.0]))
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    assert corridor_value(p_star) == pytest.approx(-11.656854249492380, rel=1e-14)  # = -(6 + 4 sqrt 2)
    assert exact.optimal(prob.mdp).J_star == pytest.approx(-3.0, abs=1e-12)  # over all policies


@pytest.mark.parametrize("spec,gamma,horizon,expected", [
    # slippery 4x4: success probability of the optimal policy (Bellman fixed point, 14/17 undiscounted)
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 1.0, "inf", 14 / 17),
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 0.99, "inf", 0.5420259319),
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 0.9, "inf", 0.0688909049),
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=false", 1.0, None, 1.0),
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=false", 0.9, "inf", 0.9**5),  # 6 steps, reward on the last
    ("gym:FrozenLake-v1:map_name=8x8,is_slippery=false", 1.0, None, 1.0),
    ("gym:CliffWalking-v1", 1.0, "inf", -13.0),  # S&B Example 6.6: the optimal path along the cliff
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 1.0, 1, 0.0),
])
def test_toy_text_optimal_values(spec, gamma, horizon, expected):
    prob = build_problem(spec, gamma=gamma, horizon=horizon)
    assert exact.optimal(prob.mdp).J_star == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_optimal_value_dominates_every_policy(small_problem):
    mdp, pol = small_problem.mdp, small_problem.policy
    J_star = exact.optimal(mdp).J_star
    for seed in range(5):
        theta = np.random.default_rng(seed).standard_normal(pol.dim) * 3
        assert exact.J(mdp, pol, theta) <= J_star + 1e-10


def test_optimal_policy_iteration_equals_value_iteration():
    mdp = build_problem("garnet:states=30,actions=4,branching=3,seed=5", gamma=0.9).mdp
    V = np.zeros(mdp.num_states)
    for _ in range(2000):
        V = (mdp.r + mdp.gamma * mdp.expected_next(V)).max(1)
    np.testing.assert_allclose(exact.optimal(mdp).V_star, V, atol=1e-10)


def test_long_finite_horizon_converges_to_discounted():
    fin = make_problem("garnet:states=8,actions=3,branching=3,seed=0", None, 0.8, 200)
    inf = make_problem("garnet:states=8,actions=3,branching=3,seed=0", None, 0.8, "inf")
    J1, g1, _ = exact.gradient(fin.mdp, fin.policy, fin.theta)
    J2, g2, _ = exact.gradient(inf.mdp, inf.policy, inf.theta)
    # the tail beyond H = 200 is bounded by gamma^200 / (1 - gamma)^2 * max|r| ~ 1e-18
    assert J1 == pytest.approx(J2, abs=1e-12)
    np.testing.assert_allclose(g1, g2, atol=1e-11)


@pytest.mark.parametrize("horizon", [None, 15])
def test_sparse_krylov_path_equals_dense(monkeypatch, horizon):
    prob = make_problem("garnet:states=300,actions=4,branching=5,seed=1", None, 0.95, horizon or "inf")
    J_dense, g_dense, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    monkeypatch.setattr(exact.values, "DENSE_MAX", 10)
    J_sparse, g_sparse, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    assert J_sparse == pytest.approx(J_dense, rel=1e-11)
    np.testing.assert_allclose(g_sparse, g_dense, rtol=0, atol=1e-11 * np.abs(g_dense).max())


def _error_bounds(M, b, c, x, y, inv_norm, rtol):
    """Guaranteed ``(||x - x*||_inf, ||y - y*||_1)`` of a solve accepted at backward error ``rtol``, and of a
    reference solve ``(x, y)`` from its measured residuals; ``inv_norm`` bounds ``||M^-1||_inf = ||M^-T||_1``."""
    norm_M = np.abs(M).sum(axis=1).max()
    accepted = (rtol * (np.abs(b).max() + norm_M * np.abs(x).max()) * inv_norm,
                rtol * (np.abs(c).sum() + norm_M * np.abs(y).sum()) * inv_norm)
    measured = (np.abs(b - M @ x).max() * inv_norm, np.abs(c - M.T @ y).sum() * inv_norm)
    return accepted, measured


@pytest.mark.parametrize("env, gamma", [("garnet:states=3000,actions=4,branching=5,seed=2", 0.95),
                                        ("garnet:states=2000,actions=3,branching=2,seed=5", 0.99),
                                        ("gym:FrozenLake-v1:map_name=8x8", 1.0)])
def test_large_path_within_its_error_guarantee_of_the_dense_solve(monkeypatch, env, gamma):
    """The BiCG path (forced by DENSE_MAX) and dense LAPACK differ by no more than their guaranteed errors:
    ``||V - V*||_inf <= ||M^-1||_inf ||res||_inf`` (the visits in the 1-norm), the BiCG residual at most the
    accepted backward error ``KRYLOV_RTOL (||b|| + ||M|| ||x||)``, the dense one as measured."""
    prob = make_problem(env, None, gamma, "inf", seed=1, scale=1.0)
    mdp, pol, theta = prob.mdp, prob.policy, prob.theta
    pi = pol.probs(theta)
    monkeypatch.setattr(exact.values, "DENSE_MAX", 10**4)
    J_d, g_d, ev_d = exact.gradient(mdp, pol, theta)
    monkeypatch.setattr(exact.values, "DENSE_MAX", 10)
    J_k, g_k, ev_k = exact.gradient(mdp, pol, theta)
    # the system each path solved, on the states it solved for
    idx = np.flatnonzero(ev_d.visits > 0) if gamma == 1.0 else np.arange(mdp.num_states)
    idx = idx[np.isin(idx, np.flatnonzero(~mdp.absorbing_states()))] if gamma == 1.0 else idx
    P_pi = np.einsum("sa,sat->st", pi, mdp.dense_P)[np.ix_(idx, idx)]
    M = np.eye(idx.size) - gamma * P_pi
    b, c = np.einsum("sa,sa->s", pi, mdp.r)[idx], mdp.mu[idx]
    # ||M^-1||_inf: 1 / (1 - gamma) when discounted, the longest expected episode when episodic
    inv_norm = 1 / (1 - gamma) if gamma < 1 else np.linalg.solve(M, np.ones(idx.size)).max()
    (eV_k, ey_k), _ = _error_bounds(M, b, c, ev_k.V[idx], ev_k.visits[idx], inv_norm, exact.values.KRYLOV_RTOL)
    _, (eV_d, ey_d) = _error_bounds(M, b, c, ev_d.V[idx], ev_d.visits[idx], inv_norm, 0.0)
    eV, ey = eV_k + eV_d, ey_k + ey_d
    assert np.abs(ev_k.V[idx] - ev_d.V[idx]).max() <= eV
    assert np.abs(ev_k.visits - ev_d.visits).sum() <= ey
    assert abs(J_k - J_d) <= eV  # J = mu . V, |mu|_1 = 1
    # tabular softmax: grad[s, b] = pi(b|s) (C[s, b] - sum_a pi(a|s) C[s, a]), so |d grad| <= 2 max |dC|, and
    # C = visits * A with |dA| <= (1 + gamma) |dV|_inf
    A_max = np.abs(np.nan_to_num(ev_d.A[idx])).max()
    y_max = np.abs(ev_d.visits).max()
    assert np.abs(g_k - g_d).max() <= 2 * (ey * A_max + (y_max + ey) * (1 + gamma) * eV)
    assert eV <= 1e-9 * max(np.abs(ev_d.V[idx]).max(), 1.0)  # the guarantee is not vacuous


def test_bicg_pairs_orthogonal_right_hand_sides_and_falls_back_when_it_stalls():
    from pgexp.exact import krylov

    prob = make_problem("garnet:states=2000,actions=4,branching=5,seed=0", None, 0.9, "inf")
    mdp, pi = prob.mdp, prob.policy.probs(prob.theta)
    K = krylov.blocked(mdp.P, 0.9 * pi.ravel(), 4)
    M = K.to_csr()
    b = np.einsum("sa,sa->s", pi, mdp.r)
    b -= b.mean()  # mu . b = 0: plain dual BiCG breaks down at once; re-pairing the shadow residual avoids it
    sol = krylov.solve_pair(K, b, mdp.mu, rtol=1e-13)
    assert sol.method == "bicg"
    assert np.abs(b - M @ sol.x).max() <= 1e-13 * (np.abs(b).max() + K.norm_bound * np.abs(sol.x).max())
    assert np.abs(mdp.mu - M.T @ sol.y).sum() <= 1e-13 * (1 + K.norm_bound * np.abs(sol.y).sum())
    # a long chain at gamma 0.99 is non-normal enough for BiCG to stall: GMRES takes over, to the same guarantee
    chain = make_problem("chain:length=600,seed=0", None, 0.99, "inf")
    pi = chain.policy.probs(chain.theta)
    K = krylov.blocked(chain.mdp.P, 0.99 * pi.ravel(), 2)
    M = K.to_csr().toarray()
    b = np.einsum("sa,sa->s", pi, chain.mdp.r)
    sol = krylov.solve_pair(K, b, chain.mdp.mu, rtol=1e-13)
    assert sol.method == "bicg+gmres"
    x_ref, y_ref = np.linalg.solve(M, b), np.linalg.solve(M.T, chain.mdp.mu)
    (ex, ey), _ = _error_bounds(M, b, chain.mdp.mu, sol.x, sol.y, 1 / (1 - 0.99), 1e-13)
    _, (ex_ref, ey_ref) = _error_bounds(M, b, chain.mdp.mu, x_ref, y_ref, 1 / (1 - 0.99), 0.0)
    assert np.abs(sol.x - x_ref).max() <= ex + ex_ref
    assert np.abs(sol.y - y_ref).sum() <= ey + ey_ref


def test_large_sparse_garnet_directional_derivative():
    prob = make_problem("garnet:states=5000,actions=4,branching=5,seed=0", None, 0.9, "inf")
    _J, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    v = np.random.default_rng(0).standard_normal(prob.policy.dim)
    eps = 1e-4
    fd = (exact.J(prob.mdp, prob.policy, prob.theta + eps * v)
          - exact.J(prob.mdp, prob.policy, prob.theta - eps * v)) / (2 * eps)
    assert grad @ v == pytest.approx(fd, rel=1e-6)


def test_episodic_without_termination_is_refused():
    with pytest.raises(UserError, match="no absorbing"):
        exact.gradient(*_parts(build_problem("chain", gamma=1.0, horizon="inf")))
    # a trap: FrozenLake slippery terminates, but a garnet has no absorbing state at all
    with pytest.raises(UserError, match="give --horizon H or --gamma < 1"):
        exact.optimal(build_problem("garnet", gamma=1.0, horizon="inf").mdp)


def _parts(prob):
    return prob.mdp, prob.policy, prob.theta


def test_nearly_non_terminating_policy_is_refused_not_garbage():
    # pi(right) = 1 - 1e-14 everywhere: in state 1 "right" leads back to 0, so episodes take ~1e14 steps
    prob = build_problem("short_corridor")
    theta = np.array([32.0, 0.0])
    with pytest.raises(UserError, match="nearly\\) never terminates"):
        exact.gradient(prob.mdp, prob.policy, theta)
