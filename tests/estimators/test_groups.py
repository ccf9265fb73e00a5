"""Group estimators: sequence MDPs, group sampling, and the exact group moments against brute force and Monte Carlo.

The exact engine (:mod:`pgexp.exact.groups`, exchangeable reward counts) is compared with the enumeration of every
whole batch weighed by the registered estimator's own function (:mod:`pgexp.exact.group_enumeration`) to 1e-12,
and with sampled batches by z-tests at a 1e-4 family-wise false-alarm rate (Bonferroni).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
from scipy.stats import norm

from pgexp import exact
from pgexp.errors import UserError
from pgexp.exact.group_enumeration import enumerate_group_moments
from pgexp.exact.group_rules import GROUP_ESTIMATORS, difficulty_weights
from pgexp.exact.groups import bias_parts, group_moments, prompt_weights
from pgexp.exact.responses import enumerate_responses, responses
from pgexp.problems.problem import build_problem
from pgexp.problems.tokens import parse_task, prefixes
from pgexp.runs.context import make_context
from pgexp.runs.estimate import run_estimate
from pgexp.sampling.groups import with_group_size
from pgexp.sampling.rng import MAIN, Streams

ALPHA = 1e-4
TINY = "tokens:vocab=1,length=3,needs=1;2"         # 2 prompts x 4 responses: every batch of G = 3 is listable
SMALL = "tokens:vocab=2,length=3,needs=1;2,partial=true"   # partial credit, 15 responses per prompt
PARTIAL = "tokens:vocab=1,length=3,needs=2;3,partial=true"  # five reward values, 4 responses per prompt
VARIANTS = [("rloo", "none", {}), ("grpo", "none", {}), ("grpo", "none", {"std_ddof": 0}),
            ("grpo", "none", {"length_norm": 0}), ("dr_grpo", "none", {}), ("dapo_token_mean", "none", {}),
            ("dapo_token_mean", "none", {"dynamic_sampling": 1}), ("reinforce_pp", "none", {}),
            ("reinforce_pp", "none", {"std_ddof": 0}), ("remax", "none", {}), ("reinforce", "none", {}),
            ("reinforce", "constant", {})]


def problem(env: str = TINY, features: str | None = None, seed: int = 3):
    return build_problem(env, features=features, theta=f"random:seed={seed},scale=0.8")


# ------------------------------------------------------------------------------------------ the sequence MDP

def test_tokens_is_a_tree_whose_rewards_follow_the_rule():
    task = parse_task({"vocab": 2, "length": 4, "prompts": None, "needs": "1;3", "rule": "count", "partial": False})
    p = build_problem("tokens:vocab=2,length=4,needs=1;3")
    mdp = p.mdp
    assert mdp.num_states == 2 * (1 + 2 + 4 + 8) + 1 and mdp.num_actions == 3 and mdp.horizon == 4
    assert p.policy.dim == (2 + 4 + 3) * 3 and p.features_spec == "native"
    P = mdp.dense_P
    assert np.all(P.sum(axis=2) == 1.0) and np.all((P > 0).sum(axis=2) == 1)        # deterministic
    parents = (P[:-1].reshape(-1, mdp.num_states)[:, :-1] > 0).sum(axis=0)
    assert np.all(parents[np.flatnonzero(mdp.mu[:-1] == 0)] == 1)                      # a tree
    tree = enumerate_responses(mdp)
    assert tree.num == 2 * (1 + 2 + 4 + 8 + 16)
    for i in range(tree.num):
        k = int(tree.prompt_index[i])
        tokens = tuple(int(a) for a in tree.actions[i, :tree.lengths[i]] if a != 0)
        assert tree.rewards[i] == task.reward(k, tokens) == float(sum(t == 1 for t in tokens) >= (1, 3)[k])
    assert len(prefixes(task)) == 15


def test_tokens_exact_J_and_gradient_equal_the_response_sums():
    for env, feats in [(SMALL, None), (SMALL, "tabular"), ("tokens:vocab=3,length=3,rule=first,prompts=2", None)]:
        p = problem(env, feats)
        J, grad, _ = exact.gradient(p.mdp, p.policy, p.theta)
        J2, grad2 = responses(p).J()
        assert abs(J - J2) < 1e-13 and np.abs(grad - grad2).max() < 1e-13


@pytest.mark.parametrize("spec,match", [
    ("tokens:vocab=0", "vocab"), ("tokens:rule=sum", "rule"), ("tokens:needs=1;9,length=4", "needs"),
    ("tokens:prompts=3,needs=1;2", "prompts=3"), ("tokens:rule=first,needs=2", "rule=count"),
    ("tokens:vocab=9,length=9", "states"),
])
def test_bad_token_specs_are_refused_in_one_line(spec, match):
    with pytest.raises(UserError, match=match):
        build_problem(spec)


# ------------------------------------------------------------------------------------------ group sampling

def test_a_group_shares_its_prompt_and_groups_are_reproducible():
    p = with_group_size(build_problem("tokens:vocab=2,length=4,needs=1;2;3;4"), 4)
    ctx = make_context(p)
    stack = ctx.sample("trajectories", Streams(123, 0, 5, (MAIN,)), 16)
    starts = stack.states[:, 0].reshape(-1, 4)
    assert np.all(starts == starts[:, :1]) and len(np.unique(starts)) > 1
    assert np.array_equal(stack.group_ids, np.repeat(np.arange(20), 4))
    one = ctx.sample("trajectories", Streams(123, 3, 1, (MAIN,)), 16)   # replicate 3 alone = its block
    assert np.array_equal(one.states, stack.states[48:64, :one.states.shape[1]])
    assert np.array_equal(one.first_returns, stack.first_returns[48:64])


def test_with_one_prompt_a_grouped_batch_is_the_ungrouped_one():
    """Response j is simulated from trajectory j's own stream: only the start state is the group's."""
    p = build_problem("tokens:vocab=2,length=5,needs=2")
    a = make_context(p).sample("trajectories", Streams(7, 0, 3, (MAIN,)), 8)
    b = make_context(with_group_size(p, 4)).sample("trajectories", Streams(7, 0, 3, (MAIN,)), 8)
    for name in ("states", "actions", "rewards", "lengths", "first_returns"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_every_estimator_sees_the_same_groups():
    p = build_problem("tokens:vocab=2,length=4,needs=1;2")
    kw = {"batch_size": 8, "replicates": 4, "seed": 1, "progress": False}
    grouped = with_group_size(p, 4)
    ref = run_estimate(grouped, "reinforce", "none", **kw).column("batch_return_mean").to_pylist()
    for est in GROUP_ESTIMATORS:
        got = run_estimate(grouped, est, "none", **kw).column("batch_return_mean").to_pylist()
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert run_estimate(p, "reinforce", "none", **kw).column("batch_return_mean").to_pylist() != ref


@pytest.mark.parametrize("estimator,G,N,match", [
    ("grpo", 4, 10, "not a multiple of --group-size 4"), ("rloo", 1, 8, "needs --group-size G >= 2"),
    ("rollin_rollout", 2, 8, "rollin_rollout samples rollin_rollout"), ("dr_grpo", 2, 8, "finite"),
])
def test_group_options_are_checked_in_one_line(estimator, G, N, match):
    env = "short_corridor" if estimator == "dr_grpo" else "tokens:vocab=2,length=4,needs=1;2"
    kw = {"horizon": 5} if estimator == "rollin_rollout" else {}
    p = with_group_size(build_problem(env, **kw), G)
    with pytest.raises(UserError, match=match):
        run_estimate(p, estimator, "none", batch_size=N, replicates=2, seed=0, progress=False)


def test_continuous_tasks_refuse_groups():
    pytest.importorskip("gymnasium")
    with pytest.raises(UserError, match="--group-size 4: group sampling is for tabular problems"):
        with_group_size(build_problem("gym:CartPole-v1"), 4)


# ------------------------------------------------------------------------------------------ exact vs brute force

@pytest.mark.parametrize("G", [2, 3])
@pytest.mark.parametrize("estimator,baseline,params", VARIANTS, ids=[f"{e}~{b}{p}" for e, b, p in VARIANTS])
def test_exact_group_moments_equal_the_enumeration_of_whole_groups(estimator, baseline, params, G):
    p = problem()
    gm = group_moments(p, estimator, baseline, group_size=G, params=params)
    for P in (1, 2):
        mean, cov, total = enumerate_group_moments(p, estimator, baseline, group_size=G, prompts=P, params=params)
        assert abs(total - 1.0) < 1e-13
        scale_m, scale_c = max(np.abs(mean).max(), 1e-3), max(np.abs(cov).max(), 1e-3)
        assert np.abs(gm.mean(P) - mean).max() < 1e-12 * scale_m, (P, np.abs(gm.mean(P) - mean).max())
        assert np.abs(gm.cov(P) - cov).max() < 1e-12 * scale_c, (P, np.abs(gm.cov(P) - cov).max())


@pytest.mark.parametrize("estimator,params", [("grpo", {}), ("dapo_token_mean", {"dynamic_sampling": 1}),
                                              ("reinforce_pp", {}), ("reinforce", {})])
def test_exact_group_moments_with_several_reward_values(estimator, params):
    p = problem(PARTIAL)
    mean, cov, _ = enumerate_group_moments(p, estimator, "constant" if estimator == "reinforce" else "none",
                                           group_size=2, prompts=2, params=params)
    gm = group_moments(p, estimator, "constant" if estimator == "reinforce" else "none", group_size=2, params=params)
    assert gm.m == 5
    assert np.abs(gm.mean(2) - mean).max() < 1e-12 * np.abs(mean).max()
    assert np.abs(gm.cov(2) - cov).max() < 1e-12 * np.abs(cov).max()


def test_rloo_and_remax_are_unbiased_and_dr_grpo_is_a_known_multiple_for_any_group_size():
    p = problem("tokens:vocab=2,length=5,needs=1;2;3")
    grad = responses(p).J()[1]
    H = p.mdp.horizon
    for G in (2, 3, 8, 64):
        for est in ("rloo", "remax"):
            assert np.abs(group_moments(p, est, group_size=G).mean() - grad).max() < 1e-12 * np.abs(grad).max()
        dr = group_moments(p, "dr_grpo", group_size=G).mean()
        assert np.abs(dr - (G - 1) / (G * H) * grad).max() < 1e-12 * np.abs(grad).max()


def test_grpo_changes_the_direction_and_dynamic_sampling_only_the_length():
    p = problem("tokens:vocab=2,length=5,needs=1;2;3")
    grad = responses(p).J()[1]
    g = group_moments(p, "grpo", group_size=4)
    parts = bias_parts(g.mean(), grad, g.trace_cov())
    assert parts["angle_deg"] > 1.0 and parts["direction_bias_sq"] > 1e-6 * float(grad @ grad)
    plain = group_moments(p, "dapo_token_mean", group_size=4).mean(3)
    dyn = group_moments(p, "dapo_token_mean", group_size=4, params={"dynamic_sampling": 1}).mean(3)
    ratio = float(dyn @ plain) / float(plain @ plain)
    assert ratio > 1.0 and np.abs(dyn - ratio * plain).max() < 1e-12 * np.abs(dyn).max()


def test_bias_parts_add_up():
    rng = np.random.default_rng(0)
    mean, grad = rng.standard_normal(5), rng.standard_normal(5)
    b = bias_parts(mean, grad, 2.0)
    assert math.isclose(b["length_bias_sq"] + b["direction_bias_sq"], float((mean - grad) @ (mean - grad)))
    c = bias_parts(3.0 * grad, grad, 2.0)
    assert math.isclose(c["length_k"], 3.0) and c["angle_deg"] < 1e-6
    assert math.isclose(c["trace_cov_equal_length"], 2.0 / 9.0)


# ------------------------------------------------------------------------------------------ per prompt

def test_per_prompt_weights_of_a_length_blind_rule_are_its_difficulty_curve():
    """For 0/1 rewards the mean given the prompt is exactly w(p_x) grad p_x; the two routes agree."""
    p = problem("tokens:vocab=2,length=5,needs=1;2;3")
    for est, params in (("grpo", {"length_norm": 0}), ("rloo", {}), ("dr_grpo", {})):
        gm = group_moments(p, est, group_size=6, params=params)
        rows = prompt_weights(gm)
        curve = difficulty_weights(est, 6, np.array([r["p_correct"] for r in rows]), params=params, horizon=5)
        for r, w in zip(rows, curve):
            assert abs(r["weight"] - w) < 1e-12 and r["weight_orth_rel"] < 1e-12
    ps = np.linspace(0.05, 0.95, 19)
    w = difficulty_weights("grpo", 8, ps, params={"length_norm": 0})
    np.testing.assert_allclose(w, w[::-1], rtol=1e-12)                      # symmetric in p <-> 1 - p
    assert w[0] > w[9] * 1.2                                                  # extremes up-weighted
    np.testing.assert_allclose(difficulty_weights("rloo", 8, ps), 1.0, rtol=1e-12)


def test_response_length_gradients_equal_finite_differences():
    p = problem("tokens:vocab=2,length=4,needs=1;2")
    tree = enumerate_responses(p.mdp)
    stats = tree.at(p).length_stats()
    rng = np.random.default_rng(1)
    u = rng.standard_normal(p.policy.dim)
    eps = 1e-6
    plus = tree.at(p, p.theta + eps * u).length_stats()
    minus = tree.at(p, p.theta - eps * u).length_stats()
    for key in ("p_correct", "length_mean", "length_correct", "length_wrong", "length_wrong_mass"):
        fd = (plus[key] - minus[key]) / (2 * eps)
        assert abs(fd - stats[f"grad_{key}"] @ u) < 1e-7 * max(1.0, abs(fd)), key


# ------------------------------------------------------------------------------------------ Monte Carlo

@pytest.mark.parametrize("estimator,baseline,params", VARIANTS, ids=[f"{e}~{b}{p}" for e, b, p in VARIANTS])
def test_sampled_group_estimates_agree_with_the_exact_moments(estimator, baseline, params):
    """Mean (per coordinate) and trace of the covariance of M sampled batch estimates against the exact values:
    z-scores, Bonferroni over the d + 1 tests at 1e-4."""
    G, P, M = 4, 3, 3000
    p = with_group_size(problem("tokens:vocab=2,length=4,needs=1;2"), G)
    t = run_estimate(p, estimator, baseline, params=params, batch_size=G * P, replicates=M, seed=5, progress=False)
    X = np.asarray(t.column("grad").to_pylist())
    gm = group_moments(p, estimator, baseline, group_size=G, params=params)
    mean, cov = gm.mean(P), gm.cov(P)
    bound = norm.isf(ALPHA / (2 * (X.shape[1] + 1)))
    se = X.std(axis=0, ddof=1) / np.sqrt(M)
    z = np.abs(X.mean(axis=0) - mean) / np.where(se > 0, se, 1.0)
    assert z.max() < bound, (z.max(), bound)
    sq = ((X - mean) ** 2).sum(axis=1)             # unbiased for tr Cov with the exact mean
    z_tr = abs(sq.mean() - np.trace(cov)) / (sq.std(ddof=1) / np.sqrt(M))
    assert z_tr < bound, (z_tr, sq.mean(), np.trace(cov))


# ------------------------------------------------------------------------------------------ commands

def test_exact_variance_takes_a_group_size(tmp_path):
    from pgexp.cli import main

    out = tmp_path / "g.json"
    assert main(["-q", "exact-variance", "--env", "tokens:vocab=2,length=4,needs=1;2", "--estimator", "dr_grpo",
                 "--group-size", "4", "--batch-size", "8,16", "--output", str(out)]) == 0
    d = json.loads(out.read_text())
    grad = np.array(d["grad"])
    np.testing.assert_allclose(d["mean"], 3 / 16 * grad, rtol=1e-12, atol=1e-15)
    assert d["length_k"] == pytest.approx(3 / 16) and d["angle_deg"] < 1e-5
    assert [b["prompts"] for b in d["batch"]] == [2, 4]
    assert d["batch"][0]["trace_cov"] == pytest.approx(2 * d["batch"][1]["trace_cov"])
    assert main(["-q", "exact-variance", "--env", "tokens:vocab=2,length=4", "--estimator", "grpo"]) == 2


def test_group_train_records_exact_lengths_and_a_reproducible_mean_field_path():
    from pgexp.runs.group_train import group_train

    p = build_problem("tokens:vocab=2,length=4,needs=1;2")
    kw = {"group_size": 4, "batch_size": 8, "step_size": 0.05, "iterations": 6, "seeds": [0, 1], "record_every": 3}
    a = group_train(p, "grpo", **kw).to_pandas()
    b = group_train(p, "grpo", **kw).to_pandas()
    assert a.equals(b)
    assert sorted(a["seed"].unique()) == [-1, 0, 1] and sorted(a["iteration"].unique()) == [0, 3, 6]
    first = a[a.iteration == 0]
    assert first["J"].nunique() == 1 and np.allclose(first["J"], responses(p).J()[0])
    mf = a[a.run == "mean_field"]
    assert mf["env_steps"].eq(0).all() and (a[(a.run == "sampled") & (a.iteration == 6)]["env_steps"] > 0).all()
    rloo = group_train(p, "rloo", **kw).to_pandas()
    assert not np.allclose(rloo[rloo.iteration == 6]["length_wrong"], a[a.iteration == 6]["length_wrong"])


def test_brute_force_refuses_too_many_batches():
    with pytest.raises(UserError, match="batches"):
        enumerate_group_moments(problem(SMALL), "rloo", group_size=3, prompts=3)


def test_group_variance_rows_cover_every_variant_and_size():
    from pgexp.exact.group_rules import parse_variant
    from pgexp.exact.groups import group_variance_rows

    variants = [parse_variant(x) for x in ("rloo", "grpo:length_norm=0", "reinforce~constant")]
    rows, weights = group_variance_rows(problem("tokens:vocab=2,length=4,needs=1;2"), variants, [2, 4], 2)
    assert [(r["label"], r["group_size"]) for r in rows] == list(itertools.product(
        ["rloo", "grpo:length_norm=0", "reinforce~constant"], [2, 4]))
    assert len(weights) == 12 and all(r["batch_size"] == 2 * r["group_size"] for r in rows)
    with pytest.raises(UserError, match="no hyperparameter"):
        parse_variant("rloo:eps=1")
    with pytest.raises(UserError, match="not covered"):
        parse_variant("gae")


def test_problem_replace_keeps_the_group_size():
    p = with_group_size(build_problem("tokens:vocab=2,length=4,needs=1;2"), 4)
    assert make_context(p).at(p.theta + 1.0).problem.group_size == 4
    assert dataclasses.replace(p, theta=p.theta).group_size == 4
