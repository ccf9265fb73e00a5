r"""The practice-audit table: each variant against the exact gradient and against its textbook reference.

One row per (environment, policy point, variant, batch size ``N``) from the variant's estimate files
(``M`` replicates per cell, seeds pooled):

* Monte Carlo, with BCa intervals over replicates (:func:`pgexp.analysis.metrics.estimator_metrics`):
  ``bias_sq``, ``rel_bias_sq = bias_sq / ||grad J||²``, ``trace_cov``, ``mse``, ``rel_mse``, and
  ``cosine_mean``, the cosine of the estimator's *mean* with the gradient (where a biased estimator points on
  average, not the mean of per-batch cosines; :func:`cosine_of_mean` removes the noise of the sample mean
  from its norm), and ``mean_norm_ratio = ||E g|| / ||grad J||`` (the same debiased norm);
* the bias split into length along ``grad J`` and direction (:mod:`pgexp.analysis.metrics`): ``length_k``
  (``<E g, grad J> / ||grad J||²``), ``rel_length_bias_sq`` (``(k - 1)²``), ``rel_direction_bias_sq`` (the part
  orthogonal to ``grad J``) and ``angle_deg``, with BCa intervals, and ``var_per_traj_equal_length``, the
  variance of ``g / k`` (the estimator rescaled to the mean length of ``grad J``);
* paired against the reference (the textbook estimator, same baseline, no options, on the same
  trajectories: common random numbers), with BCa intervals over replicate pairs: ``variance_ratio =
  trace_cov / trace_cov_ref``, ``mse_ratio = mse / mse_ref`` and ``variance_ratio_equal_length``, the ratio of the
  variances of ``g / k`` and ``g_ref / k_ref`` (each scaled to the mean length of ``grad J``: a variant whose mean is
  twice as long has 4x the variance and is no noisier for it);
* exact, where the exact engine has them: ``bias_sq_exact``, ``rel_bias_sq_exact``, ``trace_cov_exact``,
  ``mse_exact``, ``rel_mse_exact``, ``cosine_mean_exact``, ``mean_norm_ratio_exact`` (``||E g|| / ||grad J||``),
  ``length_k_exact``, ``rel_length_bias_sq_exact``, ``rel_direction_bias_sq_exact``, ``angle_deg_exact``,
  ``variance_ratio_exact``, ``variance_ratio_equal_length_exact`` -- by the moment
  recursion for the common variants and the cut with ``none`` / ``value_exact`` bootstrapping
  (:mod:`pgexp.exact.practice`), by enumerating batches for normalised advantages where the batches can
  be listed (:mod:`pgexp.exact.normalization`), else missing (``exact_method`` says which);
* ``bias_share = bias_sq / mse`` (and ``bias_share_exact``): when it is near 1 the bias matters, near 0
  the variance dominates;
* the effective step size of each batch estimate, ``k_i = <ĝ_i, grad J> / ||grad J||²`` (how far a step along
  it goes along ``grad J``; its mean is ``length_k``): its 10 %, 50 % and 90 % quantiles over the ``M`` replicates
  (``step_k_q10``, ``step_k_median``, ``step_k_q90``, the inverted-CDF quantile: an observed ``k_i``), with BCa
  intervals.  A normalised estimate (:mod:`pgexp.estimators.practice`) is standardised per batch and not
  rescaled: its length is not ``grad J``'s, so its bias², MSE and variance ratio against ``grad J`` and the
  textbook estimator mostly measure a step-size change; it is judged by the direction of its mean
  (``cosine_mean``, ``angle_deg``), by these quantiles beside its reference's, and by
  ``variance_ratio_equal_length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pgexp.analysis.metrics import estimator_metrics
from pgexp.analysis.resampling import bca, bca_limits, bootstrap_seed
from pgexp.audit.variants import PLAIN_OPTION, TEXTBOOK
from pgexp.estimators import LAM
from pgexp.estimators.practice import Practice, make_practice

KEYS = ("env_name", "theta_name", "variant")
LENGTH_DIRECTION = ("length_k", "rel_length_bias_sq", "rel_direction_bias_sq", "angle_deg", "var_per_traj_equal_length")
PAIRED = ("variance_ratio", "mse_ratio", "variance_ratio_equal_length")
MC_RANGED = ("bias_sq", "rel_bias_sq", "trace_cov", "mse", "rel_mse", "cosine_mean", *LENGTH_DIRECTION, *PAIRED)
STEP_QUANTILES = {"step_k_q10": 0.1, "step_k_median": 0.5, "step_k_q90": 0.9}
EXACT = ("bias_sq_exact", "rel_bias_sq_exact", "trace_cov_exact", "mse_exact", "rel_mse_exact", "cosine_mean_exact",
         "mean_norm_ratio_exact", "length_k_exact", "rel_length_bias_sq_exact", "rel_direction_bias_sq_exact",
         "angle_deg_exact", "variance_ratio_exact", "variance_ratio_equal_length_exact", "bias_share_exact")


def practice_of(row: pd.Series | dict) -> Practice:
    """The practice options an estimate row records."""
    def get(k: str) -> Any:
        v = row.get(k) if hasattr(row, "get") else None
        return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v

    trunc = get("truncate")
    return make_practice(bool(get("normalize_advantages") or False), None if trunc is None else int(trunc),
                         get("truncate_bootstrap"))


def variant_key(row: pd.Series | dict) -> str:
    """``estimator~baseline~option`` of an estimate row."""
    return f"{row['estimator']}~{row['baseline']}~{practice_of(row).label or PLAIN_OPTION}"


def _trace_and_mse(counts: np.ndarray, G: np.ndarray, g_true: np.ndarray, which: int) -> np.ndarray:
    """``tr Cov`` (``which = 0``) or ``mean ||g - grad J||²`` (1) of ``G`` resampled by ``counts``."""
    k = counts.sum(axis=-1)
    if which == 1:
        err = np.einsum("md,md->m", G - g_true, G - g_true)
        return (counts @ err) / k
    Gc = G - G.mean(axis=0)
    mean_c = (counts @ Gc) / k[..., None]
    q = np.einsum("md,md->m", Gc, Gc)
    return ((counts @ q) / k - np.einsum("...d,...d->...", mean_c, mean_c)) * k / (k - 1)


def _bca(stat: Any, M: int, seed: int, confidence: float, resamples: int, point: float) -> tuple[float, float]:
    """BCa interval of ``stat(counts)`` over replicate indices (percentile where BCa is undefined, see
    :func:`pgexp.analysis.metrics.bca_limits`)."""
    if M < 3 or not np.isfinite(point):
        return float("nan"), float("nan")
    with np.errstate(all="ignore"):
        res = bca(stat, M, n_resamples=resamples, confidence=confidence, rng=np.random.default_rng(seed))
    lo, hi = (float(x[0]) for x in bca_limits(res, np.array([point]), confidence))
    return min(lo, point), max(hi, point)


def _mean_norm_sq(counts: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, ||mean||² - tr Cov / M)``: the resampled mean and an unbiased estimate of ``||E g||²``."""
    k = counts.sum(axis=-1)
    mean = (counts @ G) / k[..., None]
    return mean, np.einsum("...d,...d->...", mean, mean) - _trace_and_mse(counts, G, G[0], 0) / k


def cosine_of_mean(G: np.ndarray, g_true: np.ndarray, seed: int, confidence: float,
                   resamples: int) -> tuple[float, float, float]:
    """``cos(E g, grad J)`` estimated as ``<mean, grad J> / (||grad J|| sqrt(||mean||² - tr Cov / M))`` -- numerator
    and squared norm unbiased, so the noise of the mean does not shrink the cosine (``cos(mean, grad J)`` itself
    is biased towards 0 by ``O(tr Cov / (M ||E g||²))``), clipped to ``[-1, 1]``, with a BCa interval over
    replicates."""
    gn = float(np.linalg.norm(g_true))
    M = G.shape[0]
    if gn == 0.0:  # no direction to compare with
        return float("nan"), float("nan"), float("nan")

    def stat(counts: np.ndarray) -> np.ndarray:
        mean, norm_sq = _mean_norm_sq(counts, G)
        ok = norm_sq > 0
        return np.clip(np.where(ok, (mean @ g_true) / np.sqrt(np.where(ok, norm_sq, 1.0)) / gn, np.nan), -1.0, 1.0)

    point = float(stat(np.ones(M)))
    return (point, *_bca(stat, M, seed, confidence, resamples, point))


def mean_norm_ratio(G: np.ndarray, g_true: np.ndarray) -> float:
    """``||E g|| / ||grad J||`` from ``sqrt(||mean||² - tr Cov / M)`` (NaN when that is not positive)."""
    _, norm_sq = _mean_norm_sq(np.ones(G.shape[0]), G)
    gn = float(np.linalg.norm(g_true))
    return float(np.sqrt(norm_sq) / gn) if norm_sq > 0 and gn > 0 else float("nan")


def _length(counts: np.ndarray, G: np.ndarray, g_true: np.ndarray) -> np.ndarray:
    """``k = <mean, grad J> / ||grad J||²`` of ``G`` resampled by ``counts``: the mean's length along ``grad J``."""
    return (counts @ (G @ g_true)) / counts.sum(axis=-1) / float(g_true @ g_true)


def _equal_length_variance(counts: np.ndarray, G: np.ndarray, g_true: np.ndarray) -> np.ndarray:
    """``tr Cov(g / k)`` of ``G`` resampled by ``counts`` (NaN where ``k <= 0``)."""
    k = _length(counts, G, g_true)
    return np.where(k > 0, _trace_and_mse(counts, G, g_true, 0) / np.where(k > 0, k, 1.0) ** 2, np.nan)


def paired_ratios(G: np.ndarray, R: np.ndarray, g_true: np.ndarray, seed: int, confidence: float,
                  resamples: int) -> dict[str, float]:
    """``variance_ratio``, ``mse_ratio`` and ``variance_ratio_equal_length`` (``tr Cov(g / k)`` over
    ``tr Cov(g_ref / k_ref)``) of ``G`` to its reference ``R`` (rows paired), with BCa intervals."""
    M = G.shape[0]
    out: dict[str, float] = {}
    for i, name in enumerate(PAIRED):
        def stat(counts: np.ndarray, i: int = i) -> np.ndarray:
            if i == 2:
                a, b = _equal_length_variance(counts, G, g_true), _equal_length_variance(counts, R, g_true)
            else:
                a, b = _trace_and_mse(counts, G, g_true, i), _trace_and_mse(counts, R, g_true, i)
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

        point = float(stat(np.ones(M)))
        out[name] = point
        out[f"{name}_lo"], out[f"{name}_hi"] = _bca(stat, M, seed + i + 1, confidence, resamples, point)
    return out


def step_sizes(G: np.ndarray, g_true: np.ndarray) -> np.ndarray:
    """``k_i = <g_i, grad J> / ||grad J||²`` ``(M,)`` of the batch estimates ``G`` ``(M, d)`` (NaN where
    ``grad J = 0``)."""
    g2 = float(g_true @ g_true)
    return G @ g_true / g2 if g2 > 0 else np.full(G.shape[0], np.nan)


def weighted_quantile(sorted_x: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """The inverted-CDF ``q``-quantile (the smallest value whose cumulative share reaches ``q``: numpy's
    ``method="inverted_cdf"``) of ``sorted_x`` ``(M,)`` (ascending) taken ``counts`` ``(..., M)`` times."""
    cum = np.cumsum(counts, axis=-1)
    idx = (cum < q * cum[..., -1:]).sum(axis=-1)
    return sorted_x[np.minimum(idx, sorted_x.size - 1)]


def step_size_quantiles(G: np.ndarray, g_true: np.ndarray, seed: int, confidence: float,
                        resamples: int) -> dict[str, float]:
    """:data:`STEP_QUANTILES` of the step sizes :func:`step_sizes`, each with a BCa interval over replicates."""
    k = step_sizes(G, g_true)
    out: dict[str, float] = {}
    if not np.isfinite(k).all():
        return {f"{n}{s}": float("nan") for n in STEP_QUANTILES for s in ("", "_lo", "_hi")}
    order = np.argsort(k, kind="stable")
    sorted_k = k[order]
    for i, (name, q) in enumerate(STEP_QUANTILES.items()):
        def stat(counts: np.ndarray, q: float = q) -> np.ndarray:
            return weighted_quantile(sorted_k, np.asarray(counts)[..., order], q)

        point = float(stat(np.ones(k.size)))
        out[name] = point
        out[f"{name}_lo"], out[f"{name}_hi"] = _bca(stat, k.size, seed + 11 + i, confidence, resamples, point)
    return out


def _problem_key(row: pd.Series) -> tuple:
    return tuple(str(row.get(k)) for k in ("env", "features", "policy", "theta", "gamma", "horizon"))


def _problem(row: pd.Series) -> Any:
    from pgexp.problems.problem import build_problem

    h = int(row["horizon"])
    return build_problem(str(row["env"]), features=row.get("features"), policy=row.get("policy"),
                         theta=str(row["theta"]), gamma=float(row["gamma"]), horizon=h if h >= 0 else "inf")


def _lam(row: pd.Series) -> float | None:
    lam = row.get("lam")
    return None if lam is None or pd.isna(lam) else float(lam)


class ExactCache:
    """Exact means and covariances, computed once per (problem, variant)."""

    def __init__(self) -> None:
        self._mom: dict[tuple, Any] = {}

    def per_trajectory(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(mean, cov, grad J)`` of one trajectory's estimate, or ``None`` (no exact counterpart)."""
        from pgexp.errors import UserError
        from pgexp.exact.practice import EXACT_BOOTSTRAPS, practice_moments

        practice = practice_of(row)
        if practice.normalize_advantages or (practice.truncate is not None
                                             and practice.bootstrap not in EXACT_BOOTSTRAPS):
            return None
        lam = _lam(row)
        key = ("traj", *_problem_key(row), row["estimator"], row["baseline"], practice, lam)
        if key not in self._mom:
            try:
                self._mom[key] = practice_moments(_problem(row), str(row["estimator"]), str(row["baseline"]), practice,
                                                  LAM.default if lam is None else lam)
            except UserError:
                self._mom[key] = None
        return self._mom[key]

    def normalized(self, row: pd.Series, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(mean, cov, grad J)`` of the normalised batch of ``N`` by enumeration, or ``None`` (too many batches)."""
        from pgexp.errors import UserError
        from pgexp.exact.normalization import exact_normalized

        practice = practice_of(row)
        if not practice.normalize_advantages or practice.truncate is not None:
            return None
        lam = _lam(row)
        key = ("norm", *_problem_key(row), row["estimator"], row["baseline"], lam, N)
        if key not in self._mom:
            try:
                got = exact_normalized(_problem(row), str(row["estimator"]), str(row["baseline"]), [N],
                                       lam=LAM.default if lam is None else lam)
            except UserError:
                got = []
            self._mom[key] = (got[0]["mean"], got[0]["cov"], got[0]["grad"]) if got else None
        return self._mom[key]


def _exact_columns(cache: ExactCache, row: pd.Series, N: int) -> tuple[dict[str, float | str], float | None]:
    """The exact columns of a cell and its exact ``trace_cov`` (``None`` when there is none).  The exact
    ``trace_cov / length_k²`` is ``equal_length_trace`` (popped by the caller for the equal-length ratio)."""
    batch = cache.normalized(row, N)
    method = "enumeration" if batch is not None else ""
    if batch is not None:
        mean, cov_N, grad = batch
    else:
        traj = cache.per_trajectory(row)
        if traj is None:
            return {"exact_method": method}, None
        mean, cov, grad = traj
        cov_N, method = cov / N, "dp"
    g2 = float(grad @ grad)
    bias_sq = float((mean - grad) @ (mean - grad))
    trace = float(np.trace(cov_N))
    mn = float(np.linalg.norm(mean))
    nan = float("nan")  # relative to grad J: undefined where it is zero (as metrics' rel_mse)
    if g2 > 0:
        k = float(mean @ grad) / g2
        perp = mean - k * grad  # the part of the mean (and of its bias) orthogonal to grad J
        rel_dir = float(perp @ perp) / g2
    else:
        k = rel_dir = nan
    out = {"bias_sq_exact": bias_sq, "rel_bias_sq_exact": bias_sq / g2 if g2 > 0 else nan, "trace_cov_exact": trace,
           "mse_exact": bias_sq + trace, "rel_mse_exact": (bias_sq + trace) / g2 if g2 > 0 else nan,
           "cosine_mean_exact": float(mean @ grad) / (mn * np.sqrt(g2)) if mn > 0 and g2 > 0 else nan,
           "mean_norm_ratio_exact": mn / np.sqrt(g2) if g2 > 0 else nan,
           "length_k_exact": k, "rel_length_bias_sq_exact": (k - 1.0) ** 2, "rel_direction_bias_sq_exact": rel_dir,
           "angle_deg_exact": float(np.degrees(np.arctan2(np.sqrt(rel_dir), k))),
           "bias_share_exact": bias_sq / (bias_sq + trace) if bias_sq + trace > 0 else float("nan"),
           "exact_method": method, "equal_length_trace": trace / k**2 if k > 0 else float("nan")}
    return out, trace


def _pooled(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Replicates of one cell, ordered by (seed, replicate): ``(G (M, d), grad J, first row)``."""
    df = df.sort_values(["seed", "replicate"])
    return np.stack(df["grad"].to_numpy()), np.asarray(df["grad_exact"].iloc[0], dtype=np.float64), df.iloc[0]


def audit_table(frames: Sequence[pd.DataFrame], *, confidence: float = 0.95, resamples: int = 2000) -> pd.DataFrame:
    """The audit table (module docstring) from estimate tables of the variants and their references."""
    df = pd.concat(list(frames), ignore_index=True)
    df["variant"] = [variant_key(r) for r in df[["estimator", "baseline", "normalize_advantages", "truncate",
                                                   "truncate_bootstrap"]].to_dict("records")]
    if "lam" not in df.columns:
        df["lam"] = np.nan
    # a cell: a variant (estimator~baseline~option) at one lambda (the rest of the pair, pgexp.tables.PAIR_COLUMNS)
    # and one batch size; a variant's reference has the same lambda
    cells = {(e, t, v, _lam_key(lam), N): g
             for (e, t, v, lam, N), g in df.groupby([*KEYS, "lam", "batch_size"], sort=True, dropna=False)}
    cache = ExactCache()
    rows = []
    for (env_name, theta_name, variant, lam, N), cell in cells.items():
        G, g_true, first = _pooled(cell)
        est, base, option = variant.split("~")
        practice = practice_of(first)
        ref_key = f"{_reference(est)}~{base}~{PLAIN_OPTION}"
        seed = bootstrap_seed((env_name, theta_name, variant, int(N)))
        m = estimator_metrics(G, g_true, int(N), confidence=confidence, n_resamples=resamples, seed=seed)
        g2 = float(g_true @ g_true)
        row: dict[str, Any] = {
            "env_name": env_name, "theta_name": theta_name,
            **{k: first[k] for k in ("env", "features", "policy", "theta", "gamma", "horizon", "dim") if k in first},
            "choice": _choice(est, practice), "variant": variant, "estimator": est, "baseline": base,
            "lam": np.nan if lam is None else lam, "option": option,
            "normalize_advantages": practice.normalize_advantages, "normalize_scale": first.get("normalize_scale"),
            "truncate": practice.truncate, "truncate_bootstrap": practice.columns()["truncate_bootstrap"],
            "reference": ref_key, "batch_size": int(N), "replicates": int(G.shape[0]),
            "grad_norm_exact": float(np.sqrt(g2)), "env_steps_mean": float(cell["env_steps"].mean()),
            "truncated_mean": float(cell["truncated"].mean()) / int(N),
        }
        for k in ("bias_sq", "trace_cov", "mse", "rel_mse", *LENGTH_DIRECTION):
            row[k], row[f"{k}_lo"], row[f"{k}_hi"] = m[k], m[f"{k}_lo"], m[f"{k}_hi"]
        # relative to ||grad J||^2: undefined (NaN, as metrics' rel_mse) where the exact gradient is zero
        row["rel_bias_sq"], row["rel_bias_sq_lo"], row["rel_bias_sq_hi"] = (
            (m["bias_sq"] / g2, m["bias_sq_lo"] / g2, m["bias_sq_hi"] / g2) if g2 > 0 else (np.nan,) * 3)
        row["cosine_mean"], row["cosine_mean_lo"], row["cosine_mean_hi"] = cosine_of_mean(G, g_true, seed, confidence,
                                                                                          resamples)
        row["mean_norm_ratio"] = mean_norm_ratio(G, g_true)
        row["bias_share"] = m["bias_sq"] / m["mse"] if m["mse"] > 0 else float("nan")
        row.update(step_size_quantiles(G, g_true, seed, confidence, resamples))
        ref = cells.get((env_name, theta_name, ref_key, lam, N))
        if ref is not None and variant != ref_key:
            R, _, _ = _pooled(ref)
            if R.shape == G.shape:
                row.update(paired_ratios(G, R, g_true, seed, confidence, resamples))
        exact, trace = _exact_columns(cache, first, int(N))
        equal = exact.pop("equal_length_trace", float("nan"))
        row.update(exact)
        if trace is not None and ref is not None:
            ref_exact, ref_trace = _exact_columns(cache, ref.iloc[0], int(N))
            if ref_trace:
                row["variance_ratio_exact"] = trace / ref_trace
                row["variance_ratio_equal_length_exact"] = float(equal) / float(ref_exact["equal_length_trace"])
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in (*[f"{k}{s}" for k in PAIRED for s in ("", "_lo", "_hi")], *EXACT):
        if col not in out:
            out[col] = np.nan
    out["confidence"] = confidence
    return out


def _lam_key(lam: Any) -> float | None:
    """A lambda as a dictionary key: ``None`` where the pair has none (NaN is not equal to itself)."""
    return None if lam is None or pd.isna(lam) else float(lam)


def _reference(estimator: str) -> str:
    """The textbook estimator a variant stands in for (a common variant's is its discounted form)."""
    return estimator.removesuffix("_common")


def _choice(estimator: str, practice: Practice) -> str:
    """Which choice a variant illustrates (``textbook`` for a reference)."""
    if practice.normalize_advantages:
        return "normalize"
    if practice.truncate is not None:
        return "truncate"
    return "common" if estimator.endswith("_common") else TEXTBOOK


__all__ = ["EXACT", "LENGTH_DIRECTION", "MC_RANGED", "PAIRED", "STEP_QUANTILES", "audit_table", "cosine_of_mean",
           "paired_ratios", "practice_of", "step_size_quantiles", "step_sizes", "variant_key", "weighted_quantile"]
