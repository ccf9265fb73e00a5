"""Metrics: point values equal their definitions, CIs are deterministic and cover the truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from pgexp.analysis.metrics import METRICS, estimator_metrics


def test_point_values_match_their_definitions(rng):
    G = rng.standard_normal((60, 4)) * [1.0, 2.0, 0.5, 3.0] + [1.0, -1.0, 0.0, 2.0]
    g = np.array([0.8, -1.2, 0.1, 2.5])
    m = estimator_metrics(G, g, batch_size=10, n_resamples=200)
    tr = G.var(axis=0, ddof=1).sum()
    assert m["trace_cov"] == pytest.approx(tr, rel=1e-12)
    assert m["var_per_traj"] == pytest.approx(10 * tr, rel=1e-12)
    assert m["bias_sq"] == pytest.approx(np.sum((G.mean(0) - g) ** 2) - tr / 60, rel=1e-10)
    mse = np.mean(np.sum((G - g) ** 2, axis=1))
    assert m["mse"] == pytest.approx(mse, rel=1e-12)
    assert m["rel_mse"] == pytest.approx(mse / (g @ g), rel=1e-12)
    cos = G @ g / (np.linalg.norm(G, axis=1) * np.linalg.norm(g))
    assert m["cosine"] == pytest.approx(cos.mean(), rel=1e-12)
    assert m["snr"] == pytest.approx((g @ g) / tr, rel=1e-12)
    for name in METRICS:
        assert m[f"{name}_lo"] <= m[name] <= m[f"{name}_hi"]


def test_intervals_are_deterministic(rng):
    G = rng.standard_normal((40, 3))
    a = estimator_metrics(G, np.zeros(3) + 0.1, 5, seed=3, n_resamples=300)
    b = estimator_metrics(G, np.zeros(3) + 0.1, 5, seed=3, n_resamples=300)
    assert a == b


def test_zero_variance_gives_point_intervals_not_nan():
    G = np.tile([0.5, -0.5], (30, 1))
    m = estimator_metrics(G, np.array([0.5, -0.5]), 3, n_resamples=200)
    assert m["trace_cov"] == 0.0 and m["trace_cov_lo"] == 0.0 and m["trace_cov_hi"] == 0.0
    assert m["mse"] == 0.0 and m["cosine"] == pytest.approx(1.0) and m["snr"] == np.inf and m["bias_max_z"] == 0.0


def test_trace_cov_interval_covers_the_truth_at_its_level():
    """Coverage of the BCa interval for tr Cov over 150 synthetic jobs (M = 120, d = 3, Gaussian).

    The count of misses is Binomial(150, 1 - coverage); BCa is approximate, so the bound allows the
    realised coverage to be a little below 95 %: fail only if misses exceed the 1e-4 upper quantile of
    Binomial(150, 0.10), i.e. if the true coverage is clearly below 90 %.
    """
    true_tr = 1.0 + 4.0 + 0.25
    misses = 0
    jobs = 150
    for j in range(jobs):
        G = np.random.default_rng(j).standard_normal((120, 3)) * [1.0, 2.0, 0.5]
        m = estimator_metrics(G, np.ones(3), 8, n_resamples=400, seed=j)
        misses += not (m["trace_cov_lo"] <= true_tr <= m["trace_cov_hi"])
    assert misses <= binom.isf(1e-4, jobs, 0.10)
