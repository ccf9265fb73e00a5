"""Quality of a gradient estimator against the exact gradient, with bootstrap confidence intervals.

Input: ``M`` independent batch estimates ``g_m`` (``(M, d)``, each the mean of ``N`` trajectories), what
each cost in environment steps ``s_m`` (``(M,)``), and the exact ``grad J``.  Metrics:

============================= ======================================================================
``trace_cov``                 ``tr Cov(g)``, unbiased sample covariance of the batch estimate
``var_per_traj``              ``N * trace_cov``: the variance of one trajectory's estimate (i.i.d. batches)
``work_normalized_variance``  ``trace_cov * mean_m s_m``: variance of the batch estimate times what it
                              cost (squared gradient norm x environment steps).  At a budget of ``W``
                              environment steps one affords ``W / s`` batches, whose average has variance
                              ``trace_cov * s / W``: the estimator with the smaller product wins at any
                              equal budget (Glynn & Whitt 1992, the efficiency of a simulation estimator).
                              ``s`` counts every trajectory an estimate used, fitting batches included.
``bias_sq``                   ``||mean(g) - grad J||^2 - trace_cov / M``: unbiased for ``||E g - grad J||^2``
                              (may be slightly negative for an unbiased estimator)
``mse``                       ``mean_m ||g_m - grad J||^2``
``rel_mse``                   ``mse / ||grad J||^2``
``cosine``                    ``mean_m cos(g_m, grad J)``: depends on ``N`` (more trajectories, better aligned)
``snr``                       ``||grad J||^2 / trace_cov``: signal-to-noise of the batch mean
``length_k``                  ``k = <mean(g), grad J> / ||grad J||^2``: the mean's length along ``grad J`` (1: unbiased)
``rel_length_bias_sq``        ``(k - 1)^2 - Var(a) / M`` (``a_m = <g_m, grad J> / ||grad J||^2``): unbiased for
                              ``(k - 1)^2``, the part of ``||E g - grad J||^2 / ||grad J||^2`` along ``grad J``
``rel_direction_bias_sq``     ``bias_sq / ||grad J||^2 - rel_length_bias_sq``: the orthogonal part (unbiased)
``angle_deg``                 angle between ``E g`` and ``grad J``: ``atan2(sqrt(rel_direction_bias_sq), k)``
``var_per_traj_equal_length`` ``var_per_traj / k^2``: the per-trajectory variance of ``g / k``, at equal mean length
============================= ======================================================================

Length and direction.  ``E g - grad J = (k - 1) grad J + b_perp``, so ``||E g - grad J||^2 / ||grad J||^2 =
(k - 1)^2 + ||b_perp||^2 / ||grad J||^2``: a bias along ``grad J`` only rescales the step (the learning rate absorbs
it), one orthogonal to it turns the step.  ``mean(a)`` is unbiased for ``k`` and ``(mean a - 1)^2`` overestimates
``(k - 1)^2`` by ``Var(a) / M``, which is subtracted; the orthogonal part is the rest of the unbiased ``bias_sq``.
A variance compared across estimators of different mean length compares step sizes too; ``g / k`` has the mean
length of ``grad J``, and its variance is ``var_per_traj / k^2``.

Intervals
---------
``bias_sq``, ``mse``, ``rel_mse`` and ``cosine`` get BCa intervals over replicates: those of
:func:`scipy.stats.bootstrap`, computed by :func:`pgexp.analysis.resampling.bca` (the same draws and
numbers, faster).  Every metric is a function of per-replicate sufficient statistics, so a resample
is a vector of counts and one matrix product evaluates every metric.

The variance-type metrics (``trace_cov``, ``var_per_traj``, ``work_normalized_variance`` and ``snr``,
the inverse of ``trace_cov``) get a *studentised* bootstrap interval on the log scale instead.  Why:
when a gradient's variance comes from rare trajectories (a far reward that one batch in fifty
reaches), the sample variance rests on the few replicates that hold them.  A sample that happens
to hold fewer of them has a smaller variance *and* a bootstrap distribution built from the same few
values, so the BCa upper limit falls short: in the default study BCa covered the exact
per-trajectory variance in 86 % of the cells at ``N = 4``.  The studentised interval pivots on

    T = (log v* - log v) / se*,    se^2 = Var_m(q_m / v) / M    (q_m = ||g_m - mean g||^2, v = mean q),

the delta-method (influence-function) standard error recomputed in every resample, so a resample
that lost the large replicates also has a small ``se*`` and a large ``|T|``: the interval
``[v exp(-T_{1-a/2} se), v exp(-T_{a/2} se)]`` stretches upwards exactly when the variance is carried
by few replicates.  It is second-order accurate (Hall 1992, ch. 3; Efron & Tibshirani 1993, §12.5-12.6
recommend it with a log transform for variances).  ``q_m`` is centred at the full-sample mean (the
resample's own centre changes ``q`` by ``O(1/M)``).  For ``work_normalized_variance`` the influence
function adds ``s_m / mean s``.

Intervals need enough rare trajectories as well as a good method: a cell of batch size ``N`` holds
``M N`` trajectories, so the study draws more replicates at small ``N``
(:func:`pgexp.runs.estimate.cell_replicates`, config ``min_trajectories``).  ``var_ess`` =
``(sum q)^2 / sum q^2`` says how many replicates carry the variance (``M / 3`` for Gaussian
estimates; a handful when rare trajectories dominate).  The coverage of these intervals against
the exact variances is checked by simulation in ``tests/analysis/test_metrics.py`` and reported per batch
size and per environment in the study report.

Bias test and its confirmation
------------------------------
``bias_max_z`` is the largest per-coordinate ``|mean - grad J| / SE`` (:func:`bias_z`);
``bias_flagged`` is ``bias_max_z > bias_bound(dim)``, a Bonferroni bound at family-wise false-alarm
rate :data:`BIAS_ALPHA` over the coordinates.  Heavy tails make the normal z-test fire on unbiased
estimators, so a flagged cell of an estimator the registry calls unbiased is rerun
(:func:`confirm_bias`) with ``>= 10 x`` the replicates on an independent random stream; ``bias_confirmed``
is true only when the rerun is flagged too.

How often does the first-stage z-test fire on an unbiased cell?  Its nominal family-wise rate is
:data:`BIAS_ALPHA`, but heavy tails break the normal approximation (the default study once had 25 flags in
1 710 unbiased cells where 0.17 were expected).  ``bias_null_rate`` measures the rate for each cell's own
distribution by the null bootstrap (:func:`bias_null_rate`): the replicates shifted onto ``grad J``, resampled,
tested.  Summed over the unbiased cells it is the number of flags to expect when nothing is biased, which the
report states beside the count of flags.

The rerun's z-test uses the *exact* standard error of each coordinate's mean wherever the exact engine
gives the estimator's covariance (:func:`pgexp.exact.moments.trajectory_moments`; every pair but the
fitted ``optimal`` and ``value_learned`` baselines), the sample one otherwise (``bias_rerun_se``).  Why:
a coordinate whose mean is carried by a rare large contribution (a goal reached by one trajectory in
10^4, weight ``V``, probability ``q``) has a sample standard error that misses it whenever the sample
misses the event, while the sample mean is then off by about ``q V``.  Against the exact standard error
``sqrt(q V^2 / (N M))`` that offset is ``sqrt(q N M)`` standard errors -- the square root of the expected
number of such events: below 1 when the sample is likely to miss them, so no false alarm; and when they
are expected many times, they are in the sample and the normal approximation holds.  Measured on
FrozenLake (random θ, H = 10, N = 4, 8000 replicates): reward_to_go~value_exact has max |z| = 11.2
with the sample standard error -- a 10x rerun "confirms" a bias that 20 000 replicates do not show --
and below the bound with the exact one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtri

from pgexp.analysis.resampling import bca, bca_limits, bootstrap_seed, draw_counts

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("bias_sq", "trace_cov", "var_per_traj", "work_normalized_variance", "mse", "rel_mse", "cosine", "snr",
           "length_k", "rel_length_bias_sq", "rel_direction_bias_sq", "angle_deg", "var_per_traj_equal_length")
# log-scale bootstrap-t
STUDENTISED = ("trace_cov", "var_per_traj", "work_normalized_variance", "snr", "var_per_traj_equal_length")
BIAS_ALPHA = 1e-4  # family-wise false-alarm rate of the bias test of one cell (two-sided, Bonferroni over coordinates)
BIAS_RERUN_FACTOR = 10  # replicates of the confirming rerun, as a multiple of the cell's
BIAS_PURPOSE = "bias_check"  # names the rerun's independent random stream (pgexp.runs.estimate.stream_identity)
BIAS_NULL_RESAMPLES = 100  # null-bootstrap draws per cell for the z-test's false-alarm rate (pooled over cells)


def bias_bound(dim: int, alpha: float = BIAS_ALPHA) -> float:
    """Bonferroni bound on the largest per-coordinate ``|z|``: ``norm.isf(alpha / (2 * dim))`` (as ``-ndtri``, which
    is how scipy computes it, without importing scipy.stats)."""
    return float(-ndtri(alpha / (2 * max(int(dim), 1))))


class _Sufficient:
    """Per-replicate statistics of ``G`` ``(M, d)`` and costs ``steps`` ``(M,)`` against ``g_true`` ``(d,)``."""

    def __init__(self, G: np.ndarray, g_true: np.ndarray, batch_size: int, steps: np.ndarray):
        self.M = G.shape[0]
        self.shift = G.mean(axis=0)  # centre first: variance is shift-invariant, and cancellation vanishes
        self.Gc = G - self.shift
        self.qc = np.einsum("md,md->m", self.Gc, self.Gc)
        self.steps = np.asarray(steps, dtype=np.float64)
        diff = G - g_true
        self.err = np.einsum("md,md->m", diff, diff)
        gnorm = np.linalg.norm(g_true)
        norms = np.linalg.norm(G, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.cos = np.where((norms > 0) & (gnorm > 0), G @ g_true / (norms * gnorm), np.nan if gnorm == 0 else 0.0)
        self.g_true = g_true
        self.gnorm2 = float(gnorm**2)
        self.batch_size = batch_size
        self.cos_ok = bool(np.all(np.isfinite(self.cos)))
        # the length of each estimate along grad J, a_m = <g_m, grad J> / ||grad J||^2, centred (its mean is
        # <mean_c, grad J> / ||grad J||^2 + a_bar: only its square needs a column of its own)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.a_bar = float(self.shift @ g_true / self.gnorm2) if self.gnorm2 > 0 else float("nan")
            self.ac = self.Gc @ g_true / self.gnorm2 if self.gnorm2 > 0 else np.zeros(self.M)
        # every per-replicate statistic side by side, (M, d + 5): one product gives the resample means of all
        self.cols = np.column_stack([self.Gc, self.qc, self.steps, self.err, np.nan_to_num(self.cos),
                                     self.ac * self.ac])
        # The bootstrap world's truth for (k - 1)^2 and ||b_perp||^2 / ||grad J||^2 is their plug-in value, which the
        # sample's noise-corrected estimates undershoot by these amounts: resampled values are moved down by them
        # (centred on the point), else BCa reads the offset as bias and collapses the interval onto one end.
        M = self.M
        self.len_shift = float(self.ac @ self.ac) / (M - 1) / M if M > 1 and self.gnorm2 > 0 else 0.0
        self.dir_shift = (float(self.qc.sum()) / (M - 1) / M / self.gnorm2 - self.len_shift
                          if M > 1 and self.gnorm2 > 0 else 0.0)

    def evaluate(self, counts: np.ndarray) -> np.ndarray:
        """Every metric for resample weights ``counts`` ``(..., M)`` -> ``(len(METRICS), ...)``.  The sample itself is
        a vector of ones ``(M,)``; a stack ``(B, M)`` whose rows sum to ``M`` holds bootstrap resamples."""
        k = counts.sum(axis=-1)
        cos_ok = self.cos_ok
        means = (counts @ self.cols) / k[..., None]
        d = self.Gc.shape[1]
        mean_c = means[..., :d]
        sq, steps, mse, cos, a2 = (means[..., d + i] for i in range(5))
        with np.errstate(invalid="ignore", divide="ignore"):
            trace = (sq - np.einsum("...d,...d->...", mean_c, mean_c)) * k / (k - 1)
            bias_vec = mean_c + (self.shift - self.g_true)
            bias_sq = np.einsum("...d,...d->...", bias_vec, bias_vec) - trace / k
            work = trace * steps
            rel = mse / self.gnorm2 if self.gnorm2 > 0 else np.full_like(mse, np.nan)
            cosine = cos if cos_ok else np.full_like(mse, np.nan)
            snr = self.gnorm2 / trace
            # bootstrap rows: a stack of counts summing to M (the sample is one vector, jackknife rows sum to M - 1)
            resample = (k == self.M) & (counts.ndim > 1)
            length, rel_len, rel_dir, angle, equal = self.length_direction(mean_c, a2, trace, bias_sq, k, resample)
        return np.stack([bias_sq, trace, trace * self.batch_size, work, mse, rel, cosine, snr,
                         length, rel_len, rel_dir, angle, equal])

    def length_direction(self, mean_c: np.ndarray, a2: np.ndarray, trace: np.ndarray, bias_sq: np.ndarray,
                         k: np.ndarray, resample: np.ndarray) -> tuple[np.ndarray, ...]:
        """The bias split into length and direction, and the variance at equal mean length (module docstring):
        ``length_k``, ``rel_length_bias_sq``, ``rel_direction_bias_sq``, ``angle_deg``, ``var_per_traj_equal_length``
        from the resampled means ``mean_c`` ``(..., d)`` and ``mean(a_c²)`` ``a2``, ``trace``, ``bias_sq``, weights
        ``k``; rows where ``resample`` is true are bootstrap resamples, centred on the point (see ``__init__``)."""
        g2 = self.gnorm2
        if not g2 > 0:
            nan = np.full_like(trace, np.nan)
            return nan, nan, nan, nan, nan
        a_mean = mean_c @ self.g_true / g2                       # the resample's mean of a_c
        var_a = (a2 - a_mean * a_mean) * k / (k - 1)             # unbiased variance of a_m
        length = self.a_bar + a_mean
        rel_len = (length - 1.0) ** 2 - var_a / k                # unbiased for (k - 1)^2
        rel_dir = bias_sq / g2 - rel_len                         # the rest of bias_sq / ||grad J||^2
        rel_len = rel_len - self.len_shift * resample
        rel_dir = rel_dir - self.dir_shift * resample
        angle = np.degrees(np.arctan2(np.sqrt(np.maximum(rel_dir, 0.0)), length))
        equal = np.where(length > 0, trace * self.batch_size / (length * length), np.nan)
        return length, rel_len, rel_dir, angle, equal


def variance_ess(G: np.ndarray) -> float:
    """``(sum q)^2 / sum q^2`` with ``q_m = ||g_m - mean g||^2``: how many replicates carry the variance."""
    Gc = np.asarray(G, dtype=np.float64) - np.mean(G, axis=0)
    q = np.einsum("md,md->m", Gc, Gc)
    s2 = float(q @ q)
    return float(q.sum() ** 2 / s2) if s2 > 0 else float("nan")


def _log_pivot(v: np.ndarray, v_hat: float, se: np.ndarray, se_hat: float, confidence: float) -> tuple[float, float]:
    """Studentised interval ``[v exp(-T_hi se), v exp(-T_lo se)]`` from resampled values ``v`` and SEs ``se``.

    A resample with zero variance has ``log v = -inf``: its ``T`` is ``-inf`` (kept, not dropped:
    many such resamples mean the variance rests on very few replicates, and the upper limit is
    rightly infinite).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(v) - np.log(v_hat)
        T = np.where(se > 0, d / np.where(se > 0, se, 1.0), np.where(d == 0, 0.0, np.sign(d) * np.inf))
    T = np.sort(T[~np.isnan(T)])
    if T.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2
    lo_T = T[max(int(np.floor(alpha * T.size)) - 1, 0)]          # conservative order statistics
    hi_T = T[min(int(np.ceil((1 - alpha) * T.size)), T.size - 1)]
    with np.errstate(over="ignore", invalid="ignore"):
        return float(v_hat * np.exp(-hi_T * se_hat)), float(v_hat * np.exp(-lo_T * se_hat))


def studentised_variance_intervals(suff: _Sufficient, *, confidence: float, n_resamples: int,
                                   seed: int) -> dict[str, tuple[float, float]]:
    """Log-scale bootstrap-t intervals of ``trace_cov``, ``var_per_traj``, ``work_normalized_variance``, ``snr``.

    See the module docstring for the pivot.  Resamples are counts ``(B, M)`` from their own seeded
    generator, so the interval is deterministic in ``seed``.
    """
    M = suff.M
    q, s = suff.qc, suff.steps
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    c = draw_counts(rng, M, n_resamples, with_sample=True)  # row 0: the sample itself
    a = suff.ac  # each replicate's length along grad J (centred): the equal-length variance's moments
    moments = c @ np.column_stack([q, q * q, s, s * s, q * s, suff.Gc, a, a * a, q * a]) / M  # one product for all
    mq, mq2, ms, ms2, mqs = moments[:, :5].T
    mean_c = moments[:, 5:-3]
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (mq - np.einsum("bd,bd->b", mean_c, mean_c)) * M / (M - 1)   # tr Cov of each resample
        var_q, var_s, cov_qs = mq2 - mq**2, ms2 - ms**2, mqs - mq * ms
        se_tr = np.sqrt(np.maximum(var_q, 0) / M) / mq
        se_w = np.sqrt(np.maximum(var_q / mq**2 + var_s / ms**2 + 2 * cov_qs / (mq * ms), 0) / M)
        w = v * ms
    out: dict[str, tuple[float, float]] = {}
    if not v[0] > 0:  # no variance at all: the point is the interval
        return {name: (np.nan, np.nan) for name in STUDENTISED}
    lo, hi = _log_pivot(v[1:], v[0], se_tr[1:], se_tr[0], confidence)
    out["trace_cov"] = (lo, hi)
    out["var_per_traj"] = (lo * suff.batch_size, hi * suff.batch_size)
    with np.errstate(divide="ignore"):
        g2 = np.float64(suff.gnorm2)
        out["snr"] = (float(g2 / np.float64(hi)), float(g2 / np.float64(lo))) if g2 > 0 else (0.0, 0.0)
    out["work_normalized_variance"] = (_log_pivot(w[1:], w[0], se_w[1:], se_w[0], confidence) if ms[0] > 0
                                       else (0.0, 0.0))
    out["var_per_traj_equal_length"] = _equal_length_interval(suff, v, mq, mq2, moments[:, -3:], confidence)
    return out


def _equal_length_interval(suff: _Sufficient, v: np.ndarray, mq: np.ndarray, mq2: np.ndarray, am: np.ndarray,
                           confidence: float) -> tuple[float, float]:
    """The studentised interval of ``var_per_traj_equal_length = N tr Cov / k²`` from the resamples' (row 0: the
    sample) ``tr Cov`` ``v``, mean ``q`` and ``q²`` ``mq``, ``mq2`` and means of ``(a, a², q a)`` ``am`` ``(B + 1, 3)``.
    The influence function of ``log(v / k²)`` is ``(q_m - v) / v - 2 (a_m - k) / k`` (``a_m`` the replicate's length
    along ``grad J``), so ``se² = [Var q / v² + 4 Var a / k² - 4 Cov(q, a) / (v k)] / M``; NaN where the mean has no
    positive length."""
    M = suff.M
    if not suff.gnorm2 > 0:
        return float("nan"), float("nan")
    ma, ma2, mqa = am.T
    with np.errstate(invalid="ignore", divide="ignore"):
        k = suff.a_bar + ma
        w = np.where(k > 0, v * suff.batch_size / (k * k), np.nan)
        var_q, var_a, cov_qa = mq2 - mq**2, ma2 - ma**2, mqa - mq * ma
        se = np.sqrt(np.maximum(var_q / mq**2 + 4 * var_a / k**2 - 4 * cov_qa / (mq * k), 0) / M)
    if not (np.isfinite(w[0]) and w[0] > 0):
        return float("nan"), float("nan")
    ok = np.isfinite(w[1:])
    return _log_pivot(w[1:][ok], w[0], se[1:][ok], se[0], confidence)


def variance_intervals(G: np.ndarray, batch_size: int, *, steps: np.ndarray | None = None, confidence: float = 0.95,
                       n_resamples: int = 2000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """The studentised intervals of :func:`studentised_variance_intervals` from batch estimates ``G`` ``(M, d)``."""
    G = np.asarray(G, dtype=np.float64)
    st = np.ones(G.shape[0]) if steps is None else np.asarray(steps, dtype=np.float64)
    suff = _Sufficient(G, np.zeros(G.shape[1]), batch_size, st)
    return studentised_variance_intervals(suff, confidence=confidence, n_resamples=n_resamples, seed=seed)


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


def estimator_metrics(G: np.ndarray, g_true: np.ndarray, batch_size: int, *, steps: np.ndarray | None = None,
                      confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """Point estimates and ``[lo, hi]`` of :data:`METRICS`, plus the bias test and ``var_ess``.

    ``G`` ``(M, d)``: batch estimates; ``g_true`` ``(d,)``; ``steps`` ``(M,)``: environment steps of
    each estimate (``None``: unknown, and ``work_normalized_variance`` is NaN).  ``bias_max_z`` is the
    largest per-coordinate ``|mean - grad J| / SE`` over the testable coordinates (:func:`bias_z`),
    ``bias_flagged`` whether it exceeds :func:`bias_bound`; ``bias_untestable`` counts the coordinates
    left out.
    """
    G = np.asarray(G, dtype=np.float64)
    g_true = np.asarray(g_true, dtype=np.float64)
    M = G.shape[0]
    steps_arr = np.full(M, np.nan) if steps is None else np.asarray(steps, dtype=np.float64)
    suff = _Sufficient(G, g_true, batch_size, steps_arr)
    point = suff.evaluate(np.ones(M))
    out: dict[str, float] = {}
    if M >= 3:
        with np.errstate(all="ignore"):  # degenerate samples (zero variance) give NaN intervals, handled below
            res = bca(suff.evaluate, M, n_resamples=n_resamples, confidence=confidence,
                      rng=np.random.default_rng(seed))
        lo, hi = bca_limits(res, point, confidence)
        for name, (a, b) in studentised_variance_intervals(suff, confidence=confidence, n_resamples=n_resamples,
                                                           seed=seed).items():
            i = METRICS.index(name)
            lo[i], hi[i] = a, b
    else:
        lo = hi = np.full(len(METRICS), np.nan)
    for name, p, a, b in zip(METRICS, point, lo, hi):
        if np.isnan(a) or np.isnan(b):  # no resample gave a finite value (NaN point): no interval
            a = b = p if not np.isnan(p) else np.nan
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = float(p), float(min(a, p)), float(max(b, p))
    if steps is None:
        for key in ("work_normalized_variance", "work_normalized_variance_lo", "work_normalized_variance_hi"):
            out[key] = float("nan")
    out["var_ess"] = variance_ess(G)
    out["bias_max_z"], out["bias_untestable"] = max_bias_z(G, g_true)
    out["bias_flagged"] = bool(out["bias_max_z"] > bias_bound(G.shape[1]))
    out["bias_null_rate"] = bias_null_rate(G, g_true, seed=seed)
    out["bias_null_resamples"] = BIAS_NULL_RESAMPLES
    # tail diagnostic of the worst coordinate: a large excess kurtosis makes a z "flag" a likely false alarm
    z, testable = bias_z(G, g_true)
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


def exact_standard_errors(problem: Any, estimator: str, baseline: str, lam: float, batch_size: int,
                          replicates: int, params: dict[str, float] | None = None) -> np.ndarray | None:
    """Exact standard errors ``(d,)`` of the coordinates' means over ``replicates`` batches of ``batch_size``;
    ``None`` where the exact engine does not give this estimator's covariance (or the fitted ``optimal``,
    whose exact counterpart is the oracle, a smaller variance).  Batches sampled in groups
    (``problem.group_size > 1``) take the group engine's covariance (:mod:`pgexp.exact.groups`)."""
    from pgexp.errors import UserError
    from pgexp.exact.moments import SUPPORTED, trajectory_moments

    if estimator == "all_action" or baseline in ("q_exact", "q_fitted"):  # the action-dependent engines
        return action_standard_errors(problem, estimator, baseline, lam, batch_size, replicates)
    G = int(getattr(problem, "group_size", 1))
    if G > 1:
        from pgexp.exact.groups import RULES, group_moments

        if (estimator, baseline) not in RULES:
            return None
        try:
            cov = group_moments(problem, estimator, baseline, group_size=G, params=params, full=False).cov(
                batch_size // G)
        except (UserError, ValueError):
            return None
        return np.sqrt(np.maximum(cov, 0.0) / replicates)
    if getattr(problem, "track", "tabular") == "lqr":  # the Gaussian moment recursion (scalar systems)
        from pgexp.exact.lqr_moments import SUPPORTED as LQR_PAIRS
        from pgexp.exact.lqr_moments import scalar_moments

        if baseline == "optimal" or baseline not in LQR_PAIRS.get(estimator, ()) or not problem.system.scalar:
            return None
        return np.sqrt(np.maximum(np.diag(scalar_moments(problem, estimator, baseline, lam).batch_cov(batch_size)),
                                  0.0) / replicates)
    if baseline == "optimal" or baseline not in SUPPORTED.get(estimator, ()):
        return None
    try:
        mom = trajectory_moments(problem, estimator, baseline, lam=lam, full=False)
        var = np.asarray(mom.batch_cov(batch_size), dtype=np.float64)
    except (UserError, ValueError):  # too large for the recursion, or N = 1 with the leave-one-out constant
        return None
    var = np.diag(var) if var.ndim == 2 else var
    return np.sqrt(np.maximum(var, 0.0) / replicates)


def action_standard_errors(problem: Any, estimator: str, baseline: str, lam: float, batch_size: int,
                           replicates: int) -> np.ndarray | None:
    """:func:`exact_standard_errors` of an action-dependent pair (:mod:`pgexp.exact.action_dependent`, or
    :mod:`pgexp.exact.lqr_action_dependent` on a scalar linear-quadratic problem); ``None`` for a fitted critic."""
    from pgexp.errors import UserError

    if baseline != "q_exact":
        return None
    try:
        if getattr(problem, "track", "tabular") == "lqr":
            from pgexp.exact import lqr_action_dependent as la

            if not problem.system.scalar or not la.covers(estimator, baseline):
                return None
            cov = np.diag(la.trajectory_moments(problem, estimator, baseline, lam=lam).cov)
        else:
            from pgexp.exact import action_dependent as ad

            if baseline not in ad.SUPPORTED.get(estimator, ()):
                return None
            cov = np.asarray(ad.trajectory_moments(problem, estimator, baseline, lam=lam, full=False).cov)
    except (UserError, ValueError):
        return None
    return np.sqrt(np.maximum(cov, 0.0) / (batch_size * replicates))


def tabular_rerun(cell: pd.DataFrame, replicates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rerun one cell of a tabular estimate file on the independent :data:`BIAS_PURPOSE` stream.

    Every job parameter is a column of the file: the problem is rebuilt from ``env``, ``features``,
    ``policy``, ``theta``, ``gamma``, ``horizon`` and the estimate redrawn with the same estimator,
    baseline, lambda, batch size and seed.  Returns the redrawn estimates ``(replicates, d)``, the exact
    gradient ``(d,)`` and the exact standard errors of :func:`exact_standard_errors` (``(d,)`` or ``None``).
    """
    from pgexp.estimators import hyperparameters
    from pgexp.problems.problem import build_problem
    from pgexp.runs.estimate import run_estimate

    r = cell.iloc[0]
    h = int(r["horizon"])
    problem = build_problem(str(r["env"]), features=str(r["features"]), policy=str(r["policy"]), theta=str(r["theta"]),
                            gamma=float(r["gamma"]), horizon="inf" if h < 0 else h)
    if "group_size" in r.index and _given(r["group_size"]) and int(r["group_size"]) > 1:
        from pgexp.sampling.groups import with_group_size

        problem = with_group_size(problem, int(r["group_size"]))
    params = {k: float(r[k]) for k in hyperparameters() if k in r.index and _given(r[k])}
    fit = int(r["fit_batch_size"]) if "fit_batch_size" in r.index and _given(r["fit_batch_size"]) else None
    table = run_estimate(problem, str(r["estimator"]), str(r["baseline"]), params=params,
                         batch_size=int(r["batch_size"]), replicates=replicates, seed=int(r["seed"]),
                         fit_batch_size=fit, progress=False, purpose=BIAS_PURPOSE)
    G = np.stack(table.column("grad").to_numpy(zero_copy_only=False)).astype(np.float64)
    se = exact_standard_errors(problem, str(r["estimator"]), str(r["baseline"]), params.get("lam", 0.95),
                               int(r["batch_size"]), replicates, params)
    return G, np.asarray(table.column("grad_exact")[0].as_py(), dtype=np.float64), se


def _given(v: Any) -> bool:
    """A cell value that is set (not null / NaN / NA)."""
    import pandas as pd

    return not bool(pd.isna(v))


class EstimateCells:
    """An estimate table split into its cells, with each column read once.

    A cell is one pair (:data:`pgexp.tables.PAIR_COLUMNS`) at one (horizon, batch size) point
    (:data:`pgexp.runs.estimate.CELL_COLUMNS`).  :attr:`cells` lists each cell's row positions: pairs in
    the order they first appear, then the points in ascending order, rows in table order -- so a table
    holding several pairs gives the cells, in the order, of one table per pair.
    """

    def __init__(self, df: pd.DataFrame):
        from pgexp.runs.estimate import CELL_COLUMNS, REPLICATE_COLUMNS
        from pgexp.tables import pair_columns

        self.df = df
        n = len(df)
        self.params = {k: df[k].to_numpy() for k in df.columns if k not in REPLICATE_COLUMNS}
        self._grad_rows = df["grad"].to_numpy()
        try:  # one array for the table when every estimate has the same length (one problem), else per cell
            self._grad: np.ndarray | None = np.stack(self._grad_rows) if n else None
        except ValueError:
            self._grad = None
        self.grad_exact = df["grad_exact"].to_numpy()
        self.env_steps = df["env_steps"].to_numpy()
        self.batch_return = df["batch_return_mean"].to_numpy()
        pcols = pair_columns(df.columns)
        pair = (df.groupby(pcols, sort=False, dropna=False).ngroup().to_numpy() if pcols and n
                else np.zeros(n, dtype=np.int64))
        keys = [pair, *(df[c].to_numpy() for c in CELL_COLUMNS if c in df.columns)]
        order = np.lexsort(keys[::-1])  # stable: by pair, then horizon, then batch size; rows keep their order
        change = np.zeros(n, dtype=bool)
        for k in keys:
            ks = k[order]
            change[1:] |= ks[1:] != ks[:-1]
        self.cells = np.split(order, np.flatnonzero(change)) if n else []

    def grad(self, pos: np.ndarray) -> np.ndarray:
        """The estimates of rows ``pos``, ``(len(pos), d)``."""
        return self._grad[pos] if self._grad is not None else np.stack(self._grad_rows[pos])

    def row_params(self, pos: np.ndarray) -> dict[str, Any]:
        """The cell's constant columns (the values of its first row), its replicates and mean cost and return."""
        import pandas as pd

        i = int(pos[0])
        row: dict[str, Any] = {k: v[i] for k, v in self.params.items()}
        row["replicates"] = len(pos)
        row["env_steps_mean"] = float(pd.Series(self.env_steps[pos]).mean())      # pandas' mean, as ever
        row["batch_return_mean"] = float(pd.Series(self.batch_return[pos]).mean())
        return row


def seed_text(name: str, value: Any) -> str:
    """``str(value)`` for a cell's bootstrap seed, with the integer value of a whole float in a nullable integer
    column (:data:`pgexp.tables.NULLABLE_INTEGER_COLUMNS`: ``16.0`` where a table of several pairs made it float)."""
    from pgexp.tables import NULLABLE_INTEGER_COLUMNS

    if name in NULLABLE_INTEGER_COLUMNS and isinstance(value, (float, np.floating)) and np.isfinite(value) \
            and float(value).is_integer():
        return str(int(value))
    return str(value)


def cell_metrics(cells: EstimateCells, pos: np.ndarray, *, confidence: float = 0.95, n_resamples: int = 2000,
                 rerun: Rerun | None = None) -> dict[str, Any]:
    """One metrics row from the rows ``pos`` of one cell of ``cells`` (see :func:`job_metrics`)."""
    row = cells.row_params(pos)
    seed = bootstrap_seed(sorted((k, seed_text(k, v)) for k, v in row.items()))
    row.update(estimator_metrics(cells.grad(pos), np.asarray(cells.grad_exact[pos[0]], dtype=np.float64),
                                 int(row["batch_size"]), steps=cells.env_steps[pos].astype(np.float64),
                                 confidence=confidence, n_resamples=n_resamples, seed=seed))
    needed = rerun is not None and row.get("bias_flagged") and bool(row.get("unbiased", False))
    row.update(confirm_bias(row, cells.df.iloc[pos].reset_index(drop=True) if needed else cells.df.iloc[:0], rerun))
    row["confidence"] = confidence
    return row


def job_metrics(df: pd.DataFrame, *, confidence: float = 0.95, n_resamples: int = 2000,
                rerun: Rerun | None = None) -> dict[str, Any]:
    """One metrics row from one cell's replicate rows (the file alone suffices).

    ``rerun``: how to redraw the cell on an independent stream for the bias confirmation
    (:func:`tabular_rerun` for tabular estimates; ``None``: no rerun, ``bias_confirmed`` false).
    """
    return cell_metrics(EstimateCells(df), np.arange(len(df)), confidence=confidence, n_resamples=n_resamples,
                        rerun=rerun)


def sweep_label(horizon: int, batch_size: int, reference_horizon: int | str | None,
                reference_batch_size: int | None) -> str:
    """Which figure sweep a cell belongs to: ``horizon`` (at the reference batch size), ``batch`` (at the
    reference horizon; ``"any"``: every horizon, e.g. a task's own time limit), ``both`` (the reference
    cell) or ``grid`` (neither)."""
    in_h = reference_batch_size is not None and batch_size == reference_batch_size
    in_n = reference_horizon == "any" or (reference_horizon is not None and horizon == reference_horizon)
    return "both" if in_h and in_n else "horizon" if in_h else "batch" if in_n else "grid"


def has_exact_gradient(df: pd.DataFrame) -> bool:
    """A tabular estimate file (exact ``grad J``), not one measured against a Monte-Carlo reference."""
    return not ({"reference", "reference_batch"} & set(df.columns))


def metrics_frame(frames: list[pd.DataFrame], *, reference_horizon: int | str | None = None,
                  reference_batch_size: int | None = None, confirm: bool = True, **kw: Any) -> pd.DataFrame:
    """One row per cell: per estimate file, per pair in it, per (horizon, batch size) point of its grid
    (:class:`EstimateCells`: a file of several pairs gives the rows of one file per pair).

    ``horizon`` is ``-1`` for an infinite horizon (as in the estimate files).  ``confirm``: rerun the
    flagged cells of registry-unbiased estimators (tabular files only; see :func:`confirm_bias`).
    """
    import pandas as pd

    rows = []
    for df in frames:
        rerun = tabular_rerun if confirm and has_exact_gradient(df) else None
        cells = EstimateCells(df)
        for pos in cells.cells:
            row = cell_metrics(cells, pos, rerun=rerun, **kw)
            row["sweep"] = sweep_label(int(row["horizon"]), int(row["batch_size"]), reference_horizon,
                                       reference_batch_size)
            rows.append(row)
    return pd.DataFrame(rows)
