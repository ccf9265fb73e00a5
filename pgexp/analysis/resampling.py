r"""Bootstrap resamples as counts, and the BCa interval of :func:`scipy.stats.bootstrap` computed on them.

A resample of ``M`` replicates is a vector of multiplicities ``c`` (``sum_m c_m = M``).  Every statistic of
:mod:`pgexp.analysis` is a function of per-replicate sums, so ``B`` resamples are one count matrix ``(B, M)``
and one matrix product with the per-replicate statistics ``(M, p)``.

:func:`bca` gives the interval that ``scipy.stats.bootstrap((np.arange(M),), stat, vectorized=True,
method="BCa", n_resamples=B, rng=rng)`` gives -- the same draws, the same arithmetic, the same numbers bit
for bit (``tests/analysis/test_resampling.py`` pins it on real estimate tables) -- without what made it the largest
cost of an analysis job:

* scipy copies the ``(B, M)`` index array and the statistic turns it into counts with a ``bincount`` over
  ``B M`` offsets; here a compiled loop writes the counts (:func:`resample_counts`, ~7x faster;
  :mod:`pgexp.analysis.kernels`);
* scipy's jackknife builds the ``(M, M - 1)`` leave-one-out index matrix and counts it, for every cell; the
  leave-one-out counts are ``1 - I``, made once per ``M`` (:func:`leave_one_out`; the statistic still
  evaluates them as one matrix product, ``O(M^2 p)``, so that the jackknife values -- and the interval --
  are bit-identical to scipy's);
* ``import scipy.stats`` costs ~0.7 s per process; BCa needs only :func:`scipy.special.ndtr` / ``ndtri``.

BCa (Efron & Tibshirani 1993, §14.3, eq. 14.14-14.15), for each statistic ``θ`` with point ``θ̂``,
resampled values ``θ*_b`` and jackknife values ``θ_(i)``::

    z0 = Φ^{-1}( (#{θ*_b < θ̂} + #{θ*_b <= θ̂}) / (2 B) )
    U_i = (M - 1) (mean_j θ_(j) - θ_(i)),   a = (Σ U_i^3 / M^3) / (6 (Σ U_i^2 / M^2)^{3/2})
    α_1 = Φ(z0 + (z0 + z_α) / (1 - a (z0 + z_α))),   α_2 = the same with z_{1-α}

and the interval is the ``(α_1, α_2)`` quantiles of the ``θ*_b`` (linear interpolation, Hyndman & Fan's
type 7, as :func:`scipy.stats.quantile`; a statistic with a NaN resample, or a NaN ``α``, gets NaN limits).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri


def resample_counts(idx: np.ndarray, M: int) -> np.ndarray:
    """Resampled index arrays ``(..., k)`` -> multiplicity counts ``(..., M)`` (float64, exact integers)."""
    from pgexp.analysis.kernels import count_rows  # numba: imported where counts are made, not by every reader

    idx = np.asarray(idx, dtype=np.int64)
    lead = idx.shape[:-1]
    flat = np.ascontiguousarray(idx.reshape(-1, idx.shape[-1]))
    out = np.zeros((flat.shape[0], M))
    if flat.size:
        count_rows(flat, out)
    return out.reshape((*lead, M))


def draw_counts(rng: np.random.Generator, M: int, n_resamples: int, *, with_sample: bool = False) -> np.ndarray:
    """Counts ``(B, M)`` of ``B = n_resamples`` resamples of ``M`` replicates: the indices
    ``rng.integers(0, M, (B, M))``, which is what :func:`scipy.stats.bootstrap` draws.  ``with_sample``:
    prepend the sample itself (a row of ones), ``(B + 1, M)``."""
    from pgexp.analysis.kernels import count_rows

    idx = rng.integers(0, M, size=(n_resamples, M))
    out = np.zeros((n_resamples + int(with_sample), M))
    if with_sample:
        out[0] = 1.0
    if idx.size:
        count_rows(idx, out[int(with_sample):])
    return out


@functools.lru_cache(maxsize=4)
def leave_one_out(M: int) -> np.ndarray:
    """The jackknife's resamples as counts, ``1 - I`` ``(M, M)`` (read-only; one per ``M``, reused by every cell)."""
    out = 1.0 - np.eye(M)
    out.flags.writeable = False
    return out


def bootstrap_seed(key: Any) -> int:
    """A fixed bootstrap seed from a job's identity (same input, same interval)."""
    return int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:8], "little")


class Interval(NamedTuple):
    """Lower and upper limits, one per statistic ``(k,)``."""

    low: np.ndarray
    high: np.ndarray


class Bootstrap(NamedTuple):
    """A BCa bootstrap: ``point`` ``(k,)``, ``confidence_interval`` (``(k,)`` limits; NaN where BCa is
    undefined) and ``bootstrap_distribution`` ``(k, B)`` -- the attribute names of scipy's result."""

    point: np.ndarray
    confidence_interval: Interval
    bootstrap_distribution: np.ndarray


def quantile_linear(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``scipy.stats.quantile(x, p, axis=-1)`` (method ``linear``, NaN propagated): ``x`` ``(..., B)``,
    ``p`` ``(..., q)`` -> ``(..., q)``.  A row of ``x`` with a NaN, or a ``p`` outside ``[0, 1]``, gives NaN."""
    x = np.asarray(x, dtype=np.float64)
    y = np.sort(x, axis=-1)
    n = np.float64(x.shape[-1])
    p = np.asarray(p, dtype=np.float64)
    bad_p = (p > 1) | (p < 0) | np.isnan(p)
    p = np.where(bad_p, 0.5, p)
    jg = p * n + (1 - p)
    jp1 = jg // 1
    j = jp1 - 1
    g = jg % 1
    g = np.where(j < 0, 0.0, g)
    j = np.clip(j, 0.0, n - 1)
    jp1 = np.clip(jp1, 0.0, n - 1)
    res = ((1 - g) * np.take_along_axis(y, j.astype(np.int64), axis=-1)
           + g * np.take_along_axis(y, jp1.astype(np.int64), axis=-1))
    return np.where(np.isnan(x).any(axis=-1, keepdims=True) | bad_p, np.nan, res)


def bca(stat: Callable[[np.ndarray], np.ndarray], M: int, *, n_resamples: int, confidence: float,
        rng: np.random.Generator) -> Bootstrap:
    """The BCa bootstrap of ``stat`` over ``M`` replicates (module docstring), bit-identical to
    :func:`scipy.stats.bootstrap` with the same ``rng`` on the sample ``arange(M)``.

    ``stat``: resample counts ``(..., M)`` -> its statistics ``(k, ...)``; it is called on the ``(B, M)``
    resamples, on the sample (a vector of ones) and on the ``(M, M)`` leave-one-out counts ``1 - I``.
    Needs ``M >= 2``.  A degenerate statistic (constant, or NaN) gives NaN limits, silently, as in scipy.
    """
    with np.errstate(all="ignore"):
        return _bca(stat, M, n_resamples, confidence, rng)


def _bca(stat: Callable[[np.ndarray], np.ndarray], M: int, n_resamples: int, confidence: float,
         rng: np.random.Generator) -> Bootstrap:
    # The shapes are scipy's: a statistic of shape () gives scalars below, one of shape (k,) arrays -- numpy's
    # power of a scalar and of an array can differ in the last bit, and the intervals are to be scipy's exactly.
    theta_b = np.asarray(stat(draw_counts(rng, M, n_resamples)), dtype=np.float64)        # (..., B)
    theta_hat = np.expand_dims(np.asarray(stat(np.ones(M)), dtype=np.float64), axis=-1)  # (..., 1)
    theta_i = np.asarray(stat(leave_one_out(M)), dtype=np.float64)                         # (..., M)
    B = theta_b.shape[-1]
    below = np.count_nonzero(theta_b < theta_hat, axis=-1) + np.count_nonzero(theta_b <= theta_hat, axis=-1)
    z0 = ndtri(np.asarray(below).astype(np.float64) / (2 * B))
    n = float(M)
    U = (n - 1) * (np.mean(theta_i, axis=-1, keepdims=True) - theta_i)
    a_hat = 1 / 6 * (np.sum(U**3, axis=-1) / n**3) / (np.sum(U**2, axis=-1) / n**2) ** (3 / 2)
    z_alpha = float(ndtri((1 - confidence) / 2))
    num1, num2 = z0 + z_alpha, z0 - z_alpha
    alphas = np.stack([ndtr(z0 + num1 / (1 - a_hat * num1)), ndtr(z0 + num2 / (1 - a_hat * num2))], axis=-1)
    ci = quantile_linear(theta_b, alphas)
    return Bootstrap(theta_hat[..., 0], Interval(ci[..., 0], ci[..., 1]), theta_b)


def bca_limits(res: Any, point: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The limits of a BCa result (:func:`bca`'s or :func:`scipy.stats.bootstrap`'s), one per statistic, where
    BCa is undefined the percentile interval of the same resamples, and the point only for a statistic that
    did not vary.

    BCa is undefined (NaN) when the point lies at an edge of the bootstrap distribution (its bias
    correction is infinite: e.g. a cosine clipped at 1 in most resamples) or when the jackknife has no
    spread; reporting the point as ``[p, p]`` there would claim a certainty the data do not have.
    """
    lo = np.atleast_1d(np.array(res.confidence_interval.low, dtype=np.float64))
    hi = np.atleast_1d(np.array(res.confidence_interval.high, dtype=np.float64))
    dist = np.asarray(res.bootstrap_distribution, dtype=np.float64).reshape(len(lo), -1)
    point = np.atleast_1d(np.asarray(point, dtype=np.float64))
    alpha = (1.0 - confidence) / 2.0
    for i in np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi))):
        d = dist[i][np.isfinite(dist[i])]
        if d.size and np.ptp(d) > 0:
            lo[i], hi[i] = np.quantile(d, [alpha, 1.0 - alpha])
        else:  # a constant statistic: the interval is the point
            lo[i] = hi[i] = point[i]
    return lo, hi


__all__ = ["Bootstrap", "Interval", "bca", "bca_limits", "bootstrap_seed", "draw_counts", "leave_one_out",
           "quantile_linear", "resample_counts"]
