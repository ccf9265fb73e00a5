"""Linear-quadratic problems: exact J and grad J against finite differences and float64 autograd, the values and the
Riccati optimum, the sampler, the exact estimator moments against brute-force Gaussian integration and Monte Carlo,
and training to the Riccati optimum."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from lqr_grid import grid_batch
from numpy.polynomial import hermite_e as herm
from scipy.stats import norm

from pgexp.errors import UserError
from pgexp.exact import lqr as L
from pgexp.exact.lqr_moments import compose, scalar_moments
from pgexp.problems.problem import build_problem

ALPHA = 1e-4  # family-wise false-alarm rate of the statistical tests

PROBLEMS = [  # (env, gamma, horizon, theta, learn_std)
    ("lqr", 1.0, 12, "values:0.3", False),
    ("lqr:A=1.1,B=0.4,Q=2,R=0.5,W=0.2,S0=0.5", 0.95, 20, "values:0.5;0.1", True),
    ("lqr:system=double_integrator", 0.95, 30, "random:seed=1,scale=0.3", True),
    ("lqr:system=random,n=3,m=2,seed=1", 0.9, "inf", "random:seed=0,scale=0.1", True),
    ("lqr:system=dean2019", 0.9, "inf", "values:" + ";".join("0.5" if i % 4 == 0 else "0" for i in range(9)), False),
    ("lqr", 0.8, "inf", "values:0.4;-0.2", True),
]


def problem(env, gamma, horizon, theta, learn, std=0.7):
    return build_problem(env, gamma=gamma, horizon=horizon, theta=theta, learn_std=learn, policy_std=std)


@pytest.mark.parametrize("case", PROBLEMS, ids=lambda c: f"{c[0]}-H{c[2]}")
def test_gradient_equals_central_finite_differences(case):
    p = problem(*case)
    ev = L.evaluate(p)
    eps = 1e-5
    fd = np.zeros(p.policy.dim)
    for i in range(p.policy.dim):
        th = p.theta.copy()
        th[i] += eps
        up = L.evaluate(p.at(th)).J
        th[i] -= 2 * eps
        fd[i] = (up - L.evaluate(p.at(th)).J) / (2 * eps)
    # central differences: truncation O(eps^2 J''') ~ 1e-10 and rounding ~ 1e-16 |J| / eps ~ 1e-11 |J|
    scale = max(1.0, float(np.abs(ev.grad).max()), abs(ev.J))
    assert np.max(np.abs(fd - ev.grad)) < 1e-6 * scale


def torch_objective(p, theta, steps: int):
    """``J`` by propagating the state second moment forward and summing the expected rewards (float64 torch): an
    independent route to the value recursion, differentiated by autograd."""
    import torch

    sys_ = p.system
    T = {k: torch.tensor(getattr(sys_, k), dtype=torch.float64) for k in ("A", "B", "Q", "R", "W", "Sigma0")}
    n, m = sys_.n, sys_.m
    K = theta[:m * n].reshape(m, n)
    sigma = p.policy.std0 * (torch.exp(theta[-1]) if p.policy.learn_std else 1.0)
    F = T["A"] - T["B"] @ K
    Wc = T["W"] + sigma ** 2 * T["B"] @ T["B"].T
    S = T["Sigma0"]
    J = torch.zeros((), dtype=torch.float64)
    for t in range(steps):
        J = J - p.gamma ** t * (torch.trace((T["Q"] + K.T @ T["R"] @ K) @ S) + sigma ** 2 * torch.trace(T["R"]))
        S = F @ S @ F.T + Wc
    return J


@pytest.mark.parametrize("case", PROBLEMS, ids=lambda c: f"{c[0]}-H{c[2]}")
def test_gradient_equals_float64_autograd(case):
    torch = pytest.importorskip("torch")
    p = problem(*case)
    ev = L.evaluate(p)
    # a discounted objective summed to T steps: the tail is below gamma^T rho^(2T) relative (< 1e-13 here)
    steps = p.horizon if p.horizon is not None else int(math.log(1e-15) / math.log(p.gamma * max(1.0, L.spectral_radius(
        p.system.A - p.system.B @ ev.K)) ** 2)) + 1
    th = torch.tensor(p.theta, dtype=torch.float64, requires_grad=True)
    J = torch_objective(p, th, steps)
    (g,) = torch.autograd.grad(J, th)
    assert abs(J.item() - ev.J) < 1e-10 * max(1.0, abs(ev.J))
    assert np.allclose(g.numpy(), ev.grad, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(ev.grad).max())))


@pytest.mark.parametrize("case", PROBLEMS[:3] + PROBLEMS[5:], ids=lambda c: f"{c[0]}-H{c[2]}")
def test_values_satisfy_bellman_and_q_averages_to_v(case):
    """``V_t(x) = E_u Q_t(x, u)`` and ``Q_t(x, u) = r(x, u) + gamma E V_{t+1}(A x + B u + w)`` (Gauss-Hermite
    quadrature, exact for these quadratics)."""
    p = problem(*case)
    ev = L.evaluate(p)
    qf = L.q_function(p, ev)
    sys_ = p.system
    z, w = herm.hermegauss(6)
    w = w / w.sum()
    rng = np.random.default_rng(0)
    for t in ([0, 3, p.horizon - 1] if p.horizon is not None else [0]):
        x = rng.standard_normal(sys_.n)
        mu = -ev.K @ x
        # E_u Q: u = mu + sigma eps, one coordinate of eps at a time is enough for a quadratic: use the identity
        # E[u' M u] = mu' M mu + sigma^2 tr M
        Quu = qf.Quu[min(t, qf.Quu.shape[0] - 1)]
        EQ = qf(x, mu, np.array(t)) - ev.sigma ** 2 * np.trace(Quu)
        assert np.isclose(EQ, L.value_at(ev.P, ev.c, x, np.array(t)), rtol=1e-12, atol=1e-12)
        u = mu + ev.sigma * rng.standard_normal(sys_.m)
        mean_next = sys_.A @ x + sys_.B @ u
        Lw = np.linalg.cholesky(sys_.W + 1e-300 * np.eye(sys_.n)) if np.all(np.linalg.eigvalsh(sys_.W) > 0) else None
        if Lw is None or sys_.n > 1:
            EV = L.value_at(ev.P, ev.c, mean_next, np.array(t + 1)) - np.trace(ev.P[min(t + 1, ev.P.shape[0] - 1)]
                                                                                 @ sys_.W)
        else:
            EV = sum(wi * L.value_at(ev.P, ev.c, mean_next + Lw @ [zi], np.array(t + 1)) for zi, wi in zip(z, w))
        r = -(x @ sys_.Q @ x + u @ sys_.R @ u)
        assert np.isclose(qf(x, u, np.array(t)), r + p.gamma * EV, rtol=1e-12, atol=1e-12)


def test_riccati_gain_is_a_stationary_point_and_the_best_gain():
    p = problem("lqr:system=random,n=3,m=2,seed=2", 0.9, "inf", "zeros", False)
    opt = L.optimum(p)
    at = p.at(p.policy.theta_of(opt.K[0]))
    ev = L.evaluate(at)
    assert np.abs(ev.grad).max() < 1e-9 * max(1.0, abs(ev.J))
    assert ev.J == pytest.approx(opt.J, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):  # any stabilising perturbation is worse
        other = p.at(p.policy.theta_of(opt.K[0] + 0.05 * rng.standard_normal(opt.K[0].shape)))
        assert L.evaluate(other).J < opt.J


def test_finite_horizon_optimum_beats_every_stationary_gain():
    p = problem("lqr", 1.0, 15, "zeros", False)
    best = L.optimum(p).J
    for k in np.linspace(-1, 2.5, 36):
        assert L.evaluate(p.at(np.array([k]))).J <= best + 1e-12


def test_discounted_problem_refuses_an_unstable_gain_in_one_line():
    p = build_problem("lqr:A=1.2,B=0.5", gamma=0.9, horizon="inf", theta="zeros")
    with pytest.raises(UserError, match=r"spectral radius 1\.2 >= 1/sqrt"):
        L.evaluate(p)


@pytest.mark.parametrize("spec, message", [
    ("lqr:A=0.9,foo=1", "unknown key"),
    ("lqr:system=double_integrator,A=2", "scalar systems"),
    ("lqr:system=nope", "allowed: scalar, double_integrator"),
    ("lqr:R=0", "R must be positive definite"),
    ("lqr:W=-1", "W must be positive semi-definite"),
    ("lqr:file=/nonexistent.npz", "an existing .npz file"),
])
def test_bad_specs_are_refused_by_name(spec, message):
    with pytest.raises(UserError, match=message):
        build_problem(spec)


def test_file_systems_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"A": 0.5 * rng.standard_normal((2, 2)), "B": rng.standard_normal((2, 1)), "Q": np.eye(2),
              "R": np.array([[0.3]]), "W": 0.1 * np.eye(2), "Sigma0": np.eye(2)}
    path = tmp_path / "sys.npz"
    np.savez(path, **arrays)
    p = build_problem(f"lqr:file={path}", horizon=7)
    assert (p.system.n, p.system.m, p.policy.dim) == (2, 1, 2)
    np.testing.assert_array_equal(p.system.A, arrays["A"])
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if k != "W"})
    with pytest.raises(UserError, match="lacks array"):
        build_problem(f"lqr:file={tmp_path / 'bad.npz'}")


def test_policy_std_is_refused_on_a_discrete_action_problem():
    with pytest.raises(UserError, match="Gaussian policies only"):
        build_problem("short_corridor", policy_std=0.5)


def test_a_replicate_is_the_same_alone_or_in_a_stack():
    from pgexp.runs.context import make_context
    from pgexp.sampling.rng import MAIN, Streams, stream

    ctx = make_context(problem("lqr:system=double_integrator", 1.0, 9, "zeros", True))
    stack = ctx.sample("trajectories", Streams(123, 0, 5), 4)
    alone = ctx.sample("trajectories", stream(123, 3, MAIN), 4)
    np.testing.assert_array_equal(stack.states[12:16], alone.states)
    np.testing.assert_array_equal(stack.actions[12:16], alone.actions)
    np.testing.assert_array_equal(stack.rewards[12:16], alone.rewards)


def test_the_score_is_the_gradient_of_the_log_density():
    p = problem("lqr:system=random,n=3,m=2,seed=1", 0.9, 5, "random:seed=3,scale=0.3", True)
    pol, th = p.policy, p.theta
    rng = np.random.default_rng(1)
    x, u = rng.standard_normal(3), rng.standard_normal(2)
    eps = 1e-6
    fd = np.array([(pol.log_prob(th + eps * e, x, u) - pol.log_prob(th - eps * e, x, u)) / (2 * eps)
                   for e in np.eye(pol.dim)])
    np.testing.assert_allclose(pol.score(th, x, u), fd, rtol=1e-7, atol=1e-8)


# --------------------------------------------------------------------------- exact estimator moments

PAIRS = [("reinforce", "none"), ("reinforce", "value_exact"), ("reinforce", "fixed:c=-3"), ("reward_to_go", "none"),
         ("reward_to_go", "value_exact"), ("reward_to_go", "fixed:c=-2"), ("advantage_exact", "none"),
         ("gae", "none"), ("gae", "value_exact"), ("gae_common", "value_exact"), ("reward_to_go_common", "none")]


def brute_force(p, estimator, baseline, lam=0.95, points=8):
    """Per-trajectory estimates at every node of a Gauss-Hermite grid over ``(x_0, eps_0, w_0, eps_1)`` -- the whole
    randomness of an ``H = 2`` trajectory (``w_1`` moves only ``x_2``, which nothing reads: ``V_2 = 0``) -- through
    the registered estimator and the track's own score sum, with the grid's weights: an exact integral of the
    literal formula (degree <= 8 per variable, the rule is exact to 2 points - 1)."""
    from pgexp.estimators import get_estimator
    from pgexp.estimators.batch import step_weights, with_baseline
    from pgexp.estimators.spec import parse_baseline
    from pgexp.runs.engine import baseline_values, linear_parts
    from pgexp.sampling.rng import Streams

    assert p.horizon == 2 and p.system.scalar
    ctx, batch, weight, _ = grid_batch(p, points)
    est = get_estimator(estimator)
    batch = batch.replace(params=est.params({"lam": lam} if "gae" in estimator else {}))
    kind = baseline.partition(":")[0]
    if kind in ("optimal", "constant"):
        u, v = linear_parts(est, batch)
        U, V = ctx.gradients(batch, u, per_trajectory=True), ctx.gradients(batch, v, per_trajectory=True)
        R = batch.returns[:, 0]
        return compose(weight @ U, weight @ V, U.T @ (weight[:, None] * U), U.T @ (weight[:, None] * V),
                       V.T @ (weight[:, None] * V), V.T @ (weight * R), float(weight @ R), float(weight @ (R * R)),
                       ctx.exact_gradient[1], kind)
    based = with_baseline(batch, *baseline_values(ctx, parse_baseline(baseline), batch, None, Streams(0, 0, 1)))
    G = ctx.gradients(based, step_weights(est.function, based), per_trajectory=True)
    mean = weight @ G
    cov = (G - mean).T @ (weight[:, None] * (G - mean))
    return mean, cov


@pytest.mark.parametrize("learn", [False, True], ids=["K", "K-logstd"])
@pytest.mark.parametrize("pair", [*PAIRS, ("reinforce", "optimal"), ("reward_to_go", "constant")],
                         ids=lambda p: "~".join(p))
def test_recursion_equals_brute_force_integration(pair, learn):
    p = problem("lqr:A=0.8,B=0.6,Q=1.5,R=0.4,W=0.3,S0=2", 0.9, 2, "values:0.7" + (";0.3" if learn else ""), learn,
                std=0.8)
    mom = scalar_moments(p, *pair)
    ref = brute_force(p, *pair)
    if isinstance(ref, tuple):
        mean, cov = ref
    else:
        mean, cov = ref.mean, ref.cov
    scale = max(1.0, float(np.abs(cov).max()))
    np.testing.assert_allclose(mom.mean, mean, rtol=1e-10, atol=1e-10 * max(1.0, float(np.abs(mean).max())))
    np.testing.assert_allclose(mom.cov, cov, rtol=1e-9, atol=1e-10 * scale)


def test_recursion_matches_monte_carlo_at_a_longer_and_a_discounted_horizon():
    """Mean and variance of every coordinate within Bonferroni-bounded z-scores: the mean's standard error from the
    sample, the variance's from the fourth central moment (``Var s^2 ~ (m4 - s^4) / M``)."""
    from pgexp.estimators import get_estimator
    from pgexp.estimators.spec import parse_baseline
    from pgexp.runs.context import make_context
    from pgexp.runs.engine import Pair, estimate_stack
    from pgexp.sampling.rng import Streams

    cases = [(problem("lqr", 1.0, 8, "values:0.2;0.1", True), 100_000),
             (problem("lqr:A=0.9,B=0.5,Q=1,R=0.1,W=0.05,S0=1", 0.8, "inf", "values:0.3", False), 20_000)]
    tests = []
    for p, M in cases:
        pairs = [pr for pr in PAIRS if pr[1].partition(":")[0] in ("none", "value_exact")
                 and (p.kind == "finite" or "common" not in pr[0])]
        resolved = [Pair(get_estimator(e), parse_baseline(b), get_estimator(e).params()) for e, b in pairs]
        # one stack of M trajectories, every pair's per-trajectory estimates on it
        out = estimate_stack(make_context(p), resolved, M, Streams(11, 0, 1), per_trajectory=True)
        for (e, b), est in zip(pairs, out):
            mom = scalar_moments(p, e, b)
            G = est.grad
            c = G - G.mean(0)
            var = (c * c).mean(0)
            z_mean = np.abs(G.mean(0) - mom.mean) / (G.std(0, ddof=1) / math.sqrt(M))
            z_var = np.abs(var - np.diag(mom.cov)) / np.sqrt(((c ** 4).mean(0) - var ** 2) / M)
            tests += [(f"{p.kind} {e}~{b} mean", z) for z in z_mean] + [(f"{p.kind} {e}~{b} var", z) for z in z_var]
    bound = norm.isf(ALPHA / (2 * len(tests)))
    worst = max(tests, key=lambda t: t[1])
    assert worst[1] < bound, f"{worst[0]}: |z| = {worst[1]:.2f} >= {bound:.2f}"


def test_unbiased_pairs_have_the_exact_gradient_as_mean():
    p = problem("lqr", 1.0, 30, "values:0.5;0.2", True)
    for e, b in PAIRS:
        if e == "gae" and b == "none":
            continue  # biased by construction (V = 0 with lambda < 1)
        mom = scalar_moments(p, e, b)
        np.testing.assert_allclose(mom.mean, mom.grad, rtol=1e-9, atol=1e-9 * float(np.abs(mom.grad).max()))


def test_gae_with_lambda_one_and_the_exact_value_is_reward_to_go_with_it():
    p = problem("lqr", 0.95, 15, "values:0.4", False)
    a, b = scalar_moments(p, "gae", "value_exact", lam=1.0), scalar_moments(p, "reward_to_go", "value_exact")
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-9)


def test_multi_dimensional_systems_get_a_labelled_monte_carlo():
    from pgexp.runs.lqr_exact import exact_variance

    p = problem("lqr:system=double_integrator", 1.0, 6, "zeros", False)
    out = exact_variance(p, "reward_to_go", "value_exact", batch_sizes=[4])
    assert out["method"] == "monte_carlo" and out["monte_carlo_trajectories"] > 0
    lo, hi = out["trace_cov_ci"]
    assert lo < out["trace_cov"] < hi
    se = np.asarray(out["mean_se"])
    bound = norm.isf(ALPHA / (2 * se.size))
    assert np.all(np.abs(np.asarray(out["mean"]) - np.asarray(out["grad"])) < bound * se)
    with pytest.raises(UserError, match="scalar systems"):
        exact_variance(p, "reward_to_go", "none", method="recursion")


# --------------------------------------------------------------------------- training: a positive control

def test_exact_ascent_reaches_the_riccati_gain():
    from pgexp.runs.train import train_run

    p = problem("lqr", 0.9, "inf", "zeros", False)
    K_star = float(L.optimum(p).K[0, 0, 0])
    run = train_run(p, "exact", batch_size=1, step_size=0.05, iterations=300, seed=0)
    assert abs(float(run.theta[0]) - K_star) < 1e-8
    assert run.rows["J"][-1] == pytest.approx(L.optimum(p).J, rel=1e-12)


def test_stochastic_ascent_reaches_the_riccati_gain_within_its_noise():
    """Reward-to-go with the exact value, N = 64, step eta: near K* the iterate is a linear recursion
    ``K <- K + eta (-h (K - K*) + xi)`` with ``Var xi = v / N`` (``v``: the exact per-trajectory variance at K*,
    ``h = -J''(K*)``), whose stationary standard deviation is ``sqrt(eta v / (N h (2 - eta h)))``; after ``I``
    iterations the start is forgotten up to ``(1 - eta h)^I |K* - K_0|``.  The tolerance is 5 standard deviations
    (two-sided false alarm 6e-7) plus that remainder."""
    from pgexp.runs.train import train_run

    p = problem("lqr", 0.9, "inf", "zeros", False)
    K_star = float(L.optimum(p).K[0, 0, 0])
    at_star = p.at(np.array([K_star]))
    v = scalar_moments(at_star, "reward_to_go", "value_exact").trace_cov
    eps = 1e-4
    h = -(L.evaluate(p.at(np.array([K_star + eps]))).grad[0] - L.evaluate(p.at(np.array([K_star - eps]))).grad[0]) / (
        2 * eps)
    N, eta, iters = 64, 0.02, 400
    sd = math.sqrt(eta * v / (N * h * (2 - eta * h)))
    tol = 5 * sd + (1 - eta * h) ** iters * abs(K_star)
    run = train_run(p, "reward_to_go", "value_exact", batch_size=N, step_size=eta, iterations=iters, seed=3)
    assert not run.diverged
    assert abs(float(run.theta[0]) - K_star) < tol, (float(run.theta[0]), K_star, tol)
    assert tol < 0.2 * abs(K_star)  # the test has teeth: the start K = 0 is far outside it


# --------------------------------------------------------------------------- the command line

def pgexp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgexp", *args], capture_output=True, text=True)


def test_exact_and_exact_variance_answer_with_the_finite_mdp_keys():
    out = pgexp("exact", "--env", "lqr", "--horizon", "10", "--theta", "values:0.3")
    assert out.returncode == 0, out.stderr
    lqr = json.loads(out.stdout)
    mdp = json.loads(pgexp("exact", "--env", "short_corridor").stdout)
    assert set(mdp) - {"state_labels"} <= set(lqr)
    assert lqr["J"] == pytest.approx(L.evaluate(problem("lqr", 1.0, 10, "values:0.3", False, std=1.0)).J)
    out = pgexp("exact-variance", "--env", "lqr", "--horizon", "6", "--estimator", "reward_to_go", "--baseline",
                "value_exact", "--batch-size", "1,8", "--learn-std", "--policy-std", "0.5")
    assert out.returncode == 0, out.stderr
    lqr = json.loads(out.stdout)
    mdp = json.loads(pgexp("exact-variance", "--env", "short_corridor", "--horizon", "4", "--estimator",
                           "reward_to_go", "--baseline", "value_exact", "--batch-size", "1,8").stdout)
    assert set(mdp) - {"n_trajectories"} <= set(lqr)
    assert set(mdp["batch"][0]) == set(lqr["batch"][0])
    assert lqr["dim"] == 2 and lqr["method"] == "recursion"


def test_unstable_discounted_gain_is_one_line_on_the_command_line():
    out = pgexp("exact", "--env", "lqr:A=1.3", "--gamma", "0.9", "--horizon", "inf")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "spectral radius" in out.stderr
