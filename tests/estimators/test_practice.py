"""The practice audit's estimators and options: the common variants (no gamma^h), advantage normalisation and
truncation -- their exact means against Monte Carlo, against independent computations and against the
derivations in the modules' docstrings.

Statistical checks: ``M`` batch estimates of ``N`` trajectories on fixed seeds, and for every coordinate
``k`` the z-score ``|mean_k - m_k| / se_k`` against the exact mean ``m``; the bound is Bonferroni over the
case's ``d`` coordinates, ``z* = Phi^-1(1 - alpha / (2 d))`` with ``alpha = 1e-4`` (each case fails by chance
with probability at most 1e-4).  Where a test also shows that a bias is *detectable* (power), it asks the
z-score against ``grad J`` to exceed the same bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_problem
from scipy.stats import norm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS, register_estimator
from pgexp.estimators.practice import NORMALIZE_EPS, Practice, make_practice, normalize_weights
from pgexp.exact.batch import batch_multisets, ordered_batches
from pgexp.exact.model import make_setup
from pgexp.exact.moments import trajectory_moments
from pgexp.exact.normalization import bias_rate, exact_normalized, path_statistics
from pgexp.exact.practice import normalization_scale, practice_moments, truncation_bias
from pgexp.problems.problem import build_problem
from pgexp.runs.check import ALPHA, estimator_checks, max_z
from pgexp.runs.context import make_context
from pgexp.runs.estimate import check_combination, run_estimate
from pgexp.sampling.rng import stream

FINITE = ("garnet:states=5,actions=3,branching=2,seed=3", None, 0.8, 5)
BANDIT = ("garnet:states=1,actions=3,branching=1,seed=0", None, 1.0, 1)


def bound(d: int) -> float:
    return float(norm.isf(ALPHA / (2 * d)))


def replicates(prob, estimator, baseline, M, N, practice=None, params=None, seed=0):
    t = run_estimate(prob, estimator, baseline, params=params, batch_size=N, replicates=M, seed=seed, progress=False,
                     practice=practice or Practice())
    return np.asarray(t.column("grad").to_pylist(), dtype=np.float64), t


# ------------------------------------------------------------------------------- the common variants

def independent_common_mean(prob) -> np.ndarray:
    """``sum_h sum_s p_h(s) sum_a pi(a|s) score(s, a) Q_h(s, a)`` with dense arrays and plain loops: tabular
    softmax written out by hand (no pgexp policy, evaluation or recursion code)."""
    mdp = prob.mdp
    S, A, H, gamma = mdp.num_states, mdp.num_actions, int(mdp.horizon), float(mdp.gamma)
    P = mdp.P.toarray().reshape(S, A, S)
    r = np.asarray(mdp.r, dtype=np.float64)
    logits = prob.theta.reshape(S, A)
    pi = np.exp(logits - logits.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    score = np.zeros((S, A, S, A))  # d log pi(a|s) / d theta[s', b] = 1{s'=s} (1{b=a} - pi(b|s))
    for s in range(S):
        for a in range(A):
            score[s, a, s, :] = -pi[s]
            score[s, a, s, a] += 1.0
    Q = np.zeros((H, S, A))
    V = np.zeros(S)
    for h in range(H - 1, -1, -1):
        Q[h] = r + gamma * P @ V
        V = (pi * Q[h]).sum(axis=1)
    p = np.asarray(mdp.mu, dtype=np.float64)
    mean = np.zeros((S, A))
    for h in range(H):
        mean += np.einsum("s,sa,saxy,sa->xy", p, pi, score, Q[h])
        p = np.einsum("s,sa,sat->t", p, pi, P)
    return mean.ravel()


def test_common_mean_equals_an_independent_computation_at_a_finite_horizon():
    prob = make_problem(*FINITE)
    want = independent_common_mean(prob)
    for method in ("dp", "enumeration"):
        got = trajectory_moments(prob, "reward_to_go_common", "none", method=method).mean
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    # ... and differs from grad J (gamma < 1): the common variant is biased
    grad = exact.gradient(prob.mdp, prob.policy, prob.theta)[1]
    assert np.linalg.norm(want - grad) > 0.1 * np.linalg.norm(grad)


@pytest.mark.parametrize("estimator,baseline,lam", [("reward_to_go_common", "none", None),
                                                    ("reward_to_go_common", "value_exact", None),
                                                    ("gae_common", "value_exact", 0.95),
                                                    ("gae_common", "none", 0.5)])
def test_exact_mean_of_the_common_variants_equals_monte_carlo(estimator, baseline, lam):
    prob = make_problem(*FINITE)
    params = {} if lam is None else {"lam": lam}
    mean = trajectory_moments(prob, estimator, baseline, lam=lam or 0.95).mean
    G, t = replicates(prob, estimator, baseline, 400, 16, params=params)
    assert max_z(G, mean)[0] < bound(G.shape[1])
    assert max_z(G, np.asarray(t.column("grad_exact")[0].as_py()))[0] > bound(G.shape[1])  # and biased: detectable
    assert not t.column("unbiased")[0].as_py()


def test_the_registry_says_the_common_variants_are_biased_only_below_gamma_one():
    for name in ("reward_to_go_common", "gae_common"):
        est = ESTIMATORS[name]
        assert est.unbiased_reads_gamma and est.objectives == ("finite", "episodic")
        assert est.is_unbiased("value_exact", {"lam": 0.9}, gamma=1.0)
        assert not est.is_unbiased("value_exact", {"lam": 0.9}, gamma=0.99)
        assert not est.is_unbiased("value_exact", {"lam": 0.9})  # unknown objective: not for every gamma
    assert not ESTIMATORS["gae_common"].is_unbiased("none", {"lam": 0.9}, gamma=1.0)


def test_the_common_variants_equal_the_textbook_ones_at_gamma_one():
    prob = make_problem("garnet:states=5,actions=3,branching=2,seed=1", None, 1.0, 4)
    for common, textbook in (("reward_to_go_common", "reward_to_go"), ("gae_common", "gae")):
        a, _ = replicates(prob, common, "value_exact", 5, 4)
        b, _ = replicates(prob, textbook, "value_exact", 5, 4)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_check_estimator_reads_a_discount_dependent_claim():
    """A plug-in that drops gamma^h and claims unbiased everywhere fails on the finite-horizon gamma < 1 check
    problem; claiming it only at gamma = 1 passes every check."""
    def mine(batch):
        return np.where(batch.mask, batch.returns - batch.baseline, 0.0)

    try:
        register_estimator("audit_claims_too_much", mine, objectives=("finite", "episodic"), unbiased=True)
        results = [c.run() for c in estimator_checks("audit_claims_too_much") if c.name.startswith("unbiased")]
        failed = [r for r in results if not r.passed]
        assert failed and all("garnet-finite-discounted" in r.detail for r in failed), [r.line for r in results]
        register_estimator("audit_claims_right", mine, objectives=("finite", "episodic"),
                           unbiased=lambda baseline, params, gamma: gamma == 1.0)
        checks = estimator_checks("audit_claims_right")
        assert not any("garnet-finite-discounted" in c.name for c in checks)
        assert all(c.run().passed for c in checks), [c.run().line for c in checks]
    finally:
        ESTIMATORS.pop("audit_claims_too_much", None)
        ESTIMATORS.pop("audit_claims_right", None)


def test_the_common_variants_are_refused_where_undefined():
    prob = make_problem("garnet:states=5,actions=3,branching=2,seed=2", None, 0.8, "inf")
    with pytest.raises(UserError, match="finite and episodic"):
        check_combination(prob, "reward_to_go_common", "none", 4)
    with pytest.raises(UserError, match="finite and episodic objectives"):
        trajectory_moments(prob, "gae_common", "value_exact")


# ------------------------------------------------------------------------------- truncation

DISCOUNTED = [("garnet:states=5,actions=3,branching=2,seed=1", None, 0.8, "inf"), ("chain:length=4", None, 0.7, "inf")]


def finite_difference_truncation_bias(prob, T: int, eps: float = 1e-5) -> np.ndarray:
    """``- gamma^T sum_s p_T(s) grad V(s)`` with ``grad V`` by central finite differences of the exact values and
    ``p_T`` by powers of the dense transition matrix (the derivation, computed without the gradient machinery)."""
    mdp, policy, theta = prob.mdp, prob.policy, prob.theta
    S, A = mdp.num_states, mdp.num_actions
    P = mdp.P.toarray().reshape(S, A, S)
    live = ~mdp.absorbing_states()
    pi = policy.probs(theta)
    Ppi = np.einsum("sa,sat->st", pi, P) * live[:, None]
    p = np.asarray(mdp.mu, dtype=np.float64) * live
    for _ in range(T):
        p = (p @ Ppi) * live

    def value(th):
        V = np.nan_to_num(exact.evaluate(mdp, policy.probs(th)).V, nan=0.0)
        return float(p @ np.where(live, V, 0.0))

    grad = np.array([(value(theta + eps * e) - value(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)])
    return -(mdp.gamma ** T) * grad


@pytest.mark.parametrize("spec", DISCOUNTED, ids=["garnet", "chain"])
@pytest.mark.parametrize("T", [2, 5])
def test_truncation_with_exact_bootstrapping_has_the_derived_bias(spec, T):
    prob = make_problem(*spec)
    cut = Practice(truncate=T, bootstrap="value_exact")
    mean, _, grad = practice_moments(prob, "reward_to_go", "value_exact", cut)
    derived = truncation_bias(prob, T)
    np.testing.assert_allclose(mean - grad, derived, rtol=1e-10, atol=1e-12 * np.abs(grad).max())
    np.testing.assert_allclose(derived, finite_difference_truncation_bias(prob, T), rtol=1e-6,
                               atol=1e-8 * np.abs(grad).max())


@pytest.mark.parametrize("bootstrap", ["none", "value_exact"])
def test_truncation_bias_in_monte_carlo(bootstrap):
    """Monte Carlo of the cut estimator sits on the exact mean (for value_exact: grad J plus the derived bias),
    and away from grad J."""
    prob = make_problem(*DISCOUNTED[0])
    cut = Practice(truncate=2, bootstrap=bootstrap)
    mean, _, grad = practice_moments(prob, "reward_to_go", "value_exact", cut)
    if bootstrap == "value_exact":
        np.testing.assert_allclose(mean, grad + truncation_bias(prob, 2), rtol=1e-10, atol=1e-13)
    G, t = replicates(prob, "reward_to_go", "value_exact", 400, 32, practice=cut)
    assert max_z(G, mean)[0] < bound(G.shape[1])
    assert max_z(G, grad)[0] > bound(G.shape[1])
    assert set(t.column("truncate").to_pylist()) == {2}
    assert set(t.column("truncate_bootstrap").to_pylist()) == {bootstrap}
    assert not t.column("unbiased")[0].as_py()


def test_truncation_on_an_episodic_problem_matches_monte_carlo():
    prob = make_problem("short_corridor", None, None, None)
    for boot in ("none", "value_exact"):
        cut = Practice(truncate=4, bootstrap=boot)
        mean, _, _ = practice_moments(prob, "gae", "value_exact", cut, lam=0.8)
        G, _ = replicates(prob, "gae", "value_exact", 400, 16, practice=cut, params={"lam": 0.8})
        assert max_z(G, mean)[0] < bound(G.shape[1])


def test_a_cut_trajectory_is_the_prefix_of_the_uncut_one():
    prob = make_problem("garnet:states=6,actions=3,branching=3,seed=1", None, 0.9, "inf")
    ctx = make_context(prob)
    full = ctx.sample("trajectories", stream(5, 0, 0), 12)
    cut = ctx.sample("trajectories", stream(5, 0, 0), 12, steps=7)
    assert cut.shape[1] == 7 and (cut.lengths <= 7).all()
    np.testing.assert_array_equal(cut.states, full.states[:, :7])
    np.testing.assert_array_equal(cut.actions, full.actions[:, :7])


def test_bootstrapping_completes_the_last_reward_with_the_value_after_the_cut():
    prob = make_problem(*DISCOUNTED[0])
    from pgexp.estimators.practice import cut

    ctx = make_context(prob)
    raw = ctx.sample("trajectories", stream(3, 0, 0), 6, steps=3)
    done = cut(raw, 3, ctx.exact_state_values)
    V = ctx.value_table[0]
    want = raw.rewards.copy()
    want[:, 2] += prob.mdp.gamma * V[raw.next_states[:, 2]]
    np.testing.assert_allclose(done.rewards, want)
    assert done.ended.all() and done.truncated.all() and not raw.ended.any()
    np.testing.assert_allclose(done.returns[:, 0], want @ prob.mdp.gamma ** np.arange(3))


def test_value_learned_bootstrap_is_charged_and_runs():
    prob = make_problem(*DISCOUNTED[0])
    _, t = replicates(prob, "reward_to_go", "none", 3, 4, practice=Practice(truncate=3, bootstrap="value_learned"))
    assert set(t.column("env_steps").to_pylist()) == {3 * (4 + 4)} and t.column("fit_batch_size")[0].as_py() == 4


# ------------------------------------------------------------------------------- normalisation

def test_normalize_weights_is_ppo_s_formula():
    rng = np.random.default_rng(0)
    w = 3.0 + 5.0 * rng.standard_normal((4, 6))
    mask = np.arange(6)[None, :] < np.array([6, 3, 0, 5])[:, None]
    out = normalize_weights(w, mask)
    vals = w[mask]
    # CleanRL's (adv - adv.mean()) / (adv.std() + 1e-8), torch's std being the n - 1 form: nothing rescaled
    np.testing.assert_allclose(out[mask], (vals - vals.mean()) / (vals.std(ddof=1) + NORMALIZE_EPS), rtol=1e-13)
    assert abs(out[mask].mean()) < 1e-13 and abs(out[mask].std(ddof=1) - 1) < 1e-7
    assert (out[~mask] == 0).all()
    one = np.zeros_like(mask)
    one[0, 0] = True
    np.testing.assert_array_equal(normalize_weights(w, one)[one], w[one])  # one step: left as it is (SB3)
    two = normalize_weights(np.vstack([w, 2 * w]), np.vstack([mask, mask]), blocks=2)  # each batch on its own
    np.testing.assert_allclose(two[:4], out, rtol=1e-13)
    np.testing.assert_allclose(two[4:], out, rtol=1e-7)


@pytest.mark.parametrize("est,base", [("reward_to_go", "value_exact"), ("gae_common", "none")])
def test_a_normalised_batch_estimate_is_the_hand_standardised_one(est, base):
    """``--normalize-advantages``'s batch estimate is ``(1/N) sum_ih (w_ih - m̂) / (ŝ + ε) score_ih`` with the
    plain estimator's weights of the same trajectories, standardised by hand: no rescaling."""
    from pgexp.estimators import get_estimator
    from pgexp.estimators.spec import parse_baseline
    from pgexp.runs.engine import Pair, Stack, weights_of
    from pgexp.runs.estimate import estimate_batch
    from pgexp.sampling.rng import MAIN, Streams

    prob = make_problem(*FINITE)
    ctx, e, N = make_context(prob), get_estimator(est), 6
    pair = Pair(e, parse_baseline(base), e.params({"lam": 0.9}), Practice())
    stack = Stack(ctx, Streams(1234, 0, 1, (MAIN,)), N, None, Practice())
    based = stack.with_baseline(pair, stack.draw("trajectories", MAIN).replace(params=pair.params, fitted=None))
    w = np.asarray(weights_of(e, based), dtype=np.float64)
    vals = w[based.mask]
    by_hand = np.where(based.mask, (w - vals.mean()) / (vals.std(ddof=1) + NORMALIZE_EPS), 0.0)
    want = ctx.gradients(based, by_hand, per_trajectory=True).mean(axis=0)
    got = estimate_batch(ctx, e, base, {"lam": 0.9}, N, 1234, 0, practice=Practice(normalize_advantages=True)).grad
    plain = estimate_batch(ctx, e, base, {"lam": 0.9}, N, 1234, 0).grad
    np.testing.assert_allclose(plain, ctx.gradients(based, w, per_trajectory=True).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    assert np.linalg.norm(got - plain) > 1e-3 * np.linalg.norm(plain)  # the normalisation did something


def test_the_normalisation_scale_is_the_population_std_of_the_step_weights():
    prob = make_problem(*FINITE)
    st = make_setup(prob)
    for est, base in (("reward_to_go", "value_exact"), ("gae_common", "none"), ("reward_to_go_common", "fixed:c=1")):
        ps = path_statistics(st, est, base, lam=0.7)
        n = ps.probs @ ps.length
        m = (ps.probs @ ps.W1) / n
        s = np.sqrt((ps.probs @ ps.W2) / n - m * m)
        got = normalization_scale(st, est, base, Practice(normalize_advantages=True), lam=0.7)
        np.testing.assert_allclose([got.m, got.s], [m, s], rtol=1e-12, atol=1e-12 * s)  # m may be 0 (advantages)


def brute_force_gae_scale(prob, c: float, lam: float, common: bool) -> tuple[float, float]:
    """``(m, s)`` of GAE's step weights with ``V = c`` (zero after an episode's end: an absorbing state entered, or
    the horizon reached), from every trajectory listed by hand with plain loops (no pgexp enumeration, family or
    value table): ``m = E[sum_h w_h] / E[len]``, ``s² = E[sum_h w_h²] / E[len] - m²``."""
    mdp = prob.mdp
    S, A, H, gamma = mdp.num_states, mdp.num_actions, int(mdp.horizon), float(mdp.gamma)
    P = mdp.P.toarray().reshape(S, A, S)
    r = np.asarray(mdp.r, dtype=np.float64)
    pi = np.asarray(prob.policy.probs(prob.theta), dtype=np.float64)
    absorbing = [bool(np.all(P[s, :, s] == 1.0) and np.all(r[s] == 0.0)) for s in range(S)]
    totals = np.zeros(3)  # E[len], E[sum_h w_h], E[sum_h w_h²]

    def finish(p: float, steps: list[tuple[int, int, int]]) -> None:
        adv, acc = [0.0] * len(steps), 0.0
        for h in range(len(steps) - 1, -1, -1):
            s, a, nxt = steps[h]
            v_next = 0.0 if absorbing[nxt] or h + 1 == H else c
            acc = r[s, a] + gamma * v_next - c + gamma * lam * acc
            adv[h] = acc
        w = [x if common else gamma ** h * x for h, x in enumerate(adv)]
        totals[:] += p * np.array([len(w), sum(w), sum(x * x for x in w)])

    def walk(p: float, s: int, steps: list[tuple[int, int, int]]) -> None:
        if absorbing[s] or len(steps) == H:
            finish(p, steps)
            return
        for a in range(A):
            for nxt in range(S):
                q = p * pi[s, a] * P[s, a, nxt]
                if q > 0.0:
                    walk(q, nxt, [*steps, (s, a, nxt)])

    for s0 in range(S):
        if mdp.mu[s0] > 0.0:
            walk(float(mdp.mu[s0]), s0, [])
    n, w1, w2 = totals
    m = w1 / n
    return m, float(np.sqrt(w2 / n - m * m))


@pytest.mark.parametrize("spec", [FINITE, ("short_corridor", None, 0.9, 6)], ids=["garnet", "absorbing"])
@pytest.mark.parametrize("est", ["gae", "gae_common"])
def test_the_normalisation_scale_of_gae_with_a_fixed_baseline_reads_it_as_a_constant_value(spec, est):
    """``fixed:c=VALUE`` is GAE's ``V = c`` (:func:`pgexp.estimators.trajectory.gae`), in the exact scale too."""
    prob = make_problem(*spec)
    practice = Practice(normalize_advantages=True)
    got = normalization_scale(prob, est, "fixed:c=0.5", practice, lam=0.7)
    np.testing.assert_allclose([got.m, got.s], brute_force_gae_scale(prob, 0.5, 0.7, est == "gae_common"),
                               rtol=1e-12, atol=1e-12)
    ps = path_statistics(make_setup(prob), est, "fixed:c=0.5", lam=0.7)  # the enumerated route agrees
    n = ps.probs @ ps.length
    np.testing.assert_allclose([(ps.probs @ ps.W1) / n, np.sqrt((ps.probs @ ps.W2) / n - got.m ** 2)],
                               [got.m, got.s], rtol=1e-12, atol=1e-12)
    assert abs(got.s - normalization_scale(prob, est, "none", practice, lam=0.7).s) > 1e-3 * got.s  # c is read


def test_normalised_gae_with_a_fixed_baseline_matches_its_enumerated_batches_in_monte_carlo():
    prob = make_problem("garnet:states=2,actions=2,branching=2,seed=0", None, 0.9, 3)
    (row,) = exact_normalized(prob, "gae", "fixed:c=0.5", [3], lam=0.7)
    G, t = replicates(prob, "gae", "fixed:c=0.5", 4000, 3, practice=Practice(normalize_advantages=True),
                      params={"lam": 0.7})
    assert t.column("normalize_scale")[0].as_py() == pytest.approx(row["scale"], rel=1e-12)
    assert max_z(G, row["mean"])[0] < bound(G.shape[1])
    assert max_z(G, row["limit"])[0] > bound(G.shape[1])  # the ratio estimator's bias is seen at this N


def test_batch_multisets_are_the_ordered_batches_grouped():
    probs = np.array([0.1, 0.25, 0.65])
    members, p = batch_multisets(probs, 4)
    idx, q = ordered_batches(probs, 4)
    keys = {tuple(row): 0.0 for row in members}
    for col, w in zip(np.sort(idx, axis=0).T, q):
        keys[tuple(col)] += w
    np.testing.assert_allclose([keys[tuple(row)] for row in members], p, rtol=1e-12)
    assert abs(p.sum() - 1) < 1e-12


@pytest.mark.parametrize("spec,est,N", [(BANDIT, "reward_to_go", 2), (BANDIT, "reward_to_go", 5),
                                        (("garnet:states=2,actions=2,branching=2,seed=0", None, 0.9, 3),
                                         "reward_to_go_common", 3)])
def test_enumerated_normalised_batches_match_monte_carlo(spec, est, N):
    prob = make_problem(*spec)
    (row,) = exact_normalized(prob, est, "value_exact", [N])
    G, t = replicates(prob, est, "value_exact", 4000, N, practice=Practice(normalize_advantages=True))
    assert max_z(G, row["mean"])[0] < bound(G.shape[1])
    assert max_z(G, row["limit"])[0] > bound(G.shape[1])  # the bias is real (and seen) at this N
    assert t.column("normalize_scale")[0].as_py() == pytest.approx(row["scale"], rel=1e-12)
    assert max_z(G, row["scale"] * row["mean"])[0] > bound(G.shape[1])  # the estimate is not rescaled


def test_normalisation_bias_shrinks_like_one_over_n():
    """The exact bias against the N -> inf limit on a bandit: a power law in N with exponent -1 (the ratio
    estimator's first-order bias), to within 3 % over N = 16 ... 128."""
    prob = make_problem(*BANDIT)
    rows = exact_normalized(prob, "reward_to_go", "value_exact", [16, 32, 64, 128])
    rate = bias_rate([r["batch_size"] for r in rows], [np.linalg.norm(r["bias"]) for r in rows])
    assert abs(rate.slope + 1.0) < 0.03, rate
    # the normalised estimate converges to the unnormalised mean (grad J for reward_to_go) over s + ε: E g's
    # direction at another length
    r = rows[0]
    np.testing.assert_allclose(r["limit"] * r["scale"], r["grad"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r["plain"], r["grad"], rtol=1e-10, atol=1e-12)
    cos = [float(x["mean"] @ x["grad"]) / (np.linalg.norm(x["mean"]) * np.linalg.norm(x["grad"])) for x in rows]
    # its direction is E g's up to the bias: sin(angle) <= ||E ĝ_N - limit|| / ||limit||, which shrinks like 1/N
    sines = np.sqrt(np.maximum(1 - np.square(cos), 0.0))
    rel = [np.linalg.norm(x["bias"]) / np.linalg.norm(x["limit"]) for x in rows]
    assert np.all(sines <= np.array(rel) * (1 + 1e-9)) and rel[-1] < rel[0] / 6, (sines, rel)


def test_the_exact_normalised_mean_is_the_rescaled_one_over_the_scale():
    """The enumerated batches of the code's normalisation are those of the rescaled form divided by ``s + ε``
    (exactly: the factor enters each batch's estimate linearly), and their mean tends to ``E g / (s + ε)``."""
    from pgexp.exact.normalization import normalized_batch_moments

    prob = make_problem(*BANDIT)
    st = make_setup(prob)
    ps = path_statistics(st, "reward_to_go", "value_exact")
    scale = normalization_scale(st, "reward_to_go", "value_exact", Practice(normalize_advantages=True)).factor
    (row,) = exact_normalized(prob, "reward_to_go", "value_exact", [8])
    rescaled, cov = normalized_batch_moments(ps, 8, scale)
    np.testing.assert_allclose(row["mean"] * scale, rescaled, rtol=1e-12)
    np.testing.assert_allclose(row["cov"] * scale**2, cov, rtol=1e-10, atol=1e-12 * np.abs(cov).max())
    np.testing.assert_allclose(row["limit"], (ps.probs @ ps.G) / scale, rtol=1e-12)


# ------------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("spec,estimator,baseline,practice,match", [
    (FINITE, "reinforce", "none", Practice(normalize_advantages=True), "not available for reinforce"),
    (FINITE, "reward_to_go", "value_learned", Practice(normalize_advantages=True), "not available for"),
    (FINITE, "reward_to_go", "optimal", Practice(normalize_advantages=True), "not available for"),
    (FINITE, "reward_to_go", "none", Practice(truncate=3), "discounted and episodic"),
    (DISCOUNTED[0], "actor_critic", "none", Practice(truncate=3), "samples or fits on its own"),
    (DISCOUNTED[0], "rollin_rollout", "none", Practice(truncate=3), "samples or fits on its own"),
])
def test_practice_options_are_refused_where_undefined(spec, estimator, baseline, practice, match):
    with pytest.raises(UserError, match=match):
        check_combination(make_problem(*spec), estimator, baseline, 4, practice=practice)


@pytest.mark.parametrize("args,match", [
    ((False, None, "value_exact"), "give --truncate"), ((False, 0, None), "--truncate: 0"),
    ((False, 3, "oracle"), "--bootstrap: 'oracle'"), ((1, None, None), "--normalize-advantages")])
def test_make_practice_refuses_bad_values(args, match):
    with pytest.raises(UserError, match=match):
        make_practice(*args)


def test_practice_columns_and_the_episodic_exact_setup():
    prob = build_problem("short_corridor")
    with pytest.raises(UserError, match="--truncate T"):
        make_setup(prob)
    assert make_setup(prob, truncation=6).L == 6
    _, t = replicates(prob, "reward_to_go", "none", 3, 2)
    assert t.column("truncate")[0].as_py() is None and t.column("normalize_scale")[0].as_py() is None
    assert t.column("normalize_advantages")[0].as_py() is False and t.column("truncate_bootstrap")[0].as_py() is None
