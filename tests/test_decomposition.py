"""Exact variance decomposition by source: ``tr Cov(g) = state + action`` (law of total variance).

Every value here is an exact finite sum, so identities are checked to round-off (``1e-10`` relative,
as ``tests/test_exact_variance.py``); the hand-derived cases are closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest

from pgexp.errors import UserError
from pgexp.exact.decomposition import (
    VALUES,
    _enumerate_with_final,
    decomposition_table,
    variance_decomposition,
)
from pgexp.exact.moments import BASELINES, _enumerate_paths, _setup, exact_variance
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem, build_problem

THETA = "random:seed=1,scale=0.7"
COMBOS = [(e, b) for e, bs in BASELINES.items() for b in bs]
GARNET = "garnet:states=3,actions=2,branching=2"


def _tabular(P, r, mu, horizon, theta=None, gamma=1.0) -> Problem:
    S, A = r.shape
    mdp = make_mdp(P, r, mu, gamma=gamma, horizon=horizon, name="test")
    th = np.zeros(S * A) if theta is None else np.asarray(theta, float)
    return Problem(mdp, SoftmaxLinearPolicy(TabularFeatures(S, A)), th, "test", "tabular", "linear", "given")


def _bandit(rewards, theta=None) -> Problem:
    A = len(rewards)
    return _tabular(np.ones((1, A, 1)), np.asarray(rewards, float)[None, :], np.ones(1), 1, theta)


@pytest.mark.parametrize("spec", [("short_corridor", None, 5), (GARNET, 0.9, 4), ("chain:length=3", None, 4),
                                  ("garnet:states=4,actions=3,branching=2,seed=2", 0.8, 3)],
                         ids=["corridor", "garnet", "chain", "garnet-3actions"])
def test_total_is_the_exact_trace_and_the_parts_add_up(spec):
    env, gamma, H = spec
    prob = build_problem(env, theta=THETA, gamma=gamma, horizon=H)
    for est, base in COMBOS:
        dec = variance_decomposition(prob, est, base)
        for method in ("enumeration", "dp"):
            ref = exact_variance(prob, est, base, method=method)["trace_cov"]
            assert dec["total"] == pytest.approx(ref, rel=1e-10, abs=1e-14), (est, base, method)
        assert dec["state"] >= 0 and dec["action"] >= 0
        assert dec["state"] + dec["action"] == pytest.approx(dec["total"], rel=1e-12)
        assert set(VALUES) <= set(dec)


def test_grouping_matches_a_brute_force_dictionary():
    """State term recomputed with a plain Python dict over state-sequence tuples (incl. the final state)."""
    prob = build_problem(GARNET, theta=THETA, gamma=0.9, horizon=3)
    st = _setup(prob)
    states, actions, lengths, probs, final = _enumerate_with_final(st, 10**6)
    from pgexp.exact.moments import _enumerated_gradients

    blocks, p2 = _enumerated_gradients(st, "reward_to_go", "value_exact", None, 10**6)
    g = np.concatenate([b[0] for b in blocks])
    np.testing.assert_array_equal(probs, p2)
    mean = probs @ g
    groups: dict = {}
    for i in range(probs.size):
        key = tuple(states[i, :lengths[i]]) + (int(final[i]),)
        P, s = groups.get(key, (0.0, 0.0))
        groups[key] = (P + probs[i], s + probs[i] * g[i])
    state = sum(P * np.sum((s / P - mean) ** 2) for P, s in groups.values())
    dec = variance_decomposition(prob, "reward_to_go", "value_exact")
    assert dec["n_state_sequences"] == len(groups)
    assert dec["state"] == pytest.approx(state, rel=1e-10)


def test_enumeration_with_final_state_lists_the_same_trajectories():
    for env, gamma, H in [(GARNET, 0.9, 4), ("short_corridor", None, 6)]:
        st = _setup(build_problem(env, theta=THETA, gamma=gamma, horizon=H))
        a = _enumerate_paths(st, 10**6)
        b = _enumerate_with_final(st, 10**6)
        for x, y in zip(a, b[:4]):
            np.testing.assert_array_equal(x, y)
        ended = b[2] < H
        assert np.all(st.absorbing[b[4][ended]])


def test_corridor_two_steps_by_hand():
    """Corridor, H = 2: no path reaches the goal, so ``G = -2`` and reinforce is ``g = -2 (X_0 + X_1 - 2p) u``,
    ``X_h = 1{right}`` iid Bernoulli(p), ``u = (1, -1)`` (the score is ``(X - p) u`` for the book's features):
    ``tr Cov = 4 * 2 p (1-p) * ||u||^2 = 16 p (1-p)``.  Transitions are deterministic and the two actions of
    every state lead to different states, so the states reveal the actions: action variance 0."""
    prob = build_problem("short_corridor", theta=THETA, horizon=2)
    p = prob.policy.probs(prob.theta)[0, 1]
    dec = variance_decomposition(prob, "reinforce")
    assert dec["total"] == pytest.approx(16 * p * (1 - p), rel=1e-12)
    assert dec["action"] <= 1e-14 * dec["total"]
    assert dec["state"] == pytest.approx(dec["total"], rel=1e-12)
    assert dec["n_trajectories"] == dec["n_state_sequences"] == 4 and dec["state_share"] == pytest.approx(1.0)
    for est, base in COMBOS:  # the same for every estimator on every horizon
        d6 = variance_decomposition(build_problem("short_corridor", theta=THETA, horizon=6), est, base)
        assert d6["action"] <= 1e-12 * max(d6["total"], 1e-300)


def test_action_independent_moves_have_no_state_variance():
    """0 -> 1 -> 2 -> 3 (absorbing) whatever the action: one state sequence, all variance from actions."""
    S, A = 4, 2
    P = np.zeros((S, A, S))
    for s in range(3):
        P[s, :, s + 1] = 1.0
    P[3, :, 3] = 1.0
    r = np.array([[1.0, 0.0], [0.5, -0.5], [0.0, 2.0], [0.0, 0.0]])
    mu = np.array([1.0, 0.0, 0.0, 0.0])
    prob = _tabular(P, r, mu, 5, theta=np.random.default_rng(0).standard_normal(S * A))
    for est, base in COMBOS:
        dec = variance_decomposition(prob, est, base)
        assert dec["n_state_sequences"] == 1 and dec["n_trajectories"] == 8
        assert dec["state"] <= 1e-14 * max(dec["total"], 1e-300)
        assert dec["action"] == pytest.approx(exact_variance(prob, est, base)["trace_cov"], rel=1e-10)


def test_one_state_bandit():
    """Uniform 2-armed bandit, ``r = (1, 0)``, tabular: ``sigma(a_0) = (1, -1) / 2``, ``sigma(a_1) = -sigma(a_0)``.
    reinforce ``g = sigma(a) r(a)``: ``E||g||^2 = 1/2 * 1/2``, ``E g = (1, -1) / 4``, so ``tr Cov = 1/4 - 1/8 = 1/8``.
    advantage_exact ``g = sigma(a) A(a)`` is ``(1, -1) / 4`` for both arms: variance 0."""
    prob = _bandit([1.0, 0.0])
    dec = variance_decomposition(prob, "reinforce")
    assert dec["total"] == pytest.approx(1 / 8, rel=1e-14)
    assert dec["state"] <= 1e-14 * dec["total"] and dec["action"] == pytest.approx(1 / 8, rel=1e-14)
    assert dec["state_share"] <= 1e-14 and dec["n_state_sequences"] == 1
    adv = variance_decomposition(prob, "advantage_exact")
    assert adv["total"] <= 1e-30 and np.isnan(adv["state_share"])
    other = variance_decomposition(_bandit([0.3, -1.0, 2.0], theta=[0.2, -0.4, 0.9]), "reward_to_go", "value_exact")
    assert other["state"] <= 1e-14 * other["total"] and other["action"] > 0  # one state sequence: 0 up to round-off


def test_value_baseline_on_a_garnet_observation():
    """What a value baseline does to each term (reported, not asserted: nothing here is a theorem).

    Observed on garnet:states=3,actions=2,branching=2, gamma 0.9, H = 5, theta random:seed=1,scale=0.7:

    ============================  ======  =======  ======
    estimator~baseline            state   action   share
    ============================  ======  =======  ======
    reinforce~none                2.868   8.913    0.24
    reinforce~value_exact         0.340   0.873    0.28
    reward_to_go~none             1.062   4.240    0.20
    reward_to_go~value_exact      0.255   0.259    0.50
    ============================  ======  =======  ======

    The baseline cuts *both* terms; in absolute terms it removes more action variance than state
    variance here (the action term is the larger one), so "a value baseline mostly reduces the state
    term" does not hold on this instance.  (With the whole state sequence conditioned on, the states
    partly reveal the actions, which moves variance from the action to the state term.)
    """
    prob = build_problem(GARNET, theta=THETA, gamma=0.9, horizon=5)
    table = decomposition_table(lambda H: build_problem(GARNET, theta=THETA, gamma=0.9, horizon=H), [5],
                                ["reinforce~none", "reinforce~value_exact", ("reward_to_go", "none"),
                                 ("reward_to_go", "value_exact")])
    for row in table.itertuples():
        assert row.state + row.action == pytest.approx(row.total, rel=1e-12)
        assert row.total == pytest.approx(exact_variance(prob, row.estimator, row.baseline)["trace_cov"], rel=1e-10)


def test_table_skips_horizons_beyond_the_limit():
    build = lambda H: build_problem(GARNET, theta=THETA, gamma=0.9, horizon=H)  # noqa: E731
    t = decomposition_table(build, [2, 3, 8, "inf"], ["reinforce", "advantage_exact~none"], max_trajectories=5_000)
    assert list(t.columns) == ["horizon", "estimator", "baseline", *VALUES, "skipped_reason"]
    assert list(t["horizon"]) == [2, 2, 3, 3, 8, 8, -1, -1]
    assert list(t["baseline"]) == ["none"] * 8
    done, skipped = t[t["skipped_reason"].isna()], t[t["skipped_reason"].notna()]
    assert len(done) == 4 and len(skipped) == 4
    assert skipped[list(VALUES)].isna().all().all()
    assert skipped["skipped_reason"].iloc[0].startswith("more than 5000 trajectories")
    assert "infinite" in skipped["skipped_reason"].iloc[-1]
    assert done[list(VALUES)].notna().all().all()


def test_errors():
    with pytest.raises(UserError, match="finite"):
        variance_decomposition(build_problem("short_corridor", theta=THETA), "reinforce")
    with pytest.raises(UserError, match="not supported"):
        variance_decomposition(_bandit([1.0, 0.0]), "advantage_exact", "value_exact")
    with pytest.raises(UserError, match="trajectories"):
        variance_decomposition(build_problem(GARNET, theta=THETA, gamma=0.9, horizon=8), "reinforce", max_trajectories=100)
