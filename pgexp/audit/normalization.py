"""The normalisation-bias table: exact bias of normalised advantages against ``N``, its rate, and Monte Carlo.

For each estimator~baseline and batch size ``N`` whose batches can be listed
(:func:`pgexp.exact.normalization.exact_normalized`), one row with

* ``bias_norm_exact = ||E ĝ_N - E g||`` (against the ``N -> inf`` limit ``E g``, the unnormalised mean: the
  ratio estimator's own bias) and ``rel_bias_sq_exact = ||E ĝ_N - E g||² / ||E g||²``;
* ``rel_bias_sq_grad_exact = ||E ĝ_N - grad J||² / ||grad J||²`` and ``cosine_mean_exact = cos(E ĝ_N, grad J)``
  (what a user sees: for a common variant this includes its own bias);
* ``trace_cov_exact`` of the normalised batch estimate and ``trace_cov_plain_exact`` of the unnormalised one;
* the rate ``||E ĝ_N - E g|| ≈ c N^rate_slope`` fitted by least squares on log-log axes over the larger half of
  the enumerated batch sizes (at least three; ``rate_n_min``, ``rate_n_max``; ``rate_slope_se`` measures the
  departure from a power law -- the values are exact);
* with ``replicates``: Monte Carlo ``bias_sq`` against the limit (``||mean - E g||² - tr Cov / M``, unbiased)
  with its BCa interval, ``rel_bias_sq = bias_sq / ||E g||²`` and ``trace_cov``, at every ``N`` -- beside the
  exact values, and beyond the enumerable ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pgexp.errors import UserError
from pgexp.estimators.practice import Practice

COLUMNS = ("env", "gamma", "horizon", "estimator", "baseline", "batch_size", "scale", "enumerated", "bias_norm_exact",
           "rel_bias_sq_exact", "rel_bias_sq_grad_exact", "cosine_mean_exact", "trace_cov_exact",
           "trace_cov_plain_exact", "rate_slope", "rate_slope_se", "rate_n_min", "rate_n_max", "replicates",
           "bias_sq", "bias_sq_lo", "bias_sq_hi", "rel_bias_sq", "rel_bias_sq_lo", "rel_bias_sq_hi", "trace_cov",
           "trace_cov_lo", "trace_cov_hi", "confidence")


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
    from pgexp.exact.normalization import bias_rate, exact_normalized
    from pgexp.exact.practice import practice_moments
    from pgexp.runs.estimate import run_estimate

    ident = problem.identity()
    rows = []
    for est, base in pairs:
        limit, cov1, grad = practice_moments(problem, est, base, Practice(), lam)
        exact = {r["batch_size"]: r for r in exact_normalized(problem, est, base, batch_sizes, lam=lam)}
        fit_on = rate_points(list(exact))
        rate = bias_rate(fit_on, [float(np.linalg.norm(exact[n]["bias"])) for n in fit_on]) if fit_on else None
        g2, l2 = float(grad @ grad), float(limit @ limit)
        if g2 == 0.0 or l2 == 0.0:  # every relative column divides by one of them
            what = "the exact gradient" if g2 == 0.0 else "the normalised estimator's limit"
            raise UserError(f"--pairs {est}~{base}: {what} is zero on this problem at this theta, so the relative "
                            "bias is undefined; allowed: a problem and --theta where it is not (a longer --horizon)")
        for N in batch_sizes:
            row: dict[str, Any] = {"env": ident["env"], "gamma": ident["gamma"], "horizon": ident["horizon"],
                                   "estimator": est, "baseline": base, "batch_size": int(N),
                                   "enumerated": N in exact, "trace_cov_plain_exact": float(np.trace(cov1)) / N}
            if N in exact:
                r = exact[N]
                mean = r["mean"]
                row.update({"scale": r["scale"], "bias_norm_exact": float(np.linalg.norm(r["bias"])),
                            "rel_bias_sq_exact": float(r["bias"] @ r["bias"]) / l2,
                            "rel_bias_sq_grad_exact": float((mean - grad) @ (mean - grad)) / g2,
                            "cosine_mean_exact": float(mean @ grad) / (np.linalg.norm(mean) * np.sqrt(g2)),
                            "trace_cov_exact": float(np.trace(r["cov"]))})
            if rate is not None:
                row.update({"rate_slope": rate.slope, "rate_slope_se": rate.slope_se, "rate_n_min": rate.n_min,
                            "rate_n_max": rate.n_max})
            if replicates:
                t = run_estimate(problem, est, base, params={"lam": lam}, batch_size=int(N), replicates=int(replicates),
                                 seed=seed, progress=False, practice=Practice(normalize_advantages=True))
                G = np.asarray(t.column("grad").to_pylist(), dtype=np.float64)
                row["scale"] = t.column("normalize_scale")[0].as_py()
                m = estimator_metrics(G, limit, int(N), confidence=confidence, n_resamples=resamples,
                                      seed=bootstrap_seed((ident["env"], est, base, int(N), seed)))
                row.update({"replicates": int(replicates), **{k: m[k] for k in ("bias_sq", "bias_sq_lo", "bias_sq_hi",
                                                                               "trace_cov", "trace_cov_lo",
                                                                               "trace_cov_hi")},
                            "rel_bias_sq": m["bias_sq"] / l2, "rel_bias_sq_lo": m["bias_sq_lo"] / l2,
                            "rel_bias_sq_hi": m["bias_sq_hi"] / l2})
            row["confidence"] = confidence
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = np.nan
    return df[list(COLUMNS)]


__all__ = ["COLUMNS", "normalization_table", "rate_points"]
