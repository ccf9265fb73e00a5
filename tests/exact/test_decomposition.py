"""The time-ordered (Doob martingale) variance decomposition: recursion vs brute force, and hand cases.

Every value is an exact finite sum, so the recursion and the brute-force prefix grouping must agree to
round-off (``1e-10`` relative, as ``tests/exact/test_exact_variance.py``), and the three parts must add up to
the exact ``tr Cov`` of the moment recursion (``1e-9`` relative, issue 11).
"""

from __future__ import annotations

import numpy as np
import pytest
from exact_cases import CASES, random_problem

from pgexp.errors import UserError
from pgexp.exact.catalogue import COMMON_ESTIMATORS
from pgexp.exact.decomposition import (
    COLUMNS,
    DECOMPOSABLE,
    decomposition_table,
    doob_decomposition,
    enumerated_decomposition,
)
from pgexp.exact.model import make_setup
from pgexp.exact.moments import SUPPORTED, trajectory_moments
from pgexp.policies import SoftmaxLinearPolicy, TabularFeatures
from pgexp.problems.mdp import make_mdp
from pgexp.problems.problem import Problem, build_problem

THETA = "random:seed=1,scale=0.7"


def _combos(kind: str = "finite"):
    for est in DECOMPOSABLE:
        if est in COMMON_ESTIMATORS and kind != "finite":  # defined for the finite and episodic objectives
            continue
        for b in SUPPORTED[est]:
            for lam in ((0.0, 0.5, 1.0) if est.startswith("gae") else (0.95,)):
                yield est, ("fixed:c=0.3" if b == "fixed" else b), lam


def _table(st):
    return np.random.default_rng(3).standard_normal(st.num_states)


@pytest.mark.parametrize("cid", [c[0] for c in CASES])
def test_recursion_equals_brute_force_and_adds_up_to_the_exact_trace(cid):
    kw, trunc = next((c[1], c[2]) for c in CASES if c[0] == cid)
    st = make_setup(random_problem(**kw), truncation=trunc)
    for est, b, lam in _combos(st.kind):
        value = _table(st) if b == "value_table" else None
        d = doob_decomposition(st, est, b, lam=lam, value=value)
        e = enumerated_decomposition(st, est, b, lam=lam, value=value)
        scale = max(1e-300, e["total"])
        assert abs(d["initial_state"] - e["initial_state"]) <= 1e-10 * scale, (est, b, lam)
        assert np.abs(d["actions"] - e["actions"]).max() <= 1e-10 * scale, (est, b, lam)
        assert np.abs(d["transitions"] - e["transitions"]).max() <= 1e-10 * scale, (est, b, lam)
        assert min(d["actions"].min(), d["transitions"].min(), d["initial_state"]) >= -1e-12 * scale
        trace = trajectory_moments(st, est, b, lam=lam, value=value, method="dp").trace_cov
        assert abs(d["total"] - trace) <= 1e-9 * max(trace, 1e-300), (est, b, lam)


def test_short_corridor_variance_is_all_actions():
    """Fixed start, deterministic moves: no initial-state or transition randomness, at every horizon."""
    build = lambda H: build_problem("short_corridor", theta=THETA, horizon=H)  # noqa: E731
    pairs = list(dict.fromkeys(f"{e}~{b}" for e, b, _ in _combos() if b != "value_table"))
    t = decomposition_table(build, [2, 6, 40], pairs, lam=0.7)
    done = t[t["skipped_reason"].isna()]
    assert len(done) == 3 * len(pairs)
    assert (done["initial_state"] == 0).all() and (done["transitions"] == 0).all()
    varied = done[done["total"] > 0]
    assert len(varied) >= 2 * len(pairs)  # (at H = 2 some weights are constant: no variance to credit)
    assert np.allclose(varied["actions_share"], 1.0, rtol=0, atol=1e-15)


def test_corridor_two_steps_by_hand():
    """Corridor, H = 2: no path reaches the goal, so ``G = -2`` and reinforce is ``g = -2 (X_0 + X_1 - 2p) u``,
    ``X_h = 1{right}`` iid Bernoulli(p), ``u = (1, -1)``: ``tr Cov = 16 p (1-p)``, half from each action."""
    prob = build_problem("short_corridor", theta=THETA, horizon=2)
    p = prob.policy.probs(prob.theta)[0, 1]
    d = doob_decomposition(prob, "reinforce")
    assert d["total"] == pytest.approx(16 * p * (1 - p), rel=1e-12)
    np.testing.assert_allclose(d["actions"], [8 * p * (1 - p)] * 2, rtol=1e-12)


def _tabular(P, r, mu, horizon, theta) -> Problem:
    S, A = r.shape
    mdp = make_mdp(P, r, mu, gamma=1.0, horizon=horizon, name="test")
    return Problem(mdp, SoftmaxLinearPolicy(TabularFeatures(S, A)), np.asarray(theta, float), "test", "tabular",
                   "linear", "given")


def test_random_start_in_a_bandit_credits_the_initial_state():
    """Two one-step bandits, started in either with probability 1/2, uniform policy: ``advantage_exact``'s
    ``g = sigma(s, a) A(s, a)`` with two actions is ``pi_b^2 (r_a - r_b) (e_a - e_b)``, the same for both actions
    when ``pi`` is uniform, so all its variance is the start's: ``initial_state`` = total, ``actions`` = 0."""
    P = np.zeros((3, 2, 3))
    P[:2, :, 2] = 1.0
    P[2, :, 2] = 1.0
    r = np.array([[1.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    prob = _tabular(P, r, np.array([0.5, 0.5, 0.0]), 1, np.zeros(6))
    d = doob_decomposition(prob, "advantage_exact")
    assert d["total"] > 0 and d["initial_state"] == pytest.approx(d["total"], rel=1e-12)
    assert abs(d["actions"].sum()) <= 1e-14 * d["total"] and d["transitions"].sum() == 0


def test_table_columns_per_step_rows_and_skips():
    build = lambda H: build_problem("garnet:states=3,actions=2,branching=2", theta=THETA, gamma=0.9, horizon=H)  # noqa: E731
    t = decomposition_table(build, [3, 5], ["reinforce~none", "gae~value_exact", "rollin_rollout~none"], lam=0.5,
                            per_step=True)
    assert list(t.columns) == ["horizon", "estimator", "baseline", "lam", *COLUMNS, "skipped_reason"]
    whole = t[t["step"].isna() & t["skipped_reason"].isna()]
    assert len(whole) == 4
    for row in whole.itertuples():
        parts = row.initial_state + row.actions + row.transitions
        assert parts == pytest.approx(row.total, rel=1e-12)
        assert row.initial_state_share + row.actions_share + row.transitions_share == pytest.approx(1.0, rel=1e-12)
        steps = t[(t.horizon == row.horizon) & (t.estimator == row.estimator) & t["step"].notna()]
        assert list(steps["step"]) == list(range(row.horizon))
        assert steps["total"].sum() == pytest.approx(row.total, rel=1e-12)
    skipped = t[t["skipped_reason"].notna()]
    assert set(skipped["estimator"]) == {"rollin_rollout"} and skipped["total"].isna().all()


def test_errors():
    prob = build_problem("short_corridor", theta=THETA, horizon=4)
    with pytest.raises(UserError, match="roll-in"):
        doob_decomposition(prob, "rollin_rollout")
    with pytest.raises(UserError, match="not supported"):
        doob_decomposition(prob, "advantage_exact", "value_exact")
    with pytest.raises(UserError, match="episodic"):
        doob_decomposition(build_problem("short_corridor", theta=THETA), "reinforce")
