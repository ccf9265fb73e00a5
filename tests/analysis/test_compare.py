"""Paired comparisons: exact values on synthetic replicates, ordering, pairing, and a real run checked
against the exact variances.

Real-run bounds are derived, not tuned.  For a batch of one trajectory the replicate ``g_m`` has the
exactly enumerable per-trajectory distribution; with ``q = ||g - E g||^2`` and ``kappa = E q^2 / (E q)^2``
the sample trace has relative standard error ``sqrt((kappa - 1) / M)`` (delta method), so
``log(ratio)`` has SE at most ``se = sqrt((kappa_A - 1)/M) + sqrt((kappa_B - 1)/M)`` (Cauchy-Schwarz,
whatever the correlation).  The test first checks that ``M`` leaves the exact log-ratio more than
``z * se + log 2`` away from 0 (``z`` of the interval's level), then that the interval excludes 1 and
covers the exact ratio, and that the point estimate is within ``z(1e-4) * se`` of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pgexp.analysis.compare import (
    COLUMNS,
    combo_order,
    holm,
    pair_statistics,
    paired_comparisons,
)
from pgexp.analysis.metrics import bootstrap_seed
from pgexp.errors import UserError
from pgexp.exact import enumeration as en
from pgexp.exact.model import make_setup
from pgexp.exact.moments import exact_variance, literal_args, parse_baseline
from pgexp.problems.problem import build_problem
from pgexp.runs.estimate import run_estimate

CELL = dict(env_name="toy", theta_name="t0", horizon=5, batch_size=4, seed=0)


def _frame(estimator: str, baseline: str, G: np.ndarray, g_true: np.ndarray, replicates=None, **cell) -> pd.DataFrame:
    cell = {**CELL, **cell}
    reps = np.arange(len(G)) if replicates is None else np.asarray(replicates)
    return pd.DataFrame({**{k: [v] * len(G) for k, v in cell.items()}, "estimator": estimator, "baseline": baseline,
                         "replicate": reps, "grad": list(np.asarray(G, float)),
                         "grad_exact": [np.asarray(g_true, float)] * len(G)})


def test_scaled_copy_has_ratio_one_quarter_with_a_degenerate_interval(rng):
    G = rng.standard_normal((50, 3))
    g = np.array([0.3, -0.2, 1.0])
    out = paired_comparisons([_frame("reinforce", "none", G, g), _frame("reward_to_go", "none", 2 * G, g)],
                             n_resamples=300)
    row = out.iloc[0]
    assert row.var_ratio == 0.25 and row.var_ratio_lo == 0.25 and row.var_ratio_hi == 0.25  # exact in floating point
    assert row.var_significant
    eA, eB = np.sum((G - g) ** 2, axis=1), np.sum((2 * G - g) ** 2, axis=1)
    assert row.mse_diff == pytest.approx(eA.mean() - eB.mean(), rel=1e-12)
    assert row.mse_diff_lo <= row.mse_diff <= row.mse_diff_hi
    assert row.correlation == pytest.approx(np.corrcoef(eA, eB)[0, 1], rel=1e-12)
    assert row.replicates == 50 and row.paired
    assert list(out.columns) == list(COLUMNS)


def test_significance_flags(rng):
    g = np.zeros(4)
    A = rng.standard_normal((300, 4))
    same = pair_statistics(A, A.copy(), g, n_resamples=300)
    assert same["var_ratio"] == same["var_ratio_lo"] == same["var_ratio_hi"] == 1.0
    assert same["mse_diff"] == same["mse_diff_lo"] == same["mse_diff_hi"] == 0.0
    assert not same["var_significant"] and not same["mse_significant"] and same["correlation"] == pytest.approx(1.0)
    # an independent stream 3x as wide: true ratio 1/9, MSE difference -8 * 4; both far outside any 95% interval
    B = 3 * rng.standard_normal((300, 4))
    lower = pair_statistics(A, B, g, n_resamples=500)
    assert lower["var_significant"] and lower["var_ratio_hi"] < 1.0
    assert lower["mse_significant"] and lower["mse_diff_hi"] < 0.0
    assert lower["var_ratio_lo"] <= 1 / 9 <= lower["var_ratio_hi"]
    # the same spread on an independent stream: the truth (ratio 1) sits inside
    similar = pair_statistics(A, rng.standard_normal((300, 4)), g, n_resamples=500)
    assert similar["var_ratio_lo"] <= 1.0 <= similar["var_ratio_hi"]


def test_order_pairing_and_cells(rng):
    g = np.zeros(2)
    combos = [("gae", "value_exact"), ("reinforce", "optimal"), ("reinforce", "none"), ("rollin_rollout", "constant"),
              ("reward_to_go", "value_learned"), ("reinforce", "constant")]
    frames = []
    for cell in (dict(horizon=5, batch_size=4), dict(horizon=-1, batch_size=4), dict(horizon=5, batch_size=8, seed=1)):
        frames += [_frame(e, b, rng.standard_normal((20, 2)), g, **cell) for e, b in combos]
    out = paired_comparisons(frames, n_resamples=100)
    order = sorted(combos, key=combo_order)
    assert order == [("reinforce", "none"), ("reinforce", "constant"), ("reinforce", "optimal"),
                     ("reward_to_go", "value_learned"), ("rollin_rollout", "constant"), ("gae", "value_exact")]
    expected = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    assert len(out) == 3 * len(expected)
    first = out[(out.horizon == -1)]
    assert list(zip(zip(first.estimator_a, first.baseline_a), zip(first.estimator_b, first.baseline_b))) == expected
    assert list(out.horizon.unique()) == [-1, 5]  # cells sorted by key
    assert (first.paired == [("rollin_rollout" not in (a[0], b[0])) for a, b in expected]).all()
    only = paired_comparisons(frames, cells=[("inf", 4)], n_resamples=100)
    assert set(only.horizon) == {-1} and len(only) == len(expected)
    assert paired_comparisons(frames, cells=[(5, 8)], n_resamples=100).seed.unique().tolist() == [1]


def test_replicates_are_matched_by_index_and_results_are_deterministic(rng):
    g = np.array([0.5, 0.5, 0.0])
    A, B = rng.standard_normal((40, 3)), rng.standard_normal((40, 3)) + 0.2
    keep = np.setdiff1d(np.arange(40), [3, 17])
    perm = rng.permutation(keep.size)
    frames = [_frame("reinforce", "none", A, g),
              _frame("reward_to_go", "value_exact", B[keep][perm], g, replicates=keep[perm])]
    out = paired_comparisons(frames, n_resamples=400)
    assert out.replicates.iloc[0] == 38
    seed = bootstrap_seed((tuple(CELL.values()), ("reinforce", "none"), ("reward_to_go", "value_exact")))
    ref = pair_statistics(A[keep], B[keep], g, n_resamples=400, seed=seed)
    for k, v in ref.items():
        assert out[k].iloc[0] == v or (np.isnan(v) and np.isnan(out[k].iloc[0]))
    pd.testing.assert_frame_equal(out, paired_comparisons(frames[::-1], n_resamples=400))
    with pytest.raises(UserError, match="twice"):
        paired_comparisons([*frames, frames[0]], n_resamples=50)


def _kappa(problem, estimator, baseline) -> float:
    """``E q^2 / (E q)^2`` of ``q = ||g - E g||^2`` for one trajectory's estimate, by enumeration."""
    st = make_setup(problem)
    paths = en.enumerate_paths(st)
    p = paths.probs
    args = literal_args(st, estimator, parse_baseline(baseline), None)
    g = en.gradients(st, paths, en.literal_weights(st, paths, estimator, **args))
    q = np.sum((g - p @ g) ** 2, axis=1)
    return float((p @ (q * q)) / (p @ q) ** 2)


def test_real_run_reward_to_go_with_value_is_significantly_less_noisy():
    prob = build_problem("short_corridor", theta="random:seed=1,scale=0.7", horizon=5)
    A, B = ("reinforce", "none"), ("reward_to_go", "value_exact")
    M, conf = 1000, 0.999
    trA, trB = (exact_variance(prob, *x)["trace_cov"] for x in (A, B))
    rho = trA / trB
    se = np.sqrt((_kappa(prob, *A) - 1) / M) + np.sqrt((_kappa(prob, *B) - 1) / M)
    z = norm.isf((1 - conf) / 2)
    assert np.log(rho) > z * se + np.log(2)  # the design: M large enough for a clear margin
    frames = [run_estimate(prob, *x, batch_size=1, replicates=M, seed=0, progress=False).to_pandas() for x in (A, B)]
    row = paired_comparisons(frames, confidence=conf).iloc[0]
    assert (row.estimator_a, row.baseline_a, row.estimator_b, row.baseline_b) == (*A, *B)
    assert row.paired and row.replicates == M and row.env_name == prob.identity()["env"]
    assert row.var_significant and row.var_ratio_lo > 1.0
    assert row.var_ratio_lo <= rho <= row.var_ratio_hi
    assert abs(np.log(row.var_ratio) - np.log(rho)) <= norm.isf(1e-4 / 2) * se
    assert row.mse_significant and row.mse_diff_lo > 0.0  # both unbiased: E mse_diff = trA - trB > 0


def test_paired_interval_is_narrower_on_shared_trajectories():
    """reinforce and reward_to_go, both with the exact value baseline, on the *same* trajectories: their
    errors move together, so the paired interval of ``mse_diff`` is narrower than the one that resamples
    ``A`` and ``B`` independently, by about ``sqrt(1 - 2 Cov / (Var e^A + Var e^B))`` (module docstring)."""
    prob = build_problem("short_corridor", theta="random:seed=1,scale=0.7", horizon=5)
    frames = [run_estimate(prob, e, "value_exact", batch_size=4, replicates=1000, seed=0, progress=False).to_pandas()
              for e in ("reinforce", "reward_to_go")]
    paired = paired_comparisons(frames).iloc[0]
    indep = paired_comparisons(frames, resampling="independent").iloc[0]
    assert paired.correlation > 0.5
    assert paired.mse_diff == indep.mse_diff and paired.var_ratio == indep.var_ratio  # same points
    w_p, w_i = paired.mse_diff_hi - paired.mse_diff_lo, indep.mse_diff_hi - indep.mse_diff_lo
    assert w_p < w_i
    e = [np.sum((np.stack(f.grad) - np.stack(f.grad_exact)) ** 2, axis=1) for f in frames]
    C = np.cov(e[0], e[1])
    predicted = np.sqrt(1 - 2 * C[0, 1] / (C[0, 0] + C[1, 1]))
    assert w_p / w_i == pytest.approx(predicted, rel=0.25)
    assert np.log(paired.var_ratio_hi / paired.var_ratio_lo) < np.log(indep.var_ratio_hi / indep.var_ratio_lo)


def test_holm_adjustment_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): x4, x3, x2, x1 -> 0.04, 0.09, 0.08, 0.5 -> running max
    np.testing.assert_allclose(holm(p)[:4], [0.04, 0.09, 0.09, 0.5])
    assert np.isnan(holm(p)[4])


def test_work_ratio_and_family_adjustment(rng):
    """``work_ratio`` = ``var_ratio`` x the ratio of mean env steps; a family of 3 pairs is Holm-adjusted,
    and a Holm-significant pair always has an interval that excludes "no difference"."""
    g = np.zeros(3)
    G = rng.standard_normal((80, 3))
    frames = []
    for (est, base), scale, steps in ((("reinforce", "none"), 3.0, 10), (("reward_to_go", "none"), 1.0, 10),
                                      (("reward_to_go", "value_exact"), 1.02, 40)):
        f = _frame(est, base, scale * G + 0.1 * rng.standard_normal(G.shape), g)
        f["env_steps"] = steps
        frames.append(f)
    out = paired_comparisons(frames, n_resamples=400)
    assert (out.family_size == 3).all()
    for r in out.itertuples():
        steps = {"none": 10, "value_exact": 40}
        ratio = (steps[r.baseline_a] if r.estimator_a == "reward_to_go" else 10) / (
            steps[r.baseline_b] if r.estimator_b == "reward_to_go" else 10)
        assert r.work_ratio == pytest.approx(r.var_ratio * ratio, rel=1e-12)
        for test, name, null in (("var", "var_ratio", 1.0), ("work", "work_ratio", 1.0), ("mse", "mse_diff", 0.0)):
            if getattr(r, f"{test}_significant_holm"):
                assert getattr(r, f"{name}_lo") > null or getattr(r, f"{name}_hi") < null
            assert getattr(r, f"{test}_p_holm") >= getattr(r, f"{test}_p")
    first = out[(out.estimator_a == "reinforce") & (out.baseline_b == "none")].iloc[0]
    assert first.var_significant_holm and first.var_ratio > 5      # 9x the variance, 80 replicates
