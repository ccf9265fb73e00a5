"""Bootstrap confidence intervals for the variance of a batch estimate (:mod:`pgexp.analysis.metrics` defines
the metrics and explains the intervals): the sufficient statistics of the replicates, one resampling of them
for every studentised metric, and the effective number of replicates that carry the variance."""

from __future__ import annotations

import numpy as np

from pgexp.analysis.resampling import draw_counts

# log-scale bootstrap-t
STUDENTISED = ("trace_cov", "var_per_traj", "work_normalized_variance", "snr", "var_per_traj_equal_length")


class Sufficient:
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


def studentised_variance_intervals(suff: Sufficient, *, confidence: float, n_resamples: int,
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


def _equal_length_interval(suff: Sufficient, v: np.ndarray, mq: np.ndarray, mq2: np.ndarray, am: np.ndarray,
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
    suff = Sufficient(G, np.zeros(G.shape[1]), batch_size, st)
    return studentised_variance_intervals(suff, confidence=confidence, n_resamples=n_resamples, seed=seed)
