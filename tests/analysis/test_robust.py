"""Robust aggregates of training runs: the interquartile mean and the probability of improvement against brute
force, their bootstrap intervals (reproducible, stratified, calibrated), and their columns in the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm

from pgexp.analysis.curves import training_summary
from pgexp.analysis.robust import improvement_interval, improvement_probability, iqm, iqm_interval


@pytest.mark.parametrize("n", [20, 10, 7])
def test_iqm_is_the_mean_of_the_middle_half(n):
    x = np.random.default_rng(n).standard_cauchy(n)
    cut = n // 4  # scipy's trim_mean drops floor(0.25 n) from each end
    assert iqm(x) == pytest.approx(np.sort(x)[cut:n - cut].mean(), rel=1e-14)
    x[0] = 1e12  # one runaway run moves the mean, not the IQM
    assert abs(iqm(x) - np.sort(x)[cut:n - cut].mean()) < 1e-9 * 1e12 and iqm(x) < 1e6


def test_improvement_probability_counts_pairs_and_halves_ties():
    x = np.array([0.1, 0.5, 0.5, 0.9, 0.3])
    y = np.array([0.5, 0.2, 0.9, 0.0])
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in x for b in y])
    assert improvement_probability(x, y) == pytest.approx(brute, abs=1e-15)
    assert improvement_probability(y, x) == pytest.approx(1 - brute, abs=1e-15)
    assert improvement_interval(x, x, "k")[0] == 0.5


def test_intervals_are_reproducible_and_contain_the_estimate():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.5, 1, 20), rng.normal(0.0, 1, 20)
    a, b = iqm_interval(x, "key"), iqm_interval(x, "key")
    assert a == b and a[1] <= a[0] <= a[2]
    assert iqm_interval(x, "other") != a  # the key seeds the resampling
    p = improvement_interval(x, y, "key")
    assert p == improvement_interval(x, y, "key") and p[1] <= p[0] <= p[2]
    assert iqm_interval([np.nan, 2.0, 2.0], "k") == (2.0, 2.0, 2.0)
    assert np.isnan(improvement_interval([], y, "k")[0])


def test_improvement_interval_covers_the_true_probability():
    """X ~ N(d, 1), Y ~ N(0, 1), 20 runs each: P(X > Y) = Phi(d / sqrt 2).  Over 200 independent experiments
    the 95 % interval must cover it as often as a binomial(200, 0.95) allows at a 1e-4 false-alarm rate (two
    sided), with 0.02 slack below for the percentile bootstrap's known small-sample undercoverage."""
    d, reps = 0.5, 200
    truth = norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(12)
    hits = 0
    for i in range(reps):
        _, lo, hi = improvement_interval(rng.normal(d, 1, 20), rng.normal(0, 1, 20), ("cov", i), n_resamples=500)
        hits += lo <= truth <= hi
    low, high = binom.ppf(0.5e-4, reps, 0.95), binom.isf(0.5e-4, reps, 0.95)
    assert low - 0.02 * reps <= hits <= high, (hits, low, high)


def _runs(progress: dict[tuple[str, str, float], list[float]]) -> pd.DataFrame:
    """Runs t = 0..10 at J = 0 and then the given progress (J_0 = 0, J* = 1): their final progress (the mean
    over the last 10 % of iterations) is that progress."""
    rows = []
    for (est, base, eta), finals in progress.items():
        for seed, p in enumerate(finals):
            for t, J in [(0, 0.0), *((t, p) for t in range(1, 11))]:
                rows.append(dict(env_name="e", estimator=est, baseline=base, step_size=eta, seed=seed, iteration=t,
                                 J=J, J_star=1.0, J_0=0.0, env_steps=10 * t, diverged=False, run_diverged=False))
    return pd.DataFrame(rows)


def test_summary_columns_are_the_aggregates_of_the_reported_runs():
    """IQM and P(beats reinforce~none at its selected step) per configuration, on the reported seeds only."""
    ref = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    better = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99]
    runs = _runs({("reinforce", "none", 0.1): [0.0, *ref], ("reinforce", "none", 0.3): [1.0] + [0.0] * 8,
                  ("gae", "value_exact", 0.1): [0.0, *better]})
    runs.loc[runs["seed"] == 0, "seed"] = 100  # seed 100 chooses the step size and is never reported
    s = training_summary(runs, selection_seeds=(100,), n_resamples=200).set_index(["estimator", "step_size"])
    assert s.loc[("reinforce", 0.1), "final_progress_iqm"] == pytest.approx(np.mean(ref[2:6]), rel=1e-12)
    assert bool(s.loc[("reinforce", 0.3), "selected"])  # seed 100 chose 0.3 ...
    # ... so the reference is 0.3's eight runs at 0: every gae run beats them
    assert s.loc[("gae", 0.1), "improvement_prob"] == 1.0
    assert s.loc[("reinforce", 0.3), "improvement_prob"] == 0.5
    brute = np.mean([(a > 0.0) + 0.5 * (a == 0.0) for a in ref])
    assert s.loc[("reinforce", 0.1), "improvement_prob"] == pytest.approx(brute)
