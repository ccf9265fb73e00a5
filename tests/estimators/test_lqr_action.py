"""Action-dependent control variates with Gaussian policies on linear-quadratic problems: the closed-form corrections
against Monte Carlo, the exact moments and Tucker's terms against brute-force Gaussian integration of the registered
estimators' own formulas over a whole ``H = 2`` trajectory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lqr_grid import grid_batch
from scipy.stats import norm

from pgexp.estimators import get_estimator, parse_baseline
from pgexp.estimators.action_dependent import critic_at, fit_quadratic_critic
from pgexp.estimators.batch import Batch, step_weights, with_baseline
from pgexp.estimators.correction import Corrected
from pgexp.exact import lqr_action_dependent as la
from pgexp.exact.lqr_moments import scalar_moments
from pgexp.problems.problem import build_problem
from pgexp.runs.context import make_context
from pgexp.runs.engine import baseline_values
from pgexp.sampling.rng import Streams

ALPHA = 1e-4


def problem(horizon=2, learn=False, gamma=0.9, theta="values:0.7"):
    return build_problem("lqr:A=0.8,B=0.6,Q=1.5,R=0.4,W=0.3,S0=2", gamma=gamma, horizon=horizon,
                         theta=theta + (";0.3" if learn else ""), learn_std=learn, policy_std=0.8)


# ------------------------------------------------------------------------------------------ the corrections

@pytest.mark.parametrize("learn", [False, True], ids=["K", "K-logstd"])
def test_gaussian_corrections_match_monte_carlo(learn):
    """At fixed states, ``E_u[score(x, u) b(x, u)]`` by Monte Carlo against the closed-form ``grad E_u b`` pulled back
    through ``mu = -K x`` and ``log sigma``: Q-Prop's linear control variate (correction ``[g, 0]``) and the quadratic
    critic itself (``[g, sigma^2 diag H]``, the all-action estimator's), for the exact ``Q`` and a fitted one."""
    p = problem(horizon=4, learn=learn)
    ctx = make_context(p)
    rng = np.random.default_rng(3)
    n_x, M = 4, 200_000
    x = np.linspace(-2.0, 1.5, n_x)[:, None, None] * np.ones((n_x, M, 1))
    sigma, K = ctx.evaluation.sigma, ctx.evaluation.K
    u = -x @ K.T + sigma * rng.standard_normal((n_x, M, 1))
    batch = Batch(x, u, np.zeros((n_x, M)), np.full(n_x, M), p.gamma, None, x, np.zeros(n_x, bool),
                  np.zeros(n_x, bool), "lqr", times=np.ones((n_x, M), np.int64), context=ctx, exact=ctx.exact_on)
    aux = ctx.sample("trajectories", Streams(9, 0, 1, (1,)), 64)
    critics = {"q_exact": baseline_values(ctx, parse_baseline("q_exact"), batch, None, Streams(0, 0, 1))[0],
               "q_fitted": baseline_values(ctx, parse_baseline("q_fitted"), batch, aux, Streams(0, 0, 1))[0]}
    score = p.policy.score(p.theta, x, u)                                               # (n_x, M, d)
    tests = 0
    zs = []
    for av in critics.values():
        for b, k in ((av.taken, av.correction), (_critic_values(ctx, aux, x, u, av), av.critic)):
            mc = np.einsum("nmd,nm->nd", score, b) / M
            se = np.sqrt(np.einsum("nmd,nm->nd", score ** 2, b ** 2) / M - mc ** 2) / math.sqrt(M)
            exact = p.policy.distribution_pullback(p.theta, x[:, :1], k[:, :1])
            zs.append(np.abs(mc - exact) / se)
            tests += exact.size
    assert np.max(zs) < norm.isf(ALPHA / (2 * tests))


def _critic_values(ctx, aux, x, u, av):
    """The critic ``Q̂(x, u)`` itself at the samples (what the all-action correction is the gradient of): the exact
    ``Q`` -- recognised by its exact state value -- or the quadratic fitted on ``aux``."""
    times = np.ones(x.shape[:2], np.int64)
    if np.allclose(av.state, ctx.exact_state_values(x, times)):
        return ctx.q_function(x, u, times)
    M, c, L = fit_quadratic_critic(aux)
    Mt, ct = critic_at(M, c, np.zeros(x.shape[0], np.int64), times, L)
    z = np.concatenate([x, u], axis=-1)
    return np.einsum("nmi,nmij,nmj->nm", z, Mt, z) + ct


def test_fitted_critic_recovers_a_quadratic():
    """Least squares on ``[vech(z z'), 1] (x) [1, tau, tau^2]`` reproduces a quadratic-in-(x, u) target exactly."""
    p = problem(horizon=5)
    ctx = make_context(p)
    aux = ctx.sample("trajectories", Streams(4, 0, 1, (1,)), 40)
    z = np.concatenate([aux.states, aux.actions], axis=-1)
    tau = aux.times / aux.shape[1]
    target = (1.5 * z[..., 0] ** 2 - 0.7 * z[..., 0] * z[..., 1] + 0.2 * z[..., 1] ** 2) * (1 + tau) + 3 * tau ** 2
    aux.__dict__["returns"] = target
    M, c, _ = fit_quadratic_critic(aux)
    powers = np.stack([np.ones_like(tau), tau, tau * tau], -1)
    Mt = np.einsum("nlk,kij->nlij", powers, M[0])
    fit = np.einsum("nli,nlij,nlj->nl", z, Mt, z) + np.einsum("nlk,k->nl", powers, c[0])
    np.testing.assert_allclose(fit, target, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------ brute force at H = 2


def step_terms_of(p, estimator, baseline, lam=0.95):
    """Each step's term of the registered estimator at every grid node: ``(N, 2, d)``."""
    ctx, batch, weight, g = grid_batch(p)
    est = get_estimator(estimator)
    batch = batch.replace(params=est.params({"lam": lam} if estimator == "gae" else {}))
    based = with_baseline(batch, *baseline_values(ctx, parse_baseline(baseline), batch, None, Streams(0, 0, 1)))
    out = step_weights(est.function, based)
    w, k = (out.score, out.correction) if isinstance(out, Corrected) else (out, None)
    eps = (batch.actions + batch.states @ ctx.evaluation.K.T) / ctx.evaluation.sigma
    S = ctx.step_scores(batch.states, eps)
    terms = w[..., None] * S
    if k is not None:
        for h in range(2):
            terms[:, h] += p.policy.distribution_pullback(p.theta, batch.states[:, h:h + 1], k[:, h:h + 1])
    return terms, weight, g


def weighted_cov(x, weight):
    m = weight @ x
    return m, (x - m).T @ (weight[:, None] * (x - m))


PAIRS = [("reward_to_go", "q_exact"), ("gae", "q_exact"), ("all_action", "q_exact")]


@pytest.mark.parametrize("learn", [False, True], ids=["K", "K-logstd"])
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: "~".join(p))
def test_exact_moments_equal_brute_force_integration(pair, learn):
    p = problem(learn=learn)
    mom = la.scalar_action_moments(p, *pair)
    terms, weight, _ = step_terms_of(p, *pair)
    mean, cov = weighted_cov(terms.sum(axis=1), weight)
    scale = max(1.0, float(np.abs(cov).max()))
    np.testing.assert_allclose(mom.mean, mean, rtol=1e-10, atol=1e-10 * max(1.0, float(np.abs(mean).max())))
    np.testing.assert_allclose(mom.cov, cov, rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(mom.mean, mom.grad, rtol=1e-9, atol=1e-10)          # unbiased with the exact Q


@pytest.mark.parametrize("pair", [("reward_to_go", "none"), ("reward_to_go", "value_exact"), ("gae", "none"),
                                  ("gae", "value_exact")], ids=lambda p: "~".join(p))
def test_the_extended_recursion_keeps_the_state_baseline_families(pair):
    """With no correction the action-dependent module's channels are :mod:`pgexp.exact.lqr_moments`' (a longer,
    discounted run too)."""
    for p in (problem(horizon=6, learn=True), problem(horizon="inf", gamma=0.8, theta="values:0.5")):
        ev = la.exact_lqr.evaluate(p)
        steps = la.exact_lqr.simulation_steps(p)
        grid = la.Grid(p, ev, steps)
        ch, _ = la._channels(la._Step(p, ev, grid, *pair, 0.95), steps)
        x0 = math.sqrt(float(p.system.Sigma0[0, 0])) * grid.z
        mean = np.einsum("i,id->d", grid.w, grid.evaluate(ch["g1"], x0))
        second = np.einsum("i,ide->de", grid.w, grid.evaluate(ch["gg"], x0))
        ref = scalar_moments(p, *pair)
        np.testing.assert_allclose(mean, ref.mean, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(second - np.outer(mean, mean), ref.cov, rtol=1e-9,
                                   atol=1e-10 * float(np.abs(ref.cov).max()))


@pytest.mark.parametrize("learn", [False, True], ids=["K", "K-logstd"])
@pytest.mark.parametrize("pair", [*PAIRS, ("reward_to_go", "value_exact"), ("reward_to_go", "none")],
                         ids=lambda p: "~".join(p))
def test_tucker_terms_equal_brute_force_integration(pair, learn):
    """At ``H = 2``: each step's three terms add up to that step's covariance on the grid; step 0's are the grid's
    conditional means over ``(x_0)`` and ``(x_0, eps_0)`` (grid axes); step 1's ``Sigma_s`` is the covariance of the
    all-action term ``E[g_1 | x_1]``, and ``Sigma_tau`` there is 0 (nothing random follows ``u_1`` in ``g_1``)."""
    p = problem(learn=learn)
    terms = la.tucker_steps(p, *pair)
    g_steps, weight, _ = step_terms_of(p, *pair)
    scale = max(1.0, max(float(np.abs(weighted_cov(g_steps[:, h], weight)[1]).max()) for h in range(2)))
    for h in range(2):
        total = terms["sigma_tau"][h] + terms["sigma_a"][h] + terms["sigma_s"][h]
        np.testing.assert_allclose(total, weighted_cov(g_steps[:, h], weight)[1], rtol=1e-9, atol=1e-10 * scale)
    P = 8
    x = g_steps[:, 0].reshape(P, P, P * P, -1)
    w = weight.reshape(P, P, P * P)
    m_sa = np.einsum("ijk,ijkd->ijd", w, x) / w.sum(axis=2)[..., None]
    m_s = np.einsum("ij,ijd->id", w.sum(axis=2), m_sa) / w.sum(axis=(1, 2))[:, None]
    ws, wsa = w.sum(axis=(1, 2)), w.sum(axis=2)
    mean = ws @ m_s
    sigma_s = np.einsum("i,id,ie->de", ws, m_s - mean, m_s - mean)
    sigma_a = np.einsum("ij,ijd,ije->de", wsa, m_sa - m_s[:, None], m_sa - m_s[:, None])
    np.testing.assert_allclose(terms["sigma_s"][0], sigma_s, rtol=1e-9, atol=1e-10 * scale)
    np.testing.assert_allclose(terms["sigma_a"][0], sigma_a, rtol=1e-9, atol=1e-10 * scale)
    aa, aw, _ = step_terms_of(p, "all_action", "q_exact")
    np.testing.assert_allclose(terms["sigma_s"][1], weighted_cov(aa[:, 1], aw)[1], rtol=1e-9, atol=1e-10 * scale)
    assert np.abs(terms["sigma_tau"][1]).max() < 1e-10 * scale


def test_the_linear_control_variate_leaves_the_quadratic_remainder():
    """On LQR the exact Q's linear form removes part of ``Sigma_a`` only, and nothing near the optimal gain, where
    ``grad_u Q(x, mu) = 0``; the all-action estimator's per-step variance is ``Sigma_s`` alone."""
    far = {k: np.trace(v, axis1=1, axis2=2).sum() for k, v in la.tucker_steps(problem(8, theta="values:0"),
                                                                            "reward_to_go", "value_exact").items()}
    far_q = {k: np.trace(v, axis1=1, axis2=2).sum() for k, v in la.tucker_steps(problem(8, theta="values:0"),
                                                                              "reward_to_go", "q_exact").items()}
    assert 0 < far_q["sigma_a"] < far["sigma_a"]
    assert far_q["sigma_tau"] == pytest.approx(far["sigma_tau"], rel=1e-10)
    assert far_q["sigma_s"] == pytest.approx(far["sigma_s"], rel=1e-10)
