"""Variance-vs-horizon slopes: ``log var_per_traj = a + slope * log H``, with bootstrap CIs.

The lecture claims ``E||g - grad J||^2 ≈ H^3`` for REINFORCE; the slope measures the exponent.  For
each (environment, policy point, estimator, baseline, batch size, seed) the per-trajectory variance
of every finite horizon is fitted by least squares on log-log axes.  The confidence interval is a
percentile bootstrap: the replicates of each horizon are resampled independently (they are
independent batches), the variances recomputed and the line refitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pgexp.analysis.resampling import bootstrap_seed, draw_counts
from pgexp.tables import pair_columns

GROUP = ("env_name", "theta_name", "estimator", "baseline", "batch_size", "seed")


def _trace_cov_resamples(G: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """``tr Cov`` of ``G`` ``(M, d)`` under ``n_resamples`` bootstrap resamples of its rows, ``(B,)``."""
    M = G.shape[0]
    Gc = G - G.mean(axis=0)
    q = np.einsum("md,md->m", Gc, Gc)
    counts = draw_counts(rng, M, n_resamples)  # (B, M) multiplicities: one product per statistic
    mean = counts @ Gc / M
    return (counts @ q / M - np.einsum("bd,bd->b", mean, mean)) * M / (M - 1)


def _fit(logh: np.ndarray, logv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept along the last axis."""
    x = logh - logh.mean()
    slope = (logv * x).sum(axis=-1) / (x * x).sum()
    return slope, logv.mean(axis=-1) - slope * logh.mean()


def fit_slopes(df: pd.DataFrame, *, n_resamples: int = 2000, confidence: float = 0.95) -> pd.DataFrame:
    """One row per group: ``slope``, ``slope_lo``, ``slope_hi``, ``intercept``, ``n_horizons``, ``h_min``, ``h_max``.

    ``df`` holds estimate rows (one per replicate) of any number of jobs, each of one or several pairs; a
    group is :data:`GROUP` and the pair's other columns (:data:`pgexp.tables.PAIR_COLUMNS`: ``lam``, the
    practice options), which the table carries.  Its bootstrap is seeded by the :data:`GROUP` values.
    Groups with fewer than two finite horizons of positive variance are left out.
    """
    seed_keys = [k for k in GROUP if k in df.columns]
    keys = [*seed_keys, *(k for k in pair_columns(df.columns) if k not in seed_keys)]
    rows: list[dict[str, Any]] = []
    finite = df[df["horizon"] > 0].reset_index(drop=True)
    grad = finite["grad"].to_numpy()
    horizon, replicate = finite["horizon"].to_numpy(), finite["replicate"].to_numpy()
    batch_size = finite["batch_size"].to_numpy()
    for key, g in finite[keys].groupby(keys, sort=True, dropna=False):
        where = g.index.to_numpy()
        rng = np.random.default_rng(bootstrap_seed(key[:len(seed_keys)]))
        hs, var, boot = [], [], []
        for h in np.unique(horizon[where]):
            cell = where[horizon[where] == h]
            cell = cell[np.argsort(replicate[cell], kind="stable")]
            G = np.stack(grad[cell])
            n = int(batch_size[cell[0]])
            v = n * G.var(axis=0, ddof=1).sum()
            if not v > 0:
                continue
            hs.append(h)
            var.append(v)
            boot.append(n * _trace_cov_resamples(G, rng, n_resamples))
        if len(hs) < 2:
            continue
        H = np.array(hs, dtype=np.float64)
        var_arr = np.array(var)
        boot_arr = np.stack(boot, axis=-1)  # (B, horizons)
        slope, intercept = _fit(np.log(H), np.log(var_arr))
        ok = np.all(boot_arr > 0, axis=1)
        bs, _ = _fit(np.log(H), np.log(boot_arr[ok]))
        alpha = (1.0 - confidence) / 2
        row = dict(zip(keys, key))
        row.update({
            "env": finite["env"].iloc[where[0]], "slope": float(slope), "slope_lo": float(np.quantile(bs, alpha)),
            "slope_hi": float(np.quantile(bs, 1 - alpha)), "intercept": float(intercept), "n_horizons": len(H),
            "h_min": int(H.min()), "h_max": int(H.max()), "confidence": confidence,
        })
        rows.append(row)
    cols = [*keys, "env", "slope", "slope_lo", "slope_hi", "intercept", "n_horizons", "h_min", "h_max", "confidence"]
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------- exact exponents and the H^3 claim

def exact_local_exponents(exact: pd.DataFrame) -> pd.DataFrame:
    """Exact ``d log Var / d log H`` between consecutive horizons, from an exact-curves table.

    One row per (``env_name``, ``theta_name``, ``estimator``, ``baseline``) and pair of consecutive
    finite horizons with positive exact variance: ``h_from``, ``h_to``, ``exponent`` =
    ``log(V(h_to)/V(h_from)) / log(h_to/h_from)``.  A power law ``V = c H^k`` has exponent ``k`` at
    every horizon; a change of regime shows as a drift, which one fitted slope would average away.  An exact
    table with a row per batch size is reduced to one row per horizon first (the per-trajectory variance does
    not depend on ``N``).
    """
    from pgexp.analysis.aggregate import exact_per_trajectory

    keys = ["env_name", "theta_name", "estimator", "baseline"]
    rows = []
    for key, g in exact_per_trajectory(exact).groupby(keys, sort=True):
        g = g[(g["horizon"] > 0) & (g["var_per_traj_exact"] > 0)].sort_values("horizon")
        h, v = g["horizon"].to_numpy(np.float64), g["var_per_traj_exact"].to_numpy(np.float64)
        for i in range(1, len(h)):
            rows.append(dict(zip(keys, key)) | {"h_from": int(h[i - 1]), "h_to": int(h[i]),
                                                "exponent": float(np.log(v[i] / v[i - 1]) / np.log(h[i] / h[i - 1]))})
    return pd.DataFrame(rows, columns=[*keys, "h_from", "h_to", "exponent"])
