"""The compiled training engine: same streams and numbers as the general engine (every estimator the registry
gives a training kernel), runs independent of their grid, the book's per-step REINFORCE bit for bit, the online
baseline's update, unbiased shifted baselines, the NPG step's formula, and where runs end."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.problems.problem import build_problem
from pgexp.runs import tabular_exact as TE
from pgexp.runs.estimate import stream_identity
from pgexp.runs.train import TrainOptions, train_grid
from pgexp.runs.train_batch_kernels import optimal_constant
from pgexp.runs.train_tables import final_policy
from pgexp.sampling.rng import MAIN, job_entropy, stream, trajectory_seeds
from pgexp.sampling.seedseq import entropy_words, fill_trajectory_seeds, stream_key
from pgexp.sampling.tabular import make_tables, sample

BANDIT = "bandit:rewards=1;0.7;0"
BANDIT_THETA = "values:0;3;5;0;0;0"  # Chung et al.: the optimal arm least likely


def batch(prob, theta, batch_size, seed, t):
    """The trajectories iteration ``t`` of a run samples (the job's own stream), at ``theta``."""
    ent = job_entropy(stream_identity(prob, batch_size, seed), prob.theta)
    pi = prob.policy.probs(theta)
    return sample(prob.mdp, make_tables(prob.mdp, pi), trajectory_seeds(stream(ent, t, MAIN), batch_size)), pi


# ------------------------------------------------------------------------------------ streams, exact J

def test_compiled_seed_sequence_is_numpys_bit_for_bit():
    rng = np.random.default_rng(1)
    for _ in range(200):
        e = int.from_bytes(rng.bytes(16), "little") >> int(rng.integers(0, 128))  # small entropies too
        t = int(rng.choice([0, 1, 2**31, 2**32 - 1, int(rng.integers(0, 2**32))]))
        c = int(rng.integers(0, 2))
        key = stream_key(entropy_words(e), t, c)
        np.testing.assert_array_equal(key, stream(e, t, c).generate_state(2, np.uint64))
        n = int(rng.integers(1, 9))
        out = np.empty((n, 4), np.uint64)
        fill_trajectory_seeds(key, out)
        np.testing.assert_array_equal(out, trajectory_seeds(stream(e, t, c), n))


@pytest.mark.parametrize("env,gamma,horizon", [("short_corridor", None, None),
                                               ("garnet:states=6,actions=3,branching=2,seed=1", 0.9, None),
                                               ("garnet:states=6,actions=3,branching=2,seed=1", 1.0, 7),
                                               (BANDIT, None, None)])
def test_compiled_exact_values_and_gradient_equal_the_reference(env, gamma, horizon):
    prob = build_problem(env, gamma=gamma, horizon=horizon, theta="random:seed=3,scale=1")
    dm = TE.dense_mdp(prob.mdp)
    pi = prob.policy.probs(prob.theta)
    V = np.zeros((dm.horizon + 1 if dm.kind == TE.FINITE else 1, prob.mdp.num_states))
    J, ok = TE.values(dm, pi, V)
    J_ref, grad_ref, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
    assert ok and J == pytest.approx(J_ref, rel=1e-12, abs=1e-12)
    C = np.zeros_like(pi)
    assert TE.cotangent(dm, pi, V, C)
    np.testing.assert_allclose(prob.policy.probs_vjp(prob.theta, C), grad_ref, rtol=1e-10, atol=1e-12)


def test_a_policy_that_no_longer_terminates_is_not_ok():
    prob = build_problem("short_corridor", theta="values:-40;40")  # pi(right) = e^-80: never reaches the goal
    dm = TE.dense_mdp(prob.mdp)
    _J, ok = TE.values(dm, prob.policy.probs(prob.theta), np.zeros((1, 4)))
    assert not ok
    with pytest.raises(UserError):
        exact.gradient(prob.mdp, prob.policy, prob.theta)  # the reference refuses it too


# ------------------------------------------------------------------------------------ compiled == general

GARNET = "garnet:states=5,actions=3,branching=2,seed=0"
CASES = [  # (problem, estimator, baseline, batch, optimizer, step sizes[, options])
    (dict(env="short_corridor"), "reinforce", "none", 2, "sga", [0.002, 0.01]),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=0", gamma=0.9, horizon=6, theta="random:seed=1,scale=1"),
     "reward_to_go", "value_exact", 4, "sga", [0.1, 0.5]),
    (dict(env="chain:length=4", gamma=0.9), "reinforce", "constant", 3, "adam", [0.05, 0.2]),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=2", gamma=1.0, horizon=5), "reward_to_go", "none", 2, "sga",
     [0.3]),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=2", gamma=0.8), "exact", "none", 1, "sga", [0.5, 2.0]),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=0", gamma=0.9, horizon=6, theta="random:seed=1,scale=1"),
     "reward_to_go_common", "value_exact", 4, "sga", [0.1, 0.5]),
    (dict(env="chain:length=4", gamma=0.9, horizon=8), "reward_to_go_common", "constant", 3, "adam", [0.05, 0.2]),
    (dict(env="chain:length=4", gamma=0.9, horizon=8), "reinforce", "fixed:c=1", 3, "sga", [0.1]),
    # GAE: a finite horizon (V_H = 0 ends every episode), a discounted problem whose episodes the simulation cap
    # cuts (they bootstrap from V(s_T)), an episodic one (absorption ends them), a fixed constant, Adam, common
    (dict(env=GARNET, gamma=0.9, horizon=6, theta="random:seed=1,scale=1"), "gae", "none", 4, "sga", [0.1, 0.5],
     dict(params={"lam": 0.9})),
    (dict(env=GARNET, gamma=0.9, horizon=6, theta="random:seed=1,scale=1"), "gae", "value_exact", 4, "sga", [0.5],
     dict(params={"lam": 0.5})),
    (dict(env=GARNET, gamma=0.8, theta="random:seed=1,scale=1"), "gae", "value_exact", 3, "sga", [0.1, 0.5],
     dict(params={"lam": 0.8})),
    (dict(env="short_corridor"), "gae", "value_exact", 2, "sga", [0.01], dict(params={"lam": 0.7})),
    (dict(env="chain:length=4", gamma=0.95, horizon=10), "gae", "fixed:c=0.5", 3, "adam", [0.05, 0.2], {}),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=2", gamma=1.0, horizon=5), "gae_common", "value_exact", 2,
     "sga", [0.3], dict(params={"lam": 0.5})),
    # the actor-critic: its critic from K roll-in/roll-out samples (tabular: per-cell means; features: least squares)
    (dict(env=GARNET, gamma=0.9, horizon=6), "actor_critic", "none", 4, "sga", [0.1, 0.5], dict(fit_batch_size=6)),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=1", gamma=0.8, features="random:d=4,seed=0"),
     "actor_critic", "none", 3, "sga", [0.2], {}),
    (dict(env="garnet:states=5,actions=3,branching=2,seed=1", gamma=0.8, horizon=7, features="random:d=9,seed=0"),
     "actor_critic", "none", 2, "adam", [0.2], {}),  # d > K: the minimum-norm solution
    # the default study's setting: H = 25, batch 16, gamma = 1
    (dict(env="chain:length=6", gamma=1.0, horizon=25), "gae", "value_exact", 16, "sga", [0.3], {}),
    (dict(env="chain:length=6", gamma=1.0, horizon=25), "actor_critic", "none", 16, "sga", [0.3], {}),
]


@pytest.mark.parametrize("spec,est,base,n,opt,etas,extra", [(*c, {}) if len(c) == 6 else c for c in CASES])
def test_compiled_engine_equals_the_general_engine_on_the_same_streams(spec, est, base, n, opt, etas, extra):
    prob = build_problem(**spec)
    opts = TrainOptions(est, base, batch_size=n, iterations=15, optimizer=opt, **extra)
    fast, e1 = train_grid(prob, opts, etas, [0, 1])
    slow, e2 = train_grid(prob, opts, etas, [0, 1], engine="general")
    assert (e1, e2) == ("compiled", "general")
    for a, b in zip(fast, slow):
        assert len(a.rows["J"]) == len(b.rows["J"]) and a.diverged == b.diverged and a.reason == b.reason
        np.testing.assert_array_equal(np.asarray(a.rows["env_steps"]), np.asarray(b.rows["env_steps"]))  # same episodes
        Ja, Jb = np.asarray(a.rows["J"]), np.asarray(b.rows["J"])
        np.testing.assert_allclose(Ja, Jb, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.asarray(a.rows["batch_return_mean"]), np.asarray(b.rows["batch_return_mean"]),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(a.rows["grad_norm"]), np.asarray(b.rows["grad_norm"]),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)


def test_a_run_does_not_depend_on_the_other_runs_of_its_grid_and_reruns_are_identical():
    prob = build_problem("garnet:states=5,actions=3,branching=2,seed=0", gamma=0.9, horizon=8)
    opts = TrainOptions("reward_to_go", "value_online", batch_size=2, iterations=30, baseline_step_size=0.2,
                        baseline_offset=0.5)
    alone, _ = train_grid(prob, opts, [0.2], [1])
    grid, _ = train_grid(prob, opts, [0.1, 0.2, 0.3], [2, 0, 1])
    again, _ = train_grid(prob, opts, [0.1, 0.2, 0.3], [2, 0, 1])
    inside = grid[3 + 2]  # step 0.2, seed 1
    for key in alone[0].rows:
        np.testing.assert_array_equal(np.asarray(alone[0].rows[key]), np.asarray(inside.rows[key]))
    np.testing.assert_array_equal(alone[0].theta, inside.theta)
    for a, b in zip(grid, again):
        np.testing.assert_array_equal(np.asarray(a.rows["J"]), np.asarray(b.rows["J"]))
        np.testing.assert_array_equal(a.theta, b.theta)


# ------------------------------------------------------------------------------------ the book's REINFORCE

def _softmax(z: list[float]) -> list[float]:
    m = max(z)
    e = [math.exp(x - m) for x in z]
    tot = 0.0
    for x in e:
        tot += x
    return [x / tot for x in e]


def book_reinforce(prob, alpha: float, episodes: int, seed: int, alpha_w: float | None = None):
    """Sutton & Barto (2018) p. 328 / 330, written out: for each episode S0, A0, R1, ..., S_{T-1}, A_{T-1}, R_T
    sampled with pi(.|., theta) at the episode's start; for t = 0..T-1: G <- sum_{k=t+1}^T gamma^(k-t-1) R_k,
    (with baseline: delta <- G - v(S_t, w), w <- w + alpha_w delta), theta <- theta + alpha gamma^t delta
    grad ln pi(A_t|S_t, theta) -- the score at the *current* theta.  Plain Python floats, v(s, w) = w."""
    x = prob.policy.features.dense()  # the book's x(s, a), (S, A, d)
    S, A, d = x.shape
    theta = [float(v) for v in prob.theta]
    w = 0.0
    thetas = []
    for ep in range(episodes):
        pi = np.array([_softmax([sum(x[s, a, k] * theta[k] for k in range(d)) for a in range(A)]) for s in range(S)])
        traj, _ = batch(prob, np.array(theta), 1, seed, ep)
        T = int(traj.lengths[0])
        returns = [0.0] * (T + 1)  # returns[t] = sum_{k=t+1}^T R_k (gamma = 1), by a suffix sum
        for t in range(T - 1, -1, -1):
            returns[t] = traj.rewards[0, t] + returns[t + 1]
        for t in range(T):
            G = returns[t]
            s, a = int(traj.states[0, t]), int(traj.actions[0, t])
            p = _softmax([sum(x[s, b, k] * theta[k] for k in range(d)) for b in range(A)])
            grad = [x[s, a, k] - sum_in_order([p[b] * x[s, b, k] for b in range(A)]) for k in range(d)]
            if alpha_w is None:
                delta = G
            else:
                delta = G - w
                w = w + alpha_w * delta
            for k in range(d):
                theta[k] = theta[k] + alpha * 1.0 * delta * grad[k]
        thetas.append(list(theta))
        del pi
    return np.array(thetas), w


def sum_in_order(xs: list[float]) -> float:
    acc = 0.0
    for v in xs:
        acc += v
    return acc


@pytest.mark.parametrize("alpha,alpha_w", [(2.0**-9, None), (2.0**-9, 2.0**-6), (2.0**-13, 2.0**-6)])
def test_per_step_updates_equal_the_books_pseudocode_bit_for_bit(alpha, alpha_w):
    prob = build_problem("short_corridor", theta="values:-1.47;1.47")
    ref, w_ref = book_reinforce(prob, alpha, 6, seed=3, alpha_w=alpha_w)
    opts = TrainOptions("reward_to_go", "none" if alpha_w is None else "value_online", batch_size=1, iterations=6,
                        update="per_step", baseline_step_size=alpha_w or 0.0, value_features="constant",
                        checkpoints=tuple(range(1, 7)))
    runs, engine = train_grid(prob, opts, [alpha], [3])
    assert engine == "compiled"
    got = np.array([runs[0].checkpoints[t] for t in range(1, 7)])
    np.testing.assert_array_equal(got, ref)
    if alpha_w is not None:  # the online baseline's w followed the book's update, bit for bit
        assert runs[0].value_weights[0] == w_ref


def test_per_batch_online_baseline_follows_its_update():
    """w <- w + alpha_w (1/N) sum_i sum_h (R_ih - w[s_ih]) e_{s_ih}, after the policy step, which used w_t."""
    prob = build_problem("garnet:states=4,actions=2,branching=2,seed=5", gamma=0.9, horizon=5)
    eta, aw, N, T = 0.3, 0.25, 3, 3
    runs, _ = train_grid(prob, TrainOptions("reward_to_go", "value_online", batch_size=N, iterations=T,
                                            baseline_step_size=aw, checkpoints=tuple(range(T + 1))), [eta], [7])
    theta, w = prob.theta.copy(), np.zeros(4)
    disc = 0.9 ** np.arange(5)
    for t in range(T):
        traj, _pi = batch(prob, theta, N, 7, t)
        Wsa = np.zeros((4, 2))
        gw = np.zeros(4)
        for i in range(N):
            L = traj.lengths[i]
            R = np.cumsum(traj.rewards[i, :L][::-1] * 0.9 ** np.arange(L)[::-1])[::-1] / 0.9 ** np.arange(L)
            for h in range(L):
                s, a = traj.states[i, h], traj.actions[i, h]
                Wsa[s, a] += disc[h] * (R[h] - w[s])
                gw[s] += R[h] - w[s]
        theta = theta + eta * prob.policy.score_pullback(theta, Wsa) / N
        w = w + aw * gw / N
        np.testing.assert_allclose(runs[0].checkpoints[t + 1], theta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(runs[0].value_weights, w, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------ NPG, b*, offsets

def test_bandit_npg_step_is_the_formula():
    """theta_a <- theta_a + eta (r_a - b) / pi(a) for the pulled arm only (Chung et al.), b = b* + epsilon."""
    prob = build_problem(BANDIT, theta=BANDIT_THETA)
    eta, eps = 0.1, -1.0
    pi0 = prob.policy.probs(prob.theta)
    psi_sq = 1 - 2 * pi0[0] + (pi0[0] ** 2).sum()
    b_star = float((pi0[0] * psi_sq * prob.mdp.r[0]).sum() / (pi0[0] * psi_sq).sum())
    for seed in range(20):
        runs, _ = train_grid(prob, TrainOptions("reinforce", "optimal_exact", iterations=1, optimizer="npg",
                                                baseline_offset=eps, checkpoints=(1,)), [eta], [seed])
        traj, _ = batch(prob, prob.theta, 1, seed, 0)
        a = int(traj.actions[0, 0])
        expected = prob.theta.copy()
        expected[a] += eta * (prob.mdp.r[0, a] - (b_star + eps)) / pi0[0, a]
        moved = runs[0].checkpoints[1] != prob.theta
        assert list(np.flatnonzero(moved)) == [a]  # only the pulled arm's logit changes
        np.testing.assert_allclose(runs[0].checkpoints[1], expected, rtol=1e-13)


def test_mdp_npg_step_is_the_per_state_formula():
    """Per batch: theta_{s,a} += eta/N sum_{i,h: (s_ih, a_ih) = (s, a)} gamma^h (R_ih - b) / pi(a|s)."""
    prob = build_problem("garnet:states=4,actions=3,branching=2,seed=1", gamma=0.9, horizon=4,
                         theta="random:seed=2,scale=1")
    eta, N = 0.2, 3
    runs, _ = train_grid(prob, TrainOptions("reward_to_go", "none", batch_size=N, iterations=1, optimizer="npg",
                                            baseline_offset=0.5, checkpoints=(1,)), [eta], [4])
    traj, pi = batch(prob, prob.theta, N, 4, 0)
    x = np.zeros((4, 3))
    for i in range(N):
        L = traj.lengths[i]
        for h in range(L):
            Rh = sum(0.9 ** (k - h) * traj.rewards[i, k] for k in range(h, L))
            s, a = traj.states[i, h], traj.actions[i, h]
            x[s, a] += 0.9**h * (Rh - 0.5) / pi[s, a]
    np.testing.assert_allclose(runs[0].checkpoints[1], prob.theta + eta * x.ravel() / N, rtol=1e-12, atol=1e-12)


def test_optimal_exact_is_the_vertex_of_the_exact_variance_parabola():
    """tr Cov of g = psi (r - b) over a ~ pi: the engine's b* minimises it and b* +- 1 have equal variance."""
    prob = build_problem(BANDIT, theta=BANDIT_THETA)
    pi = prob.policy.probs(prob.theta)
    psi = prob.policy.score_table(prob.theta)[0]  # (A, d)
    r = prob.mdp.r[0]

    def trace_var(b):
        g = psi * (r - b)[:, None]
        mean = pi[0] @ g
        return float(pi[0] @ (g**2).sum(axis=1) - mean @ mean)

    b_star = optimal_constant(np.zeros((1, 1, 1)), True, prob.mdp.mu, prob.mdp.r, pi)
    grid = np.linspace(b_star - 2, b_star + 2, 4001)
    assert abs(grid[np.argmin([trace_var(b) for b in grid])] - b_star) <= 1e-3
    assert trace_var(b_star + 1) == pytest.approx(trace_var(b_star - 1), rel=1e-12)
    assert trace_var(b_star + 1) > trace_var(b_star)


UNBIASED = [  # every baseline, shifted, on problems of each objective
    (dict(env=BANDIT, theta=BANDIT_THETA), "reinforce", "optimal_exact", -1.0, 1, 5000),
    (dict(env=BANDIT, theta=BANDIT_THETA), "reinforce", "optimal_exact", 1.0, 1, 5000),
    (dict(env="short_corridor"), "reward_to_go", "value_exact", 5.0, 1, 5000),
    (dict(env="garnet:states=4,actions=2,branching=2,seed=3", gamma=1.0, horizon=5), "reward_to_go", "value_online",
     -2.0, 2, 4000),
    (dict(env="garnet:states=4,actions=2,branching=2,seed=3", gamma=0.9, horizon=5), "reinforce", "constant", 3.0, 2,
     4000),
    # GAE at lambda = 1 is reward-to-go with its baseline: unbiased with any baseline that ignores the own actions
    (dict(env="garnet:states=4,actions=2,branching=2,seed=3", gamma=0.9, horizon=5), "gae", "value_online", 1.5, 2,
     4000),
    (dict(env="garnet:states=4,actions=2,branching=2,seed=3", gamma=0.9), "gae", "fixed:c=2", -1.0, 2, 4000),
]


def test_shifted_baselines_keep_the_estimate_unbiased():
    """The first update of M independent runs (seeds) with eta = 1 is g (theta_0 = 0 or exact in float64):
    its mean is within a Bonferroni z-bound of grad J, family-wise false-alarm rate 1e-4 over all cases and
    coordinates (coordinates with zero sample variance must match exactly)."""
    tests = sum(build_problem(**spec).policy.dim for spec, *_ in UNBIASED)
    z_crit = norm.isf(1e-4 / (2 * tests))
    for spec, est, base, eps, n, M in UNBIASED:
        prob = build_problem(**spec)
        opts = TrainOptions(est, base, batch_size=n, iterations=1, baseline_offset=eps, checkpoints=(1,),
                            baseline_step_size=0.1 if base == "value_online" else 0.0,
                            params={"lam": 1.0} if est == "gae" else {})
        runs, _ = train_grid(prob, opts, [1.0], list(range(M)))
        G = np.array([r.checkpoints[1] for r in runs]) - prob.theta
        _, grad, _ = exact.gradient(prob.mdp, prob.policy, prob.theta)
        se = G.std(axis=0, ddof=1) / np.sqrt(M)
        mean = G.mean(axis=0)
        flat = se == 0
        np.testing.assert_allclose(mean[flat], grad[flat], atol=1e-12)
        z = np.abs(mean[~flat] - grad[~flat]) / se[~flat]
        assert z.max() < z_crit, (est, base, eps, z.max(), z_crit)


def _applied_updates(prob, baseline, offset, optimizer, seeds=range(1500)):
    """The update the engine applies per pulled arm, ``(theta_1 - theta_0) / eta`` from one iteration per seed."""
    eta = 0.01
    runs, _ = train_grid(prob, TrainOptions("reinforce", baseline, iterations=1, optimizer=optimizer,
                                            baseline_offset=offset, checkpoints=(1,)), [eta], list(seeds))
    A = prob.mdp.num_actions
    found: dict[int, np.ndarray] = {}
    for run in runs:
        step = (run.checkpoints[1] - prob.theta) / eta
        pi = prob.policy.probs(prob.theta)[0]
        # the arm pulled: the one whose (r_a - b) / pi_a or psi_a (r_a - b) reproduces the step
        for a in range(A):
            if optimizer == "npg" and np.count_nonzero(step[:A]) == 1 and step[a] != 0:
                found.setdefault(a, step[:A])
            elif optimizer == "sga" and a not in found:
                # psi_a (r_a - b): its own a-th entry fixes r_a - b
                direction = (np.eye(A)[a] - pi) * step[a] / (1 - pi[a])
                if np.allclose(direction, step[:A], rtol=1e-9, atol=1e-12):
                    found[a] = step[:A]
    assert sorted(found) == list(range(A)), sorted(found)  # every arm was pulled by some seed
    return np.array([found[a] for a in range(A)])


def _enumerated_trace_cov(pi, updates, centre=False):
    """``sum_a pi_a ||u_a||^2 - ||sum_a pi_a u_a||^2`` by enumeration (optionally of each ``u_a`` minus its mean
    component: the part of an NPG step that moves the softmax)."""
    u = updates - updates.mean(axis=1, keepdims=True) if centre else updates
    mean = pi @ u
    return float(sum(p * (v @ v) for p, v in zip(pi, u)) - mean @ mean)


@pytest.mark.parametrize("optimizer", ["npg", "sga"])
def test_exact_update_variance_of_each_baseline_is_the_enumerated_one(optimizer):
    """The variance of the update the engine applies, by enumeration of the arms, is the table's value
    (``grad_trace_cov`` for vanilla PG, ``npg_trace_cov_policy`` for NPG) for b* + e and b_npg + e;
    b_npg +- 1 give the NPG update equal variance, b* +- 1 do not (Chung et al.'s equal-variance pair is
    vanilla PG's); b* +- 1 give the vanilla update equal variance."""
    from pgexp.analysis.one_step import baseline_variance_table

    prob = build_problem(BANDIT, theta=BANDIT_THETA)
    pi = prob.policy.probs(prob.theta)[0]
    table = baseline_variance_table(prob, [-1.0, 0.0, 1.0]).set_index(["baseline", "offset"])
    column = "npg_trace_cov_policy" if optimizer == "npg" else "grad_trace_cov"
    var = {}
    for baseline in ("optimal_exact", "optimal_npg_exact"):
        for e in (-1.0, 0.0, 1.0):
            u = _applied_updates(prob, baseline, e, optimizer)
            b = table.loc[(baseline, e), "baseline_value"]
            r = prob.mdp.r[0]
            expected = (np.diag((r - b) / pi) if optimizer == "npg" else (np.eye(3) - pi) * (r - b)[:, None])
            np.testing.assert_allclose(u, expected, rtol=1e-10, atol=1e-12)
            var[baseline, e] = _enumerated_trace_cov(pi, u, centre=optimizer == "npg")
            assert table.loc[(baseline, e), column] == pytest.approx(var[baseline, e], rel=1e-9)
    same = "optimal_npg_exact" if optimizer == "npg" else "optimal_exact"
    other = "optimal_exact" if optimizer == "npg" else "optimal_npg_exact"
    assert var[same, 1.0] == pytest.approx(var[same, -1.0], rel=1e-9)
    assert var[same, 0.0] < min(var[same, 1.0], var[other, 0.0])  # its own centre is the minimum
    assert not var[other, 1.0] == pytest.approx(var[other, -1.0], rel=0.1)


def test_npg_baseline_is_the_vertex_of_the_enumerated_npg_variance():
    """b_npg = sum r/pi / sum 1/pi (engine and table agree) minimises the NPG update's policy-part variance."""
    from pgexp.analysis.one_step import optimal_npg_constant
    from pgexp.runs.train_batch_kernels import optimal_npg_constant as kernel_b_npg

    prob = build_problem(BANDIT, theta=BANDIT_THETA)
    pi = prob.policy.probs(prob.theta)
    r = prob.mdp.r[0]
    b_npg = optimal_npg_constant(prob)
    assert kernel_b_npg(prob.mdp.mu, prob.mdp.r, pi) == pytest.approx(b_npg, rel=1e-14)
    assert b_npg == pytest.approx((r / pi[0]).sum() / (1 / pi[0]).sum(), rel=1e-14)
    grid = np.linspace(b_npg - 2, b_npg + 2, 4001)
    npg = [_enumerated_trace_cov(pi[0], np.diag((r - b) / pi[0]), centre=True) for b in grid]
    assert abs(grid[np.argmin(npg)] - b_npg) <= 1e-3


def test_shifted_baselines_cost_variance_and_npg_is_not_vanilla():
    """With the same streams, b* + 1 and b* - 1 give different updates (NPG commits differently)."""
    prob = build_problem(BANDIT, theta=BANDIT_THETA)
    opts = TrainOptions("reinforce", "optimal_exact", iterations=50, optimizer="npg")
    lo, _ = train_grid(prob, TrainOptions(**{**opts.__dict__, "baseline_offset": -1.0}), [0.1], [0])
    hi, _ = train_grid(prob, TrainOptions(**{**opts.__dict__, "baseline_offset": 1.0}), [0.1], [0])
    assert not np.array_equal(lo[0].theta, hi[0].theta)


# ------------------------------------------------------------------------------------ refusals, divergence

@pytest.mark.parametrize("kw,match", [
    (dict(update="per_step", batch_size=2), "per-step"),
    (dict(update="per_step", optimizer="adam"), "adam"),
    (dict(baseline="optimal_exact"), "one-step"),
    (dict(optimizer="npg"), "tabular"),
    (dict(baseline="value_online"), "baseline-step-size"),
    (dict(baseline_step_size=0.1), "value_online"),
    (dict(estimator="advantage_exact", baseline_offset=1.0), "compiled engine"),
    (dict(estimator="gae", update="per_step"), "per-step"),
])
def test_combinations_that_make_no_sense_are_refused_by_name(kw, match):
    prob = build_problem("short_corridor")
    opts = TrainOptions(**{"estimator": "reward_to_go", "iterations": 2, **kw})
    with pytest.raises(UserError, match=match):
        train_grid(prob, opts, [0.1], [0])


@pytest.mark.parametrize("kw", [dict(baseline="value_online", baseline_step_size=0.1), dict(baseline_offset=1.0)])
def test_an_estimator_without_a_baseline_refuses_training_only_baselines_and_offsets(kw):
    prob = build_problem(GARNET, gamma=0.9, horizon=5)
    with pytest.raises(UserError, match="takes no baseline"):
        train_grid(prob, TrainOptions("actor_critic", iterations=2, **kw), [0.1], [0])


def test_the_compiled_estimators_are_the_registrys():
    """The trainer's lists come from the specs' ``training_kernel``: a plug-in that names a kernel trains compiled,
    one that names none trains on the general engine, an unknown kernel or a missing hyperparameter is refused."""
    from pgexp.estimators import ESTIMATORS, register_estimator
    from pgexp.runs import train_codes as K
    from pgexp.runs.train_options import compiled_estimators

    assert set(compiled_estimators()) == {e for e, spec in ESTIMATORS.items() if spec.training_kernel}
    assert {ESTIMATORS[e].training_kernel for e in compiled_estimators()} <= set(K.KERNELS)
    assert {"reinforce", "reward_to_go", "gae", "actor_critic"} <= set(compiled_estimators())
    prob = build_problem(GARNET, gamma=0.9, horizon=5)
    rtg = "pgexp.estimators.trajectory:reward_to_go"
    try:
        register_estimator("my_rtg", rtg, baselines=("none", "value_exact"), training_kernel="reward_to_go")
        a, engine = train_grid(prob, TrainOptions("my_rtg", "value_exact", batch_size=2, iterations=5), [0.3], [0])
        b, _ = train_grid(prob, TrainOptions("reward_to_go", "value_exact", batch_size=2, iterations=5), [0.3], [0])
        assert engine == "compiled" and np.array_equal(a[0].theta, b[0].theta)
        register_estimator("my_rtg", rtg)
        assert train_grid(prob, TrainOptions("my_rtg", batch_size=2, iterations=2), [0.3], [0])[1] == "general"
        register_estimator("my_rtg", rtg, training_kernel="no_such_kernel")
        with pytest.raises(UserError, match="training_kernel 'no_such_kernel'"):
            train_grid(prob, TrainOptions("my_rtg", batch_size=2, iterations=2), [0.3], [0])
        register_estimator("my_gae", "pgexp.estimators.trajectory:gae", training_kernel="gae")  # no lam
        with pytest.raises(UserError, match="'lam'"):
            train_grid(prob, TrainOptions("my_gae", batch_size=2, iterations=2), [0.3], [0])
        with pytest.raises(UserError, match="training_kernel"):
            register_estimator("my_bad", rtg, training_kernel="Not A Name")
    finally:
        for name in ("my_rtg", "my_gae", "my_bad"):
            ESTIMATORS.pop(name, None)


def test_estimation_jobs_refuse_training_only_baselines():
    from pgexp.runs.estimate import check_combination

    with pytest.raises(UserError, match="training only"):
        check_combination(build_problem("short_corridor"), "reinforce", "value_online", 4)


def test_a_per_step_run_whose_policy_stops_terminating_is_recorded_diverged():
    prob = build_problem("short_corridor", theta="values:-1.47;1.47")
    runs, _ = train_grid(prob, TrainOptions("reward_to_go", iterations=300, update="per_step"), [0.5], [0, 1, 2])
    assert all(r.diverged for r in runs)
    for r in runs:
        assert r.rows["diverged"][-1] and not any(r.rows["diverged"][:-1]) and r.reason
        assert np.all(np.isfinite(r.theta))


# ------------------------------------------------------------------------------------ where runs end

def test_final_policy_names_the_arm_and_whether_it_is_optimal():
    prob = build_problem(BANDIT)
    J_star = exact.optimal(prob.mdp).J_star
    sub = final_policy(prob, np.array([0.0, 12.0, 0.0, 0, 0, 0]), J_star)
    assert sub["final_policy"] == "1" and sub["final_policy_prob"] > 0.9999 and not sub["final_policy_optimal"]
    assert sub["final_policy_J"] == pytest.approx(0.7)
    best = final_policy(prob, np.array([12.0, 0.0, 0.0, 0, 0, 0]), J_star)
    assert best["final_policy"] == "0" and best["final_policy_optimal"]
    undecided = final_policy(prob, np.zeros(6), J_star)
    assert undecided["final_policy_prob"] == pytest.approx(1 / 3)
