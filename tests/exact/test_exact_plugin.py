"""A plug-in brings its own exact moments: an estimator that declares its weight family and literal weights
(``exact=pgexp.ExactSpec(...)``) is offered by ``pgexp exact-variance`` like a built-in, and its numbers agree
with enumeration, with Monte Carlo and with the built-in it rescales.  The exact engine's and the normaliser's
lists are the registry's spec fields, so nothing beside the registry names an estimator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pgexp
from pgexp.errors import UserError
from pgexp.estimators import ESTIMATORS
from pgexp.plugins import import_plugin

ROOT = Path(__file__).resolve().parents[2]
NAME = "scaled_reward_to_go"
SCALE = 3.0

# w_h = c (G_h - gamma^h b_h(s_h)), c = 3: reward-to-go rescaled, with its family written from the definition
# (pgexp.exact.families' table: c_h = c gamma^h r, beta = 1, e_h = -c gamma^h b_h) and its literal weights.
SCALED = '''
import numpy as np
import pgexp

SCALE = 3.0


def scaled_reward_to_go(batch):
    R, ahead = np.zeros(batch.shape), np.zeros(batch.num)
    for h in reversed(range(batch.shape[1])):  # rewards are zero on padding
        ahead = batch.rewards[:, h] + batch.gamma * ahead
        R[:, h] = ahead
    return SCALE * batch.gamma ** np.arange(batch.shape[1]) * (R - batch.baseline)


def family(st, *, b_steps=None, **_):
    from pgexp.exact.families import WeightFamily

    S, A, L = st.num_states, st.num_actions, st.L
    c = np.broadcast_to(st.disc[:, None, None] * st.mdp.r[None, :, :], (L, S, A))
    b = np.zeros((L, S)) if b_steps is None else b_steps
    e = np.broadcast_to(-(st.disc[:, None] * b)[:, :, None], (L, S, A))
    return WeightFamily(np.zeros(S), 0.0, np.zeros((L, S, A)), SCALE * c, np.zeros((L + 1, S)), 1.0, SCALE * e)


def weights(st, paths, *, b_steps=None, fixed=None, **_):
    from pgexp.exact.enumeration import returns

    G, _ = returns(st, paths)
    L = paths.states.shape[1]
    b = np.zeros(G.shape) if b_steps is None else b_steps[np.arange(L)[None, :], paths.states]
    if fixed is not None:
        b = b + fixed
    return np.where(paths.mask, SCALE * (G - st.disc[None, :] * b), 0.0)


pgexp.register_estimator(
    "scaled_reward_to_go", scaled_reward_to_go, baselines=["none", "value_exact", "fixed", "optimal", "constant"],
    unbiased=False, doc="3 gamma^h (R_h - b_h(s_h))",
    exact=pgexp.ExactSpec(("none", "value_exact", "fixed", "optimal", "constant"), family=family, weights=weights,
                          direction=lambda st: SCALE * st.disc, normalizable=("none", "value_exact")))
'''

ENV = ("--env", "garnet:states=4,actions=3,branching=2,seed=1", "--gamma", "0.9", "--horizon", "5",
       "--theta", "random:seed=0,scale=0.7")


def exact_json(tmp_path: Path, *args: str) -> dict:
    full = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pgexp", "exact-variance", *ENV, *args], capture_output=True,
                          text=True, cwd=tmp_path, env=full)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def scaled(tmp_path):
    """The plug-in registered in this process (removed afterwards)."""
    path = tmp_path / "scaled.py"
    path.write_text(SCALED)
    try:
        import_plugin(str(path))
        yield path
    finally:
        ESTIMATORS.pop(NAME, None)


def test_exact_variance_answers_for_a_plugin_that_declares_its_family(tmp_path):
    (tmp_path / "scaled.py").write_text(SCALED)
    for base in ("value_exact", "optimal"):
        dp = exact_json(tmp_path, "--plugin", "scaled.py", "--estimator", NAME, "--baseline", base, "--method", "dp",
                        "--batch-size", "4")
        en = exact_json(tmp_path, "--plugin", "scaled.py", "--estimator", NAME, "--baseline", base,
                        "--method", "enumeration")
        builtin = exact_json(tmp_path, "--estimator", "reward_to_go", "--baseline", base, "--method", "dp")
        assert dp["estimator"] == NAME and dp["method"] == "dp" and en["method"] == "enumeration"
        scale = max(1.0, dp["trace_cov"])
        np.testing.assert_allclose(dp["mean"], en["mean"], rtol=1e-10, atol=1e-12)
        assert abs(dp["trace_cov"] - en["trace_cov"]) <= 1e-10 * scale
        # w = 3 w_rtg: the mean triples, the covariance is nine times the built-in's (optimal: b* triples too)
        np.testing.assert_allclose(dp["mean"], SCALE * np.asarray(builtin["mean"]), rtol=1e-10, atol=1e-12)
        assert abs(dp["trace_cov"] - SCALE ** 2 * builtin["trace_cov"]) <= 1e-10 * scale
        assert dp["batch"][0]["batch_size"] == 4


def test_a_plugins_exact_moments_match_monte_carlo(scaled):
    from pgexp.exact.moments import trajectory_moments
    from pgexp.problems.problem import build_problem
    from pgexp.runs.context import TabularContext
    from pgexp.runs.estimate import estimate_batch
    from pgexp.sampling.rng import job_entropy

    prob = build_problem("garnet:states=4,actions=3,branching=2,seed=1", theta="random:seed=0,scale=0.7",
                         gamma=0.9, horizon=5)
    mom = trajectory_moments(prob, NAME, "value_exact", method="dp")
    ctx = TabularContext(prob)
    entropy = job_entropy({"test_exact_plugin": 0}, prob.theta)
    g = np.concatenate([estimate_batch(ctx, ESTIMATORS[NAME], "value_exact", {}, 5000, entropy, m,
                                       per_trajectory=True).grad for m in range(4)])
    var = np.diag(mom.cov)
    z_mean = np.max(np.abs(g.mean(axis=0) - mom.mean) / np.sqrt(var / g.shape[0]))
    q = np.einsum("nd,nd->n", g - mom.mean, g - mom.mean)
    z_trace = abs(q.mean() - mom.trace_cov) / (q.std(ddof=1) / np.sqrt(q.size))
    assert z_mean < 4.5 and z_trace < 4.5, (z_mean, z_trace)
    assert not np.allclose(mom.mean, mom.grad)  # three times grad J: a real difference the test would see


def test_the_engine_and_the_normaliser_read_the_plugins_spec(scaled):
    from pgexp.cli.exact_variance import exact_estimators
    from pgexp.estimators.practice import check_normalizable, normalizable
    from pgexp.exact.catalogue import check_combination, decomposable, exact_pairs, supported

    assert NAME in supported() and NAME in decomposable() and NAME in exact_estimators()
    assert (NAME, "optimal") in exact_pairs([NAME], ["none", "optimal", "fixed"])
    assert normalizable()[NAME] == ("none", "value_exact")
    check_normalizable(NAME, "value_exact")
    with pytest.raises(UserError, match="not available for scaled_reward_to_go~fixed"):
        check_normalizable(NAME, "fixed:c=1")
    with pytest.raises(UserError, match="not supported with scaled_reward_to_go"):
        check_combination(NAME, "value_table")


def test_the_normalisers_exact_scale_reads_the_plugins_family(scaled):
    """Its step weights are three times reward-to-go's: so are their exact mean and standard deviation and its
    unnormalised mean, while the enumerated normalised batches (standardised, not rescaled) and their limit are the
    built-in's, up to eps: standardising forgets the scale."""
    from pgexp.estimators.practice import make_practice
    from pgexp.exact.normalization import exact_normalized
    from pgexp.exact.practice import normalization_scale
    from pgexp.problems.problem import build_problem

    prob = build_problem("garnet:states=3,actions=2,branching=2,seed=0", theta="random:seed=0,scale=0.7",
                         gamma=0.9, horizon=2)
    norm = make_practice(True, None, None)
    ours, theirs = (normalization_scale(prob, e, "value_exact", norm) for e in (NAME, "reward_to_go"))
    assert ours.s == pytest.approx(SCALE * theirs.s, rel=1e-12) and ours.s > 0
    assert ours.m == pytest.approx(SCALE * theirs.m, rel=1e-12, abs=1e-14)
    (a,), (b,) = (exact_normalized(prob, e, "value_exact", [2]) for e in (NAME, "reward_to_go"))
    np.testing.assert_allclose(a["plain"], SCALE * b["plain"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a["limit"], b["limit"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-6, atol=1e-12)
    assert np.abs(a["bias"]).max() > 1e-8  # normalising is biased at N = 2: the comparison is not of zeros


def test_the_engines_lists_are_the_registrys_fields():
    """Every list the exact engine and the normaliser read is derived from the specs: the exact baselines are
    baselines each estimator accepts (value_table: a user's value table, the exact engine's own)."""
    from pgexp.cli.exact_variance import exact_estimators
    from pgexp.estimators.practice import normalizable
    from pgexp.exact.catalogue import COMMON_ESTIMATORS, LAMBDA_ESTIMATORS, SUPPORTED, supported

    assert SUPPORTED == supported()
    for est, bases in (*normalizable().items(), *supported().items()):
        assert set(bases) - {"value_table"} <= set(ESTIMATORS[est].baselines), (est, bases)
    assert set(LAMBDA_ESTIMATORS) == {e for e in SUPPORTED if "lam" in ESTIMATORS[e].defaults()}
    assert set(COMMON_ESTIMATORS) == {e for e in SUPPORTED if e.endswith("_common")}
    assert set(SUPPORTED) <= set(exact_estimators()) <= set(ESTIMATORS)
    declared = [e for e, s in ESTIMATORS.items() if s.exact is not None]
    family = [e for e in declared if ESTIMATORS[e].exact.engine == "family"]
    assert exact_estimators() == family + [e for e in declared if e not in family]


@pytest.mark.parametrize("exact, match", [
    (pgexp.ExactSpec(("none", "q_exact")), "exact baselines"),
    (pgexp.ExactSpec(("none",)), "needs family and weights"),
    (pgexp.ExactSpec(("none",), engine="magic"), "engine 'magic'"),
    (pgexp.ExactSpec(("none", "optimal"), family="m:f", weights="m:w"), "need its direction"),
    (pgexp.ExactSpec(("none",), family="m:f", weights="m:w", normalizable=("constant",)), "normalizable"),
    (pgexp.ExactSpec(("value_table",), family="m:f", weights="m:w"), "exact baselines"),
    ("not a spec", "exact must be an ExactSpec"),
])
def test_a_bad_exact_spec_is_refused_by_name(exact, match):
    with pytest.raises(UserError, match=match):
        pgexp.register_estimator("bad_exact", lambda batch: batch.rewards, baselines=["none", "optimal"],
                                 exact=exact)
    assert "bad_exact" not in ESTIMATORS
