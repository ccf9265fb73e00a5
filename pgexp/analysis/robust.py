r"""Robust aggregates of training runs (Agarwal et al., "Deep RL at the edge of the statistical precipice",
NeurIPS 2021): the interquartile mean and the probability of improvement, with bootstrap intervals.

**Interquartile mean (IQM).**  The mean of the middle half of the ``n`` runs' scores: sort them, drop the
lowest and the highest quarter, average the rest -- ``scipy.stats.trim_mean(x, 0.25)``, which for ``n`` not a
multiple of 4 drops ``floor(n / 4)`` from each end.  Unlike the mean it is not moved by one run that
diverged or stalled; unlike the median it uses half of the runs, so its interval is narrower.

**Probability of improvement.**  ``P(X > Y) = Pr(X > Y) + Pr(X = Y) / 2`` for a run ``X`` of one
configuration and an independent run ``Y`` of another: the Mann--Whitney ``U`` statistic of the two samples
divided by ``n m`` (``scipy.stats.mannwhitneyu``).  ``1/2`` is a tie; an interval that contains ``1/2``
orders nothing.

**Intervals.**  Percentile bootstrap (``scipy.stats.bootstrap``, ``method="percentile"``, vectorised): the
runs of each configuration are resampled separately (for ``P(X > Y)`` both samples, independently -- the
stratified bootstrap of Agarwal et al., one stratum per configuration).  Seeds are fixed by the caller's key,
so a rerun gives the same interval.

Why not the ``rliable`` library that Agarwal et al. published: in this project's environment (pandas 3.1,
numpy 2.4, scipy 1.17) it does not run.  rliable 1.2.0, the newest, is a source distribution that requires
``arch >= 5.3.1, < 8``; ``pip install rliable`` resolves ``arch`` 7.2.0, which fails on import under
pandas 3 (``TypeError: deprecate_kwarg() missing 1 required positional argument``), and with ``arch`` 8.0
(which imports) rliable's ``StratifiedBootstrap`` fails (``TypeError``: arch 8 refuses its
``random_state=None`` keyword).  It would also add ``arch``, ``statsmodels``, ``patsy``, ``formulaic`` and
``absl-py`` (about 100 MB installed, seconds of import) for two statistics that ``scipy.stats`` computes as
above.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import bootstrap, mannwhitneyu, trim_mean

from pgexp.analysis.resampling import bootstrap_seed

IQM_CUT = 0.25  # the proportion dropped from each end


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """The interquartile mean of ``x`` along ``axis``."""
    return trim_mean(x, IQM_CUT, axis=axis)


def _finite(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]


def iqm_interval(x: Any, key: Any, confidence: float = 0.95, n_resamples: int = 2000) -> tuple[float, float, float]:
    """``(IQM, lo, hi)`` of the finite values of ``x`` (one per run) with a percentile-bootstrap interval;
    NaN for no value, the value itself when all are equal."""
    x = _finite(x)
    if x.size == 0:
        return np.nan, np.nan, np.nan
    est = float(iqm(x))
    if x.size == 1 or np.all(x == x[0]):
        return est, est, est
    res = bootstrap((x,), iqm, vectorized=True, method="percentile", confidence_level=confidence,
                    n_resamples=n_resamples, rng=np.random.default_rng(bootstrap_seed(key)))
    return est, float(res.confidence_interval.low), float(res.confidence_interval.high)


def improvement_probability(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """``P(X > Y) + P(X = Y) / 2`` for ``X`` drawn from ``x`` and ``Y`` from ``y`` along ``axis`` (``U / (n m)``)."""
    n, m = np.shape(x)[axis], np.shape(y)[axis]
    return mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic / (n * m)


def improvement_interval(x: Any, y: Any, key: Any, confidence: float = 0.95,
                         n_resamples: int = 2000) -> tuple[float, float, float]:
    """``(P(X > Y), lo, hi)`` over the finite values of ``x`` and ``y``, each resampled on its own."""
    x, y = _finite(x), _finite(y)
    if x.size == 0 or y.size == 0:
        return np.nan, np.nan, np.nan
    est = float(improvement_probability(x, y))
    if x.size == 1 and y.size == 1:
        return est, est, est
    res = bootstrap((x, y), improvement_probability, vectorized=True, paired=False, method="percentile",
                    confidence_level=confidence, n_resamples=n_resamples,
                    rng=np.random.default_rng(bootstrap_seed(key)))
    return est, float(res.confidence_interval.low), float(res.confidence_interval.high)
