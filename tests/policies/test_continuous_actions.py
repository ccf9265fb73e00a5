"""Gaussian MLP policies on continuous-action tasks: torch.func per-sample scores against a loop of autograd calls,
unclipped actions with the environment's own clipping, and the MuJoCo path end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgexp.policies.gaussian_mlp import GaussianMLPPolicy, make_gaussian_policy
from pgexp.policies.mlp import MLPSpec
from pgexp.problems.problem import build_problem

POLICIES = {
    "fixed": dict(std=0.7),
    "learned": dict(std=0.7, learn_std=True),
    "state": dict(std=0.7, std_mode="state"),
}


@pytest.mark.parametrize("kind", POLICIES)
def test_vmap_scores_equal_a_loop_of_autograd(kind):
    pol = GaussianMLPPolicy(3, 2, MLPSpec((5,), "tanh", 0), **POLICIES[kind])
    rng = np.random.default_rng(0)
    theta = pol.initial_theta() + 0.1 * rng.standard_normal(pol.dim)
    obs, act = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    loop = []
    for o, a in zip(obs, act):
        th = torch.tensor(theta, requires_grad=True)
        lp = pol.log_prob_p(pol.params(th), torch.tensor(o), torch.tensor(a))
        (g,) = torch.autograd.grad(lp, th)
        loop.append(g.numpy())
    np.testing.assert_allclose(pol.step_scores(theta, obs, act), np.stack(loop), rtol=1e-12, atol=1e-12)
    # the log density is the Gaussian's
    mu, sd = pol.mean_std_fn(theta)(obs)
    ref = (-0.5 * ((act - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(pol.log_prob(theta, obs, act), ref, rtol=1e-12)


def test_trajectory_and_batch_gradients_are_weighted_sums_of_step_scores():
    pol = make_gaussian_policy("mlp:hidden=4,seed=1", 2, 1, 0.5, True)
    rng = np.random.default_rng(1)
    theta = pol.initial_theta()
    obs, act, w = rng.standard_normal((3, 5, 2)), rng.standard_normal((3, 5, 1)), rng.standard_normal((3, 5))
    steps = pol.step_scores(theta, obs.reshape(-1, 2), act.reshape(-1, 1)).reshape(3, 5, -1)
    per = np.einsum("nl,nld->nd", w, steps)
    np.testing.assert_allclose(pol.trajectory_gradients(theta, obs, act, w), per, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pol.batch_gradient(theta, obs, act, w), per.mean(0), rtol=1e-10, atol=1e-12)


def test_actions_are_sampled_unclipped_and_the_environment_clips_them():
    """Pendulum clips its torque to [-2, 2] inside ``step``: the stored actions are the Gaussian's samples (some far
    outside the bounds), and stepping with the clipped action gives the same transition and reward -- clipping is
    part of the dynamics, the score stays the Gaussian's at the sampled action."""
    import gymnasium as gym

    from pgexp.runs.context import make_context
    from pgexp.sampling.rng import MAIN, stream

    p = build_problem("gym:Pendulum-v1", policy="mlp:hidden=4,seed=0", horizon=10, policy_std=5.0)
    batch = make_context(p).sample("trajectories", stream(5, 0, MAIN), 4)
    a = batch.actions
    assert a.shape == (4, 10, 1) and np.abs(a).max() > 2.0
    env = gym.make("Pendulum-v1")
    for action in (np.array([7.5]), np.array([-3.0])):
        env.reset(seed=3)
        o1, r1, *_ = env.step(action)
        env.reset(seed=3)
        o2, r2, *_ = env.step(np.clip(action, -2.0, 2.0))
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    env.close()


def test_discrete_action_tasks_refuse_a_gaussian_option():
    from pgexp.errors import UserError

    with pytest.raises(UserError, match="Gaussian policies only"):
        build_problem("gym:CartPole-v1", policy_std=0.5)


@pytest.mark.parametrize("env", ["gym:InvertedPendulum-v5", "gym:MountainCarContinuous-v0"])
def test_estimates_on_continuous_action_tasks_end_to_end(env):
    """MuJoCo's InvertedPendulum (the mujoco package) and MountainCarContinuous: a small job of two pairs with a
    Monte-Carlo reference, one gradient of the policy's dimension per replicate."""
    from pgexp.runs.estimate import run_pairs

    p = build_problem(env, policy="mlp:hidden=4,seed=0", horizon=20, learn_std=True)
    t = run_pairs(p, [("reinforce", "none"), ("reward_to_go", "value_learned")], batch_size=4, replicates=3, seed=0,
                  progress=False, reference_batch=40)
    grads = np.stack(t.column("grad").to_numpy(zero_copy_only=False))
    assert grads.shape == (6, p.policy.dim) and np.all(np.isfinite(grads))
    assert t.column("reference_rel_se")[0].as_py() > 0
