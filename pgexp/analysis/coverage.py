"""Coverage of the Monte-Carlo variance intervals by the exact variances (``exact_in_ci``).

The metrics table, joined with the exact curves (:func:`pgexp.analysis.aggregate.join_exact`), says
per cell whether the exact per-trajectory variance lies inside the cell's 95% interval.  Coverage is
reported per batch size and per environment, not pooled: the interval's accuracy depends on how
many rare trajectories a cell holds, which grows with ``replicates x batch_size``.

Cells of one (environment, θ, horizon, batch size, seed) share their trajectories (common random numbers), so
their misses are correlated: they form a *cluster* (:data:`CLUSTER_COLUMNS`), and a binomial count over cells
would overstate the information.  The coverage ``p = Σ_c y_c / Σ_c n_c`` (``n_c`` judged cells of cluster ``c``,
``y_c`` of them inside) gets the cluster-robust (linearisation) variance of a ratio estimator,

    se² = C / (C - 1) · Σ_c (y_c - p n_c)² / (Σ_c n_c)²        (C clusters),

and a Wilson interval on the effective sample size ``n_eff = n / deff``, ``deff = se² / (p (1 - p) / n)`` the
design effect, at least 1 (Korn & Graubard 1998, the survey analogue of Wilson's interval; it stays in [0, 1] where
coverage is near 1).  Where every cell is inside or every cell misses (``p`` 0 or 1), ``deff = 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

CLUSTER_COLUMNS = ("env_name", "theta_name", "horizon", "batch_size", "seed")  # cells that share trajectories


def cluster_robust_coverage(inside: np.ndarray, cluster: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """``coverage``, ``coverage_lo``, ``coverage_hi``, ``clusters``, ``design_effect`` of the outcomes ``inside``
    ``(n,)`` (bool) of cells in clusters ``cluster`` ``(n,)`` (any labels); see the module docstring."""
    inside = np.asarray(inside, dtype=np.float64)
    n = inside.size
    if n == 0:
        nan = float("nan")
        return {"coverage": nan, "coverage_lo": nan, "coverage_hi": nan, "clusters": 0, "design_effect": nan}
    _, idx = np.unique(np.asarray(cluster), return_inverse=True)
    C = int(idx.max()) + 1
    n_c, y_c = np.bincount(idx, minlength=C).astype(np.float64), np.bincount(idx, weights=inside, minlength=C)
    p = float(y_c.sum() / n)
    deff = 1.0
    if 0.0 < p < 1.0 and C > 1:
        se2 = C / (C - 1) * float(np.sum((y_c - p * n_c) ** 2)) / n**2
        deff = max(se2 / (p * (1 - p) / n), 1.0)
    m = n / deff
    z = float(-ndtri((1 - confidence) / 2))
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return {"coverage": p, "coverage_lo": float(max(centre - half, 0.0)), "coverage_hi": float(min(centre + half, 1.0)),
            "clusters": C, "design_effect": float(deff)}


def coverage_table(metrics: pd.DataFrame, by: list[str], confidence: float = 0.95) -> pd.DataFrame:
    """``by`` columns, ``cells`` (judged), ``inside``, ``coverage`` (``inside / cells``) from ``exact_in_ci``, and
    its cluster-robust interval: ``coverage_lo``, ``coverage_hi``, ``clusters``, ``design_effect``
    (:func:`cluster_robust_coverage`; clusters by the :data:`CLUSTER_COLUMNS` the table has)."""
    cols = [*by, "cells", "inside", "coverage", "coverage_lo", "coverage_hi", "clusters", "design_effect"]
    if "exact_in_ci" not in metrics:
        return pd.DataFrame(columns=cols)
    judged = metrics[metrics["exact_in_ci"].notna()]
    if judged.empty:
        return pd.DataFrame(columns=cols)
    keys = [c for c in CLUSTER_COLUMNS if c in judged]
    cluster = (judged.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys
               else np.arange(len(judged)))
    judged = judged.assign(_in=judged["exact_in_ci"].astype(bool), _cluster=cluster)
    rows = []
    for key, g in judged.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        r = cluster_robust_coverage(g["_in"].to_numpy(), g["_cluster"].to_numpy(), confidence)
        rows.append({**dict(zip(by, key)), "cells": len(g), "inside": int(g["_in"].sum()), **r})
    return pd.DataFrame(rows, columns=cols)


def replicate_sizing(metrics: pd.DataFrame, target: float = 0.10) -> pd.DataFrame:
    """How many replicates a cell with an exact variance needs for its check, per batch size.

    Where the exact per-trajectory variance is known the Monte-Carlo cells exist to check the intervals, so
    they are sized by the interval's width: ``half_width`` is the median over judged cells of
    ``(ln hi - ln lo) / 2`` of ``var_per_traj`` (a relative half-width, ``0.1``: about ±10 %); it shrinks like
    ``1 / sqrt(replicates)``, so ``replicates_needed = ceil(replicates * (half_width / target)^2)`` reaches
    ``target``.  Columns: ``batch_size``, ``cells``, ``replicates`` (median), ``half_width``,
    ``replicates_needed``.
    """
    cols = ["batch_size", "cells", "replicates", "half_width", "replicates_needed"]
    need = {"exact_in_ci", "var_per_traj_lo", "var_per_traj_hi", "replicates", "batch_size"}
    if not need <= set(metrics):
        return pd.DataFrame(columns=cols)
    judged = metrics[metrics["exact_in_ci"].notna()]
    lo = judged["var_per_traj_lo"].astype(float).to_numpy()
    hi = judged["var_per_traj_hi"].astype(float).to_numpy()
    ok = (lo > 0) & np.isfinite(hi) & (hi >= lo)
    judged = judged[ok].assign(_hw=0.5 * (np.log(hi[ok]) - np.log(lo[ok])))
    rows = []
    for n, g in judged.groupby("batch_size", sort=True):
        reps, hw = float(g["replicates"].median()), float(g["_hw"].median())
        rows.append({"batch_size": n, "cells": len(g), "replicates": reps, "half_width": hw,
                     "replicates_needed": int(np.ceil(reps * (hw / target) ** 2))})
    return pd.DataFrame(rows, columns=cols)
