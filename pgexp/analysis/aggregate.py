"""Study-wide tables: per-environment tables concatenated in a fixed order, metrics joined with exact values."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SORT_KEYS = ("env_name", "theta_name", "estimator", "baseline", "horizon", "batch_size", "seed")


def concat_sorted(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate and sort by :data:`SORT_KEYS` (stable), so reruns give the same table bit for bit."""
    import pandas as pd

    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    keys = [c for c in SORT_KEYS if c in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if keys else df


def exact_per_trajectory(exact: pd.DataFrame) -> pd.DataFrame:
    """One exact row per (environment, policy point, pair, horizon): the largest batch size's.

    The exact table has a row per batch size; the per-trajectory variance ``var_per_traj_exact`` is the same
    at every ``N`` for i.i.d. trajectories, and the leave-one-out constant's decreases towards its
    ``N -> inf`` limit, which the largest ``N`` is closest to.
    """
    if "batch_size" not in exact.columns or exact.empty:
        return exact
    keys = [c for c in ("env_name", "theta_name", "estimator", "baseline", "horizon") if c in exact.columns]
    return exact.sort_values([*keys, "batch_size"], kind="stable").drop_duplicates(keys, keep="last")


EXACT_METRICS = ("var_per_traj", "bias_sq", "trace_cov", "mse", "rel_mse", "snr")
# judged against the Monte-Carlo interval; not bias_sq: for an unbiased estimator its exact value 0 sits on
# the edge of what the (bias-corrected, possibly negative) estimate's bootstrap interval is built for
JUDGED = ("var_per_traj", "trace_cov", "mse", "rel_mse", "snr")


def join_exact(metrics: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    """Add the exact values (``<metric>_exact``, ``cosine_normal`` and its ``_se``) to every metrics cell, and
    ``<metric>_exact_in_ci`` for the metrics of :data:`JUDGED` (the exact value inside the Monte-Carlo CI;
    ``exact_in_ci`` is that of ``var_per_traj``).

    Matched on ``(env_name, theta_name, estimator, baseline, horizon, batch_size)``; exact tables without
    ``batch_size`` (per-trajectory variance only) match every batch size.  Only pairs whose exact value is
    the same estimator's are judged: the exact ``optimal`` baseline is the oracle per-coordinate optimum, a
    lower bound for the Monte-Carlo one fitted on an independent batch, so it is left unjudged (NA).
    ``cosine_normal`` is a prediction (normal approximation), not judged.
    """
    import pandas as pd

    keys = ["env_name", "theta_name", "estimator", "baseline", "horizon"]
    if "batch_size" in exact.columns:
        keys = [*keys, "batch_size"]
    values = [c for c in (*(f"{m}_exact" for m in EXACT_METRICS), "cosine_normal", "cosine_normal_se")
              if c in exact.columns]
    ex = exact[keys + values].drop_duplicates(keys)
    out = metrics.merge(ex, on=keys, how="left")
    for m in JUDGED:
        col = f"{m}_exact"
        if col not in out.columns:
            continue
        judged = out[col].notna() & (out["baseline"] != "optimal")
        inside = (out[f"{m}_lo"] <= out[col]) & (out[col] <= out[f"{m}_hi"])
        out[f"{m}_exact_in_ci"] = pd.Series(inside.where(judged), dtype="boolean")
    if "var_per_traj_exact_in_ci" in out.columns:
        out["exact_in_ci"] = out["var_per_traj_exact_in_ci"]
    return out
