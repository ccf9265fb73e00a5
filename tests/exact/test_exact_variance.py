"""Exact moments: the recursion vs brute-force enumeration vs Monte Carlo, per trajectory and per batch.

Tolerances:
* recursion vs enumeration: two float64 evaluations of the same finite sums, so they agree to ~1e-15
  relative; the tests demand ``1e-10`` relative to the largest entry (issue 14's bar), which any
  modelling slip (a missed term, a wrong horizon convention) exceeds by orders of magnitude.
* Monte Carlo: for i.i.d. draws ``x_i`` with exact mean ``m``, ``(mean(x) - m) / (std(x) / sqrt(n))`` is
  asymptotically standard normal; every comparison must stay below ``z = norm.isf(alpha / (2K))`` for
  the ``K`` comparisons of one test (Bonferroni, family-wise ``alpha = 1e-4``).  Traces are checked
  through ``q_i = ||g_i - E g||^2`` (exact mean: ``E q = tr Cov`` exactly), means per coordinate with the
  exact variance.  Seeds are fixed, so the tests are deterministic; the bound says how surprising a
  failure would be by chance.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from exact_cases import CASES, random_problem
from scipy.stats import norm

from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.exact import enumeration as en
from pgexp.exact import families as fam
from pgexp.exact.batch import enumerate_loo_batches, normal_cosine
from pgexp.exact.catalogue import COMMON_ESTIMATORS
from pgexp.exact.model import make_setup
from pgexp.exact.moments import (
    SUPPORTED,
    count_trajectories,
    exact_curves,
    exact_variance,
    optimal_constant,
    parse_baseline,
    trajectory_moments,
)
from pgexp.exact.rollout_moments import enumerate_samples
from pgexp.problems.problem import Problem, build_problem
from pgexp.runs.context import TabularContext
from pgexp.runs.engine import linear_parts
from pgexp.runs.estimate import estimate_batch
from pgexp.sampling.rng import MAIN, job_entropy, stream
from pgexp.sampling.tabular import effective_horizon

ALPHA = 1e-4
THETA = "random:seed=1,scale=0.7"
LAMS = (0.0, 0.5, 0.95, 1.0)
_SETUPS: dict = {}


def _zbound(k: int) -> float:
    return float(norm.isf(ALPHA / (2 * k)))


def _case(cid: str):
    if cid not in _SETUPS:
        kw, trunc = next((c[1], c[2]) for c in CASES if c[0] == cid)
        prob = random_problem(**kw)
        _SETUPS[cid] = (prob, make_setup(prob, truncation=trunc))
    return _SETUPS[cid]


def _combos(st):
    """Every supported (estimator, baseline, lam, value table) on this set-up (rollin_rollout samples untruncated
    geometric times, so on the cyclic discounted MDP it has infinitely many outcomes: not enumerable)."""
    rng = np.random.default_rng(7)
    tables = [rng.standard_normal(st.num_states)]
    if st.kind == "finite":  # a time-indexed table, last row 0
        t = rng.standard_normal((st.L + 1, st.num_states))
        t[-1] = 0.0
        tables.append(t)
    for est, bases in SUPPORTED.items():
        if est == "rollin_rollout" and st.L < effective_horizon(st.mdp):
            continue
        if est in COMMON_ESTIMATORS and st.kind != "finite":  # defined for the finite and episodic objectives
            continue
        for b in bases:
            b = "fixed:c=0.3" if b == "fixed" else b
            lams = LAMS if est in fam.VALUE_ESTIMATORS else (0.95,)
            for lam in lams:
                for table in (tables if b == "value_table" else [None]):
                    yield est, b, lam, table


def _close(a, b, rel=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max(initial=0.0)) <= rel * max(1.0, float(np.abs(b).max(initial=0.0)))


# --------------------------------------------------------------------------- recursion == enumeration

@pytest.mark.parametrize("cid", [c[0] for c in CASES])
def test_recursion_equals_enumeration_for_every_estimator(cid):
    _, st = _case(cid)
    n = 0
    for est, b, lam, table in _combos(st):
        e = trajectory_moments(st, est, b, lam=lam, value=table, method="enumeration")
        d = trajectory_moments(st, est, b, lam=lam, value=table, method="dp")
        assert e.method == "enumeration" and d.method == "dp"
        assert _close(d.mean, e.mean) and _close(d.cov, e.cov), (est, b, lam)
        if b == "constant":
            for N in (2, 3, 7):
                assert _close(d.batch_cov(N), e.batch_cov(N)), (est, N)
        n += 1
    # every combination ran: 28 of the discounted estimators, the 14 of the common variants and a second value
    # table (8) when finite, no rollin_rollout on the cut cyclic MDP (5)
    assert n == 28 + (14 + 8 if st.kind == "finite" else 0) - (5 if cid == "discounted-truncated" else 0)


@pytest.mark.parametrize("cid", [c[0] for c in CASES])
def test_diagonal_mode_is_the_diagonal_of_the_full_covariance(cid):
    _, st = _case(cid)
    for est, b, lam, table in _combos(st):
        full = trajectory_moments(st, est, b, lam=lam, value=table, method="dp", full=True)
        diag = trajectory_moments(st, est, b, lam=lam, value=table, method="dp", full=False)
        assert _close(diag.cov, np.diag(full.cov)) and _close(diag.mean, full.mean), (est, b, lam)
        for N in (2, 5):
            assert _close(diag.batch(N)["trace_cov"], full.batch(N)["trace_cov"])


@pytest.mark.parametrize("cid", [c[0] for c in CASES])
def test_unbiased_combinations_have_the_exact_gradient_as_mean(cid):
    """Unbiased where the registry says so; GAE with V = 0 or an imperfect V at lambda < 1 is biased."""
    _, st = _case(cid)
    tol = 1e-10 * max(1.0, np.abs(st.grad).max())
    if st.kind == "discounted" and st.L < 100:  # cut at T = 4: the truncation bias is real, not round-off
        tol = np.inf
    for est, b, lam, table in _combos(st):
        m = trajectory_moments(st, est, b, lam=lam, value=table, method="dp")
        unbiased = (est in ("reinforce", "reward_to_go", "advantage_exact", "rollin_rollout")
                    or (est == "gae" and (b == "value_exact" or lam == 1.0)))
        if unbiased and np.isfinite(tol):
            assert np.abs(m.mean - st.grad).max() <= tol, (est, b, lam)
        if est in fam.VALUE_ESTIMATORS and b == "none" and lam < 1.0:
            assert np.abs(m.mean - st.grad).max() > 1e-6, (est, lam)


def test_gae_lambda_one_with_the_exact_value_is_reward_to_go_with_the_value_baseline():
    for cid in ("finite-undiscounted", "finite-discounted-dense"):
        _prob, st = _case(cid)
        for method in ("enumeration", "dp"):
            a = trajectory_moments(st, "gae", "value_exact", lam=1.0, method=method)
            b = trajectory_moments(st, "reward_to_go", "value_exact", method=method)
            assert _close(a.mean, b.mean, 1e-12) and _close(a.cov, b.cov, 1e-12)
        paths = en.enumerate_paths(st)  # and trajectory by trajectory
        wa = en.literal_weights(st, paths, "gae", values=st.value_steps, lam=1.0)
        wb = en.literal_weights(st, paths, "reward_to_go", b_steps=st.value_steps[:st.L])
        assert _close(wa, wb, 1e-12)


def test_reward_to_go_common_mean_is_the_undiscounted_occupancy_gradient():
    """``E[sum_h sigma_h R_h] = sum_h sum_s p_h(s) sum_a grad pi(a|s) Q_h(s, a)``: no gamma^h weight on the
    states (issue 15), computed here by one vector-Jacobian product of the policy."""
    for cid in ("finite-undiscounted", "finite-discounted-dense"):
        prob, st = _case(cid)
        ev, mdp = st.ev, prob.mdp
        C = sum(np.where(st.absorbing, 0.0, ev.state_dist[h])[:, None] * (ev.Q_step(mdp, h) - ev.V_steps[h][:, None])
                for h in range(st.L))
        want = prob.policy.probs_vjp(prob.theta, C)
        for b in ("none", "value_exact"):
            m = trajectory_moments(st, "reward_to_go_common", b, method="dp")
            assert _close(m.mean, want, 1e-12)
        if mdp.gamma < 1:
            assert np.abs(want - st.grad).max() > 1e-3  # biased against grad J when gamma < 1


@pytest.mark.parametrize("cid,estimators", [
    ("finite-undiscounted", ("reinforce", "reward_to_go", "rollin_rollout")),
    ("discounted-acyclic", ("reinforce", "reward_to_go", "rollin_rollout")),
])
def test_leave_one_out_batch_covariance_equals_enumerated_batches(cid, estimators):
    """The U-statistic formula (pgexp.exact.batch) against every ordered batch of N trajectories."""
    kw = dict(next(c[1] for c in CASES if c[0] == cid))
    # few outcomes n, for n^4 batches
    kw.update(S=3, branching=1 if kw["horizon"] is None else 2, horizon=2 if kw["horizon"] else None)
    prob = random_problem(**kw)
    st = make_setup(prob)
    for est in estimators:
        if est == "rollin_rollout":
            smp = enumerate_samples(st)
            Z = 1.0 / (1.0 - st.gamma) if prob.mdp.horizon is None else float(np.sum(st.disc))
            sig = st.sigma[smp.states, smp.actions] * smp.live[:, None]
            p, u, v, R = smp.probs, Z * sig * smp.y[:, None], Z * sig, smp.y
        else:
            paths = en.enumerate_paths(st)
            p = paths.probs
            u = en.gradients(st, paths, en.literal_weights(st, paths, est))
            v = en.gradients(st, paths, np.where(paths.mask, fam.direction_weights(st, est)[None, :], 0.0))
            R = en.returns(st, paths)[0][:, 0]
        assert p.size ** 4 <= 2_000_000
        m = trajectory_moments(st, est, "constant", method="dp")
        for N in (2, 3, 4):
            mean, cov = enumerate_loo_batches(p, u, v, R, N)
            assert _close(m.mean, mean) and _close(m.batch_cov(N), cov), (est, N)


# --------------------------------------------------------------------------- Monte Carlo

def _mc_per_trajectory(prob: Problem, est: str, baseline: str, lam: float, n: int, seed: int, blocks: int = 4):
    ctx = TabularContext(prob)
    entropy = job_entropy({"test_exact_variance": seed}, prob.theta)
    return np.concatenate([estimate_batch(ctx, ESTIMATORS[est], baseline, {"lam": lam}, n // blocks, entropy, m,
                                          per_trajectory=True).grad for m in range(blocks)])


def _mc_batches(prob: Problem, est: str, baseline: str, lam: float, N: int, M: int, seed: int) -> np.ndarray:
    ctx = TabularContext(prob)
    entropy = job_entropy({"test_exact_batches": seed, "N": N}, prob.theta)
    return np.stack([estimate_batch(ctx, ESTIMATORS[est], baseline, {"lam": lam}, N, entropy, m).grad
                     for m in range(M)])


def _z_trace(g: np.ndarray, mean: np.ndarray, trace: float) -> float:
    q = np.einsum("nd,nd->n", g - mean, g - mean)
    return abs(q.mean() - trace) / (q.std(ddof=1) / np.sqrt(q.size))


def _z_mean(g: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    dev = np.abs(g.mean(axis=0) - mean)
    ok = var > 1e-300
    assert np.all(dev[~ok] < 1e-12)
    return float(np.max(dev[ok] / np.sqrt(var[ok] / g.shape[0]), initial=0.0))


MC_PROBLEMS = {
    "garnet-finite": ("garnet:states=4,actions=3,branching=2,seed=1", None, 0.9, 6),
    "corridor-discounted": ("short_corridor", None, 0.6, "inf"),   # H = inf: T = 55 steps, or roll-outs
}
MC_COMBOS = [("gae", "none", 0.5), ("gae", "value_exact", 0.5), ("gae", "value_exact", 0.0), ("gae", "none", 1.0),
             ("rollin_rollout", "none", 0.95), ("rollin_rollout", "value_exact", 0.95)]


@pytest.mark.parametrize("pid", list(MC_PROBLEMS))
def test_monte_carlo_per_trajectory_moments_agree_with_exact(pid):
    env, feats, gamma, H = MC_PROBLEMS[pid]
    prob = build_problem(env, features=feats, theta=THETA, gamma=gamma, horizon=H)
    z = _zbound(2 * len(MC_COMBOS))
    for i, (est, b, lam) in enumerate(MC_COMBOS):
        m = trajectory_moments(prob, est, b, lam=lam, method="dp")
        g = _mc_per_trajectory(prob, est, b, lam, 200_000, seed=i)
        assert _z_trace(g, m.mean, m.trace_cov) < z, (est, b, lam)
        assert _z_mean(g, m.mean, np.diag(m.cov)) < z, (est, b, lam)


@pytest.mark.slow  # Monte Carlo over many batches (seconds): in CI, not in the quick selection
@pytest.mark.parametrize("pid", list(MC_PROBLEMS))
def test_monte_carlo_batches_agree_with_the_exact_batch_quantities(pid):
    """Leave-one-out constant (a U-statistic) and a biased GAE: the trace of the batch covariance and the
    MSE, per batch of N, against the exact values; each from M independent batches."""
    env, feats, gamma, H = MC_PROBLEMS[pid]
    prob = build_problem(env, features=feats, theta=THETA, gamma=gamma, horizon=H)
    cases = [("reinforce", "constant", 0.95, 2), ("reward_to_go", "constant", 0.95, 3),
             ("rollin_rollout", "constant", 0.95, 4), ("gae", "none", 0.5, 4)]
    z = _zbound(2 * len(cases))
    for i, (est, b, lam, N) in enumerate(cases):
        m = trajectory_moments(prob, est, b, lam=lam, method="dp")
        exact = m.batch(N)
        G = _mc_batches(prob, est, b, lam, N, 10_000, seed=i)
        assert _z_trace(G, m.mean, exact["trace_cov"]) < z, (est, b, N)
        err = np.einsum("md,md->m", G - m.grad, G - m.grad)
        assert abs(err.mean() - exact["mse"]) / (err.std(ddof=1) / np.sqrt(err.size)) < z, (est, b, N)


def test_monte_carlo_with_fixed_and_oracle_optimal_constants():
    """``fixed:c`` and the exact per-coordinate optimum, applied through the production code as fixed ``b``."""
    prob = build_problem("garnet:states=3,actions=2,branching=2", theta=THETA, gamma=0.9, horizon=5)
    ctx = TabularContext(prob)
    cases = [(est, bl) for est in ("reinforce", "reward_to_go") for bl in ("fixed:c=0.5", "optimal")]
    z = _zbound(len(cases))
    for i, (est, bl) in enumerate(cases):
        m = trajectory_moments(prob, est, bl, method="dp")
        b = np.full(prob.policy.dim, 0.5) if bl.startswith("fixed") else np.asarray(m.info["b_star"])
        batch = ctx.sample("trajectories", stream(job_entropy({"fixed": i}, prob.theta), 0, MAIN), 200_000)
        u, c = linear_parts(ESTIMATORS[est], batch)  # g = u - b (.) c, per trajectory
        g = ctx.gradients(batch, u, per_trajectory=True) - b * ctx.gradients(batch, c, per_trajectory=True)
        assert _z_trace(g, m.mean, m.trace_cov) < z, (est, bl)


def test_gae_with_a_learned_value_is_unbiased_at_lambda_one_with_a_finite_horizon():
    """Issue 11 item 1: no bootstrap past the horizon (V(s_H) = 0); before the fix max |z| was 35 here."""
    prob = build_problem("garnet:states=5,actions=3,branching=3,seed=0", theta="zeros", gamma=1.0, horizon=5)
    G = _mc_batches(prob, "gae", "value_learned", 1.0, 64, 3000, seed=0)
    se = G.std(axis=0, ddof=1) / np.sqrt(G.shape[0])
    grad = make_setup(prob).grad
    assert np.max(np.abs(G.mean(axis=0) - grad) / se) < _zbound(prob.policy.dim)


# --------------------------------------------------------------------------- the cosine prediction

def test_normal_cosine_matches_closed_forms():
    """d = 1: ``cos = sign(ĝ) sign(grad)``, so ``E cos = 1 - 2 Phi(-m / s)``; zero covariance: ``cos(m, grad)``."""
    seed = np.random.SeedSequence(11)
    m, s2 = np.array([0.3]), np.array([[0.5]])
    sizes = [1, 4, 16]
    got = normal_cosine(m, s2, np.array([2.0]), sizes, seed, draws=40_000)
    z = _zbound(len(sizes) + 1)
    for N, (c, se) in zip(sizes, got):
        want = 1 - 2 * norm.cdf(-m[0] / np.sqrt(s2[0, 0] / N))
        assert abs(c - want) < z * se
    mean, grad = np.array([1.0, 2.0, -1.0]), np.array([0.5, 0.1, 0.3])
    (c, se), = normal_cosine(mean, np.zeros((3, 3)), grad, [5], seed, draws=100)
    assert c == pytest.approx(mean @ grad / np.linalg.norm(mean) / np.linalg.norm(grad), rel=1e-14) and se == 0


def test_exact_variance_json_has_the_batch_fields_and_the_prediction():
    prob = build_problem("short_corridor", theta=THETA, horizon=6)
    out = exact_variance(prob, "reward_to_go", "constant", batch_sizes=[2, 8])
    assert {"mean", "trace_cov", "cov", "grad", "grad_norm", "refers_to"} <= set(out)
    rows = out["batch"]
    assert [r["batch_size"] for r in rows] == [2, 8]
    for r in rows:
        assert r["mse"] == pytest.approx(r["bias_sq"] + r["trace_cov"], rel=1e-14)
        assert r["rel_mse"] == pytest.approx(r["mse"] / out["grad_norm"] ** 2, rel=1e-14)
        assert r["snr"] == pytest.approx(out["grad_norm"] ** 2 / r["trace_cov"], rel=1e-14)
        assert r["bias_sq"] < 1e-20 and -1 <= r["cosine_normal"] <= 1 and r["cosine_normal_se"] > 0
    # leave-one-out: N Cov approaches the per-trajectory limit (the fixed c = E G_0) from above
    assert rows[0]["var_per_traj"] > rows[1]["var_per_traj"] > out["trace_cov"]
    fixed = exact_variance(prob, "reward_to_go", f"fixed:c={out['mean_return']!r}")
    assert fixed["trace_cov"] == pytest.approx(out["trace_cov"], rel=1e-12)


# --------------------------------------------------------------------------- optimal constants, big problems

@pytest.mark.parametrize("est", ["reinforce", "reward_to_go"])
def test_optimal_constants_minimise_the_exact_variance(est):
    prob = build_problem("garnet:states=3,actions=2,branching=2", theta=THETA, gamma=1.0, horizon=4)
    res = optimal_constant(prob, est)
    c = res["c_star"]
    at = exact_variance(prob, est, f"fixed:c={c!r}", method="dp")["trace_cov"]
    scale = max(1.0, at)
    assert abs(at - res["trace_cov_c_star"]) <= 1e-9 * scale
    for delta in (-0.01, 0.01):
        nudged = exact_variance(prob, est, f"fixed:c={c + delta!r}", method="enumeration")["trace_cov"]
        assert at <= nudged + 1e-12 * scale
    st = make_setup(prob)
    paths = en.enumerate_paths(st)
    u = en.gradients(st, paths, en.literal_weights(st, paths, est))
    v = en.gradients(st, paths, np.where(paths.mask, fam.direction_weights(st, est)[None, :], 0.0))

    def trace(b):
        _, cov = en.centred_cov(paths.probs, u - b[None, :] * v)
        return float(np.trace(cov))

    b = np.asarray(res["b_star"])
    best = trace(b)
    assert abs(best - res["trace_cov_b_star"]) <= 1e-9 * max(1.0, best)
    assert best <= res["trace_cov_c_star"] + 1e-12 * scale
    for k in range(b.size):
        for delta in (-0.01, 0.01):
            nudged = b.copy()
            nudged[k] += delta
            assert best <= trace(nudged) + 1e-12 * scale


def test_recursion_on_a_problem_too_big_to_enumerate_agrees_with_monte_carlo():
    prob = build_problem("garnet:states=30,actions=4", theta=THETA, horizon=40)
    assert count_trajectories(prob, limit=1e6) > 1e6
    with pytest.raises(UserError, match="enumerate"):
        trajectory_moments(prob, "reinforce", "none", method="enumeration")
    combos = [("reinforce", "value_exact", 0.95), ("gae", "value_exact", 0.9), ("advantage_exact", "none", 0.95)]
    z = _zbound(len(combos))
    t0 = time.perf_counter()
    results = [exact_variance(prob, est, bl, lam=lam, batch_sizes=[16]) for est, bl, lam in combos]
    assert time.perf_counter() - t0 < 10.0
    for i, ((est, bl, lam), res) in enumerate(zip(combos, results)):
        assert res["method"] == "dp" and "cov" not in res  # d = 120 > 64
        mean = np.asarray(res["mean"])
        assert _close(mean, res["grad"])
        g = _mc_per_trajectory(prob, est, bl, lam, 100_000, seed=100 + i)
        assert _z_trace(g, mean, res["trace_cov"]) < z, (est, bl)


def test_exact_curves_rows():
    build = lambda H: build_problem("short_corridor", theta=THETA, horizon=H)  # noqa: E731
    rows = exact_curves(build, [3, 5], [("reinforce", "constant"), ("gae", "none")], [1, 4], lam=0.5)
    keys = [(r["estimator"], r["horizon"], r["batch_size"]) for r in rows]
    assert keys == [("reinforce", 3, 4), ("gae", 3, 1), ("gae", 3, 4),
                    ("reinforce", 5, 4), ("gae", 5, 1), ("gae", 5, 4)]
    gae = [r for r in rows if r["estimator"] == "gae" and r["horizon"] == 5]
    assert gae[0]["var_per_traj_exact"] == pytest.approx(gae[1]["var_per_traj_exact"], rel=1e-12)  # i.i.d.: N-free
    assert gae[0]["bias_sq_exact"] > 0 and gae[0]["lam"] == 0.5
    assert np.isnan(next(r for r in rows if r["estimator"] == "reinforce")["lam"])


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("kwargs,match", [
    (dict(estimator="actor_critic"), "not supported; allowed: reinforce, reward_to_go"),
    (dict(estimator="advantage_exact", baseline="value_exact"), "allowed: none"),
    (dict(estimator="gae", baseline="constant"), "allowed: none, value_exact, value_table"),
    (dict(estimator="reinforce", baseline="value_learned"), "unknown 'value_learned'"),
    (dict(estimator="reinforce", baseline="fixed:c=x"), "fixed:c=VALUE"),
    (dict(estimator="reinforce", baseline="fixed:b=1"), "fixed:c=VALUE"),
    (dict(estimator="gae", lam=1.5), "lambda must be in"),
    (dict(estimator="gae", baseline="value_table"), "needs a value table"),
    (dict(estimator="reinforce", value=np.zeros(4)), "not used by reinforce"),
    (dict(estimator="gae", baseline="value_table", value=np.zeros(3)), r"shape \(3,\); allowed: \(4,\) or \(7, 4\)"),
    (dict(estimator="gae", baseline="value_table", value=np.ones((7, 4))), "row H = 6"),
    (dict(estimator="reinforce", method="magic"), "method"),
    (dict(estimator="reinforce", baseline="constant", batch_sizes=[1]), "batch-size >= 2"),
])
def test_refusals_name_what_exists(kwargs, match):
    prob = build_problem("short_corridor", theta=THETA, horizon=6)
    with pytest.raises(UserError, match=match):
        exact_variance(prob, **kwargs)


def test_episodic_objective_is_refused():
    with pytest.raises(UserError, match="episodic"):
        exact_variance(build_problem("short_corridor", theta=THETA), "reinforce")


def test_fixed_baseline_label_round_trips():
    assert parse_baseline("fixed:c=-2.5").c == -2.5 and parse_baseline("fixed:c=-2.5").label == "fixed:c=-2.5"


# --------------------------------------------------------------------------- commands

def test_cli_exact_variance_with_a_value_table_and_batch_sizes(tmp_path, capsys):
    import json

    from pgexp.cli import main
    from pgexp.io import save_npy

    V = tmp_path / "V.npy"
    save_npy(V, np.array([1.0, -2.0, 0.5, 3.0]))
    out = tmp_path / "ev.json"
    args = ["exact-variance", "--env", "short_corridor", "--horizon", "6", "--theta", THETA, "--estimator", "gae",
            "--value", str(V), "--lam", "0.5", "--batch-size", "1,4", "--output", str(out)]
    assert main(args) == 0
    res = json.loads(out.read_text())
    prob = build_problem("short_corridor", theta=THETA, horizon=6)
    want = exact_variance(prob, "gae", "value_table", lam=0.5, value=np.load(V), batch_sizes=[1, 4])
    assert res["baseline"] == "value_table" and res["value"] == str(V) and res["lam"] == 0.5
    assert res["trace_cov"] == want["trace_cov"] and res["batch"] == want["batch"]
    assert main(["exact-variance", "--env", "short_corridor", "--horizon", "6", "--estimator", "reinforce",
                 "--baseline", "fixed:c"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fixed:c=VALUE" in err[0]


def test_cli_lambda_tradeoff_marks_one_best_lambda_per_value_and_batch_size(tmp_path):
    import pandas as pd

    from pgexp.cli import main

    out = tmp_path / "lt.parquet"
    assert main(["lambda-tradeoff", "--env", "short_corridor", "--horizon", "8", "--lam", "0,0.5,1",
                 "--batch-size", "1,16", "--tag", "env_name=corridor", "--output", str(out)]) == 0
    df = pd.read_parquet(out)
    assert set(df["value"]) == {"none", "perturbed", "exact"} and len(df) == 3 * 3 * 2
    assert (df.groupby(["value", "batch_size"])["best"].sum() == 1).all()
    assert (df[df["value"] == "exact"]["bias_sq"] < 1e-20).all()   # V^pi: unbiased at every lambda
    assert np.allclose(df["mse"], df["bias_sq"] + df["trace_cov"], rtol=1e-14)
    assert (tmp_path / "lt.csv").exists() and (df["env_name"] == "corridor").all()


def test_bench_exact_variance_reports_its_growth():
    from pgexp.bench import bench_exact_variance

    res = bench_exact_variance(states=20, horizon=8, repeats=1)
    assert res["dim"] == 80 and res["seconds"] > 0 and res["seconds_full_cov"] > 0
    assert [r["states"] for r in res["growth_states"]] == [5, 10, 20, 40]
    assert [r["horizon"] for r in res["growth_horizon"]] == [2, 4, 8, 16]


def test_too_long_a_discounted_truncation_is_refused_before_allocating():
    prob = build_problem("garnet:states=50,actions=4,branching=3", theta="zeros", gamma=0.9999, horizon="inf")
    with pytest.raises(UserError, match="too large"):
        exact_variance(prob, "reward_to_go", "none")
