"""The bootstrap on counts (:mod:`pgexp.analysis.resampling`) gives scipy's numbers bit for bit, and the analysis
tables computed with it are those of the computation it replaced (scipy.stats.bootstrap over index arrays, counts by
``bincount``), on a real estimate table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap, norm, quantile

from pgexp.analysis import bias, compare, curves, metrics, slopes, variance_intervals
from pgexp.analysis.resampling import bca, draw_counts, quantile_linear, resample_counts
from pgexp.audit import table as audit
from pgexp.problems.problem import build_problem
from pgexp.runs.estimate import run_estimate_grid

ENV = "garnet:states=5,actions=2,branching=2,seed=2"


def bincount_counts(idx: np.ndarray, M: int) -> np.ndarray:
    """The counts as they were computed before: one ``bincount`` over offset indices."""
    idx = np.asarray(idx, dtype=np.int64)
    flat = idx.reshape(-1, idx.shape[-1])
    offs = (np.arange(flat.shape[0]) * M)[:, None]
    counts = np.bincount((flat + offs).ravel(), minlength=flat.shape[0] * M).reshape(flat.shape[0], M)
    return counts.reshape((*idx.shape[:-1], M)).astype(np.float64)


def scipy_bca(stat, M, *, n_resamples, confidence, rng):
    """The BCa bootstrap as it was computed before: scipy.stats.bootstrap over replicate index arrays."""
    def fn(idx, axis=-1):
        return stat(bincount_counts(np.moveaxis(idx, axis, -1), M))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return bootstrap((np.arange(M),), fn, vectorized=True, method="BCa", n_resamples=n_resamples,
                             confidence_level=confidence, rng=rng)


def scipy_draw_counts(rng, M, n_resamples, *, with_sample=False):
    c = bincount_counts(rng.integers(0, M, size=(n_resamples, M)), M)
    return np.vstack([np.ones((1, M)), c]) if with_sample else c


@pytest.fixture(scope="module")
def estimates() -> list[pd.DataFrame]:
    """Real estimate tables: four pairs (one fitted, one with a lambda) on a small garnet, 3 horizons x 2 batch sizes;
    a cosine that is 1 in every replicate (a one-parameter policy would give it; here a constant copy) exercises
    the undefined-BCa fallback."""
    out = []
    for est, base in (("reinforce", "none"), ("reward_to_go", "value_learned"), ("gae", "value_exact"),
                      ("reward_to_go", "value_exact")):
        t = run_estimate_grid(lambda h: build_problem(ENV, theta="random:seed=1,scale=0.7", horizon=h), [3, 6, 9],
                              [2, 8], est, base, replicates=60, seed=0, progress=False,
                              tags={"env_name": "g", "theta_name": "t"})
        out.append(t.to_pandas())
    return out


def test_counts_are_the_bincount_of_the_draws():
    for M, B in ((1, 5), (7, 300), (400, 50)):
        idx = np.random.default_rng(M).integers(0, M, size=(B, M))
        np.testing.assert_array_equal(resample_counts(idx, M), bincount_counts(idx, M))
        np.testing.assert_array_equal(draw_counts(np.random.default_rng(3), M, B),
                                      scipy_draw_counts(np.random.default_rng(3), M, B))
        np.testing.assert_array_equal(draw_counts(np.random.default_rng(3), M, B, with_sample=True),
                                      scipy_draw_counts(np.random.default_rng(3), M, B, with_sample=True))
    with pytest.raises(IndexError):
        resample_counts(np.array([[0, 3]]), 3)


def test_quantiles_are_scipys():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 999))
    x[2, 17] = np.nan
    x[3] = 1.5                       # a constant row
    p = rng.uniform(size=(6, 2))
    p[1] = [0.0, 1.0]
    p[4, 0], p[5, 1] = np.nan, 1.2    # undefined levels
    np.testing.assert_array_equal(quantile_linear(x, p), quantile(x, p, axis=-1))
    np.testing.assert_array_equal(quantile_linear(x[0], p[0]), quantile(x[0], p[0], axis=-1))


def test_the_normal_quantiles_are_scipy_stats_own():
    for dim in (1, 2, 3, 12, 80, 1000):
        assert bias.bias_bound(dim) == float(norm.isf(bias.BIAS_ALPHA / (2 * dim)))
    z = np.abs(np.random.default_rng(1).standard_normal(200)) * 3
    for v in z:
        assert compare._p_value("mse_diff", float(v), np.array([-1.0, 0.0, 1.0])) == float(2 * norm.sf(abs(v)))


def _cells(df: pd.DataFrame):
    for _, cell in df.groupby(["horizon", "batch_size"]):
        yield (np.stack(cell["grad"].to_numpy()), np.asarray(cell["grad_exact"].iloc[0]),
               cell["env_steps"].to_numpy(np.float64), int(cell["batch_size"].iloc[0]))


@pytest.mark.parametrize("which", ["metrics", "paired", "single", "degenerate"])
def test_bca_is_scipys_bootstrap_bit_for_bit(estimates, which):
    """Distributions and limits identical, for a statistic of shape (k,) (the metrics, a comparison) and of shape
    () (the audit's ratios), and where BCa is undefined (a constant statistic, NaN resamples)."""
    n = 0
    for df in estimates:
        for G, g, steps, N in _cells(df):
            M = len(G)
            if which == "metrics":
                stat = variance_intervals.Sufficient(G, g, N, steps).evaluate
            elif which == "paired":
                a, b = compare._Replicates(G, g, steps), compare._Replicates(G[::-1].copy(), g, steps)
                stat = lambda c, a=a, b=b: compare._evaluate(a, b, c)  # noqa: E731
            elif which == "single":
                stat = lambda c, G=G, g=g: audit._trace_and_mse(c, G, g, 1) / audit._trace_and_mse(c, G, g, 0)  # noqa: E731
            else:
                stat = lambda c, G=G: np.stack([np.full(np.shape(c)[:-1], 2.0), np.log(c[..., 0] - 1.0)])  # noqa: E731
            for seed in (0, 1):
                ours = bca(stat, M, n_resamples=300, confidence=0.9, rng=np.random.default_rng(seed))
                theirs = scipy_bca(stat, M, n_resamples=300, confidence=0.9, rng=np.random.default_rng(seed))
                np.testing.assert_array_equal(ours.bootstrap_distribution, theirs.bootstrap_distribution)
                np.testing.assert_array_equal(ours.confidence_interval.low, theirs.confidence_interval.low)
                np.testing.assert_array_equal(ours.confidence_interval.high, theirs.confidence_interval.high)
                n += 1
    assert n == 2 * 6 * len(estimates)


def test_the_tables_are_the_old_computation_on_a_real_table(estimates, monkeypatch):
    """Metrics, slopes, comparisons and the practice audit, computed with the fast path and with the computation it
    replaced: equal, bit for bit."""
    def tables():
        return {"metrics": metrics.metrics_frame(estimates, n_resamples=200, confirm=False),
                "slopes": slopes.fit_slopes(pd.concat(estimates, ignore_index=True), n_resamples=200),
                "compare": compare.paired_comparisons(estimates, n_resamples=200),
                "audit": audit.audit_table(estimates, resamples=200)}

    new = tables()
    for module in (metrics, compare, audit):
        monkeypatch.setattr(module, "bca", scipy_bca)
    for module in (variance_intervals, bias, slopes):
        monkeypatch.setattr(module, "draw_counts", scipy_draw_counts)
    old = tables()
    for name in new:
        assert len(new[name]) > 0
        pd.testing.assert_frame_equal(new[name], old[name], check_exact=True, obj=name)


def test_learning_curve_bands_are_the_column_by_column_quantiles():
    """The bands' quantiles, vectorised over the iterations where no resample is NaN: those of np.nanquantile column
    by column (the computation they replaced), with seeds that die (NaN) so that some columns have NaN resamples."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 300)).cumsum(axis=1)
    X[3, 40:] = np.nan     # a seed that diverged
    X[2:, 250:] = np.nan   # two seeds left: resamples that draw neither are NaN
    X[1:, 290:] = np.nan   # one seed left: a zero-width band
    mean, lo, hi = curves.band(X, ("key",), 0.9, 500)
    ok = np.isfinite(X)
    idx = np.random.default_rng(curves.bootstrap_seed(("key",))).integers(0, 12, size=(500, 12))
    counts = bincount_counts(idx, 12)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (counts @ np.where(ok, X, 0.0)) / (counts @ ok.astype(np.float64))
        a = (1 - 0.9) / 2  # as band() computes it
        want_lo, want_hi = np.nanquantile(means, a, axis=0), np.nanquantile(means, 1 - a, axis=0)
    single = ok.sum(axis=0) == 1
    want_lo[single], want_hi[single] = mean[single], mean[single]
    assert np.isnan(means[:, 260]).any() and not np.isnan(means[:, 100]).any()  # both kinds of column
    np.testing.assert_array_equal(lo, want_lo)
    np.testing.assert_array_equal(hi, want_hi)
