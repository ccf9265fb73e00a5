"""Gymnasium problems expose Gymnasium's states: the absorbing state pgexp appends is internal.

FrozenLake 4x4 has 16 x 4 tabular parameters (as in Gymnasium), not 17 x 4, and nothing else changes:
``J`` and ``grad J`` equal those of the old parameterisation with a row of parameters for the absorbing
state (whose coordinates of ``grad J`` are exactly zero), and Monte-Carlo estimates are the same numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pgexp import exact
from pgexp.cli import main
from pgexp.estimators import get_estimator
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.problem import Problem, build_problem
from pgexp.runs.context import TabularContext as Context
from pgexp.runs.estimate import estimate_batch

GYM = [
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 16, 4, None, 20),
    ("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", 16, 4, 0.9, "inf"),
    ("gym:CliffWalking-v1", 48, 4, None, 30),
    ("gym:Taxi-v4", 500, 6, 0.95, "inf"),
]


def with_absorbing_row(problem: Problem, extra: np.ndarray) -> Problem:
    """The same problem with the old parameterisation: one-hot features on every state, the absorbing one too."""
    mdp = problem.mdp
    feats = TabularFeatures(mdp.num_states, mdp.num_actions)  # num_internal = 0: 17 x 4 for FrozenLake 4x4
    theta = np.concatenate([problem.theta, extra])
    return Problem(mdp, SoftmaxLinearPolicy(feats), theta, problem.env_spec, "tabular", "linear", "old")


@pytest.mark.parametrize("env,S,A,gamma,horizon", GYM, ids=[f"{g[0].split(':')[1]}-{g[4]}" for g in GYM])
def test_tabular_parameters_are_gymnasiums_states(env, S, A, gamma, horizon):
    prob = build_problem(env, theta="random:seed=3,scale=0.8", gamma=gamma, horizon=horizon)
    assert prob.mdp.num_exposed == S and prob.mdp.num_states == S + 1 and prob.policy.dim == S * A
    old = with_absorbing_row(prob, np.random.default_rng(0).normal(size=A))
    J_new, g_new, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    J_old, g_old, _ = exact.gradient(old.mdp, old.policy, old.theta)
    # the absorbing state's parameters never act: their gradient is exactly zero, the rest is unchanged
    assert np.all(g_old[S * A :] == 0.0)
    np.testing.assert_allclose(J_new, J_old, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g_new, g_old[: S * A], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "estimator,baseline",
    [("reinforce", "none"), ("reward_to_go", "value_exact"), ("gae", "value_exact"), ("actor_critic", "none")],
)
def test_monte_carlo_estimates_are_unchanged(estimator, baseline):
    prob = build_problem(GYM[0][0], theta="random:seed=1,scale=0.5", horizon=20)
    old = with_absorbing_row(prob, np.array([2.0, -1.0, 0.5, 0.0]))  # a non-uniform policy in the absorbing state
    est = get_estimator(estimator)
    for m in range(3):
        new_b = estimate_batch(Context(prob), est, baseline, {"lam": 0.9}, 8, 12345, m)
        old_b = estimate_batch(Context(old), est, baseline, {"lam": 0.9}, 8, 12345, m)
        assert new_b.env_steps == old_b.env_steps and new_b.return_mean == old_b.return_mean
        assert np.all(old_b.grad[64:] == 0.0)
        np.testing.assert_allclose(new_b.grad, old_b.grad[:64], rtol=1e-12, atol=1e-14)


def test_exact_json_reports_gymnasiums_states(tmp_path, capsys):
    theta = np.linspace(-1, 1, 64)
    np.save(tmp_path / "theta.npy", theta)
    assert main(["exact", "--env", GYM[0][0], "--theta", str(tmp_path / "theta.npy"), "--horizon", "10", "--full"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num_states"] == 16 and out["dim"] == 64 and len(out["grad"]) == 64
    assert np.shape(out["pi"]) == (16, 4) and len(out["V"]) == 16 and np.shape(out["Q"]) == (16, 4)
    assert len(out["d"]) == 16 and abs(sum(out["d"]) - 1) < 1e-12 and len(out["state_labels"]) == 16
    assert np.shape(out["V_steps"]) == (11, 16) and np.shape(out["Q_steps"]) == (10, 16, 4)
    assert np.shape(out["state_dist"]) == (10, 16)
    np.testing.assert_allclose(
        np.asarray(out["pi"]),
        np.exp(theta.reshape(16, 4)) / np.exp(theta.reshape(16, 4)).sum(axis=1, keepdims=True),
        rtol=1e-14,
    )


def test_a_theta_file_of_the_old_length_is_refused(tmp_path, capsys):
    np.save(tmp_path / "theta.npy", np.zeros(68))
    assert main(["exact", "--env", GYM[0][0], "--theta", str(tmp_path / "theta.npy")]) == 2
    assert "has 68 entries; this policy has dim = 64" in capsys.readouterr().err


def test_mlp_reads_gymnasiums_states(torch_one_thread):
    prob = build_problem(GYM[0][0], policy="mlp:hidden=8,seed=0", horizon=10)
    assert prob.policy.num_inputs == 16 and prob.policy.dim == 16 * 8 + 8 + 8 * 4 + 4
    J, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    assert np.isfinite(J) and grad.shape == (prob.policy.dim,)
