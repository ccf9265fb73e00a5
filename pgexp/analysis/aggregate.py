"""Study-wide tables: per-environment tables concatenated in a fixed order, metrics joined with exact values."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SORT_KEYS = ("env_name", "theta_name", "estimator", "baseline", "horizon", "batch_size", "seed")


def concat_sorted(frames: "list[pd.DataFrame]") -> "pd.DataFrame":
    """Concatenate and sort by :data:`SORT_KEYS` (stable), so reruns give the same table bit for bit."""
    import pandas as pd

    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    keys = [c for c in SORT_KEYS if c in df.columns]
    return df.sort_values(keys, kind="stable").reset_index(drop=True) if keys else df


def join_exact(metrics: "pd.DataFrame", exact: "pd.DataFrame") -> "pd.DataFrame":
    """Add ``var_per_traj_exact`` and ``exact_in_ci`` (the exact value inside the Monte-Carlo CI) to metrics.

    ``exact_in_ci`` judges only pairs whose exact value is the same estimator's variance: the exact
    ``optimal`` baseline is the oracle per-coordinate optimum, a lower bound for the Monte-Carlo one
    fitted on an independent batch, so it is left unjudged (NA).
    """
    import pandas as pd

    keys = ["env_name", "theta_name", "estimator", "baseline", "horizon"]
    ex = exact[keys + ["var_per_traj_exact"]].drop_duplicates(keys)
    out = metrics.merge(ex, on=keys, how="left")
    judged = out["var_per_traj_exact"].notna() & (out["baseline"] != "optimal")
    inside = (out["var_per_traj_lo"] <= out["var_per_traj_exact"]) & (out["var_per_traj_exact"] <= out["var_per_traj_hi"])
    out["exact_in_ci"] = pd.Series(inside.where(judged), dtype="boolean")
    return out
