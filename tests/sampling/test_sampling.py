"""The sampler: alias tables are exact, trajectories follow the MDP, streams are per trajectory."""

from __future__ import annotations

import numpy as np
from conftest import make_problem
from scipy.stats import norm

from pgexp import exact
from pgexp.sampling.rng import trajectory_seeds
from pgexp.sampling.tabular import (
    alias_rows,
    effective_horizon,
    make_tables,
    rollin_rollout,
    sample,
)

ALPHA = 1e-4  # family-wise false-alarm rate of each statistical test


def z_bound(tests: int) -> float:
    """Two-sided Bonferroni z-threshold for ``tests`` simultaneous tests at family-wise rate ALPHA."""
    return float(norm.isf(ALPHA / (2 * tests)))


def test_alias_tables_reconstruct_the_distribution_exactly(rng):
    lengths = rng.integers(1, 12, size=300)
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    probs = np.concatenate([rng.dirichlet(np.ones(k) * rng.choice([0.1, 1.0, 10.0])) for k in lengths])
    prob, alias = alias_rows(ptr, probs)
    for row, k in enumerate(lengths):
        sl = slice(ptr[row], ptr[row + 1])
        p, al = prob[sl], alias[sl]
        # P(i) = (prob_i + sum_{j: alias_j = i} (1 - prob_j)) / k
        implied = p.copy()
        np.add.at(implied, al, 1.0 - p)
        np.testing.assert_allclose(implied / k, probs[sl], atol=1e-14)


def test_state_distribution_per_step_matches_the_exact_one():
    prob = make_problem("gym:FrozenLake-v1:map_name=4x4,is_slippery=true", None, None, 12)
    ev = exact.evaluate(prob.mdp, prob.policy.probs(prob.theta))
    N = 40_000
    traj = sample(prob.mdp, make_tables(prob.mdp, ev.pi), trajectory_seeds(np.random.SeedSequence(7), N))
    S, H = prob.mdp.num_states, prob.mdp.horizon
    counts = np.zeros((H, S))
    for h in range(H):
        alive = traj.lengths > h
        counts[h] = np.bincount(traj.states[alive, h], minlength=S)
        # after absorption no action is taken: the absorbing state's mass is the dead trajectories
        counts[h, -1] += (~alive).sum()
    p = ev.state_dist
    sd = np.sqrt(N * p * (1 - p))
    z = np.abs(counts - N * p)[sd > 0] / sd[sd > 0]
    assert z.max() < z_bound(z.size)
    assert np.all(counts[sd == 0] == N * p[sd == 0])  # impossible states never visited, sure ones always


def test_returns_are_unbiased_for_J_on_every_objective(small_problem):
    mdp = small_problem.mdp
    pi = small_problem.policy.probs(small_problem.theta)
    traj = sample(mdp, make_tables(mdp, pi), trajectory_seeds(np.random.SeedSequence(3), 20_000))
    disc = mdp.gamma ** np.arange(traj.rewards.shape[1])
    G = traj.rewards @ disc
    J = exact.evaluate(mdp, pi).J
    assert abs(G.mean() - J) <= z_bound(1) * G.std(ddof=1) / np.sqrt(G.size) + 1e-12


def test_episodes_stop_at_absorption_and_horizon():
    prob = make_problem("short_corridor", None, None, None)
    mdp = prob.mdp
    traj = sample(mdp, make_tables(mdp, prob.policy.probs(prob.theta)),
                  trajectory_seeds(np.random.SeedSequence(0), 2000))
    assert np.all(traj.final_states == 3) and not traj.truncated.any()
    assert np.all(traj.states[traj.mask] != 3)  # no action is taken in the terminal state
    assert np.all(traj.rewards[traj.mask] == -1) and np.all(traj.rewards[~traj.mask] == 0)
    fin = make_problem("short_corridor", None, None, 5)
    t2 = sample(fin.mdp, make_tables(fin.mdp, fin.policy.probs(fin.theta)),
                trajectory_seeds(np.random.SeedSequence(0), 500))
    assert t2.states.shape[1] == 5 and t2.lengths.max() <= 5


def test_discounted_truncation_is_where_gamma_h_drops_below_1e_12():
    prob = make_problem("garnet", None, 0.9, "inf")
    T = effective_horizon(prob.mdp)
    assert 0.9**T < 1e-12 <= 0.9 ** (T - 1)


def test_trajectories_are_replayable_and_prefix_stable():
    prob = make_problem("garnet:states=20,actions=3,branching=4,seed=0", None, 0.9, 30)
    tables = make_tables(prob.mdp, prob.policy.probs(prob.theta))
    seq = np.random.SeedSequence(11)
    a = sample(prob.mdp, tables, trajectory_seeds(seq, 50))
    b = sample(prob.mdp, tables, trajectory_seeds(seq, 203))  # a longer batch from the same stream
    assert np.array_equal(a.states, b.states[:50]) and np.array_equal(a.rewards, b.rewards[:50])
    c = sample(prob.mdp, tables, trajectory_seeds(seq, 50)[::-1].copy())  # order does not matter
    assert np.array_equal(a.states, c.states[::-1])


def test_rollin_reaches_the_discounted_occupancy_and_rollout_estimates_Q():
    prob = make_problem("garnet:states=6,actions=3,branching=3,seed=1", None, 0.8, "inf")
    mdp = prob.mdp
    pi = prob.policy.probs(prob.theta)
    ev = exact.evaluate(mdp, pi)
    N = 100_000
    s, a, _, y, _steps = rollin_rollout(make_tables(mdp, pi), trajectory_seeds(np.random.SeedSequence(5), N), mdp.gamma)
    counts = np.bincount(s, minlength=mdp.num_states)
    p = ev.occupancy
    z = np.abs(counts - N * p) / np.sqrt(N * p * (1 - p))
    assert z.max() < z_bound(mdp.num_states)
    # E[y | s, a] = Q(s, a), tested on every pair that was sampled often enough
    zs = []
    for si in range(mdp.num_states):
        for ai in range(mdp.num_actions):
            sel = (s == si) & (a == ai)
            if sel.sum() > 200:
                zs.append(abs(y[sel].mean() - ev.Q[si, ai]) / (y[sel].std(ddof=1) / np.sqrt(sel.sum())))
    assert len(zs) > 10 and max(zs) < z_bound(len(zs))
