"""The normalisation-bias table: the exact mean of normalised advantages against ``N`` -- its direction, its
length relative to the ``N -> inf`` limit, its rate -- and Monte Carlo.

The normalised estimate is the code's batch standardisation (:mod:`pgexp.estimators.practice`): its ``N -> inf``
limit is ``L = E g / (s + ε)`` (``scale = s + ε``), ``E g``'s direction at another length, so nothing here compares
its length with ``grad J``'s as if they should agree.  For each estimator~baseline and batch size ``N`` whose
batches can be listed (:func:`pgexp.exact.normalization.exact_normalized`), one row with

* direction: ``cosine_mean_exact = cos(E ĝ_N, grad J)`` and ``angle_deg_exact``, beside ``cosine_limit_exact =
  cos(E g, grad J)`` (the limit's: for a common variant this includes its own bias);
* length relative to the limit: ``length_ratio_exact = <E ĝ_N, L> / ||L||²`` (1: as long as the limit along it);
  and the whole departure from it, ``rel_bias_norm_exact = ||E ĝ_N - L|| / ||L||`` (the ratio estimator's bias, a
  ratio of norms) with its square ``rel_bias_sq_exact`` (what the Monte-Carlo ``rel_bias_sq`` estimates);
* effective step size of the mean: ``length_k_exact = <E ĝ_N, grad J> / ||grad J||²`` and the limit's
  ``length_k_limit_exact``;
* noise relative to the mean's length: ``rel_trace_cov_exact = tr Cov ĝ_N / ||L||²`` beside the unnormalised
  batch estimate's ``rel_trace_cov_plain_exact = tr Cov g / (N ||E g||²)`` (both free of the scale);
* the rate ``||E ĝ_N - L|| / ||L|| ≈ c N^rate_slope`` fitted by least squares on log-log axes over the larger half
  of the enumerated batch sizes (at least three; ``rate_n_min``, ``rate_n_max``; ``rate_slope_se`` measures the
  departure from a power law -- the values are exact);
* with ``replicates``: Monte Carlo ``bias_sq`` against the limit (``||mean - L||² - tr Cov / M``, unbiased) with
  its BCa interval, ``rel_bias_sq = bias_sq / ||L||²``, ``trace_cov`` (the estimate's units) and the cosine of the
  mean with ``grad J`` (:func:`pgexp.audit.table.cosine_of_mean`), at every ``N`` -- beside the exact values, and
  beyond the enumerable ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pgexp.errors import UserError
from pgexp.estimators.practice import Practice

COLUMNS = ("env", "gamma", "horizon", "estimator", "baseline", "batch_size", "scale", "enumerated",
           "cosine_mean_exact", "angle_deg_exact", "cosine_limit_exact", "length_ratio_exact", "rel_bias_norm_exact",
           "rel_bias_sq_exact", "length_k_exact", "length_k_limit_exact", "rel_trace_cov_exact",
           "rel_trace_cov_plain_exact", "rate_slope", "rate_slope_se", "rate_n_min", "rate_n_max", "replicates",
           "bias_sq", "bias_sq_lo", "bias_sq_hi", "rel_bias_sq", "rel_bias_sq_lo", "rel_bias_sq_hi", "trace_cov",
           "trace_cov_lo", "trace_cov_hi", "cosine_mean", "cosine_mean_lo", "cosine_mean_hi", "confidence")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """``cos(a, b)`` (NaN where either is zero)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else float("nan")


def check_enumerable(problem: Any, what: str) -> None:
    """The exact normalisation bias lists every trajectory (and every batch of them): refuse, naming ``what`` (the
    options or the config key), a problem without a finite horizon or with more trajectories than the enumeration
    takes (:data:`pgexp.exact.enumeration.MAX_TRAJECTORIES`), before any work."""
    from pgexp.exact import enumeration as en
    from pgexp.exact.model import make_setup

    st = make_setup(problem)
    if st.kind != "finite":
        raise UserError(f"{what}: the exact normalisation bias enumerates trajectories; allowed: a finite horizon "
                        "(short, on a small problem)")
    n = en.count_trajectories(st, en.MAX_TRAJECTORIES)
    if n > en.MAX_TRAJECTORIES:
        raise UserError(f"{what}: at least {n:.3g} trajectories to enumerate, more than {en.MAX_TRAJECTORIES:.0e}; "
                        "allowed: a smaller problem or a shorter horizon (the normalisation bias is exact, by "
                        "enumeration)")


def rate_points(batch_sizes: Sequence[int]) -> list[int]:
    """The batch sizes the rate is fitted on: the larger half (at least three, when there are three)."""
    sizes = sorted(int(n) for n in batch_sizes)
    k = max(3, (len(sizes) + 1) // 2)
    return sizes[-k:] if len(sizes) >= 3 else []


def normalization_table(problem: Any, pairs: Sequence[tuple[str, str]], batch_sizes: Sequence[int], *,
                        lam: float, replicates: int | None = None, seed: int = 0, confidence: float = 0.95,
                        resamples: int = 2000) -> pd.DataFrame:
    """The table of the module docstring (one row per pair x batch size)."""
    from pgexp.analysis.metrics import bootstrap_seed, estimator_metrics
    from pgexp.audit.table import cosine_of_mean
    from pgexp.exact.normalization import bias_rate, exact_normalized
    from pgexp.exact.practice import normalization_scale, practice_moments
    from pgexp.runs.estimate import run_estimate

    ident = problem.identity()
    rows = []
    for est, base in pairs:
        plain, cov1, grad = practice_moments(problem, est, base, Practice(), lam)
        exact = {r["batch_size"]: r for r in exact_normalized(problem, est, base, batch_sizes, lam=lam)}
        g2, p2 = float(grad @ grad), float(plain @ plain)
        if g2 == 0.0 or p2 == 0.0:  # every relative column divides by one of them
            what = "the exact gradient" if g2 == 0.0 else "the normalised estimator's limit"
            raise UserError(f"--pairs {est}~{base}: {what} is zero on this problem at this theta, so the relative "
                            "bias is undefined; allowed: a problem and --theta where it is not (a longer --horizon)")
        scale = next(iter(exact.values()))["scale"] if exact else normalization_scale(
            problem, est, base, Practice(normalize_advantages=True), lam).factor
        limit = plain / scale
        l2 = float(limit @ limit)
        fit_on = rate_points(list(exact))
        rate = bias_rate(fit_on, [float(np.linalg.norm(exact[n]["bias"])) / np.sqrt(l2) for n in fit_on]) \
            if fit_on else None
        for N in batch_sizes:
            row: dict[str, Any] = {"env": ident["env"], "gamma": ident["gamma"], "horizon": ident["horizon"],
                                   "estimator": est, "baseline": base, "batch_size": int(N), "scale": scale,
                                   "enumerated": N in exact, "cosine_limit_exact": cosine(plain, grad),
                                   "length_k_limit_exact": float(limit @ grad) / g2,
                                   "rel_trace_cov_plain_exact": float(np.trace(cov1)) / N / p2}
            if N in exact:
                mean, bias = exact[N]["mean"], exact[N]["bias"]
                k = float(mean @ grad) / g2
                perp = mean - k * grad
                row.update({"cosine_mean_exact": cosine(mean, grad),
                            "angle_deg_exact": float(np.degrees(np.arctan2(np.linalg.norm(perp), k * np.sqrt(g2)))),
                            "length_ratio_exact": float(mean @ limit) / l2,
                            "rel_bias_norm_exact": float(np.linalg.norm(bias)) / np.sqrt(l2),
                            "rel_bias_sq_exact": float(bias @ bias) / l2, "length_k_exact": k,
                            "rel_trace_cov_exact": float(np.trace(exact[N]["cov"])) / l2})
            if rate is not None:
                row.update({"rate_slope": rate.slope, "rate_slope_se": rate.slope_se, "rate_n_min": rate.n_min,
                            "rate_n_max": rate.n_max})
            if replicates:
                t = run_estimate(problem, est, base, params={"lam": lam}, batch_size=int(N), replicates=int(replicates),
                                 seed=seed, progress=False, practice=Practice(normalize_advantages=True))
                G = np.asarray(t.column("grad").to_pylist(), dtype=np.float64)
                boot = bootstrap_seed((ident["env"], est, base, int(N), seed))
                m = estimator_metrics(G, limit, int(N), confidence=confidence, n_resamples=resamples, seed=boot)
                cos, cos_lo, cos_hi = cosine_of_mean(G, grad, boot, confidence, resamples)
                row.update({"replicates": int(replicates), **{k: m[k] for k in ("bias_sq", "bias_sq_lo", "bias_sq_hi",
                                                                               "trace_cov", "trace_cov_lo",
                                                                               "trace_cov_hi")},
                            "rel_bias_sq": m["bias_sq"] / l2, "rel_bias_sq_lo": m["bias_sq_lo"] / l2,
                            "rel_bias_sq_hi": m["bias_sq_hi"] / l2, "cosine_mean": cos, "cosine_mean_lo": cos_lo,
                            "cosine_mean_hi": cos_hi})
            row["confidence"] = confidence
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = np.nan
    return df[list(COLUMNS)]


__all__ = ["COLUMNS", "cosine", "normalization_table", "rate_points"]
