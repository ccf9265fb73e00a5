"""Quality of a gradient estimator against the exact gradient, with BCa bootstrap confidence intervals.

Input: ``M`` independent batch estimates ``g_m`` (``(M, d)``, each the mean of ``N`` trajectories) and
the exact ``grad J``.  Metrics (``k`` = number of replicates, here ``M``):

========================= ==========================================================================
``trace_cov``             ``tr Cov(g)``, unbiased sample covariance of the batch estimate
``var_per_traj``          ``N * trace_cov``: the variance of one trajectory's estimate (i.i.d. batches)
``bias_sq``               ``||mean(g) - grad J||^2 - trace_cov / M``: unbiased for ``||E g - grad J||^2``
                          (may be slightly negative for an unbiased estimator)
``mse``                   ``mean_m ||g_m - grad J||^2``
``rel_mse``               ``mse / ||grad J||^2``
``cosine``                ``mean_m cos(g_m, grad J)``
``snr``                   ``||grad J||^2 / trace_cov``
========================= ==========================================================================

Each metric gets a BCa interval from :func:`scipy.stats.bootstrap` over replicates (seeded, so the
same input gives the same interval).  All metrics are linear functionals of per-replicate sufficient
statistics, so a resample is a vector of counts and one matrix product evaluates every metric.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import bootstrap

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("bias_sq", "trace_cov", "var_per_traj", "mse", "rel_mse", "cosine", "snr")


class _Sufficient:
    """Per-replicate statistics of ``G`` ``(M, d)`` against ``g_true`` ``(d,)``."""

    def __init__(self, G: np.ndarray, g_true: np.ndarray, batch_size: int):
        self.M = G.shape[0]
        self.shift = G.mean(axis=0)  # centre first: variance is shift-invariant, and cancellation vanishes
        self.Gc = G - self.shift
        self.qc = np.einsum("md,md->m", self.Gc, self.Gc)
        diff = G - g_true
        self.err = np.einsum("md,md->m", diff, diff)
        gnorm = np.linalg.norm(g_true)
        norms = np.linalg.norm(G, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.cos = np.where((norms > 0) & (gnorm > 0), G @ g_true / (norms * gnorm), np.nan if gnorm == 0 else 0.0)
        self.g_true = g_true
        self.gnorm2 = float(gnorm**2)
        self.batch_size = batch_size

    def evaluate(self, counts: np.ndarray) -> np.ndarray:
        """Every metric for resample weights ``counts`` ``(..., M)`` -> ``(len(METRICS), ...)``."""
        k = counts.sum(axis=-1)
        mean_c = (counts @ self.Gc) / k[..., None]
        sq = (counts @ self.qc) / k
        with np.errstate(invalid="ignore", divide="ignore"):
            trace = (sq - np.einsum("...d,...d->...", mean_c, mean_c)) * k / (k - 1)
            bias_vec = mean_c + (self.shift - self.g_true)
            bias_sq = np.einsum("...d,...d->...", bias_vec, bias_vec) - trace / k
            mse = (counts @ self.err) / k
            rel = mse / self.gnorm2 if self.gnorm2 > 0 else np.full_like(mse, np.nan)
            cosine = (counts @ np.nan_to_num(self.cos)) / k if np.all(np.isfinite(self.cos)) else np.full_like(mse, np.nan)
            snr = self.gnorm2 / trace
        return np.stack([bias_sq, trace, trace * self.batch_size, mse, rel, cosine, snr])


def _counts(idx: np.ndarray, M: int) -> np.ndarray:
    """Resampled index arrays ``(..., k)`` -> multiplicity counts ``(..., M)``."""
    idx = np.asarray(idx, dtype=np.int64)
    lead = idx.shape[:-1]
    flat = idx.reshape(-1, idx.shape[-1])
    offs = (np.arange(flat.shape[0]) * M)[:, None]
    counts = np.bincount((flat + offs).ravel(), minlength=flat.shape[0] * M).reshape(flat.shape[0], M)
    return counts.reshape(lead + (M,)).astype(np.float64)


def bootstrap_seed(key: Any) -> int:
    """A fixed bootstrap seed from a job's identity (same input, same interval)."""
    return int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:8], "little")


MIN_NONZERO = 50  # replicates with a nonzero coordinate before a normal z-test of its mean is trusted:
# a sum of rare events needs ~50 of them before its normal approximation is usable


def bias_z(G: np.ndarray, g_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate ``|mean - grad J| / SE`` and which coordinates can be tested.

    The z-test relies on the mean being near-normal.  A coordinate scored only on rare events (a
    far state of a chain reached by a few replicates) has a heavy-tailed mean whose sample SE is far
    too small, so a coordinate nonzero in fewer than :data:`MIN_NONZERO` replicates is not tested
    (counted in ``bias_untestable``) rather than declared biased.  A testable coordinate with zero
    spread but a wrong value is infinitely far.
    """
    M = G.shape[0]
    dev = np.abs(G.mean(axis=0) - g_true)
    se = G.std(axis=0, ddof=1) / np.sqrt(M) if M > 1 else np.full(G.shape[1], np.nan)
    nonzero = np.count_nonzero(G, axis=0)
    testable = (nonzero >= MIN_NONZERO) | ((nonzero == M) & (M > 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, dev / np.where(se > 0, se, 1.0), np.where(dev > 1e-12 * (1 + np.abs(g_true)), np.inf, 0.0))
    return z, testable


def estimator_metrics(G: np.ndarray, g_true: np.ndarray, batch_size: int, *, confidence: float = 0.95,
                      n_resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Point estimates and BCa ``[lo, hi]`` of :data:`METRICS`, plus ``bias_max_z``.

    ``bias_max_z`` is the largest per-coordinate ``|mean - grad J| / SE`` over the testable
    coordinates (:func:`bias_z`): compare it with a Bonferroni bound to test unbiasedness (see
    ``tests/test_estimators.py``); ``bias_untestable`` counts the coordinates left out.
    """
    G = np.asarray(G, dtype=np.float64)
    g_true = np.asarray(g_true, dtype=np.float64)
    M = G.shape[0]
    suff = _Sufficient(G, g_true, batch_size)
    point = suff.evaluate(np.ones(M))
    out: dict[str, float] = {}
    if M >= 3:
        def stat(idx, axis=-1):
            return suff.evaluate(_counts(np.moveaxis(idx, axis, -1), M))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate samples (zero variance) give NaN intervals, handled below
            with np.errstate(all="ignore"):
                res = bootstrap((np.arange(M),), stat, vectorized=True, method="BCa", n_resamples=n_resamples,
                                confidence_level=confidence, rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval.low, res.confidence_interval.high
    else:
        lo = hi = np.full(len(METRICS), np.nan)
    for name, p, a, b in zip(METRICS, point, lo, hi):
        if not np.isfinite(a) or not np.isfinite(b):  # a constant statistic: the interval is the point
            a = b = p if np.all(np.isfinite(p)) else np.nan
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float(min(a, p)), float(max(b, p))
    z, testable = bias_z(G, g_true)
    out["bias_max_z"] = float(np.max(z[testable])) if testable.any() else float("nan")
    out["bias_untestable"] = int((~testable).sum())
    # tail diagnostic of the worst coordinate: a large excess kurtosis makes a z "flag" a likely false alarm
    if testable.any() and M > 3:
        k = int(np.flatnonzero(testable)[np.argmax(z[testable])])
        col = G[:, k] - G[:, k].mean()
        var = np.mean(col**2)
        out["bias_kurtosis"] = float(np.mean(col**4) / var**2 - 3.0) if var > 0 else float("nan")
    else:
        out["bias_kurtosis"] = float("nan")
    out["grad_norm_exact"] = float(np.linalg.norm(g_true))
    out["mean_grad_norm"] = float(np.linalg.norm(G.mean(axis=0)))
    return out


def job_metrics(df: "pd.DataFrame", *, confidence: float = 0.95, n_resamples: int = 2000) -> dict[str, Any]:
    """One metrics row from one estimate file's replicate rows (the file alone suffices)."""
    from pgexp.runs.estimate import REPLICATE_COLUMNS

    G = np.stack(df["grad"].to_numpy())
    g_true = np.asarray(df["grad_exact"].iloc[0], dtype=np.float64)
    row: dict[str, Any] = {k: df[k].iloc[0] for k in df.columns if k not in REPLICATE_COLUMNS}
    row["replicates"] = int(len(df))
    row["env_steps_mean"] = float(df["env_steps"].mean())
    row["batch_return_mean"] = float(df["batch_return_mean"].mean())
    seed = bootstrap_seed(sorted((k, str(v)) for k, v in row.items()))
    row.update(estimator_metrics(G, g_true, int(row["batch_size"]), confidence=confidence, n_resamples=n_resamples, seed=seed))
    row["confidence"] = confidence
    return row


def sweep_label(horizon: int, batch_size: int, reference_horizon: int | str | None,
                reference_batch_size: int | None) -> str:
    """Which figure sweep a cell belongs to: ``horizon`` (at the reference batch size), ``batch`` (at the
    reference horizon; ``"any"``: every horizon, e.g. a task's own time limit), ``both`` (the reference
    cell) or ``grid`` (neither)."""
    in_h = reference_batch_size is not None and batch_size == reference_batch_size
    in_n = reference_horizon == "any" or (reference_horizon is not None and horizon == reference_horizon)
    return "both" if in_h and in_n else "horizon" if in_h else "batch" if in_n else "grid"


def metrics_frame(frames: "list[pd.DataFrame]", *, reference_horizon: int | None = None,
                  reference_batch_size: int | None = None, **kw: Any) -> "pd.DataFrame":
    """One row per cell: per estimate file, per (horizon, batch size) point of its grid.

    ``horizon`` is ``-1`` for an infinite horizon (as in the estimate files).
    """
    import pandas as pd

    from pgexp.runs.estimate import CELL_COLUMNS

    rows = []
    for df in frames:
        for _, cell in df.groupby(list(CELL_COLUMNS), sort=True):
            row = job_metrics(cell.reset_index(drop=True), **kw)
            row["sweep"] = sweep_label(int(row["horizon"]), int(row["batch_size"]), reference_horizon, reference_batch_size)
            rows.append(row)
    return pd.DataFrame(rows)
