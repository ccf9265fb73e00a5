"""The bias test of a cell (:mod:`pgexp.analysis.metrics` explains it): per-coordinate z statistics of the mean
estimate against the exact gradient, their Bonferroni bound, the null-bootstrap false-alarm rate, and the
confirming rerun that a flagged cell must pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtri

from pgexp.analysis.resampling import draw_counts

if TYPE_CHECKING:
    import pandas as pd

BIAS_ALPHA = 1e-4  # family-wise false-alarm rate of the bias test of one cell (two-sided, Bonferroni over coordinates)
BIAS_RERUN_FACTOR = 10  # replicates of the confirming rerun, as a multiple of the cell's
BIAS_NULL_RESAMPLES = 100  # null-bootstrap draws per cell for the z-test's false-alarm rate (pooled over cells)


def bias_bound(dim: int, alpha: float = BIAS_ALPHA) -> float:
    """Bonferroni bound on the largest per-coordinate ``|z|``: ``norm.isf(alpha / (2 * dim))`` (as ``-ndtri``, which
    is how scipy computes it, without importing scipy.stats)."""
    return float(-ndtri(alpha / (2 * max(int(dim), 1))))


MIN_NONZERO = 50  # replicates with a nonzero coordinate before a normal z-test of its mean is trusted:
# a sum of rare events needs ~50 of them before its normal approximation is usable


def bias_z(G: np.ndarray, g_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate ``|mean - grad J| / SE`` and which coordinates can be tested.

    The z-test relies on the mean being near-normal.  A coordinate scored only on rare events (a
    far state of a chain reached by a few replicates) has a heavy-tailed mean whose sample SE is far
    too small, so a coordinate nonzero in fewer than :data:`MIN_NONZERO` replicates is not tested
    (counted in ``bias_untestable``) rather than declared biased.  A testable coordinate with zero
    spread but a wrong value is infinitely far.  Zero spread means a standard error below 1e-12 of the
    gradient's scale: a deterministic coordinate (the all-action estimator where the state is not random)
    still scatters by round-off, and round-off over round-off is no z-score.
    """
    M = G.shape[0]
    dev = np.abs(G.mean(axis=0) - g_true)
    se = G.std(axis=0, ddof=1) / np.sqrt(M) if M > 1 else np.full(G.shape[1], np.nan)
    nonzero = np.count_nonzero(G, axis=0)
    testable = (nonzero >= MIN_NONZERO) | ((nonzero == M) & (M > 1))
    return _z(dev, se, g_true, 1e-12), testable


def _z(dev: np.ndarray, se: np.ndarray, g_true: np.ndarray, tol: float) -> np.ndarray:
    """``dev / se``; where ``se`` is below ``1e-12`` of the gradient's scale (no spread), infinity when ``dev``
    exceeds ``tol`` of it, else 0."""
    scale = 1.0 + np.abs(g_true)
    spread = se > 1e-12 * np.maximum(scale, float(np.max(np.abs(g_true), initial=0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread, dev / np.where(spread, se, 1.0), np.where(dev > tol * scale, np.inf, 0.0))


def max_bias_z(G: np.ndarray, g_true: np.ndarray) -> tuple[float, int]:
    """``(largest |z| over the testable coordinates (NaN if none), number of untestable coordinates)``."""
    z, testable = bias_z(G, g_true)
    return (float(np.max(z[testable])) if testable.any() else float("nan")), int((~testable).sum())


def bias_null_rate(G: np.ndarray, g_true: np.ndarray, *, n_resamples: int = BIAS_NULL_RESAMPLES, seed: int = 0,
                   alpha: float = BIAS_ALPHA) -> float:
    """The z-test's false-alarm rate for this cell's own distribution, by the null bootstrap (Efron & Tibshirani
    1993, §16.4): the replicates shifted so that their mean is exactly ``grad J`` (the null hypothesis made true,
    every tail kept), ``n_resamples`` samples of ``M`` drawn from them, and the share whose z-test
    (:func:`bias_z`'s statistic on the coordinates testable in the sample, bound :func:`bias_bound`) flags.

    ``G`` ``(M, d)``; NaN when no coordinate is testable.  Only the deviations from the mean enter, so the rate does
    not depend on ``g_true`` beyond which coordinates are testable.  One cell's rate is coarse (``1 /
    n_resamples``); summed over cells it is the number of false alarms to expect, against which the flags are read.
    """
    G = np.asarray(G, dtype=np.float64)
    M, d = G.shape
    _, testable = bias_z(G, g_true)
    if M < 3 or not testable.any():
        return float("nan")
    X = G[:, testable] - G[:, testable].mean(axis=0)  # the null: the mean moved onto grad J
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))  # a stream of its own
    c = draw_counts(rng, M, n_resamples)
    k = X.shape[1]
    moments = c @ np.hstack([X, X * X]) / M  # one product: the resamples' first and second moments
    m1 = moments[:, :k]
    var = np.maximum(moments[:, k:] - m1 * m1, 0.0) * M / (M - 1)
    se = np.sqrt(var / M)
    dev = np.abs(m1)
    tiny = 1e-12 * (1 + np.abs(X).max(axis=0))  # round-off of a resample with no spread
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > tiny, dev / np.where(se > tiny, se, 1.0), np.where(dev > tiny, np.inf, 0.0))
    return float(np.mean(z.max(axis=1) > bias_bound(d, alpha)))


# A rerun: (the cell's replicate rows, number of replicates) -> (G (M', d), grad J (d,), the exact standard errors of
# the coordinates' means (d,) or None) from an independent stream
Rerun = Callable[["pd.DataFrame", int], tuple[np.ndarray, np.ndarray, "np.ndarray | None"]]


def max_z_exact_se(G: np.ndarray, g_true: np.ndarray, se: np.ndarray) -> float:
    """Largest per-coordinate ``|mean - grad J| / se`` with exact standard errors ``se`` ``(d,)``.

    A coordinate with zero exact spread is infinitely far when its mean is off (beyond round-off), else 0.
    """
    z = _z(np.abs(G.mean(axis=0) - g_true), se, g_true, 1e-9)
    return float(np.max(z)) if z.size else float("nan")


def confirm_bias(row: dict[str, Any], cell: pd.DataFrame, rerun: Rerun | None,
                 factor: int = BIAS_RERUN_FACTOR) -> dict[str, Any]:
    """``bias_rerun_replicates``, ``bias_rerun_max_z``, ``bias_confirmed`` for one metrics row.

    Only a flagged cell of an estimator the registry calls unbiased is rerun (``factor x`` its
    replicates, independent stream); ``bias_confirmed`` is true only when the rerun is flagged too
    (same bound).  Registry-biased estimators are not rerun: their flag stands as ``bias_flagged``.
    """
    out: dict[str, Any] = {"bias_rerun_replicates": 0, "bias_rerun_max_z": float("nan"), "bias_rerun_se": "",
                           "bias_confirmed": False}
    if rerun is None or not row.get("bias_flagged") or not bool(row.get("unbiased", False)):
        return out
    G2, g_true, se = rerun(cell, int(factor) * int(row["replicates"]))
    G2, g_true = np.asarray(G2, dtype=np.float64), np.asarray(g_true, dtype=np.float64)
    z = max_z_exact_se(G2, g_true, se) if se is not None else max_bias_z(G2, g_true)[0]
    out.update(bias_rerun_replicates=int(G2.shape[0]), bias_rerun_max_z=z,
               bias_rerun_se="exact" if se is not None else "sample",
               bias_confirmed=bool(z > bias_bound(G2.shape[1])))
    return out
