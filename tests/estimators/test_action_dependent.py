"""Action-dependent control variates and the all-action estimator: the analytic correction, the exact moments (the
corrected-family recursion against brute force, Monte Carlo against both), the optimal action-dependent baseline,
and Tucker et al.'s per-step decomposition (the recursion against grouping enumerated trajectories; the terms add
up; the all-action estimator's per-step covariance is Sigma_s).  Unbiasedness of every new pair on the check
problems is ``test_estimators.py``'s registry check; the linear-quadratic ones are ``test_lqr_action.py``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_problem
from scipy.stats import norm

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS, get_estimator, parse_baseline
from pgexp.estimators.batch import step_weights, with_baseline
from pgexp.estimators.correction import Corrected
from pgexp.exact import action_dependent as ad
from pgexp.exact import enumeration as en
from pgexp.exact import tucker as tk
from pgexp.exact.model import make_setup
from pgexp.runs.context import make_context
from pgexp.runs.engine import baseline_values
from pgexp.runs.estimate import run_estimate
from pgexp.sampling.rng import Streams, stream

ALPHA = 1e-4  # family-wise false-alarm rate of the statistical tests

TINY = [  # (id, env, features, gamma, horizon): small enough to enumerate, finite and (truncated) discounted
    ("garnet-finite", "garnet:states=4,actions=3,branching=2,seed=1", None, 0.9, 4),
    ("garnet-randfeat", "garnet:states=5,actions=2,branching=2,seed=3", "random:d=3,seed=1", 0.8, 5),
    ("corridor", "short_corridor", None, 1.0, 6),
    ("chain-undiscounted", "chain:length=4,seed=1", None, 1.0, 5),
]
PAIRS = [(e, b) for e, bs in ad.SUPPORTED.items() for b in bs]


def tiny(case, seed: int = 0):
    _, env, features, gamma, horizon = case
    return make_problem(env, features, gamma, horizon, seed=seed)


# ------------------------------------------------------------------------------------------ the correction

def test_tabular_correction_is_the_sum_over_actions_of_grad_pi_times_k():
    """``Corrected`` weights through the track's accumulation and pull-back equal the formula written out."""
    prob = tiny(TINY[1])
    ctx = make_context(prob)
    batch = ctx.sample("trajectories", stream(3, 0, 0), 7)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(batch.shape) * batch.mask
    k = rng.standard_normal((*batch.shape, prob.mdp.num_actions)) * batch.mask[..., None]
    got = ctx.gradients(batch, Corrected(w, k), per_trajectory=True)
    st = make_setup(prob)
    sigma, pi = st.sigma, st.pi
    want = np.zeros_like(got)
    for i in range(batch.num):
        for h in range(batch.lengths[i]):
            s, a = batch.states[i, h], batch.actions[i, h]
            want[i] += w[i, h] * sigma[s, a] + np.einsum("a,a,ad->d", pi[s], k[i, h], sigma[s])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_plug_in_returning_a_correction_runs_per_replicate_as_vectorised():
    """The engine stacks ``Corrected`` outputs of a non-vectorised plug-in like its weights: same numbers."""
    from pgexp.estimators.spec import ESTIMATORS as REG
    from pgexp.estimators.spec import register_estimator

    base = ESTIMATORS["reward_to_go"]
    register_estimator("rtg_corrected_plugin", base.function, baselines=("q_exact",), vectorized=False)
    try:
        prob = tiny(TINY[0])
        a = run_estimate(prob, "rtg_corrected_plugin", "q_exact", batch_size=4, replicates=5, seed=2, progress=False)
        b = run_estimate(prob, "reward_to_go", "q_exact", batch_size=4, replicates=5, seed=2, progress=False)
        np.testing.assert_allclose(np.asarray(a.column("grad").to_pylist()),
                                   np.asarray(b.column("grad").to_pylist()), rtol=1e-13, atol=1e-15)
    finally:
        REG.pop("rtg_corrected_plugin")


def test_state_baselines_give_plain_weights_and_action_baselines_a_correction():
    prob = tiny(TINY[0])
    ctx = make_context(prob)
    batch = ctx.sample("trajectories", stream(1, 0, 0), 5).replace(params={"lam": 0.95})
    for name in ("reinforce", "reward_to_go", "gae"):
        est = get_estimator(name)
        plain = with_baseline(batch, *baseline_values(ctx, parse_baseline("value_exact"), batch, None,
                                                     Streams(1, 0, 1)))
        assert isinstance(step_weights(est.function, plain), np.ndarray)
        q = with_baseline(batch, *baseline_values(ctx, parse_baseline("q_exact"), batch, None, Streams(1, 0, 1)))
        out = step_weights(est.function, q)
        assert isinstance(out, Corrected) and out.correction.shape == (*batch.shape, prob.mdp.num_actions)
    with pytest.raises(UserError, match="q_exact, q_fitted"):
        get_estimator("all_action").check("value_exact", "finite", "tabular")


# ------------------------------------------------------------------------------------------ exact moments

@pytest.mark.parametrize("case", TINY, ids=[c[0] for c in TINY])
@pytest.mark.parametrize("pair", PAIRS, ids=["~".join(p) for p in PAIRS])
def test_recursion_equals_enumeration(case, pair):
    st = make_setup(tiny(case))
    dp = ad.trajectory_moments(st, *pair, lam=0.7, method="dp")
    ref = ad.trajectory_moments(st, *pair, lam=0.7, method="enumeration")
    scale = max(1.0, float(np.abs(ref.cov).max()))
    np.testing.assert_allclose(dp.mean, ref.mean, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(ref.mean).max())))
    np.testing.assert_allclose(dp.cov, ref.cov, rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(ref.mean, st.grad, rtol=1e-9, atol=1e-12)  # every pair here is unbiased


def test_recursion_equals_enumeration_on_a_truncated_discounted_problem():
    """The discounted objective as sampled (cut at T): the same families with ``L = T``, a stationary critic."""
    prob = make_problem("garnet:states=4,actions=2,branching=2,seed=0", None, 0.7, "inf")
    st = make_setup(prob, truncation=5)
    for pair in PAIRS:
        dp = ad.trajectory_moments(st, *pair, method="dp")
        ref = ad.trajectory_moments(st, *pair, method="enumeration")
        np.testing.assert_allclose(dp.mean, ref.mean, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(dp.cov, ref.cov, rtol=1e-9, atol=1e-12 * max(1.0, float(np.abs(ref.cov).max())))


def test_a_critic_table_is_a_control_variate_whatever_its_error():
    """Any ``Q̂`` table keeps the corrected estimators unbiased (the all-action one is not: its mean moves)."""
    st = make_setup(tiny(TINY[0]))
    rng = np.random.default_rng(1)
    Q, V = ad.critic_tables(st, rng.standard_normal((st.num_states, st.num_actions)) * 3)
    paths = en.enumerate_paths(st)
    for est in ("reinforce", "reward_to_go", "gae", "all_action"):
        X = ad.corrected_family(st, est, Q, V, 0.6)
        mean, _, second = ad.moments(st, X)
        m_ref, c_ref = en.centred_cov(paths.probs, ad.literal_gradients(st, paths, est, Q, V, 0.6))
        np.testing.assert_allclose(mean, m_ref, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(second - np.outer(mean, mean), c_ref, rtol=1e-9, atol=1e-12)
        if est in ("reinforce", "reward_to_go"):  # GAE's V is this critic's: biased for lambda < 1 anyway
            np.testing.assert_allclose(mean, st.grad, rtol=1e-9, atol=1e-12)
    assert np.abs(ad.moments(st, ad.corrected_family(st, "all_action", Q, V))[0] - st.grad).max() > 1e-3


@pytest.mark.parametrize("pair", [("reward_to_go", "q_exact"), ("reinforce", "q_exact"), ("gae", "q_exact"),
                                  ("all_action", "q_exact"), ("reward_to_go", "q_fitted")],
                         ids=lambda p: "~".join(p))
def test_monte_carlo_of_the_engine_matches_the_exact_moments(pair):
    """The estimate engine (sampling, ``Corrected``, pull-back) has the exact mean and trace of covariance: z-scores
    of each coordinate's mean with the exact standard errors and of the per-trajectory trace, Bonferroni over
    ``d + 1`` at 1e-4.  ``q_fitted``: its mean only (its variance has no exact counterpart)."""
    prob = tiny(TINY[0])
    st = make_setup(prob)
    M = 20_000
    t = run_estimate(prob, *pair, params={"lam": 0.7}, batch_size=1, replicates=M, seed=5, fit_batch_size=8,
                     progress=False)
    G = np.asarray(t.column("grad").to_pylist())
    bound = norm.isf(ALPHA / (2 * (st.dim + 1)))
    if pair[1] == "q_fitted":
        z = np.abs(G.mean(0) - st.grad) / (G.std(0, ddof=1) / np.sqrt(M))
        assert np.nanmax(np.where(G.std(0) > 0, z, 0)) < bound
        return
    mom = ad.trajectory_moments(st, *pair, lam=0.7, method="dp")
    se = np.sqrt(np.diag(mom.cov) / M)
    live = se > 1e-12
    assert np.max(np.abs(G.mean(0) - mom.mean)[live] / se[live]) < bound
    assert np.allclose(G.mean(0)[~live], mom.mean[~live], atol=1e-12)
    dev = ((G - mom.mean) ** 2).sum(axis=1)              # E[dev] = tr Cov exactly (mean known)
    z_tr = abs(dev.mean() - mom.trace_cov) / (dev.std(ddof=1) / np.sqrt(M))
    assert z_tr < bound


# ------------------------------------------------------------------------------------------ the optimal b(s, a)

@pytest.mark.parametrize("case", TINY[:3], ids=[c[0] for c in TINY[:3]])
def test_the_optimal_action_dependent_baseline_is_a_stationary_point_and_the_minimum(case):
    """``tr Cov`` is quadratic in the table ``b``: at ``b*`` its symmetric difference along any direction vanishes
    (no linear term) and any step increases it; ``q_exact`` (``b = Q``) is never better."""
    st = make_setup(tiny(case))
    paths = en.enumerate_paths(st)
    b_star = ad.optimal_action_baseline(st)

    def trace(b):
        Q, V = ad.critic_tables(st, b)
        return float(np.trace(en.centred_cov(paths.probs, ad.literal_gradients(st, paths, "reward_to_go", Q, V))[1]))

    t0 = trace(b_star)
    rng = np.random.default_rng(0)
    for _ in range(4):
        d = rng.standard_normal(b_star.shape)
        assert abs(trace(b_star + 1e-3 * d) - trace(b_star - 1e-3 * d)) < 1e-10 * max(1.0, t0)
        assert trace(b_star + 0.1 * d) > t0
    assert trace(ad.critic_tables(st)[0]) >= t0 - 1e-12 * max(1.0, t0)


# ------------------------------------------------------------------------------------------ Tucker et al.

TUCKER = [(e, b) for e, bs in tk.supported().items() for b in bs]


@pytest.mark.parametrize("case", TINY, ids=[c[0] for c in TINY])
def test_tucker_terms_equal_enumeration_and_add_up_to_each_steps_covariance(case):
    st = make_setup(tiny(case))
    paths = en.enumerate_paths(st)
    for est, base in TUCKER:
        dp = tk.step_terms(st, tk.pair_family(st, est, base, 0.7), full=True)
        ref = tk.enumerated_terms(st, est, base, 0.7, full=True)
        scale = max(1e-300, float(np.abs(ref.sigma_tau + ref.sigma_a + ref.sigma_s).max()))
        for k in tk.TERMS:
            np.testing.assert_allclose(getattr(dp, k), getattr(ref, k), rtol=0, atol=1e-10 * scale,
                                       err_msg=f"{est}~{base} {k}")
        # the three terms are the covariance of each step's term, computed directly
        if ad.covers(est, base):
            Q, V = ad.baseline_table(st, base)
            steps = ad.literal_steps(st, paths, est, Q, V, 0.7)
        else:
            from pgexp.exact import moments as mo

            w = en.literal_weights(st, paths, est, **mo.literal_args(st, est, mo.Baseline(base), None), lam=0.7)
            steps = np.where(paths.mask, w, 0.0)[..., None] * st.sigma[paths.states, paths.actions]
        for h in range(st.L):
            _, cov = en.centred_cov(paths.probs, steps[:, h])
            np.testing.assert_allclose(dp.sigma_tau[h] + dp.sigma_a[h] + dp.sigma_s[h], cov, rtol=0,
                                       atol=1e-10 * scale)


@pytest.mark.parametrize("case", TINY, ids=[c[0] for c in TINY])
def test_all_action_covariance_is_the_state_term_and_the_exact_q_removes_the_action_term(case):
    """Per step, the all-action estimator's covariance is exactly ``Sigma_s`` of any estimator of the same step
    (its term is ``E[g_t | s_t]``), and the exact ``Q`` as a baseline leaves ``Sigma_tau`` and ``Sigma_s`` as they
    are and ``Sigma_a = 0``."""
    st = make_setup(tiny(case))
    ref = tk.step_terms(st, tk.pair_family(st, "reward_to_go", "value_exact"), full=True)
    aa = tk.step_terms(st, tk.pair_family(st, "all_action", "q_exact"), full=True)
    q = tk.step_terms(st, tk.pair_family(st, "reward_to_go", "q_exact"), full=True)
    scale = max(1e-300, float(np.abs(ref.sigma_tau).max() + np.abs(ref.sigma_s).max()))
    np.testing.assert_allclose(aa.sigma_s, ref.sigma_s, rtol=0, atol=1e-12 * scale)
    assert np.abs(aa.sigma_tau).max() <= 1e-12 * scale and np.abs(aa.sigma_a).max() <= 1e-12 * scale
    np.testing.assert_allclose(q.sigma_tau, ref.sigma_tau, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(q.sigma_s, ref.sigma_s, rtol=0, atol=1e-12 * scale)
    assert np.abs(q.sigma_a).max() <= 1e-12 * scale


def test_whole_trajectory_rows_sum_the_steps_and_cross_time_closes_the_trace():
    st = make_setup(tiny(TINY[0]))
    res = tk.decomposition(st, "reward_to_go", "value_exact")
    enum = tk.decomposition(st, "reward_to_go", "value_exact", method="enumeration")
    paths = en.enumerate_paths(st)
    from pgexp.exact import moments as mo

    w = en.literal_weights(st, paths, "reward_to_go", **mo.literal_args(st, "reward_to_go", mo.Baseline("value_exact"),
                                                                          None))
    trace = float(np.trace(en.centred_cov(paths.probs, en.gradients(st, paths, w))[1]))
    steps = sum(float(res[k].sum()) for k in tk.TERMS)
    assert res["trace_cov"] == pytest.approx(trace, rel=1e-10)
    assert steps + res["cross_time"] == pytest.approx(trace, rel=1e-10)
    for k in tk.TERMS:
        np.testing.assert_allclose(res[k], enum[k], rtol=1e-9, atol=1e-13)


def test_with_two_equiprobable_actions_the_state_value_is_already_the_best_action_baseline():
    """``sigma_a A_a`` is the same for both actions when ``pi`` is uniform over two (``sigma_1 = -sigma_0``,
    ``A_1 = -A_0``): ``Sigma_a = 0`` with the exact ``V`` -- the short corridor at theta = 0."""
    st = make_setup(make_problem("short_corridor", None, 1.0, 8, scale=0.0))
    terms = tk.step_terms(st, tk.pair_family(st, "reward_to_go", "value_exact"))
    assert np.abs(terms.sigma_a).max() < 1e-12 * terms.sigma_tau.max()


def test_unsupported_pairs_are_refused_by_name():
    st = make_setup(tiny(TINY[0]))
    with pytest.raises(UserError, match="reward_to_go~q_exact"):
        tk.pair_family(st, "reward_to_go", "constant")
    with pytest.raises(UserError, match="allowed"):
        ad.trajectory_moments(st, "reinforce", "q_optimal")


# ------------------------------------------------------------------------------------------ continuous states

@pytest.mark.parametrize("env", ["gym:Pendulum-v1", "gym:CartPole-v1"])
def test_continuous_state_corrections_are_the_expected_score_terms(env, torch_one_thread):
    """On a task with a neural policy, the pulled-back correction ``grad E_a k(a)`` equals ``E_a[score(a) k(a)]``: for
    finite actions the finite sum with the per-sample scores (exactly); for a Gaussian with ``k = g'(a - mu)`` (Q-Prop's
    linear form) Monte Carlo over actions, z-scores Bonferroni-bounded at 1e-4."""
    from pgexp.problems.problem import build_problem

    p = build_problem(env, policy="mlp:hidden=8,seed=0", horizon=10)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((3, p.task.obs_dim)) * 0.5
    pol = p.policy
    if not p.task.continuous_actions:
        A = p.task.num_actions
        k = rng.standard_normal((3, A))
        got = pol.distribution_pullback(p.theta, obs[:, None], k[:, None])
        pi = pol.probs(p.theta, obs)
        for a in range(A):
            got -= (pi[:, a] * k[:, a])[:, None] * pol.step_scores(p.theta, obs, np.full(3, a))
        assert np.abs(got).max() < 1e-10 * max(1.0, float(np.abs(k).max()))
        return
    m, M = p.task.action_dim, 200_000
    g = rng.standard_normal((3, m))
    mu, sd = pol.mean_std_fn(p.theta)(obs)
    got = pol.distribution_pullback(p.theta, obs[:, None], np.concatenate([g, np.zeros_like(g)], axis=-1)[:, None])
    zs = []
    for i in range(3):
        a = mu[i] + sd[i] * rng.standard_normal((M, m))
        s = pol.step_scores(p.theta, np.repeat(obs[i:i + 1], M, axis=0), a)
        terms = s * ((a - mu[i]) @ g[i])[:, None]
        se = terms.std(axis=0, ddof=1) / np.sqrt(M)
        live = se > 1e-12
        zs.append(np.abs(terms.mean(axis=0) - got[i])[live] / se[live])
    assert np.max(np.concatenate(zs)) < norm.isf(ALPHA / (2 * sum(z.size for z in zs)))


def test_continuous_gradients_with_a_zero_correction_are_the_plain_ones(torch_one_thread):
    from pgexp.problems.problem import build_problem

    p = build_problem("gym:Pendulum-v1", policy="mlp:hidden=8,seed=0", horizon=8)
    ctx = make_context(p)
    batch = ctx.sample("trajectories", stream(2, 0, 0), 3)
    w = np.random.default_rng(1).standard_normal(batch.shape)
    zero = Corrected(w, np.zeros((*batch.shape, 2 * p.task.action_dim)))
    np.testing.assert_allclose(ctx.gradients(batch, zero, per_trajectory=True),
                               ctx.gradients(batch, w, per_trajectory=True), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ctx.gradients(batch, zero, per_trajectory=False),
                               ctx.gradients(batch, w, per_trajectory=False), rtol=1e-6, atol=1e-8)
